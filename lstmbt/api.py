"""The Python API's entry points: `run_study` (nothing written unless asked) and
`resume_study` (continue an interrupted run folder)."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path

import pandas as pd

from lstmbt import runs
from lstmbt.config import RunConfig, config_from_mapping
from lstmbt.data import load_one
from lstmbt.data.universe import SURVIVORSHIP, resolve_universe
from lstmbt.errors import ConfigError, DataError
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.metrics import FORMAT, fmt2
from lstmbt.progress import Progress
from lstmbt.report.tearsheets import tearsheet_file, write_tearsheet
from lstmbt.report.universe import write_universe_page
from lstmbt.results import StudyResult, UniverseResult, load_result, write_run
from lstmbt.runs import slug
from lstmbt.study.folds import FoldStore, start_ray
from lstmbt.study.inputs import prepare_data
from lstmbt.study.pipeline import compute_study
from lstmbt.study.portfolio import EQUAL_WEIGHT, ranking_portfolio
from lstmbt.study.universe import cross_section


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
        runs.check_resume_data(run_dir, data.prices)
    elif run_dir is not None:
        runs.write_config(run_dir, config, data.prices)
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
    config = config.validate()
    if config.universe is None:
        raise ConfigError("no universe given: use --universe sample (or a file or folder).")
    progress = progress or Progress()
    universe = resolve_universe(config.universe, config.source)
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
            studies, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
        )
        progress.stage(f"ranking portfolios: top {config.top_k} ({config.portfolio})")
        frames = _frames(config, universe, studies)
        portfolios = {}
        for name in cs.pooled.index:
            made = ranking_portfolio(config, frames, studies, name)
            if made is None:
                progress.note(f"{name}: too few tickers for a top-{config.top_k} portfolio")
            else:
                portfolios[name] = made
        result = UniverseResult(
            config,
            universe.name,
            studies,
            skipped,
            cs.table,
            cs.pooled,
            cs.trials,
            (*cs.verdict, *_portfolio_verdict(portfolios, config), SURVIVORSHIP),
            run_dir,
            portfolios,
        )
        if run_dir is not None:
            write_universe(result, run_dir)
            runs.write_status(run_dir, "complete")
        return result


def _frames(config, universe, studies) -> dict:
    """Each studied ticker's adjusted OHLCV (loaded again: results read back from disk hold
    no prices)."""
    out = {}
    for member in universe.members:
        if member.label in studies:
            prices = load_one(member.ticker, member.source, config.start, config.end)
            out[member.label] = adjusted_ohlcv(prices)
    return out


def _portfolio_verdict(portfolios: dict, config: RunConfig) -> list[str]:
    lines = []
    for name, p in portfolios.items():
        m = p.metrics
        diff, lo, hi, pval = (
            m.loc[name, k] for k in ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value")
        )
        lines.append(
            f"{name} top-{config.top_k} {config.portfolio} portfolio: Sharpe "
            f"{fmt2(m.loc[name, 'sharpe'])} vs {fmt2(m.loc[EQUAL_WEIGHT, 'sharpe'])} for the "
            f"universe bought equal-weight and held, difference {fmt2(diff)} "
            f"[{fmt2(lo)}, {fmt2(hi)}] (bootstrap p = {fmt2(pval)}); mean daily rank IC "
            f"{p.rank_ic.mean():+.3f} over {int(p.rank_ic.notna().sum())} days."
        )
    return lines


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
            "verdict": list(result.verdict),
            "trials": result.trials,
            "skipped": result.skipped,
            "table": json.loads(table.to_json(orient="records")),
            "pooled": json.loads(result.pooled.to_json(orient="index")),
            "portfolios": {
                name: {
                    "metrics": json.loads(p.metrics.to_json(orient="index")),
                    "rank_ic_mean": float(p.rank_ic.mean()),
                    "trades": p.trades,
                }
                for name, p in result.portfolios.items()
            },
        },
    )
    sheets = {}
    for name, p in result.portfolios.items():
        p.returns.rename_axis("date").to_csv(
            run_dir / f"portfolio_{slug(name.replace(':', '_'))}.csv", float_format="%.12g"
        )
        if result.config.tearsheets:
            path = run_dir / tearsheet_file(f"portfolio_{name}")
            write_tearsheet(p.returns[name], p.returns[EQUAL_WEIGHT], path, name, "Equal weight")
            sheets[name] = path.name
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


def resume_universe(run_dir: str | Path, progress: Progress | None = None) -> UniverseResult:
    """Continue an interrupted universe study from its folder."""
    doc = runs.read_config_doc(run_dir)
    config = config_from_mapping({**doc["config"], "run_id": None})
    return run_universe(config, progress=progress, resume_dir=run_dir)
