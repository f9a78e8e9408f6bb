"""The experiment: prices -> features -> split or walk-forward folds -> forecasts -> positions ->
backtests -> metrics and significance.

Every result is out-of-sample: each model and scaler sees only its fold's training block; the
evaluated span (the stitched test blocks) is the same for every model, baseline and buy-and-hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features import build_features, forward_returns, make_windows
from features.build import FeatureMatrix
from features.returns import adjusted_ohlcv, simple_returns
from lstmbt.config import ModelPreset, RunConfig
from lstmbt.data import is_csv_path, load_one
from lstmbt.errors import DataError
from lstmbt.evaluation import evaluate
from lstmbt.folds import FoldStore, Task, run_tasks, work_units
from lstmbt.progress import Progress
from models import (
    LSTMForecaster,
    MeanForecaster,
    PersistenceForecaster,
    RidgeForecaster,
    Split,
    ZeroForecaster,
    chronological_split,
    resolve_device,
)
from models.walkforward import walk_forward_folds
from strategies import (
    Costs,
    buy_and_hold_positions,
    forecast_positions,
    held_positions,
    ma_crossover_positions,
    run_backtrader,
    vectorised_returns,
)
from strategies.backtest import BacktestError

BENCHMARK = "buy_and_hold"
PARITY_TOL = 1e-9


@dataclass
class StudyData:
    """Validated prices, targets and each preset's feature matrix on one decision calendar."""

    prices: dict[str, pd.DataFrame]
    ohlcv: pd.DataFrame  # adjusted OHLCV of the target ticker
    targets: pd.DataFrame  # (dates, horizon) next-day simple returns
    features: dict[str, FeatureMatrix]
    dates: pd.DatetimeIndex  # decision dates every model can forecast, with known targets
    notes: list[str] = field(default_factory=list)


@dataclass
class StudyResult:
    """Everything a report needs; `run_dir` is None when nothing was written."""

    config: RunConfig
    data: StudyData
    folds: dict[str, list[Split]]
    predictions: pd.DataFrame
    positions: pd.DataFrame
    returns: pd.DataFrame
    orders: pd.DataFrame
    metrics: dict
    models: dict[str, LSTMForecaster]
    run_dir: Path | None = None


def _tickers(config: RunConfig, presets: list[ModelPreset]) -> list[str]:
    names = [config.ticker]
    for p in presets:
        names += [c for c in p.companions if c not in names]
    return names


def companion_label(ticker: str) -> str:
    """A companion's column prefix: the ticker, or a CSV file's stem."""
    return Path(ticker).name.split(".")[0] if is_csv_path(ticker) else ticker


def companion_source(source: str, ticker: str) -> str:
    """Companions use the run's source; with a CSV source they come from the sample."""
    if is_csv_path(ticker) or not is_csv_path(source):
        return source
    return "sample"


def prepare_data(
    config: RunConfig,
    prices: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
) -> StudyData:
    """Load (or take) prices, build each preset's features, and find the common decision dates."""
    progress = progress or Progress()
    presets = config.model_presets()
    if prices is None:
        from lstmbt.cache import PriceCache

        cache = PriceCache(config.cache_dir) if config.cache_dir else None
        prices = {}
        for i, ticker in enumerate(_tickers(config, presets)):
            source = config.source if i == 0 else companion_source(config.source, ticker)
            progress.stage(f"loading {ticker} ({source})")
            prices[ticker] = load_one(ticker, source, config.start, config.end, cache)
    target = prices[config.ticker]
    notes = [n for frame in prices.values() for n in frame.attrs.get("notes", [])]
    ohlcv = adjusted_ohlcv(target)
    targets = forward_returns(target["adj_close"], config.horizon)
    features: dict[str, FeatureMatrix] = {}
    dates = targets.dropna().index
    for p in presets:
        try:
            fm = build_features(
                target,
                p.features,
                {companion_label(c): prices[c] for c in p.companions},
                p.companion_features,
            )
        except ValueError as exc:
            raise DataError(f"preset {p.name!r}: {exc}") from None
        features[p.name] = fm
        notes += [f"{p.name}: {n}" for n in fm.notes]
        if len(fm.frame) < p.lookback:
            raise DataError(
                f"preset {p.name!r}: {len(fm.frame)} rows of features are fewer than the lookback "
                f"of {p.lookback}; use a longer date range or a shorter --lookback."
            )
        dates = dates.intersection(fm.frame.index[p.lookback - 1 :])
    if len(dates) == 0:
        raise DataError("no date has both a complete input window and a known next-day return.")
    return StudyData(prices, ohlcv, targets, features, pd.DatetimeIndex(dates), notes)


def _windows(fm: FeatureMatrix, lookback: int, dates: pd.DatetimeIndex) -> np.ndarray:
    """(len(dates), lookback, features) windows, each ending at its decision date."""
    W = make_windows(fm.frame.to_numpy(dtype=np.float64), lookback)
    rows = fm.frame.index.get_indexer(dates) - (lookback - 1)
    assert (rows >= 0).all(), "decision dates must have full windows"
    return W[rows]


@dataclass
class Forecasts:
    """Stitched out-of-sample forecasts (n_eval, horizon) and how they were made."""

    eval_pos: np.ndarray  # positions in data.dates of the evaluated decisions
    main: dict[str, np.ndarray]  # reported forecasters: LSTM (seed ensemble), ridge, baselines
    per_seed: dict[str, list[np.ndarray]]  # preset -> one forecast per seed
    folds: dict[str, list[Split]]
    models: dict[str, LSTMForecaster]  # latest fold, first seed, per preset


def plan_folds(config: RunConfig, n: int, lookback: int) -> list[Split]:
    """One chronological split, or walk-forward folds; both end at the last decision date."""
    try:
        if config.walk_forward:
            return walk_forward_folds(
                n,
                first_test=n - int(round(n * config.eval_frac)),
                step=config.refit_every,
                lookback=lookback,
                horizon=config.horizon,
                window=config.window,
                train_size=config.train_size,
                val_frac=config.val_frac,
            )
        return [
            chronological_split(
                n,
                lookback=lookback,
                horizon=config.horizon,
                val_frac=config.val_frac,
                test_frac=config.test_frac,
            )
        ]
    except ValueError as exc:
        raise DataError(str(exc)) from None


def model_meta(config: RunConfig, preset: ModelPreset, data: StudyData) -> dict:
    """What is saved beside each model so `lstmbt forecast` can rebuild its inputs."""
    return {
        "preset": preset.__dict__,
        "feature_names": data.features[preset.name].names,
        "ticker": config.ticker,
        "horizon": config.horizon,
    }


def _lstm_params(config: RunConfig, p: ModelPreset) -> dict:
    return dict(
        hidden_size=p.hidden_size,
        num_layers=p.num_layers,
        dropout=p.dropout,
        lr=config.lr,
        batch_size=config.batch_size,
        epochs=config.epochs,
        patience=config.patience,
        device=config.device,
    )


def fit_forecasters(
    config: RunConfig,
    data: StudyData,
    progress: Progress | None = None,
    store: FoldStore | None = None,
) -> Forecasts:
    """Every LSTM (preset x seed x fold) and every baseline, predicting only unseen blocks."""
    progress = progress or Progress()
    y = data.targets.loc[data.dates].to_numpy(dtype=np.float64)
    n = len(data.dates)
    presets = config.model_presets()
    folds = {p.name: plan_folds(config, n, p.lookback) for p in presets}  # all checked first
    folds["_baselines"] = plan_folds(config, n, 1)
    eval_pos = np.concatenate([f.test for f in folds["_baselines"]])
    X = {p.name: _windows(data.features[p.name], p.lookback, data.dates) for p in presets}
    seeds = [config.seed + k for k in range(config.seeds)]
    tasks = [Task(p.name, s, k) for p in presets for s in seeds for k in range(len(folds[p.name]))]
    for p in presets:
        f0 = folds[p.name][0]
        progress.stage(
            f"{p.name}: {X[p.name].shape[2]} features x {p.lookback} days; "
            f"{len(folds[p.name])} fold(s) x {len(seeds)} seed(s); first fold trains on "
            f"{len(f0.train)}, validates on {len(f0.val)}, tests {len(f0.test)} days"
        )
    meta = {p.name: model_meta(config, p, data) for p in presets}
    params = {p.name: _lstm_params(config, p) for p in presets}
    keep = {Task(p.name, seeds[0], len(folds[p.name]) - 1) for p in presets}
    kept: dict[Task, LSTMForecaster] = {}
    device = resolve_device(config.device).type
    together = {p.name for p in presets if config.seeds_together(p, device)}
    if together:
        progress.stage(f"seeds trained together, packed in one network: {', '.join(together)}")
    jobs, threads = config.resources(len(work_units(tasks, together)))
    few = jobs == 1 and len(tasks) <= len(presets)
    if jobs > 1:
        progress.stage(f"training {len(tasks)} models in {jobs} processes")
    with progress.tasks(len(tasks), config.epochs if few else None) as (on_done, on_epoch_for):
        preds = run_tasks(
            tasks,
            X,
            y,
            folds,
            params,
            meta,
            jobs=jobs,
            threads=threads,
            together=together,
            store=store,
            on_done=on_done,
            on_epoch_for=on_epoch_for,
            keep=keep,
            kept=kept,
        )
    main: dict[str, np.ndarray] = {}
    per_seed: dict[str, list[np.ndarray]] = {}
    models: dict[str, LSTMForecaster] = {}
    for p in presets:
        per_seed[p.name] = [
            np.concatenate([preds[Task(p.name, s, k)] for k in range(len(folds[p.name]))])
            for s in seeds
        ]
        main[f"{p.name}:lstm"] = np.mean(per_seed[p.name], axis=0)  # the seed ensemble
        last = Task(p.name, seeds[0], len(folds[p.name]) - 1)
        if last in kept:
            models[p.name] = kept[last]
        elif store is not None:
            models[p.name] = store.load_model(last)
        main[f"{p.name}:ridge"] = np.concatenate(
            [
                RidgeForecaster().fit(X[p.name][f.train], y[f.train]).predict(X[p.name][f.test])
                for f in folds[p.name]
            ]
        )
    # Shared forecast baselines read only today's close change (lookback 1).
    ret1 = simple_returns(data.ohlcv["close"]).loc[data.dates].to_numpy()[:, None, None]
    for name, make in (
        ("random_walk", ZeroForecaster),
        ("train_mean", MeanForecaster),
        ("persistence", lambda: PersistenceForecaster(feature_index=0)),
    ):
        main[name] = np.concatenate(
            [
                make().fit(ret1[f.train], y[f.train]).predict(ret1[f.test])
                for f in folds["_baselines"]
            ]
        )
    return Forecasts(eval_pos, main, per_seed, folds, models)


def backtest_all(
    config: RunConfig,
    data: StudyData,
    test_dates: pd.DatetimeIndex,
    forecasts: dict[str, np.ndarray],
    progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """Positions, daily returns and fills of every strategy, run through Backtrader.

    Each run is also computed by the vectorised twin; a disagreement fails the run.
    """
    progress = progress or Progress()
    costs = Costs(commission=config.commission, slippage=config.slippage)
    positions = {
        name: forecast_positions(
            f, test_dates, config.signal_horizon, config.threshold, config.long_short
        )
        for name, f in forecasts.items()
    }
    positions[BENCHMARK] = buy_and_hold_positions(test_dates)
    adj_close = data.ohlcv["close"]
    if adj_close.index.get_loc(test_dates[0]) >= 200:
        positions["ma_crossover"] = ma_crossover_positions(adj_close, test_dates, 50, 200)
    else:
        progress.note("ma_crossover skipped: fewer than 200 days of history before the test block")
    progress.stage(
        f"backtesting {len(positions)} strategies in Backtrader ({len(test_dates)} days)"
    )
    returns, orders, stats = {}, [], {}
    for name, pos in positions.items():
        res = run_backtrader(data.ohlcv, pos, costs, name=name)
        twin = vectorised_returns(data.ohlcv, pos, costs)
        gap = float(np.max(np.abs(res.returns.to_numpy() - twin.to_numpy())))
        if gap > PARITY_TOL:
            raise BacktestError(
                f"{name}: Backtrader and the vectorised twin disagree by {gap:.2e}; "
                "report this bug."
            )
        # day 0 is the first decision's close: nothing is held yet, so it is not a return day
        returns[name] = res.returns.iloc[1:]
        orders.append(res.orders.assign(strategy=name))
        held = pd.Series(held_positions(pos.to_numpy()), index=pos.index).iloc[1:]
        stats[name] = {"n_trades": res.n_trades, "held": held}
    return (
        pd.DataFrame(positions),
        pd.DataFrame(returns),
        pd.concat(orders, ignore_index=True),
        stats,
    )


def run_study(
    config: RunConfig,
    *,
    prices: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
    write: bool = True,
    resume_dir: Path | None = None,
) -> StudyResult:
    """Run the whole experiment; with `write`, save every artifact under out/<run-id>/.

    Finished walk-forward folds are saved as they complete; after an interruption
    (Ctrl-C) `resume_dir` continues the same run without redoing them.
    """
    from lstmbt import report, runs

    config = config.validate()
    progress = progress or Progress()
    run_dir = None
    if resume_dir is not None:
        run_dir = Path(resume_dir)
    elif write:
        run_dir = runs.new_run_dir(config)  # fail before the slow part if unusable
        runs.write_status(run_dir, "running")
    data = prepare_data(config, prices, progress)
    if resume_dir is not None:
        runs.check_resume_data(run_dir, data)
    elif run_dir is not None:
        runs.write_config(run_dir, config, data)
    for note in data.notes:
        progress.note(note)
    store = FoldStore(run_dir / "folds") if run_dir is not None else None
    try:
        fc = fit_forecasters(config, data, progress, store)
        dates = data.dates[fc.eval_pos]
        positions, returns, orders, stats = backtest_all(config, data, dates, fc.main, progress)
        progress.stage("significance: bootstrap Sharpe intervals, SPA, Diebold-Mariano, PT")
        metrics = evaluate(config, data, fc, positions, returns, stats, BENCHMARK)
        realised = data.targets.loc[dates].to_numpy()
        predictions = pd.DataFrame(
            {"realised": realised[:, 0], **{name: f[:, 0] for name, f in fc.main.items()}},
            index=dates,
        )
        predictions.index.name = "date"
        result = StudyResult(
            config,
            data,
            fc.folds,
            predictions,
            positions,
            returns,
            orders,
            metrics,
            fc.models,
            run_dir,
        )
        if run_dir is not None:
            report.write_run(result, progress)
            runs.write_status(run_dir, "complete")
    except KeyboardInterrupt:
        if run_dir is not None:
            runs.write_status(run_dir, "interrupted")
            raise Interrupted(run_dir) from None
        raise
    return result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training: finished folds are kept; `lstmbt resume RUN_DIR` continues."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(
            f"interrupted; finished folds are saved. Continue with: lstmbt resume {run_dir}"
        )
        self.run_dir = run_dir


def resume_study(run_dir: str | Path, progress: Progress | None = None) -> StudyResult:
    """Continue an interrupted (or re-run a finished) study from its folder, reusing saved folds."""
    from lstmbt.runs import read_config

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    return run_study(config, progress=progress, resume_dir=run_dir)
