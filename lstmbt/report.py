"""Run artifacts: config.json, predictions/positions/returns/orders CSVs, metrics.json,
QuantStats tear-sheets (strategy vs buy-and-hold) and a small index.html that links them.
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import os
import platform
import re
import warnings
from datetime import datetime
from pathlib import Path

import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.errors import ConfigError, LstmbtError

COLUMNS = [  # (metrics section, key, header, format)
    ("strategy", "total_return", "Total return", "{:+.1%}"),
    ("strategy", "cagr", "CAGR", "{:+.1%}"),
    ("strategy", "sharpe", "Sharpe", "{:.2f}"),
    ("strategy", "max_drawdown", "Max DD", "{:.1%}"),
    ("strategy", "trades", "Trades", "{:d}"),
    ("strategy", "exposure", "Exposure", "{:.0%}"),
    ("forecast", "rmse", "RMSE", "{:.5f}"),
    ("forecast", "hit_rate", "Hit rate", "{:.1%}"),
    ("forecast", "ic", "IC", "{:+.3f}"),
    ("forecast", "r2_vs_zero", "R² vs RW", "{:+.4f}"),
    ("strategy_tests", "diff_p_value", "p ΔSharpe", "{:.2f}"),
    ("forecast_tests", "dm_p", "DM p", "{:.2f}"),
    ("forecast_tests", "pt_p", "PT p", "{:.2f}"),
]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "", text.replace("^", "")) or "run"


def new_run_dir(config: RunConfig) -> Path:
    """Create out/<run-id>/; an existing run folder is never reused or overwritten."""
    out = Path(config.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {str(out)!r}: {exc.strerror}.") from None
    if config.run_id:
        run_dir = out / config.run_id
        if run_dir.exists():
            raise ConfigError(
                f"{str(run_dir)!r} already exists; choose another --run-id (earlier runs are kept)."
            )
        run_dir.mkdir()
        return run_dir
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(config.ticker)}-{'+'.join(config.presets)}"
    for i in range(1000):
        run_dir = out / (stem if i == 0 else f"{stem}-{i + 1}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise ConfigError(f"could not create a new run folder under {str(out)!r}.")


def write_status(run_dir: Path, status: str) -> None:
    """run.json: running | interrupted | complete (an interrupted run can be resumed)."""
    _write_json(run_dir / "run.json", {"status": status,
                                      "updated": datetime.now().isoformat(timespec="seconds")})


def read_status(run_dir: Path) -> str:
    path = Path(run_dir) / "run.json"
    return json.loads(path.read_text())["status"] if path.is_file() else "unknown"


def _data_doc(data) -> dict:
    from lstmbt.data import fingerprint

    return {
        t: {"rows": len(f), "first": f"{f.index[0]:%Y-%m-%d}", "last": f"{f.index[-1]:%Y-%m-%d}",
            "source": f.attrs.get("source", ""), "fingerprint": fingerprint(f)}
        for t, f in data.prices.items()
    }


def write_config(run_dir: Path, cfg: RunConfig, data, folds=None) -> None:
    """config.json: everything needed to reproduce or resume the run."""
    doc = {
        "config": cfg.to_dict(),
        "presets": [p.__dict__ for p in cfg.model_presets()],
        "created": datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "data": _data_doc(data),
    }
    if folds is not None:
        d = data.dates
        doc["splits"] = {
            name: [
                {"train": [f"{d[s.train[0]]:%Y-%m-%d}", f"{d[s.train[-1]]:%Y-%m-%d}", len(s.train)],
                 "val": [f"{d[s.val[0]]:%Y-%m-%d}", f"{d[s.val[-1]]:%Y-%m-%d}", len(s.val)],
                 "test": [f"{d[s.test[0]]:%Y-%m-%d}", f"{d[s.test[-1]]:%Y-%m-%d}", len(s.test)],
                 "embargo_rows": s.embargo}
                for s in splits
            ]
            for name, splits in folds.items()
        }
    _write_json(run_dir / "config.json", doc)


def read_config(run_dir: Path) -> RunConfig:
    """The RunConfig a run was started with (for resume)."""
    from lstmbt.config import config_from_mapping

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not an lstmbt run folder (no config.json).")
    values = json.loads(path.read_text())["config"]
    values["run_id"] = None
    return config_from_mapping(values)


def check_resume_data(run_dir: Path, data) -> None:
    """Refuse to resume on data that differs from what the run started with."""
    saved = json.loads((Path(run_dir) / "config.json").read_text()).get("data", {})
    now = _data_doc(data)
    for ticker, doc in now.items():
        if saved.get(ticker, {}).get("fingerprint") != doc["fingerprint"]:
            raise LstmbtError(
                f"the prices of {ticker} differ from those the run started with; resuming would "
                "mix two data sets. Start a new run instead."
            )


def comparison_table(metrics: dict) -> pd.DataFrame:
    """One row per strategy (benchmark first): after-cost strategy and forecast metrics."""
    names = [metrics["benchmark"]] + [n for n in metrics["strategy"] if n != metrics["benchmark"]]
    rows = {}
    for name in names:
        row = {}
        for section, key, header, _ in COLUMNS:
            row[header] = metrics.get(section, {}).get(name, {}).get(key)
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def format_cell(header: str, value: object) -> str:
    """Render one table cell the same way in the terminal and the HTML report."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    fmt = next(f for _, _, h, f in COLUMNS if h == header)
    if fmt == "{:d}":
        return f"{int(value):d}"
    return fmt.format(value)


def verdict(metrics: dict) -> list[str]:
    """Plain words per LSTM strategy: its after-cost Sharpe against buy-and-hold, and whether the
    difference survives the bootstrap, the SPA test and the deflated Sharpe ratio."""
    bench_name = metrics["benchmark"]
    bench = metrics["strategy"][bench_name]
    span = metrics["span"]
    tests = metrics.get("strategy_tests", {})
    spa = metrics.get("spa", {})
    lines = []
    for name, m in metrics["strategy"].items():
        if not name.endswith(":lstm"):
            continue
        if not m.get("trades"):
            lines.append(f"{name} never held a position from {span['test_start']} to "
                         f"{span['test_end']}: nothing to test.")
            continue
        t = tests.get(name, {})
        p = t.get("diff_p_value")
        better = (m["sharpe"] or -9e9) > (bench["sharpe"] or -9e9)
        text = (
            f"{name}: Sharpe {_num(m['sharpe'])} vs {_num(bench['sharpe'])} for buy-and-hold after "
            f"costs ({span['test_start']} to {span['test_end']}, total return "
            f"{m['total_return']:+.1%} vs {bench['total_return']:+.1%})"
        )
        if p is None:
            text += "; the difference could not be tested."
        elif p < 0.05 and better:
            text += f"; its edge over buy-and-hold is significant at 5% (bootstrap p = {p:.2f})"
        elif p < 0.05:
            text += f"; it is significantly worse than buy-and-hold at 5% (bootstrap p = {p:.2f})"
        else:
            text += f"; the difference is not significant at 5% (bootstrap p = {p:.2f})"
        if spa.get("p_consistent") is not None:
            text += (f"; SPA p = {spa['p_consistent']:.2f} that any of the "
                     f"{spa['n_strategies']} strategies beats buy-and-hold")
        dsr = (t.get("dsr") or {}).get("dsr")
        if dsr is not None:
            text += f"; deflated Sharpe {dsr:.2f} after {t['dsr']['n_trials']} trials"
        seeds = metrics.get("seeds", {}).get(name, {})
        sh = seeds.get("sharpe", {})
        if seeds.get("n_seeds", 1) > 1 and sh.get("mean") is not None:
            text += f"; across {seeds['n_seeds']} seeds Sharpe {sh['mean']:.2f} ± {sh['std'] or 0:.2f}"
        lag = metrics.get("forecast_tests", {}).get(name, {}).get("lag", {})
        if lag.get("echo"):
            text += (f"; WARNING: the forecast is mostly a function of today's change "
                     f"(corr {lag['corr_by_lag'][0]:+.2f})")
        if not span.get("walk_forward"):
            text += ". One split: run with --walk-forward for a sturdier answer."
        else:
            text += "."
        lines.append(text)
    return lines


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_tearsheet(
    returns: pd.Series, benchmark: pd.Series, path: Path, title: str, benchmark_title: str
) -> Path:
    """QuantStats HTML of `returns` against a benchmark *series* (a ticker would download)."""
    import matplotlib

    matplotlib.use("Agg")
    import quantstats as qs

    strat = returns.copy()
    bench = benchmark.reindex(strat.index).copy()
    strat.index = pd.DatetimeIndex(strat.index).tz_localize(None)
    bench.index = strat.index
    strat.name, bench.name = title, benchmark_title
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        qs.reports.html(
            strat, benchmark=bench, output=str(path), title=f"{title} vs {benchmark_title}",
            strategy_title=title, benchmark_title=benchmark_title, download_filename=path.name,
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if benchmark_title.upper() not in text.upper():
        raise LstmbtError(f"QuantStats wrote {path} without the benchmark {benchmark_title!r}.")
    return path


def versions() -> dict[str, str]:
    """Library versions saved with each run (results depend on them)."""
    out = {"python": platform.python_version()}
    for mod in ("numpy", "pandas", "torch", "backtrader", "ta", "quantstats", "arch", "yfinance"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - a missing optional module is just not listed
            continue
    return out


def _write_json(path: Path, doc: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def write_run(result, progress=None) -> Path:
    """Write every artifact of a finished study into result.run_dir."""
    from models import save_forecaster

    run_dir: Path = result.run_dir
    cfg = result.config
    if progress is not None:
        progress.stage(f"writing report to {run_dir}")
    write_config(run_dir, cfg, result.data, result.folds)
    result.predictions.to_csv(run_dir / "predictions.csv", float_format="%.10g")
    result.positions.rename_axis("date").to_csv(run_dir / "positions.csv", float_format="%g")
    result.returns.rename_axis("date").to_csv(run_dir / "returns.csv", float_format="%.12g")
    result.orders.to_csv(run_dir / "orders.csv", index=False, float_format="%.10g")
    for name, model in result.models.items():  # the latest fold's model, ready to forecast
        preset = next(p for p in cfg.model_presets() if p.name == name)
        save_forecaster(model, run_dir / "models" / name, {
            "preset": preset.__dict__,
            "feature_names": result.data.features[name].names,
            "ticker": cfg.ticker,
            "horizon": cfg.horizon,
        })
    metrics = dict(result.metrics)
    metrics["verdict"] = verdict(metrics)
    tearsheets = {}
    if cfg.tearsheets:
        bench = result.returns[metrics["benchmark"]]
        for name in result.returns.columns:
            if not name.endswith(":lstm"):
                continue
            if progress is not None:
                progress.stage(f"QuantStats tear-sheet: {name} vs buy-and-hold")
            path = run_dir / f"tearsheet_{_slug(name.replace(':', '_'))}.html"
            if result.returns[name].nunique() <= 1:
                note = f"{name}: no tear-sheet, the strategy never held a position in the test span"
            else:
                try:
                    write_tearsheet(result.returns[name], bench, path, name, "Buy & Hold")
                    tearsheets[name] = path.name
                    continue
                except (ValueError, ZeroDivisionError, KeyError) as exc:
                    note = f"{name}: QuantStats could not draw a tear-sheet ({exc})"
            metrics["notes"] = [*metrics.get("notes", []), note]
            if progress is not None:
                progress.note(note)
    metrics["tearsheets"] = tearsheets
    _write_json(run_dir / "metrics.json", metrics)
    write_index(run_dir, metrics, cfg)
    result.metrics = metrics
    return run_dir


def write_index(run_dir: Path, metrics: dict, cfg: RunConfig) -> Path:
    """index.html: the run's landing page with the comparison table and links."""
    table = comparison_table(metrics)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Strategy", *table.columns])
    body = []
    for name, row in table.iterrows():
        cls = ' class="bench"' if name == metrics["benchmark"] else ""
        cells = "".join(f"<td>{format_cell(h, v)}</td>" for h, v in row.items())
        body.append(f"<tr{cls}><th>{html.escape(str(name))}</th>{cells}</tr>")
    links = "".join(
        f'<li><a href="{html.escape(p)}">{html.escape(n)} vs buy-and-hold (QuantStats)</a></li>'
        for n, p in metrics.get("tearsheets", {}).items()
    )
    files = "".join(
        f'<li><a href="{f}">{f}</a></li>'
        for f in ("metrics.json", "config.json", "predictions.csv", "positions.csv",
                  "returns.csv", "orders.csv")
    )
    span = metrics["span"]
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in metrics.get("verdict", []))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in metrics.get("notes", []))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lstmbt: {html.escape(run_dir.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#222}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}}
tr th:first-child{{text-align:left}} tr.bench{{background:#f3f6fb;font-weight:600}}
</style></head><body>
<h1>{html.escape(cfg.ticker)}: {html.escape(', '.join(cfg.presets))}</h1>
<p>Out-of-sample test span {span['test_start']} to {span['test_end']} ({span['test_days']} days);
costs per side: commission {cfg.commission:.4%}, slippage {cfg.slippage:.4%};
signal at the close of t, traded at the open of t+1. Seed {cfg.seed}, {cfg.epochs} epochs max.</p>
<h2>Verdict</h2><ul id="verdict">{verdicts}</ul>
<h2>Comparison (after costs, same span)</h2>
<table id="comparison"><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
<h2>Tear-sheets</h2><ul id="tearsheets">{links}</ul>
<h2>Files</h2><ul>{files}</ul>
<h2>Data notes</h2><ul>{notes}</ul>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
