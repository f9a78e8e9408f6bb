"""A run's report from its metrics and saved series: QuantStats tear-sheets against
buy-and-hold, the figures, index.html and the final metrics.json; `build_report` rebuilds all
of it from the saved files alone (no retraining)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from lstmbt.errors import LstmbtError
from lstmbt.metrics import Metrics
from lstmbt.progress import Progress
from lstmbt.report.figures import report_figures, save_figures
from lstmbt.report.html import write_index
from lstmbt.report.overfitting_figures import overfitting_figures
from lstmbt.report.tearsheets import tearsheet_file, write_tearsheet
from lstmbt.runs import read_config_doc, read_metrics, write_json

REQUIRED = ("metrics.json", "config.json", "returns.csv", "predictions.csv")


def draw_tearsheets(
    run_dir: Path, m: Metrics, returns: pd.DataFrame, progress: Progress
) -> tuple[dict[str, str], list[str]]:
    """One tear-sheet per strategy against buy-and-hold; (file per strategy, notes)."""
    sheets: dict[str, str] = {}
    notes: list[str] = []
    bench = returns[m.benchmark]
    for name in returns.columns:  # every strategy against buy-and-hold, forecasters first
        if name == m.benchmark:
            continue
        progress.stage(f"QuantStats tear-sheet: {name} vs buy-and-hold")
        path = run_dir / tearsheet_file(name)
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
        progress.note(note)
    return sheets, notes


def run_figures(m: Metrics, returns: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """Every figure of a run's report, from its metrics and saved series: those of
    `report_figures`, and PBO's two where the run estimated it (drawn from what metrics.json
    keeps, so a rebuilt report draws the same)."""
    lags = {n: m.value("forecast_tests", n, "lag_corr") for n in m.forecast_tests.index}
    figures = report_figures(
        returns, predictions, m.benchmark, m.forecasters, lags, m.cost_sweep, m.span.cost_bps
    )
    if m.overfitting is not None and m.overfitting.grid_cells:
        figures.update(overfitting_figures(m.overfitting))
    return figures


def draw_report(
    run_dir: Path,
    m: Metrics,
    returns: pd.DataFrame,
    predictions: pd.DataFrame,
    cfg_doc: dict,
    progress: Progress | None = None,
    tearsheets: bool = True,
) -> Metrics:
    """Tear-sheets, figures and index.html in `run_dir`, then metrics.json; returns the metrics
    with the tear-sheets drawn and any notes about skipped ones."""
    progress = progress or Progress()
    notes = [n for n in m.notes if "tear-sheet" not in n]
    sheets: dict[str, str] = {}
    if tearsheets:
        sheets, more = draw_tearsheets(run_dir, m, returns, progress)
        notes += more
    m = dataclasses.replace(m, tearsheets=sheets, notes=tuple(notes))
    progress.stage("drawing figures")
    figures = run_figures(m, returns, predictions)
    files = save_figures(figures, run_dir / "figures")
    write_json(run_dir / "metrics.json", m.to_json())
    write_index(run_dir, m, cfg_doc, files)
    return m


def build_report(run_dir: str | Path, progress: Progress | None = None, tearsheets: bool = True):
    """Figures, tear-sheets and index.html from a run's saved files only (no retraining).

    Returns the run's Metrics, updated with the tear-sheets drawn.
    """
    run_dir = Path(run_dir)
    for name in REQUIRED:
        if not (run_dir / name).is_file():
            raise LstmbtError(
                f"{str(run_dir)!r} has no {name}; it is not a finished lstmbt run "
                "(an interrupted one can be continued with `lstmbt resume`)."
            )
    metrics = read_metrics(run_dir)
    cfg_doc = read_config_doc(run_dir)
    returns = pd.read_csv(run_dir / "returns.csv", index_col=0, parse_dates=True)
    preds = pd.read_csv(run_dir / "predictions.csv", index_col=0, parse_dates=True)
    return draw_report(run_dir, metrics, returns, preds, cfg_doc, progress, tearsheets)
