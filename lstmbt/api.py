"""The Python API's entry points: `run_study` (nothing written unless asked) and
`resume_study` (continue an interrupted run folder)."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pandas as pd

from lstmbt import runs
from lstmbt.config import RunConfig
from lstmbt.progress import Progress
from lstmbt.results import StudyResult, write_run
from lstmbt.study.folds import FoldStore
from lstmbt.study.inputs import prepare_data
from lstmbt.study.pipeline import compute_study


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: finished folds are kept; `lstmbt resume RUN_DIR` continues."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(
            f"interrupted; finished folds are saved. Continue with: lstmbt resume {run_dir}"
        )
        self.run_dir = run_dir


def run_study(
    config: RunConfig,
    *,
    prices: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
    write: bool = False,
    resume_dir: str | Path | None = None,
) -> StudyResult:
    """Run the whole experiment and return its typed result.

    With `write` (the CLI's default; the Python default is False), every artifact is saved
    under `config.out/<run-id>/` and finished walk-forward folds are saved as they complete, so
    an interrupted run (Ctrl-C) can be continued with `resume_study`. `prices` (ticker ->
    OHLCV frame) replaces loading from config.source.
    """
    config = config.validate()
    progress = progress or Progress()
    # libraries imported lazily on the way (arch pulls in statsmodels) add process-wide warning
    # filters; catch_warnings puts the caller's filters back afterwards
    with warnings.catch_warnings():
        return _run(config, prices, progress, write, resume_dir)


def _run(config, prices, progress, write, resume_dir) -> StudyResult:
    run_dir = None
    if resume_dir is not None:
        run_dir = Path(resume_dir)
    elif write:
        run_dir = runs.new_run_dir(config)  # fail before the slow part if unusable
        runs.write_status(run_dir, "running")
    data = prepare_data(config, prices, progress)
    if resume_dir is not None:
        runs.check_resume_data(run_dir, data.prices, data.cash_rate)
    elif run_dir is not None:
        runs.write_config(run_dir, config, data.prices, cash=data.cash_rate)
    for note in data.notes:
        progress.note(note)
    store = FoldStore(run_dir / "folds") if run_dir is not None else None
    try:
        earlier = runs.earlier_trials(config, data.prices)
        result = compute_study(config, data, progress, store, earlier)
        if run_dir is not None:
            result = write_run(result, run_dir, progress, tearsheets=config.tearsheets)
            runs.write_status(run_dir, "complete")
    except KeyboardInterrupt:
        if run_dir is not None:
            runs.write_status(run_dir, "interrupted")
            raise Interrupted(run_dir) from None
        raise
    return dataclasses.replace(result, run_dir=run_dir)


def resume_study(run_dir: str | Path, progress: Progress | None = None) -> StudyResult:
    """Continue an interrupted (or re-run a finished) study from its folder, reusing saved folds."""
    config = runs.read_config(run_dir)
    return run_study(config, progress=progress, resume_dir=run_dir)
