"""What a study returns: `StudyResult`, typed parts (Metrics tables, DataFrames of forecasts,
positions and returns), a verdict, a summary table, figures, and `write` / `tearsheet` to save
the report or one tear-sheet later. Nothing here runs when a result is made: computing is the
study's job, writing happens only when asked.

A judged forecast and a universe study return the same kind of object, with the parts they
lack set to None.
"""

from __future__ import annotations

import dataclasses
import html
import math
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from lstmbt.config import RunConfig
from lstmbt.data.rates import CashRate
from lstmbt.errors import LstmbtError
from lstmbt.features.build import FeatureMatrix
from lstmbt.findings import Overfitting, StepM
from lstmbt.metrics import Metrics, Verdict, breakeven_supported, breakeven_text, fmt_p
from lstmbt.models import Forecaster, Split, save_forecaster
from lstmbt.progress import Progress
from lstmbt.report import draw_report, write_tearsheet
from lstmbt.report.overfitting_figures import overfitting_figures
from lstmbt.report.tearsheets import tearsheet_file
from lstmbt.report.universe import sharpe_difference_figure, ticker_table_html
from lstmbt.report.writer import run_figures
from lstmbt.runs import read_config, read_config_doc, read_metrics, write_config, write_json


@dataclass(frozen=True)
class StudyData:
    """Validated prices, targets and each preset's feature matrix on one decision calendar."""

    prices: dict[str, pd.DataFrame]
    ohlcv: pd.DataFrame  # adjusted OHLCV of the target ticker
    targets: pd.DataFrame  # (dates, horizon) next-day simple returns
    features: dict[str, FeatureMatrix]
    dates: pd.DatetimeIndex  # decision dates every model can forecast, with known targets
    notes: list[str] = field(default_factory=list)
    cash_rate: CashRate | None = None  # interest on cash per date of ohlcv (None: none)


@dataclass(frozen=True)
class StudyResult:
    """A finished study: every part typed, nothing written unless asked.

    Attributes
    ----------
    metrics
        the typed Metrics (tables indexed by model name, the verdict, notes)
    predictions
        out-of-sample forecasts of every model beside the realised next-day return
    positions
        the position each strategy decided at each close (traded at the next open)
    returns
        daily after-cost returns of every strategy, buy-and-hold included
    orders
        Backtrader's fills
    models
        the latest fold's trained forecaster (first seed) per preset and model, ready to
        forecast, keyed by its folder under models/: the preset for the LSTM,
        `<preset>/<model>` for the others (gru, mlp, a user class)
    model_meta
        what `lstmbt forecast` needs to rebuild each model's inputs (same keys)
    folds
        the chronological split or walk-forward folds of each preset (row positions)
    data
        the prices, targets and features the study used
    run_dir
        the folder the report was written to, or None
    """

    config: RunConfig | None
    metrics: Metrics
    predictions: pd.DataFrame
    positions: pd.DataFrame
    returns: pd.DataFrame
    orders: pd.DataFrame
    models: dict[str, Forecaster] = field(default_factory=dict)
    model_meta: dict[str, dict] = field(default_factory=dict)
    folds: dict[str, list[Split]] | None = None
    data: StudyData | None = None
    run_dir: Path | None = None

    @property
    def verdict(self) -> Verdict:
        """Per forecaster: does it beat buy-and-hold after costs (Yes / No / Inconclusive), the
        headline that backs the answer and its details; reads as text (iterate, index or
        str() it) as the sentences it replaced did. `verdict.answers`: forecaster -> answer."""
        return self.metrics.verdict

    def summary(self) -> pd.DataFrame:
        """The comparison table as numbers: one row per strategy (buy-and-hold first), after
        costs, the unit in each column's name (docs/report-fields.md, "summary()")."""
        return summary_frame(self.metrics)

    def figures(self) -> dict[str, Figure]:
        """The report's figures as matplotlib Figures: equity, drawdown, scatter,
        forecast_time, rolling, distribution, lag_check, cost_sweep, and PBO's pbo_logits and
        pbo_degradation where the run estimated it."""
        return run_figures(self.metrics, self.returns, self.predictions)

    def __repr__(self) -> str:
        m = self.metrics
        lines = [
            f"StudyResult({m.span.ticker}, out of sample {m.span.test_start} to "
            f"{m.span.test_end} ({m.span.test_days} trading days), {len(m.strategy)} strategies"
            + (f", written to {self.run_dir}" if self.run_dir else "")
            + ")",
            *(f"  {line}" for v in m.verdict for line in str(v).splitlines()),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The answers, then summary() with each number formatted by its unit."""
        m = self.metrics
        return (
            f"<div><b>{html.escape(m.span.ticker)}</b>, out of sample {m.span.test_start} to "
            f"{m.span.test_end} ({m.span.test_days} trading days), after costs of "
            f"{m.span.cost_bps:.1f} bps per side{verdict_html(m.verdict)}"
            f"{summary_html(self.summary())}</div>"
        )

    def write(self, path: str | Path, *, tearsheets: bool = True) -> Path:
        """Write the full report (files, figures, tear-sheets, index.html) into a new folder."""
        path = Path(path)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise LstmbtError(
                f"{str(path)!r} already exists and is not empty; write to a new folder "
                "(nothing is overwritten)."
            )
        path.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # the caller's warning filters stay as they were
            return write_run(self, path, tearsheets=tearsheets).run_dir

    def tearsheet(self, model: str, path: str | Path | None = None) -> Path | str:
        """One QuantStats tear-sheet of a strategy against buy-and-hold: written to `path`
        (returns the path), or, with no path, returned as HTML text (nothing is written)."""
        if model not in self.returns.columns or model == self.metrics.benchmark:
            choices = [c for c in self.returns.columns if c != self.metrics.benchmark]
            raise LstmbtError(f"no strategy {model!r}; choose from {', '.join(choices)}.")
        bench = self.returns[self.metrics.benchmark]
        if path is not None:
            return write_tearsheet(self.returns[model], bench, Path(path), model, "Buy & Hold")
        with tempfile.TemporaryDirectory() as tmp:
            sheet = Path(tmp) / tearsheet_file(model)
            write_tearsheet(self.returns[model], bench, sheet, model, "Buy & Hold")
            return sheet.read_text(encoding="utf-8")


# summary(): (column, header in HTML, Metrics table, its column, scale, display format); a
# unit in each name: _pct in percent, _bps in bps per side, the rest plain numbers
SUMMARY = (
    ("total_return_pct", "Total return", "strategy", "total_return", 100, "{:+.1f}%"),
    ("cagr_pct", "CAGR", "strategy", "cagr", 100, "{:+.1f}%"),
    ("sharpe", "Sharpe", "strategy", "sharpe", 1, "{:.2f}"),
    ("max_drawdown_pct", "Max DD", "strategy", "max_drawdown", 100, "{:.1f}%"),
    ("trades", "Trades", "strategy", "trades", 1, "{:.0f}"),
    ("exposure_pct", "Exposure", "strategy", "exposure", 100, "{:.0f}%"),
    ("rmse", "RMSE", "forecast", "rmse", 1, "{:.5f}"),
    ("hit_rate_pct", "Hit rate", "forecast", "hit_rate", 100, "{:.1f}%"),
    ("ic", "IC", "forecast", "ic", 1, "{:+.3f}"),
    ("r2_vs_rw", "R² vs RW", "forecast", "r2_vs_zero", 1, "{:+.4f}"),
    ("sharpe_diff", "ΔSharpe", "strategy_tests", "diff", 1, "{:+.2f}"),
    ("sharpe_diff_p", "p ΔSharpe", "strategy_tests", "diff_p_value", 1, "p"),
    ("breakeven_bps", "Break-even", "strategy_tests", "breakeven_bps", 1, "bps"),
    ("dm_p_better", "DM p (better than RW)", "forecast_tests", "dm_p_better", 1, "p"),
    ("mse_ratio_vs_rw", "MSE / RW", "forecast_tests", "loss_ratio", 1, "{:.3f}"),
    ("pt_p", "PT p", "forecast_tests", "pt_p", 1, "p"),
)


def summary_frame(m: Metrics) -> pd.DataFrame:
    """One row per strategy (buy-and-hold first), float columns named with their unit, then
    `breakeven` (the break-even cost in words, "1.3 bps (n.s.)" where its 95% interval reaches
    0: `breakeven_bps` holds the point estimate either way) and `answer` (the verdict's, for
    forecasters).

    `breakeven_bps` is NaN where there is no break-even cost (the strategy trails
    buy-and-hold even at zero cost, or is buy-and-hold) and inf where it is still ahead at the
    search's limit ("> 100 bps"), so the column sorts from worst to best."""
    names = [m.benchmark] + [n for n in m.strategy.index if n != m.benchmark]
    answers = m.verdict.answers
    rows = {}
    for name in names:
        row: dict[str, object] = {}
        for column, _, table, key, scale, _ in SUMMARY:
            value = m.value(table, name, key)
            row[column] = math.nan if value is None else float(value) * scale
        status = m.value("strategy_tests", name, "breakeven")
        if status == "beyond":
            row["breakeven_bps"] = math.inf
        elif status != "crosses":
            row["breakeven_bps"] = math.nan
        bps = m.value("strategy_tests", name, "breakeven_bps")
        supported = breakeven_supported(m.value("strategy_tests", name, "breakeven_low"))
        row["breakeven"] = "" if name == m.benchmark else breakeven_text(status, bps, supported)
        row["answer"] = answers.get(name, "")
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    numeric = [c for c, *_ in SUMMARY]
    return frame.astype({c: "float64" for c in numeric}).rename_axis("strategy")


def summary_html(frame: pd.DataFrame) -> str:
    """summary() as an HTML table, each number formatted by its unit; the break-even cost in
    words ("5.3 bps", "none", "> 100 bps")."""
    spec = {column: (header, fmt) for column, header, *_, fmt in SUMMARY}
    columns = [c for c in frame.columns if c in spec or c == "answer"]
    head = "".join(
        f"<th>{html.escape(spec[c][0] if c in spec else 'Answer')}</th>" for c in columns
    )
    body = []
    for name, row in frame.iterrows():
        cells = []
        for c in columns:
            value = row[c]
            if c == "answer":
                text = str(value)
            elif c == "breakeven_bps":
                text = row.get("breakeven") or "-"
            else:
                text = _cell(value, spec[c][1])
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append(f"<tr><th>{html.escape(str(name))}</th>{''.join(cells)}</tr>")
    return (
        f"<table><thead><tr><th>Strategy</th>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _cell(value: float, fmt: str) -> str:
    if value is None or value != value:
        return "-"
    if fmt == "p":
        return fmt_p(value)
    return fmt.format(value)


def verdict_html(verdict: Verdict) -> str:
    """The answers, each with its details, and the run's lines (a notebook's view)."""
    items = []
    for m in verdict.models:
        details = "".join(f"<li>{html.escape(d)}</li>" for d in m.details)
        answer = f"<b>{html.escape(m.answer)}</b> — " if m.answer else ""
        items.append(f"<li>{answer}{html.escape(m.headline)}<ul>{details}</ul></li>")
    items += [f"<li>{html.escape(line)}</li>" for line in verdict.run]
    return f"<ul>{''.join(items)}</ul>"


def write_run(
    result: StudyResult,
    run_dir: Path,
    progress: Progress | None = None,
    tearsheets: bool = True,
    extra: dict | None = None,
) -> StudyResult:
    """Every artifact of a finished study into `run_dir`, then the report; returns the result
    with `run_dir` set and the metrics as written (with the tear-sheets drawn). `extra`: more
    sections for config.json (a judged run's submission)."""
    progress = progress or Progress()
    progress.stage(f"writing report to {run_dir}")
    cfg, data = result.config, result.data
    if cfg is not None and data is not None:
        write_config(run_dir, cfg, data.prices, data.dates, result.folds, extra, data.cash_rate)
    result.predictions.to_csv(run_dir / "predictions.csv", float_format="%.10g")
    result.positions.rename_axis("date").to_csv(run_dir / "positions.csv", float_format="%g")
    result.returns.rename_axis("date").to_csv(run_dir / "returns.csv", float_format="%.12g")
    result.orders.to_csv(run_dir / "orders.csv", index=False, float_format="%.10g")
    for name, model in result.models.items():  # the latest fold's model, ready to forecast
        save_forecaster(model, run_dir / "models" / name, result.model_meta[name])
    write_json(run_dir / "metrics.json", result.metrics.to_json())
    metrics = draw_report(
        run_dir,
        result.metrics,
        result.returns,
        result.predictions,
        read_config_doc(run_dir) if (run_dir / "config.json").is_file() else {"config": {}},
        progress,
        tearsheets,
    )
    return dataclasses.replace(result, metrics=metrics, run_dir=run_dir)


def load_result(run_dir: str | Path) -> StudyResult:
    """A finished run's result from its files (no models, data or folds: what a report and a
    universe's cross-section need)."""
    run_dir = Path(run_dir)

    def frame(name: str) -> pd.DataFrame:
        return pd.read_csv(run_dir / name, index_col=0, parse_dates=True)

    return StudyResult(
        config=read_config(run_dir),
        metrics=read_metrics(run_dir),
        predictions=frame("predictions.csv"),
        positions=frame("positions.csv"),
        returns=frame("returns.csv"),
        orders=pd.read_csv(run_dir / "orders.csv"),
        run_dir=run_dir,
    )


@dataclass(frozen=True)
class UniverseResult:
    """A universe study: one StudyResult per ticker, and the cross-ticker evaluation.

    tickers:  label -> that ticker's StudyResult (its own calendar and span)
    skipped:  label -> why that ticker was left out (too short a history, no prices)
    table:    one row per (ticker, forecaster): spans, Sharpe ratios, the difference to
              buy-and-hold with its interval, raw and BH/Holm-adjusted p-values (Sharpe
              difference and DM), the deflated Sharpe per ticker and universe-wide
    pooled:   one row per forecaster: the average Sharpe difference over tickers with its
              bootstrap interval and p-value (the same days resampled for every ticker)
    portfolios: forecaster -> its top-k ranking portfolio beside the equal-weight universe
    verdict:  plain words per forecaster, and the survivorship caveat
    overfitting: PBO (CSCV) over every ranking tried (each forecaster's portfolio, each naive
              ranking, equal weight), over the cash rate
    stepm:    Romano-Wolf StepM of each ranking against equal weight, family-wise at 5%
    notes:    what could not be computed for the rankings, and why
    """

    config: RunConfig
    universe: str
    tickers: dict[str, StudyResult]
    skipped: dict[str, str]
    table: pd.DataFrame
    pooled: pd.DataFrame
    trials: int
    verdict: Verdict
    run_dir: Path | None = None
    portfolios: dict = field(default_factory=dict)  # forecaster -> study.portfolio.Portfolio
    overfitting: Overfitting | None = None
    stepm: StepM | None = None
    notes: tuple[str, ...] = ()

    def summary(self) -> pd.DataFrame:
        """The per-ticker table (ticker x forecaster)."""
        return self.table

    def figures(self) -> dict[str, Figure]:
        """The per-ticker Sharpe differences, and PBO's figures over the rankings where the
        universe estimated it."""
        figures = {"sharpe_differences": sharpe_difference_figure(self.table)}
        if self.overfitting is not None and self.overfitting.grid_cells:
            figures.update(overfitting_figures(self.overfitting))
        return figures

    def __repr__(self) -> str:
        head = (
            f"UniverseResult({self.universe}: {len(self.tickers)} tickers"
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
            + ")"
        )
        lines = [line for v in self.verdict for line in str(v).splitlines()]
        return "\n".join([head, *(f"  {line}" for line in lines)])

    def _repr_html_(self) -> str:
        return (
            f"<div><b>{html.escape(self.universe)}</b>{verdict_html(self.verdict)}"
            f"{ticker_table_html(self.table, {})}</div>"
        )
