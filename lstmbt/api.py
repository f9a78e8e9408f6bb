"""The Python API's entry points: `run_study` (nothing written unless asked), `resume_study`
(continue an interrupted or failed run folder) and `rebuild_report` (redraw a finished run).

A run folder's run.json always says what became of it: running (with pid, host and a heartbeat
at each stage and finished fold, so a killed run is recognisable as stale), interrupted, failed
(with the error and what to do) or complete. One process at a time works on a folder (a lock).
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

import pandas as pd

from lstmbt import runs
from lstmbt.config import OLD_RUN_DEFAULTS, RunConfig, config_from_mapping, named_classes
from lstmbt.data import PriceCache, load_one
from lstmbt.data.universe import SURVIVORSHIP, resolve_universe
from lstmbt.errors import ConfigError, DataError, LstmbtError
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.metrics import FORMAT, SIZED, Metrics, fmt2, p_equals
from lstmbt.progress import Progress
from lstmbt.report import build_report
from lstmbt.report.factor_page import write_factor_page
from lstmbt.report.tearsheets import tearsheet_file, write_tearsheet
from lstmbt.report.universe import write_universe_page
from lstmbt.results import StudyResult, UniverseResult, load_result, write_run
from lstmbt.runs import slug
from lstmbt.study.folds import FoldStore, start_ray
from lstmbt.study.inputs import cash_rate_of, check_universe_overlap, prepare_data
from lstmbt.study.mainguard import unguarded_main_call
from lstmbt.study.pipeline import compute_study
from lstmbt.study.portfolio import EQUAL_WEIGHT, ranking_portfolios
from lstmbt.study.universe import cross_section


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
    under `config.out/<run-id>/` and finished walk-forward folds are saved as they complete, so
    an interrupted run (Ctrl-C) can be continued with `resume_study`. A run that stops on an
    error is marked failed in run.json (with the error and what to do), or its folder removed
    when it holds nothing yet. `prices` (ticker -> OHLCV frame) replaces loading from
    config.source.
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
            return compute_study(config, data, progress, None, earlier)
    fresh = resume_dir is None
    run_dir = runs.new_run_dir(config) if fresh else Path(resume_dir)
    with runs.locked(run_dir):
        return _study_in_folder(config, prices, progress, run_dir, fresh)


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
) -> StudyResult:
    """The study in its locked folder, with run.json kept true: a new run owns run.json from the
    start, a resume once its data is checked (one refused earlier leaves run.json as it was)."""
    if fresh:
        runs.write_status(run_dir, "running")
    beat = _Heartbeat(progress, run_dir, active=fresh)
    try:
        data = prepare_data(config, prices, beat)
        if fresh:
            runs.write_config(run_dir, config, data.prices, cash=data.cash_rate)
        else:
            runs.check_resume_data(run_dir, data.prices, data.cash_rate)
            runs.write_status(run_dir, "running")
            beat.active = True
        for note in data.notes:
            progress.note(note)
        # libraries imported lazily on the way (arch's bootstrap pulls in statsmodels) add
        # process-wide warning filters; catch_warnings puts the caller's filters back
        with warnings.catch_warnings():
            earlier = runs.earlier_trials(config, data.prices)
            result = compute_study(config, data, beat, FoldStore(run_dir / "folds"), earlier)
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


def resume_study(
    run_dir: str | Path, progress: Progress | None = None, *, models: Any = None
) -> StudyResult:
    """Continue an interrupted or failed study (or re-run a finished one) from its folder,
    reusing saved folds. `models`: your own classes the run used (`package.module:Class`
    names or the classes): a run folder never names code to import, so they are named again."""
    config = runs.read_config(run_dir)
    named_classes(config.models, models, f"lstmbt resume {run_dir}")
    return run_study(config, progress=progress, resume_dir=run_dir)


def run_universe(
    config: RunConfig,
    *,
    progress: Progress | None = None,
    write: bool = False,
    resume_dir: str | Path | None = None,
) -> UniverseResult:
    """Study every ticker of config.universe on its own calendar, then test them as one family.

    With `write`, each ticker's run folder is tickers/<label>/ under the universe's folder and
    the universe page is index.html; a universe interrupted midway continues with `resume_dir`
    (finished tickers are read back, a ticker cut short resumes from its saved folds). A ticker
    that cannot be studied (no prices, too short a history) is skipped with its reason.
    """
    config = _in_process_if_unguarded(config.validate())
    if config.universe is None:
        raise ConfigError("no universe given: use --universe sample (or a file or folder).")
    progress = progress or Progress()
    universe = resolve_universe(config.universe, config.source)
    check_universe_overlap(config, universe.members)  # before any folder or training
    with warnings.catch_warnings():
        run_dir = Path(resume_dir) if resume_dir is not None else None
        if run_dir is None and write:
            run_dir = runs.new_run_dir(config, label=f"universe-{slug(universe.name)}")
        if run_dir is not None:
            runs.write_status(run_dir, "running")
            runs.write_json(
                run_dir / "config.json",
                {
                    "format": FORMAT,
                    "config": config.to_dict(),
                    "universe": [m.__dict__ for m in universe.members],
                    "versions": runs.versions(),
                },
            )
        started = config.backend == "ray" and start_ray(config.ray_address, os.cpu_count() or 1)
        try:
            studies, skipped = _study_members(config, universe, progress, run_dir)
        except KeyboardInterrupt:
            if run_dir is not None:
                runs.write_status(run_dir, "interrupted")
                raise Interrupted(run_dir) from None
            raise
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
        portfolios, no_portfolio = ranking_portfolios(
            config, frames, studies, forecasters, earlier_trials=cs.trials
        )
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
            cs.verdict.with_run(*_portfolio_verdict(portfolios, config), SURVIVORSHIP),
            run_dir,
            portfolios,
        )
        if run_dir is not None:
            write_universe(result, run_dir)
            runs.write_status(run_dir, "complete")
        return result


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


def _portfolio_verdict(portfolios: dict, config: RunConfig) -> list[str]:
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
            else "no rank IC (no day had enough tickers with a forecast to rank)"
        )
        lines.append(
            f"{name} top-{config.top_k} {config.portfolio} portfolio: Sharpe "
            f"{fmt2(m.loc[name, 'sharpe'])} vs {fmt2(m.loc[EQUAL_WEIGHT, 'sharpe'])} for the "
            f"universe bought equal-weight and held, difference {_signed(diff)} "
            f"[{_signed(lo)}, {_signed(hi)}] (bootstrap {p_equals(pval)}); {ic}"
            + _portfolio_costs(config)
            + "."
        )
        lines.append(_naive_line(p))
    return lines


def _naive_line(p) -> str:
    """The forecaster's portfolio against the best naive ranking (the same rule ranked without
    a model), with its interval, and the deflated Sharpe ratio counting every ranking tried."""
    v = p.versus_naive
    dsr = p.metrics.at[p.forecaster, "dsr"] if "dsr" in p.metrics.columns else None
    deflated = (
        f" Deflated Sharpe ratio against cash {fmt2(dsr)}, counting {p.trials} trials (every "
        "ranking tried and every per-ticker configuration)."
        if p.trials
        else ""
    )
    if v is None:
        return f"{p.forecaster} portfolio: no naive ranking to compare with." + deflated
    n = len(p.naive_returns.columns)
    return (
        f"{p.forecaster} portfolio vs the best of {n} naive rankings (the same rule ranked "
        f"without a model), {v.against} with Sharpe {fmt2(v.against_sharpe)}: difference "
        f"{_signed(v.diff)} [{_signed(v.ci_low)}, {_signed(v.ci_high)}] (bootstrap "
        f"{p_equals(v.p_value)})." + deflated
    )


def _signed(value) -> str:
    return "-" if value is None or value != value else f"{value:+.2f}"


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


def _study_members(config, universe, progress, run_dir):
    studies, skipped = {}, {}
    n = len(universe.members)
    for i, member in enumerate(universe.members, 1):
        progress.stage(f"ticker {i}/{n}: {member.label} ({member.source})")
        sub = dataclasses.replace(
            config,
            ticker=member.ticker,
            source=member.source,
            universe=None,
            run_id=slug(member.label),
            out=str(run_dir / "tickers") if run_dir is not None else config.out,
        )
        folder = run_dir / "tickers" / slug(member.label) if run_dir is not None else None
        try:
            if folder is not None and runs.read_status(folder) == "complete":
                progress.note(f"{member.label}: finished earlier, read back")
            elif folder is not None and (folder / "config.json").is_file():
                run_study(sub, progress=progress, resume_dir=folder)
            else:
                result = run_study(sub, progress=progress, write=folder is not None)
                if folder is None:
                    studies[member.label] = result
                    continue
            studies[member.label] = load_result(folder)  # the files, as a resume reads them
        except (DataError, ConfigError) as exc:
            reason = " ".join(str(exc).split())
            skipped[member.label] = reason
            progress.note(f"{member.label} skipped: {reason}")
    return studies, skipped


def write_universe(result: UniverseResult, run_dir: Path) -> None:
    """universe.json (the cross-ticker tables and verdict) and index.html."""
    links = {t: f"tickers/{slug(t)}/index.html" for t in result.tickers}
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
                }
                for name, p in result.portfolios.items()
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
            run_dir / f"portfolio_{slug(name.replace(':', '_'))}.csv", float_format="%.12g"
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
    )


def resume_universe(
    run_dir: str | Path, progress: Progress | None = None, *, models: Any = None
) -> UniverseResult:
    """Continue an interrupted universe study from its folder (`models`: as for
    `resume_study`)."""
    doc = runs.read_config_doc(run_dir)
    values = {**OLD_RUN_DEFAULTS, **doc["config"], "run_id": None}
    config = config_from_mapping(values, import_models=False)
    named_classes(config.models, models, f"lstmbt resume {run_dir}")
    return run_universe(config, progress=progress, resume_dir=run_dir)


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
