"""The Python API's entry points: `run_study` (nothing written unless asked), `resume_study`
(continue an interrupted or failed run folder) and `rebuild_report` (redraw a finished run).

A run folder's run.json always says what became of it: running (with pid, host and a heartbeat
at each stage and finished fold, so a killed run is recognisable as stale), interrupted, failed
(with the error and what to do) or complete. One process at a time works on a folder (a lock).
Every input a resume relies on is fingerprinted in the folder (runs.py, fingerprints.json and
each fold's own): a resume on changed inputs is refused in one line, or with `force`
recomputes what depends on them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from lstmbt import runs
from lstmbt.config import OLD_RUN_DEFAULTS, RunConfig, config_from_mapping, named_classes
from lstmbt.data import PriceCache, load_one
from lstmbt.data.universe import SURVIVORSHIP, Universe, resolve_universe
from lstmbt.errors import ConfigError, DataError
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.metrics import FORMAT, SIZED, Metrics, finite, fmt2, fmt_signed, p_equals
from lstmbt.progress import Progress
from lstmbt.report import build_report
from lstmbt.report.factor_page import write_factor_page
from lstmbt.report.tearsheets import tearsheet_file, write_tearsheet
from lstmbt.report.universe import write_universe_page
from lstmbt.results import StudyResult, UniverseResult, load_result, write_run
from lstmbt.runs import Change, Interrupted, RunComplete
from lstmbt.study.folds import FoldStore, Trainer, TrainerSlot, start_ray
from lstmbt.study.forecasters import study_plan
from lstmbt.study.inputs import cash_rate_of, check_universe_overlap, prepare_data
from lstmbt.study.mainguard import unguarded_main_call
from lstmbt.study.pipeline import compute_study
from lstmbt.study.portfolio import (
    EQUAL_WEIGHT,
    Portfolio,
    RankingTests,
    ranking_portfolios,
    ranking_tests,
)
from lstmbt.study.universe import cross_section
from lstmbt.study.verdict import ALPHA, overfitting_line, stepm_line, track_record_words


def run_study(
    config: RunConfig,
    *,
    prices: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
    write: bool = False,
    resume_dir: str | Path | None = None,
    force: bool = False,
    trainer: TrainerSlot | None = None,
) -> StudyResult:
    """Run the whole experiment and return its typed result.

    With `write` (the CLI's default; the Python default is False), every artifact is saved
    under `config.out/<run-id>/` and finished walk-forward folds are saved as they complete, so
    an interrupted run (Ctrl-C) can be continued with `resume_study`. A run that stops on an
    error is marked failed in run.json (with the error and what to do), or its folder removed
    when it holds nothing yet. `prices` (ticker -> OHLCV frame) replaces loading from
    config.source. `resume_dir` and `force`: see `resume_study`. `trainer`: the training
    workers a universe shares between its tickers (`run_universe` passes it; None: this study
    starts its own).
    """
    config = _in_process_if_unguarded(config.validate())
    progress = progress or Progress()
    if resume_dir is None and not write:
        # libraries imported lazily on the way (arch pulls in statsmodels) add process-wide
        # warning filters; catch_warnings puts the caller's filters back afterwards
        with warnings.catch_warnings():
            data = prepare_data(config, prices, progress)
            for note in data.notes:
                progress.note(note)
            earlier = runs.earlier_trials(config, data.prices)
            return compute_study(config, data, progress, None, earlier, trainer)
    fresh = resume_dir is None
    run_dir = runs.new_run_dir(config) if fresh else Path(resume_dir)
    with runs.locked(run_dir):
        return _study_in_folder(config, prices, progress, run_dir, fresh, force, trainer)


def _in_process_if_unguarded(config: RunConfig) -> RunConfig:
    """jobs=1 when a study starts from a script's top level without the main guard: each
    spawned training process would run the script again. Same results (they never depend on
    --jobs), one warning saying how to train in parallel."""
    fits = len(config.model_presets()) * len(config.models) * config.seeds
    several = config.walk_forward or fits > 1
    pool = (config.jobs or os.cpu_count() or 1) > 1 and config.backend == "pool"
    script = several and pool and unguarded_main_call()
    if not script:
        return config
    warnings.warn(
        f'{script} starts a study outside `if __name__ == "__main__":`, so lstmbt trains '
        "in this process only (training processes would each run the script again); put the "
        "script's code under that line to train in parallel. Results are the same either way.",
        stacklevel=3,
    )
    return dataclasses.replace(config, jobs=1)


def _study_in_folder(
    config: RunConfig,
    prices: dict[str, pd.DataFrame] | None,
    progress: Progress,
    run_dir: Path,
    fresh: bool,
    force: bool = False,
    trainer: TrainerSlot | None = None,
) -> StudyResult:
    """The study in its locked folder, with run.json kept true: a new run owns run.json from the
    start, a resume once its inputs are checked (one refused earlier leaves run.json as it
    was)."""
    if fresh:
        runs.write_status(run_dir, "running", kind="study")
    beat = _Heartbeat(progress, run_dir, active=fresh)
    try:
        data = prepare_data(config, prices, beat)
        if fresh:
            runs.write_config(run_dir, config, data.prices, cash=data.cash_rate)
        else:
            changes = _study_changes(config, data, run_dir, force)
            for change in changes:  # --force: what depends on them is recomputed
                progress.note(f"{change.problem}; --force: {change.fix}.")
            if changes:
                _forget(changes, run_dir)
                runs.write_config(run_dir, config, data.prices, cash=data.cash_rate)
            before = runs.read_bytes(run_dir / "run.json")
            runs.write_status(run_dir, "running")
            beat.active = True
        for note in data.notes:
            progress.note(note)
        # libraries imported lazily on the way (arch's bootstrap pulls in statsmodels) add
        # process-wide warning filters; catch_warnings puts the caller's filters back
        with warnings.catch_warnings():
            earlier = runs.earlier_trials(config, data.prices)
            store = FoldStore(run_dir / "folds", force=force)
            result = compute_study(config, data, beat, store, earlier, trainer)
            result = write_run(result, run_dir, beat, tearsheets=config.tearsheets)
        runs.record_results(run_dir)
        runs.write_status(run_dir, "complete")
        return dataclasses.replace(result, run_dir=run_dir)
    except KeyboardInterrupt:
        if beat.active:
            raise runs.record_interrupt(run_dir, fresh) from None
        raise Interrupted(run_dir) from None
    except runs.InputChanged:
        if beat.active and not fresh:  # an edited fold, found before any training: refused,
            runs.write_bytes(run_dir / "run.json", before)  # and run.json left as it was
        raise
    except Exception as exc:
        if beat.active:
            runs.record_failure(run_dir, exc, fresh)
        raise


def _study_changes(config: RunConfig, data, run_dir: Path, force: bool) -> list[Change]:
    """Every input of a resumed study that differs from what the run recorded (settings,
    prices, cash rates, result files), refused without `force`; a complete run with none has
    nothing to resume. Saved folds are checked as they are read (FoldStore.load: a damaged one
    is trained again, an edited one refused), and, for a complete run, here."""
    changes = runs.resume_changes(run_dir, config.to_dict(), data.prices, data.cash_rate)
    if changes and not force:
        raise changes[0].error(run_dir)
    if runs.read_status(run_dir) == "complete":
        folds = [
            Change(f"{str(path)!r} was changed after the run saved it", runs.RETRAIN)
            for path in FoldStore(run_dir / "folds").edited()
        ]
        if folds and not force:
            raise folds[0].error(run_dir)
        if not changes and not folds:
            raise RunComplete(_complete(run_dir))
    return changes


def _complete(run_dir: Path) -> str:
    return (
        f"{str(run_dir)!r} is complete and its inputs are unchanged; nothing to resume "
        f"(`lstmbt report {run_dir}` redraws its report)."
    )


def _forget(changes: list[Change], run_dir: Path) -> None:
    """--force on changed inputs: the results (and, when a fit depends on a change, the saved
    folds) belong to the inputs before; remove them before anything is recomputed, so a
    recompute cut short never leaves old results beside new inputs."""
    if any(c.retrain for c in changes):
        shutil.rmtree(run_dir / "folds", ignore_errors=True)
    runs.forget_results(run_dir)


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


def resume_study(
    run_dir: str | Path,
    progress: Progress | None = None,
    *,
    models: Any = None,
    force: bool = False,
) -> StudyResult:
    """Continue an interrupted or failed study from its folder, reusing saved folds.

    Every input it relies on is checked first: its settings (config.json), prices and cash
    rates, saved folds and result files must be those the run recorded. A change is refused
    (`InputChanged`, one line naming the file) unless `force`, which recomputes what depends on
    it (a fit setting or the prices: every fold; an edited fold: that fold; a cost, threshold
    or result file: the results), giving the numbers of a fresh run on the changed inputs. A
    complete run with unchanged inputs raises `RunComplete` (nothing is recomputed or
    rewritten). Refused while another process works on the folder (`RunInUse`). `models`:
    your own classes the run used (`package.module:Class` names or the classes): a run folder
    never names code to import, so they are named again."""
    doc = runs.read_config_doc(run_dir)
    if "judge" in doc:
        raise ConfigError(
            f"{str(run_dir)!r} is a judged forecast (lstmbt judge), which is not resumed; judge "
            "the forecasts again."
        )
    if "universe" in doc:
        raise ConfigError(f"{str(run_dir)!r} is a universe; use resume_universe.")
    config = runs.read_config(run_dir)
    named_classes(config.models, models, f"lstmbt resume {run_dir}")
    return run_study(config, progress=progress, resume_dir=run_dir, force=force)


def run_universe(
    config: RunConfig,
    *,
    progress: Progress | None = None,
    write: bool = False,
    resume_dir: str | Path | None = None,
    force: bool = False,
) -> UniverseResult:
    """Study every ticker of config.universe on its own calendar, then test them as one family.

    With `write`, each ticker's run folder is tickers/<folder>/ under the universe's folder
    (its label with characters escaped: `data.universe.ticker_folder`) and the universe page is
    index.html; the universe folder has the lock, run.json (status, heartbeat, failure record)
    and fingerprints of a study's. A universe interrupted midway continues with `resume_dir`
    (finished tickers are read back once their inputs are checked, a ticker cut short resumes
    from its saved folds; `force`: see `resume_universe`). A ticker that cannot be studied (no
    prices, too short a history) is skipped with its reason.
    """
    config = _in_process_if_unguarded(config.validate())
    if config.universe is None:
        raise ConfigError("no universe given: use --universe sample (or a file or folder).")
    progress = progress or Progress()
    universe = resolve_universe(config.universe, config.source)
    check_universe_overlap(config, universe.members)  # before any folder or training
    with warnings.catch_warnings(), contextlib.ExitStack() as stack:
        run_dir = Path(resume_dir) if resume_dir is not None else None
        if run_dir is None and write:
            run_dir = runs.new_run_dir(config, label=universe.name, subject="universe")
        if run_dir is not None:
            fresh = resume_dir is None
            run = _universe_run(config, universe, progress, run_dir, fresh, force)
            progress = stack.enter_context(run)
        started = config.backend == "ray" and start_ray(config.ray_address, os.cpu_count() or 1)
        try:
            studies, skipped = _study_members(config, universe, progress, run_dir, force)
        finally:
            if started:
                import ray

                ray.shutdown()
        if not studies:
            raise DataError(
                f"no ticker of the universe {universe.name!r} could be studied: "
                + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            )
        progress.stage("cross-ticker tests: BH/Holm-adjusted p-values, pooled bootstrap")
        cs = cross_section(
            studies,
            cash=_daily_cash(studies),
            reps=config.bootstrap_reps,
            block=config.block_size,
            seed=config.seed,
        )
        progress.stage(f"ranking portfolios: top {config.top_k} ({config.portfolio})")
        frames = _frames(config, universe, studies)
        # the forecasters' portfolios (a sized rule is a way to trade one ticker, not a ranking)
        # beside the naive rankings (momentum, drift, persistence, ridge) on the same tickers
        forecasters = [n for n in cs.pooled.index if not n.endswith(SIZED)]
        cash = _portfolio_cash(config, frames)
        portfolios, no_portfolio = ranking_portfolios(
            config, frames, studies, forecasters, earlier_trials=cs.trials, cash=cash
        )
        progress.stage("the rankings as one family: PBO, Romano-Wolf StepM")
        family = ranking_tests(config, portfolios, cash)
        for name, why in no_portfolio.items():
            progress.note(f"{name}: {why}")
        result = UniverseResult(
            config,
            universe.name,
            studies,
            skipped,
            cs.table,
            cs.pooled,
            cs.trials,
            cs.verdict.with_run(*_portfolio_verdict(portfolios, config, family), SURVIVORSHIP),
            run_dir,
            portfolios,
            overfitting=family.overfitting,
            stepm=family.stepm,
            notes=family.notes,
        )
        if run_dir is not None:
            write_universe(result, run_dir)
        return result


@contextlib.contextmanager
def _universe_run(
    config: RunConfig, universe: Universe, progress: Progress, run_dir: Path, fresh: bool, force
) -> Iterator[Progress]:
    """A universe's folder kept true as a study's is: locked, run.json running (with a
    heartbeat at each stage and fold) once a resume's inputs are checked, then complete,
    interrupted or failed (a fresh folder holding nothing is removed)."""
    with runs.locked(run_dir):
        if fresh:
            runs.write_status(run_dir, "running", kind="universe")
            _write_universe_config(run_dir, config, universe)
        beat = _Heartbeat(progress, run_dir, active=fresh)
        try:
            if not fresh:
                changes = _universe_changes(config, universe, run_dir)
                if changes and not force:
                    raise changes[0].error(run_dir)
                if not changes and runs.read_status(run_dir) == "complete":
                    raise RunComplete(_complete(run_dir))
                for change in changes:
                    progress.note(f"{change.problem}; --force: {change.fix}.")
                if changes:
                    (run_dir / "universe.json").unlink(missing_ok=True)
                    _write_universe_config(run_dir, config, universe)
                runs.write_status(run_dir, "running", kind="universe")
                beat.active = True
            yield beat
            runs.write_status(run_dir, "complete")
        except KeyboardInterrupt:
            if beat.active:
                raise runs.record_interrupt(run_dir, fresh) from None
            raise Interrupted(run_dir) from None
        except Exception as exc:
            if beat.active:
                runs.record_failure(run_dir, exc, fresh)
            raise


def _write_universe_config(run_dir: Path, config: RunConfig, universe: Universe) -> None:
    """config.json of a universe: its settings and members (each with its folder), recorded
    for a resume to check."""
    members = [{**m.__dict__, "folder": m.folder} for m in universe.members]
    doc = {
        "format": FORMAT,
        "config": config.to_dict(),
        "universe_name": universe.name,
        "universe": members,
        "versions": runs.versions(),
    }
    runs.write_json(run_dir / "config.json", doc)
    runs.record_settings(run_dir, doc["config"])


def _universe_changes(config: RunConfig, universe: Universe, run_dir: Path) -> list[Change]:
    """Every input of a resumed universe that differs from what it recorded: its settings, its
    members (a file added or removed), and each studied ticker's inputs (prices, rates, result
    files, folds), checked before any ticker is trained."""
    doc = runs.read_config_doc(run_dir)
    changes = []
    edited = runs.settings_changes(run_dir, config.to_dict())
    if edited:
        changes.append(Change(runs.settings_problem(run_dir, edited), runs.SETTINGS_FIX))
    before = {m.get("label") for m in doc.get("universe", []) if isinstance(m, dict)}
    now = {m.label: m for m in universe.members}
    added = [_named(m) for label, m in now.items() if label not in before]
    if added:
        problem = (
            f"the universe {universe.name!r} now has {', '.join(added)}, which the run did not "
            "start with"
        )
        changes.append(Change(problem, "study the universe as it is now"))
    gone = sorted(str(label) for label in before if label not in now)
    if gone:
        problem = f"the universe {universe.name!r} no longer has {', '.join(gone)}"
        changes.append(Change(problem, "study the universe as it is now"))
    for member in universe.members:
        folder = run_dir / "tickers" / member.folder
        if not (folder / "config.json").is_file():
            continue
        sub = _member_config(config, member, run_dir)
        with runs.locked(folder):
            try:
                data = prepare_data(sub)
            except (DataError, ConfigError):
                continue  # studied again below, and skipped with its reason
            found = runs.resume_changes(folder, sub.to_dict(), data.prices, data.cash_rate)
            found += [
                Change(f"{str(path)!r} was changed after the run saved it", runs.RETRAIN)
                for path in FoldStore(folder / "folds").edited()
            ]
        changes += [Change(c.problem, f"study {member.label} again", c.retrain) for c in found]
    return changes


def _named(member) -> str:
    """A member as a refusal names it: its label, and its file when it has one."""
    where = Path(member.source).name if member.source.lower().endswith(".csv") else ""
    return f"{member.label} ({where})" if where and where != member.label else member.label


def _member_config(config: RunConfig, member, run_dir: Path | None) -> RunConfig:
    """The study of one universe member: the universe's settings on its prices, written to
    tickers/<folder>/."""
    return dataclasses.replace(
        config,
        ticker=member.ticker,
        source=member.source,
        universe=None,
        run_id=member.folder,
        out=str(run_dir / "tickers") if run_dir is not None else config.out,
    )


def _daily_cash(studies: dict[str, StudyResult]) -> dict[str, pd.Series]:
    """Each study's daily interest on cash on its return days: the rates it ran with, or, for
    a study read back from disk (which holds none), its --cash-rate looked up again."""
    out = {}
    for label, r in studies.items():
        days = r.returns.index
        rate = r.data.cash_rate if r.data is not None else None
        out[label] = (rate or cash_rate_of(r.config, days)).daily(days)
    return out


def _frames(config, universe, studies) -> dict:
    """Each studied ticker's adjusted OHLCV: the prices its study held, or, for a study read
    back from disk (which holds none), loaded again as the study loaded them (same cache,
    same --date-format)."""
    cache = PriceCache(config.cache_dir) if config.cache_dir else None
    out = {}
    for member in universe.members:
        if member.label not in studies:
            continue
        data = studies[member.label].data
        if data is not None:
            out[member.label] = data.ohlcv
        else:
            prices = load_one(
                member.ticker, member.source, config.start, config.end, cache, config.date_format
            )
            out[member.label] = adjusted_ohlcv(prices)
    return out


def _portfolio_cash(config: RunConfig, frames: dict) -> pd.Series:
    """The daily interest on cash (the run's --cash-rate) on every day of the tickers'
    calendars, which the portfolios' deflated Sharpe ratios are measured over."""
    days = pd.DatetimeIndex(sorted(set().union(*(f.index for f in frames.values()))))
    return cash_rate_of(config, days).daily(days)


def _portfolio_verdict(
    portfolios: dict[str, Portfolio], config: RunConfig, family: RankingTests | None = None
) -> list[str]:
    """Each forecaster's portfolio against equal weight and against the best naive ranking,
    then the rankings as one family (StepM against equal weight, PBO)."""
    lines = []
    for name, p in portfolios.items():
        m = p.metrics
        diff, lo, hi, pval = (
            m.loc[name, k] for k in ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value")
        )
        days = int(p.rank_ic.notna().sum())
        ic = (
            f"mean daily rank IC {p.rank_ic.mean():+.3f} over {days} days"
            if days
            else "no rank IC (no day had 3 or more tickers with a forecast to rank: across 2 a "
            "rank correlation is always +1 or -1)"
        )
        lines.append(
            f"{name} top-{config.top_k} {config.portfolio} portfolio: Sharpe"
            f"{' over the cash rate' if p.over_cash else ''} "
            f"{fmt2(m.loc[name, 'sharpe'])} vs {fmt2(m.loc[EQUAL_WEIGHT, 'sharpe'])} for the "
            f"universe bought equal-weight and held, difference {fmt_signed(diff)} "
            f"[{fmt_signed(lo)}, {fmt_signed(hi)}] (bootstrap {p_equals(pval)}); {ic}"
            + _portfolio_costs(config)
            + "."
        )
        lines.append(_naive_line(p))
        diff, pval = finite(diff), finite(pval)
        if p.track_record is not None and diff is not None and pval is not None:
            if diff > 0 and pval >= ALPHA:  # positive, not significant (docs/statistics.md)
                words = track_record_words(p.track_record, "equal weight's")
                lines.append(f"{name} portfolio against equal weight: {words}.")
    if family is not None:
        lines.append(stepm_line(family.stepm, EQUAL_WEIGHT, family.days, noun="ranking"))
        lines.append(
            overfitting_line(
                family.overfitting,
                "every forecaster's portfolio, every naive ranking and equal weight, over the "
                "cash rate",
                where="this universe's rankings",
            )
        )
    return [line for line in lines if line]


def _naive_line(p: Portfolio) -> str:
    """The forecaster's portfolio against the best naive ranking (the same rule ranked without
    a model), with its interval, and the deflated Sharpe ratio counting every ranking tried:
    over the cash rate where the run has one (the portfolio engine pays no interest on idle
    cash), else against a zero return, with its one-sided p-value."""
    v = p.versus_naive
    dsr = finite(p.metrics.at[p.forecaster, "dsr"]) if "dsr" in p.metrics.columns else None
    bar = (
        "over the cash rate (which the portfolio engine does not pay on idle cash)"
        if p.over_cash
        else "against a zero return (this run has no cash rate)"
    )
    deflated = (
        f" Deflated Sharpe ratio {fmt2(dsr)}, {bar}, not against equal weight, counting "
        f"{p.trials} trials (every ranking tried and every per-ticker configuration): one-sided "
        f"{p_equals(max(0.0, 1.0 - dsr))}."
        if p.trials and dsr is not None
        else ""
    )
    if v is None:
        return f"{p.forecaster} portfolio: no naive ranking to compare with." + deflated
    n = len(p.naive_returns.columns)
    return (
        f"{p.forecaster} portfolio vs the best of {n} naive rankings (the same rule ranked "
        f"without a model), {v.against} with Sharpe {fmt2(v.against_sharpe)}: difference "
        f"{fmt_signed(v.diff)} [{fmt_signed(v.ci_low)}, {fmt_signed(v.ci_high)}] (bootstrap "
        f"{p_equals(v.p_value)})." + deflated
    )


def _portfolio_costs(config: RunConfig) -> str:
    """The portfolio engine charges commission, slippage and the spread; say so when a run sets
    more."""
    more = [name for name in ("min_fee", "borrow_fee") if getattr(config, name, 0)]
    if getattr(config, "cash_rate", "0") not in ("0", 0, 0.0, "0.0"):
        more.append("cash_rate")
    if not more:
        return ""
    return (
        f" (the portfolio engine charges commission, slippage and the spread, not "
        f"{', '.join(more)}: "
        "its comparison with equal weight is on those costs)"
    )


QUEUE_AHEAD = 2  # tickers whose training is queued beyond the one being evaluated


def _study_members(config, universe, progress, run_dir, force: bool = False):
    """Every ticker's study, in order. With several training processes (or Ray) they share
    one set of workers for the whole universe (folds.Trainer): each ticker's training is
    queued before its turn, up to QUEUE_AHEAD tickers ahead, so the workers train the next
    tickers while this process evaluates one and draws its report."""
    studies, skipped = {}, {}
    members = list(universe.members)
    n = len(members)
    with _universe_trainer(config, progress) as trainer:
        queued: set[str] = set()
        for i, member in enumerate(members, 1):
            if trainer is not None:
                for ahead in members[i - 1 : i + QUEUE_AHEAD]:
                    if ahead.folder not in queued:
                        queued.add(ahead.folder)
                        _queue_member(config, ahead, run_dir, trainer)
            progress.stage(f"ticker {i}/{n}: {member.label} ({member.source})")
            sub = _member_config(config, member, run_dir)
            slot = None if trainer is None else trainer.slot(member.folder)
            try:
                if run_dir is None:
                    studies[member.label] = run_study(sub, progress=progress, trainer=slot)
                    continue
                folder = run_dir / "tickers" / member.folder
                if folder.is_dir() and not (folder / "config.json").is_file():
                    shutil.rmtree(folder)  # stopped before its configuration was saved: empty
                if folder.is_dir():
                    try:
                        run_study(
                            sub, progress=progress, resume_dir=folder, force=force, trainer=slot
                        )
                    except RunComplete:
                        progress.note(f"{member.label}: finished earlier, read back")
                else:
                    run_study(sub, progress=progress, write=True, trainer=slot)
                studies[member.label] = load_result(folder)  # the files, as a resume reads them
            except (DataError, ConfigError) as exc:
                reason = " ".join(str(exc).split())
                skipped[member.label] = reason
                progress.note(f"{member.label} skipped: {reason}")
            finally:
                if trainer is not None:
                    trainer.drop(member.folder)  # whatever it did not collect
    return studies, skipped


@contextlib.contextmanager
def _universe_trainer(config: RunConfig, progress: Progress) -> Iterator[Trainer | None]:
    """The universe's shared training workers: --jobs processes kept from the first ticker
    to the last, or Ray; None when the universe trains in this process (--jobs 1)."""
    jobs = config.jobs or os.cpu_count() or 1
    if config.backend == "pool" and jobs <= 1:
        yield None
        return
    with Trainer(jobs, config.backend, config.ray_address) as trainer:
        yield trainer
    if trainer.summary():
        progress.note(trainer.summary())


def _queue_member(config: RunConfig, member, run_dir: Path | None, trainer: Trainer) -> None:
    """Queue a fresh ticker's training (the study builds the same plan at its turn and
    collects it); a ticker resumed from its folder is queued at its turn, from its saved
    folds, and one that cannot be studied is skipped at its turn, with its reason."""
    if run_dir is not None and (run_dir / "tickers" / member.folder).is_dir():
        return
    sub = _member_config(config, member, run_dir)
    try:
        with warnings.catch_warnings():
            plan = study_plan(sub, prepare_data(sub))
    except (DataError, ConfigError):
        return
    trainer.queue(member.folder, plan)


def write_universe(result: UniverseResult, run_dir: Path) -> None:
    """universe.json (the cross-ticker tables and verdict) and index.html."""
    links = {
        t: f"tickers/{quote(r.run_dir.name, safe='')}/index.html"
        for t, r in result.tickers.items()
        if r.run_dir is not None
    }
    table = result.table.reset_index()
    runs.write_json(
        run_dir / "universe.json",
        {
            "format": FORMAT,
            "universe": result.universe,
            **result.verdict.to_json(),
            "trials": result.trials,
            "skipped": result.skipped,
            "table": json.loads(table.to_json(orient="records")),
            "pooled": json.loads(result.pooled.to_json(orient="index")),
            "portfolios": {
                name: {
                    "metrics": json.loads(p.metrics.to_json(orient="index")),
                    "rank_ic_mean": float(p.rank_ic.mean()),
                    "trades": p.trades,
                    "best_naive": p.versus_naive.to_dict() if p.versus_naive else None,
                    "trials": p.trials,
                    "dsr_over": "cash rate" if p.over_cash else "zero",
                    "track_record": p.track_record.to_dict() if p.track_record else None,
                }
                for name, p in result.portfolios.items()
            },
            "rankings": {
                "overfitting": result.overfitting.to_dict() if result.overfitting else None,
                "stepm": result.stepm.to_dict() if result.stepm else None,
                "notes": list(result.notes),
            },
        },
    )
    sheets = {}
    for name, p in result.portfolios.items():
        others = (
            [] if p.naive_returns is None else [c for c in p.naive_returns if c != p.best_naive]
        )
        every = p.returns.join(p.naive_returns[others]) if others else p.returns
        every.rename_axis("date").to_csv(
            run_dir / f"portfolio_{runs.slug(name.replace(':', '_'))}.csv", float_format="%.12g"
        )
        if result.config.tearsheets:
            path = run_dir / tearsheet_file(f"portfolio_{name}")
            write_tearsheet(p.returns[name], p.returns[EQUAL_WEIGHT], path, name, "Equal weight")
            sheets[name] = path.name
    naive = next((p.naive_factors for p in result.portfolios.values()), {})
    factors = {n: p.factor for n, p in result.portfolios.items() if p.factor is not None}
    write_factor_page(run_dir, result.universe, factors, naive)
    write_universe_page(
        run_dir,
        result.universe,
        result.table,
        result.pooled,
        result.verdict,
        result.skipped,
        links,
        result.trials,
        {name: (p.metrics, p.returns) for name, p in result.portfolios.items()},
        sheets,
        notes=result.notes,
        overfitting=result.overfitting,
        stepm=result.stepm,
    )


def resume_universe(
    run_dir: str | Path,
    progress: Progress | None = None,
    *,
    models: Any = None,
    force: bool = False,
) -> UniverseResult:
    """Continue an interrupted or failed universe study from its folder. As `resume_study`:
    its settings, its members (files added or removed) and every studied ticker's inputs are
    checked first; a change is refused unless `force` (which studies the universe as it is
    now, recomputing in each ticker what depends on its changed inputs); a complete universe
    with unchanged inputs raises `RunComplete`. `models`: as for `resume_study`."""
    doc = runs.read_config_doc(run_dir)
    values = {**OLD_RUN_DEFAULTS, **doc["config"], "run_id": None}
    config = config_from_mapping(values, import_models=False)
    named_classes(config.models, models, f"lstmbt resume {run_dir}")
    return run_universe(config, progress=progress, resume_dir=run_dir, force=force)


def rebuild_report(
    run_dir: str | Path, progress: Progress | None = None, *, tearsheets: bool = True
) -> Metrics:
    """Redraw a run's figures, tear-sheets and index.html from its saved results.

    Needs every result file (metrics.json, predictions.csv, returns.csv); they are written only
    after all training, so once the report is drawn the run is complete, and run.json says so
    (a run killed or failed while drawing its report is thereby finished). Refused while another
    process works on the folder, and when its settings or result files were changed after the
    run wrote them (`InputChanged`).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():  # not a run: build_report says what is missing
        return build_report(run_dir, progress, tearsheets=tearsheets)
    with runs.locked(run_dir):
        runs.check_unchanged(run_dir)  # the report draws what the run computed, or nothing
        metrics = build_report(run_dir, progress, tearsheets=tearsheets)
        runs.record_results(run_dir)
        runs.write_status(run_dir, "complete")
    return metrics
