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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from lstmbt.config import RunConfig
from lstmbt.data.rates import CashRate
from lstmbt.errors import LstmbtError
from lstmbt.features.build import FeatureMatrix
from lstmbt.metrics import Metrics, format_cell
from lstmbt.models import Forecaster, Split, save_forecaster
from lstmbt.progress import Progress
from lstmbt.report import draw_report, report_figures, write_tearsheet
from lstmbt.report.tearsheets import tearsheet_file
from lstmbt.report.universe import sharpe_difference_figure
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
    def verdict(self) -> tuple[str, ...]:
        """Plain words per forecaster: does it beat buy-and-hold after costs, and how sure is
        that?"""
        return self.metrics.verdict

    def summary(self) -> pd.DataFrame:
        """The comparison table: one row per strategy (buy-and-hold first), after costs."""
        return self.metrics.comparison()

    def figures(self) -> dict[str, Figure]:
        """The report's figures as matplotlib Figures: equity, drawdown, scatter,
        forecast_time, rolling, distribution, lag_check and cost_sweep."""
        m = self.metrics
        lags = {n: m.value("forecast_tests", n, "lag_corr") for n in m.forecast_tests.index}
        return report_figures(
            self.returns,
            self.predictions,
            m.benchmark,
            m.forecasters,
            lags,
            m.cost_sweep,
            m.span.cost_bps,
        )

    def __repr__(self) -> str:
        m = self.metrics
        lines = [
            f"StudyResult({m.span.ticker}, out of sample {m.span.test_start} to "
            f"{m.span.test_end}, {len(m.strategy)} strategies"
            + (f", written to {self.run_dir}" if self.run_dir else "")
            + ")",
            *(f"  {v}" for v in m.verdict),
        ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        m = self.metrics
        verdict = "".join(f"<li>{html.escape(v)}</li>" for v in m.verdict)
        table = self.summary()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Strategy", *table.columns])
        rows = "".join(
            f"<tr><th>{html.escape(str(n))}</th>"
            + "".join(f"<td>{format_cell(h, v)}</td>" for h, v in row.items())
            + "</tr>"
            for n, row in table.iterrows()
        )
        return (
            f"<div><b>{html.escape(m.span.ticker)}</b>, out of sample {m.span.test_start} to "
            f"{m.span.test_end}, after costs<ul>{verdict}</ul>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
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

    def tearsheet(self, model: str, path: str | Path | None = None) -> Path:
        """One QuantStats tear-sheet of a strategy against buy-and-hold; returns its path."""
        if model not in self.returns.columns or model == self.metrics.benchmark:
            choices = [c for c in self.returns.columns if c != self.metrics.benchmark]
            raise LstmbtError(f"no strategy {model!r}; choose from {', '.join(choices)}.")
        path = Path(path) if path is not None else Path(tearsheet_file(model))
        bench = self.returns[self.metrics.benchmark]
        return write_tearsheet(self.returns[model], bench, path, model, "Buy & Hold")


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
    """

    config: RunConfig
    universe: str
    tickers: dict[str, StudyResult]
    skipped: dict[str, str]
    table: pd.DataFrame
    pooled: pd.DataFrame
    trials: int
    verdict: tuple[str, ...]
    run_dir: Path | None = None
    portfolios: dict = field(default_factory=dict)  # forecaster -> study.portfolio.Portfolio

    def summary(self) -> pd.DataFrame:
        """The per-ticker table (ticker x forecaster)."""
        return self.table

    def figures(self) -> dict[str, Figure]:
        return {"sharpe_differences": sharpe_difference_figure(self.table)}

    def __repr__(self) -> str:
        head = (
            f"UniverseResult({self.universe}: {len(self.tickers)} tickers"
            + (f", {len(self.skipped)} skipped" if self.skipped else "")
            + ")"
        )
        return "\n".join([head, *(f"  {v}" for v in self.verdict)])

    def _repr_html_(self) -> str:
        verdict = "".join(f"<li>{html.escape(v)}</li>" for v in self.verdict)
        table = self.table.to_html(float_format=lambda v: f"{v:.2f}")
        return f"<div><b>{html.escape(self.universe)}</b><ul>{verdict}</ul>{table}</div>"
