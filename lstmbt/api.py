"""The Python API's entry points: `run_study` (nothing written unless asked), `resume_study`
(continue an interrupted or failed run folder) and `rebuild_report` (redraw a finished run).

A run folder's run.json always says what became of it: running (with pid, host and a heartbeat
at each stage and finished fold, so a killed run is recognisable as stale), interrupted, failed
(with the error and what to do) or complete. One process at a time works on a folder (a lock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from lstmbt import runs
from lstmbt.config import RunConfig
from lstmbt.errors import LstmbtError
from lstmbt.metrics import Metrics
from lstmbt.progress import Progress
from lstmbt.report import build_report
from lstmbt.results import StudyResult, write_run
from lstmbt.study.folds import FoldStore
from lstmbt.study.inputs import prepare_data
from lstmbt.study.pipeline import compute_study


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or the CLI's SIGTERM) during a run: finished folds are kept; `lstmbt resume
    RUN_DIR` continues. `run_dir` is None when nothing was saved (the folder was removed)."""

    def __init__(self, run_dir: Path | None) -> None:
        if run_dir is None:
            text = "interrupted before anything was saved; start the run again."
        else:
            text = f"interrupted; finished folds are saved. Continue with: lstmbt resume {run_dir}"
        super().__init__(text)
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
    under config.out/<run-id>/ and finished walk-forward folds are saved as they complete, so
    an interrupted run (Ctrl-C) can be continued with `resume_study`. A run that stops on an
    error is marked failed in run.json (with the error and what to do), or its folder removed
    when it holds nothing yet. `prices` (ticker -> OHLCV frame) replaces loading from
    config.source.
    """
    config = config.validate()
    progress = progress or Progress()
    if resume_dir is None and not write:
        data = prepare_data(config, prices, progress)
        for note in data.notes:
            progress.note(note)
        with warnings.catch_warnings():  # the caller's warning filters are put back
            return compute_study(config, data, progress, None)
    fresh = resume_dir is None
    run_dir = runs.new_run_dir(config) if fresh else Path(resume_dir)
    with runs.locked(run_dir):
        return _study_in_folder(config, prices, progress, run_dir, fresh)


def _study_in_folder(
    config: RunConfig,
    prices: dict[str, pd.DataFrame] | None,
    progress: Progress,
    run_dir: Path,
    fresh: bool,
) -> StudyResult:
    """The study in its locked folder, with run.json kept true: a new run owns run.json from the
    start, a resume once its data is checked (one refused earlier leaves run.json as it was)."""
    if fresh:
        runs.write_status(run_dir, "running")
    beat = _Heartbeat(progress, run_dir, active=fresh)
    try:
        data = prepare_data(config, prices, beat)
        if fresh:
            runs.write_config(run_dir, config, data.prices)
        else:
            runs.check_resume_data(run_dir, data.prices)
            runs.write_status(run_dir, "running")
            beat.active = True
        for note in data.notes:
            progress.note(note)
        # libraries imported lazily on the way (arch's bootstrap pulls in statsmodels) add
        # process-wide warning filters; catch_warnings puts the caller's filters back
        with warnings.catch_warnings():
            result = compute_study(config, data, beat, FoldStore(run_dir / "folds"))
            result = write_run(result, run_dir, beat, tearsheets=config.tearsheets)
        runs.write_status(run_dir, "complete")
        return dataclasses.replace(result, run_dir=run_dir)
    except KeyboardInterrupt:
        if fresh and not (run_dir / "config.json").is_file():
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing a resume could use
            raise Interrupted(None) from None
        if beat.active:
            runs.write_status(run_dir, "interrupted")
        raise Interrupted(run_dir) from None
    except Exception as exc:
        if beat.active:
            _record_failure(run_dir, exc, fresh)
        raise


def _record_failure(run_dir: Path, exc: Exception, fresh: bool) -> None:
    """A fresh folder holding nothing of value is removed; otherwise run.json says "failed",
    with the error and the way on, and the exception carries that way as a note."""
    if fresh and not runs.holds_work(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    error = " ".join(str(exc).split())[:500] or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        error = exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    if not isinstance(exc, (LstmbtError, OSError)):
        error = f"{type(exc).__name__}: {error}"
    folds = runs.saved_folds(run_dir)
    hint = f"fix the cause, then continue with: lstmbt resume {run_dir}"
    if folds:
        hint += f" ({folds} finished folds are reused)"
    with contextlib.suppress(OSError):  # a full disk may refuse even this; then it reads stale
        runs.write_status(run_dir, "failed", error=error, hint=hint)
    exc.add_note(f"run marked failed; {hint}")


class _Heartbeat(Progress):
    """Progress that also refreshes run.json's heartbeat at each stage and finished fold, once
    `active` (the run owns run.json)."""

    def __init__(self, inner: Progress, run_dir: Path, active: bool = True) -> None:
        self.inner, self.run_dir, self.active = inner, run_dir, active

    def beat(self) -> None:
        if self.active:
            runs.heartbeat(self.run_dir)

    def stage(self, message: str) -> None:
        self.beat()
        self.inner.stage(message)

    def note(self, message: str) -> None:
        self.inner.note(message)

    def tasks(self, total: int, epochs: int | None):
        @contextlib.contextmanager
        def ctx() -> Iterator:
            with self.inner.tasks(total, epochs) as (on_done, on_epoch_for):

                def done(task, from_disk: bool) -> None:
                    if not from_disk:
                        self.beat()
                    on_done(task, from_disk)

                yield done, on_epoch_for

        return ctx()


def resume_study(run_dir: str | Path, progress: Progress | None = None) -> StudyResult:
    """Continue an interrupted or failed study (or re-run a finished one) from its folder,
    reusing saved folds."""
    config = runs.read_config(run_dir)
    return run_study(config, progress=progress, resume_dir=run_dir)


def rebuild_report(
    run_dir: str | Path, progress: Progress | None = None, *, tearsheets: bool = True
) -> Metrics:
    """Redraw a run's figures, tear-sheets and index.html from its saved results.

    Needs every result file (metrics.json, predictions.csv, returns.csv); they are written only
    after all training, so once the report is drawn the run is complete, and run.json says so
    (a run killed or failed while drawing its report is thereby finished). Refused while another
    process works on the folder.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():  # not a run: build_report says what is missing
        return build_report(run_dir, progress, tearsheets=tearsheets)
    with runs.locked(run_dir):
        metrics = build_report(run_dir, progress, tearsheets=tearsheets)
        runs.write_status(run_dir, "complete")
    return metrics
