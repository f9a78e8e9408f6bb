"""A run's report: the artifacts (predictions, positions, returns, orders, metrics.json), the
verdict, QuantStats tear-sheets against buy-and-hold, figures and index.html, rebuilt from the
saved files alone by `build_report`."""

from __future__ import annotations

import contextlib
import html
import io
import json
import warnings
from pathlib import Path

import pandas as pd

from lstmbt.errors import LstmbtError
from lstmbt.runs import slug, write_config, write_json

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
            lines.append(
                f"{name} never held a position from {span['test_start']} to "
                f"{span['test_end']}: nothing to test."
            )
            continue
        t = tests.get(name, {})
        p = t.get("diff_p_value")
        better = (m["sharpe"] or -9e9) > (bench["sharpe"] or -9e9)
        text = (
            f"{name}: Sharpe {fmt2(m['sharpe'])} vs {fmt2(bench['sharpe'])} for buy-and-hold after "
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
            text += (
                f"; SPA p = {spa['p_consistent']:.2f} that any of the "
                f"{spa['n_strategies']} strategies beats buy-and-hold"
            )
        dsr = (t.get("dsr") or {}).get("dsr")
        if dsr is not None:
            text += f"; deflated Sharpe {dsr:.2f} after {t['dsr']['n_trials']} trials"
        seeds = metrics.get("seeds", {}).get(name, {})
        sh = seeds.get("sharpe", {})
        if seeds.get("n_seeds", 1) > 1 and sh.get("mean") is not None:
            text += (
                f"; across {seeds['n_seeds']} seeds Sharpe {sh['mean']:.2f} ± {sh['std'] or 0:.2f}"
            )
        lag = metrics.get("forecast_tests", {}).get(name, {}).get("lag", {})
        if lag.get("echo"):
            text += (
                f"; WARNING: the forecast is mostly a function of today's change "
                f"(corr {lag['corr_by_lag'][0]:+.2f})"
            )
        if not span.get("walk_forward"):
            text += ". One split: run with --walk-forward for a sturdier answer."
        else:
            text += "."
        lines.append(text)
    return lines


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
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        qs.reports.html(
            strat,
            benchmark=bench,
            output=str(path),
            title=f"{title} vs {benchmark_title}",
            strategy_title=title,
            benchmark_title=benchmark_title,
            download_filename=path.name,
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if benchmark_title.upper() not in text.upper():
        raise LstmbtError(f"QuantStats wrote {path} without the benchmark {benchmark_title!r}.")
    return path


def write_run(result, progress=None) -> Path:
    """Write every artifact of a finished study into result.run_dir, then build the report."""
    from lstmbt.pipeline import model_meta
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
        save_forecaster(model, run_dir / "models" / name, model_meta(cfg, preset, result.data))
    metrics = dict(result.metrics)
    metrics["verdict"] = verdict(metrics)
    write_json(run_dir / "metrics.json", metrics)
    result.metrics = build_report(run_dir, progress, tearsheets=cfg.tearsheets)
    return run_dir


def build_report(run_dir: Path, progress=None, tearsheets: bool = True) -> dict:
    """Figures, tear-sheets and index.html from a run's saved files only (no retraining).

    Returns the metrics, updated with the tear-sheets drawn and any notes about skipped ones.
    """
    from lstmbt.figures import draw_all, draw_lag_check

    run_dir = Path(run_dir)
    for name in ("metrics.json", "config.json", "returns.csv", "predictions.csv"):
        if not (run_dir / name).is_file():
            raise LstmbtError(
                f"{str(run_dir)!r} has no {name}; it is not a finished lstmbt run "
                "(an interrupted one can be continued with `lstmbt resume`)."
            )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    cfg = json.loads((run_dir / "config.json").read_text())
    returns = pd.read_csv(run_dir / "returns.csv", index_col=0, parse_dates=True)
    notes = [n for n in metrics.get("notes", []) if "tear-sheet" not in n]
    sheets: dict[str, str] = {}
    if tearsheets:
        bench = returns[metrics["benchmark"]]
        for name in returns.columns:  # every strategy against buy-and-hold, LSTMs first
            if name == metrics["benchmark"]:
                continue
            if progress is not None:
                progress.stage(f"QuantStats tear-sheet: {name} vs buy-and-hold")
            path = run_dir / f"tearsheet_{slug(name.replace(':', '_'))}.html"
            if returns[name].nunique() <= 1:
                note = f"{name}: no tear-sheet, the strategy never held a position in the test span"
            else:
                try:
                    write_tearsheet(returns[name], bench, path, name, "Buy & Hold")
                    sheets[name] = path.name
                    continue
                except (ValueError, ZeroDivisionError, KeyError) as exc:
                    note = f"{name}: QuantStats could not draw a tear-sheet ({exc})"
            notes.append(note)
            if progress is not None:
                progress.note(note)
    metrics["tearsheets"] = sheets
    metrics["notes"] = notes
    if progress is not None:
        progress.stage("drawing figures")
    preds = pd.read_csv(run_dir / "predictions.csv", index_col=0, parse_dates=True)
    figures = draw_all(run_dir, metrics["benchmark"], returns, preds)
    lags = {n: t["lag"] for n, t in metrics.get("forecast_tests", {}).items() if "lag" in t}
    if lags:
        figures["lag_check"] = draw_lag_check(run_dir, lags)
    write_json(run_dir / "metrics.json", metrics)
    write_index(run_dir, metrics, cfg, figures)
    return metrics


def _fig(figures: dict[str, str], key: str, alt: str) -> str:
    if key not in figures:
        return ""
    return f'<figure><img src="{html.escape(figures[key])}" alt="{html.escape(alt)}"></figure>'


def _fold_table(metrics: dict) -> str:
    folds = metrics.get("folds", [])
    if not folds:
        return "<p>No fold results.</p>"
    bench = metrics["benchmark"]
    lstms = [n for n in folds[0]["total_return"] if n.endswith(":lstm")]
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in (
            ["Fold", "Test span", "Days", "Buy & hold"]
            + [f"{n} return" for n in lstms]
            + [f"{n} hit rate" for n in lstms]
        )
    )
    body = []
    for f in folds:
        cells = [
            str(f["fold"]),
            f"{f['test_start']} .. {f['test_end']}",
            str(f["days"]),
            f"{f['total_return'][bench]:+.1%}",
        ]
        cells += [f"{f['total_return'][n]:+.1%}" for n in lstms]
        cells += [
            ("-" if f["hit_rate"].get(n) is None else f"{f['hit_rate'][n]:.1%}") for n in lstms
        ]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table id="folds"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def fmt2(value: float | None) -> str:
    """A p-value or ratio to two decimals; '-' when it could not be computed."""
    return "-" if value is None else f"{value:.2f}"


def _significance_table(metrics: dict) -> str:
    st, ft = metrics.get("strategy_tests", {}), metrics.get("forecast_tests", {})
    head = (
        "<tr><th>Strategy</th><th>Sharpe [95% CI]</th><th>ΔSharpe vs B&amp;H [95% CI]</th>"
        "<th>p ΔSharpe</th><th>Deflated Sharpe</th><th>DM p (sq / abs)</th><th>PT p</th>"
        "<th>IC [95% CI]</th><th>corr with r(t)</th></tr>"
    )
    rows = []
    for name, t in st.items():
        sharpe = (
            "-"
            if t.get("sharpe") is None
            else (f"{t['sharpe']:.2f} [{fmt2(t.get('ci_low'))}, {fmt2(t.get('ci_high'))}]")
        )
        diff = (
            "-"
            if t.get("diff") is None
            else (f"{t['diff']:+.2f} [{fmt2(t.get('diff_ci_low'))}, {fmt2(t.get('diff_ci_high'))}]")
        )
        dsr = (t.get("dsr") or {}).get("dsr")
        f = ft.get(name, {})
        dm = "-"
        if f:
            dm_sq, dm_abs = f["dm_squared_vs_rw"]["p_value"], f["dm_absolute_vs_rw"]["p_value"]
            dm = f"{fmt2(dm_sq)} / {fmt2(dm_abs)}"
        ic = f.get("ic", {})
        ic_txt = (
            "-"
            if not ic or ic.get("ic") is None
            else (f"{ic['ic']:+.3f} [{ic['ci_low']:+.3f}, {ic['ci_high']:+.3f}]")
        )
        lag = (f.get("lag") or {}).get("corr_by_lag", [None])[0]
        flag = " ⚠" if (f.get("lag") or {}).get("echo") else ""
        rows.append(
            f"<tr><th>{html.escape(name)}</th><td>{sharpe}</td><td>{diff}</td>"
            f"<td>{fmt2(t.get('diff_p_value'))}</td><td>{fmt2(dsr)}</td><td>{dm}</td>"
            f"<td>{fmt2(f.get('pt_p')) if f else '-'}</td><td>{ic_txt}</td>"
            f"<td>{'-' if lag is None else f'{lag:+.2f}'}{flag}</td></tr>"
        )
    spa = metrics.get("spa", {})
    spa_txt = (
        f"<p>Hansen's SPA test, H0: no strategy beats buy-and-hold after costs: p = "
        f"{fmt2(spa.get('p_consistent'))} (lower {fmt2(spa.get('p_lower'))}, upper "
        f"{fmt2(spa.get('p_upper'))}) over {spa.get('n_strategies', 0)} strategies.</p>"
        if spa
        else ""
    )
    return f'<table id="significance">{head}{"".join(rows)}</table>{spa_txt}'


def _seed_table(metrics: dict) -> str:
    seeds = metrics.get("seeds", {})
    if not seeds:
        return ""
    rows = []
    for name, s in seeds.items():

        def ms(key, fmt, s=s):
            d = s.get(key, {})
            if d.get("mean") is None:
                return "-"
            return fmt.format(d["mean"]) + (
                "" if d.get("std") is None else " ± " + fmt.format(d["std"])
            )

        rows.append(
            f"<tr><th>{html.escape(name)}</th><td>{s['n_seeds']}</td>"
            f"<td>{ms('sharpe', '{:.2f}')}</td><td>{ms('total_return', '{:+.1%}')}</td>"
            f"<td>{ms('rmse', '{:.5f}')}</td><td>{ms('hit_rate', '{:.1%}')}</td></tr>"
        )
    return (
        '<table id="seeds"><tr><th>Model</th><th>Seeds</th><th>Sharpe</th><th>Total return</th>'
        f"<th>RMSE</th><th>Hit rate</th></tr>{''.join(rows)}</table>"
        "<p>Each seed's strategy is scored separately (mean ± standard deviation); the rows in "
        "the comparison table are the seed ensembles (averaged forecasts).</p>"
    )


def write_index(run_dir: Path, metrics: dict, cfg_doc: dict, figures: dict[str, str]) -> Path:
    """index.html: the run's self-contained landing page (local images, no network)."""
    cfg = cfg_doc["config"]
    table = comparison_table(metrics)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Strategy", *table.columns])
    body = []
    for name, row in table.iterrows():
        cls = ' class="bench"' if name == metrics["benchmark"] else ""
        cells = "".join(f"<td>{format_cell(h, v)}</td>" for h, v in row.items())
        body.append(f"<tr{cls}><th>{html.escape(str(name))}</th>{cells}</tr>")
    links = (
        "".join(
            f'<li><a href="{html.escape(p)}">{html.escape(n)} vs buy-and-hold (QuantStats)</a></li>'
            for n, p in metrics.get("tearsheets", {}).items()
        )
        or "<li>none</li>"
    )
    files = "".join(
        f'<li><a href="{f}">{f}</a></li>'
        for f in (
            "metrics.json",
            "config.json",
            "predictions.csv",
            "positions.csv",
            "returns.csv",
            "orders.csv",
        )
    )
    span = metrics["span"]
    data = "".join(
        f"<li>{html.escape(t)}: {d['first']} to {d['last']} ({d['rows']} rows, "
        f"{html.escape(d['source'])}, fingerprint {d['fingerprint']})</li>"
        for t, d in cfg_doc.get("data", {}).items()
    )
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in metrics.get("verdict", []))
    notes = (
        "".join(f"<li>{html.escape(n)}</li>" for n in metrics.get("notes", [])) or "<li>none</li>"
    )
    design = (
        f"walk-forward, {span.get('folds')} folds refit every {cfg['refit_every']} days "
        f"({cfg['window']} window)"
        if span.get("walk_forward")
        else "one chronological split"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lstmbt: {html.escape(run_dir.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:76rem;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0 1rem}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right;font-size:.92rem}}
tr th:first-child{{text-align:left}} tr.bench{{background:#f3f6fb;font-weight:600}}
figure{{margin:0 0 1rem}} img{{max-width:100%;height:auto}} .meta{{color:#555}}
#verdict li{{margin-bottom:.4rem}}
</style></head><body>
<h1>{html.escape(cfg["ticker"])}: {html.escape(", ".join(cfg["presets"]))}</h1>
<p class="meta">Out-of-sample span {span["test_start"]} to {span["test_end"]}
({span["test_days"]} trading days), {design}, {cfg["seeds"]} seed(s) from {cfg["seed"]},
at most {cfg["epochs"]} epochs. Costs per side: commission {cfg["commission"]:.4%}, slippage
{cfg["slippage"]:.4%}. A signal known at the close of t is traded at the open of t+1.
Run <code>{html.escape(run_dir.name)}</code>.</p>
<h2>Verdict</h2><ul id="verdict">{verdicts}</ul>
<h2>Comparison (after costs, same span)</h2>
<table id="comparison"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<p class="meta">p ΔSharpe: block-bootstrap p-value of the Sharpe difference to buy-and-hold.
DM p: Diebold-Mariano against the random walk (squared loss). PT p: Pesaran-Timmermann test of
direction. R² vs RW: 1 - MSE / MSE of a zero forecast.</p>
{_fig(figures, "equity", "cumulative returns of every strategy and buy-and-hold")}
{_fig(figures, "drawdown", "drawdowns")}
<h2>Significance</h2>{_significance_table(metrics)}
{_seed_table(metrics)}
<h2>Forecast diagnostics</h2>
{_fig(figures, "scatter", "predicted vs realised")}
{_fig(figures, "forecast_time", "forecasts over time")}
{_fig(figures, "rolling", "rolling hit rate and information coefficient")}
{_fig(figures, "distribution", "distribution of forecasts")}
{_fig(figures, "lag_check", "lag check")}
<h2>Per-fold results</h2>{_fold_table(metrics)}
<h2>Tear-sheets</h2><ul id="tearsheets">{links}</ul>
<h2>Data</h2><ul>{data}</ul>
<h2>Files</h2><ul>{files}</ul>
<h2>Notes</h2><ul id="notes">{notes}</ul>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
