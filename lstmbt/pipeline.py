"""The experiment: prices -> features -> chronological split -> forecasts -> positions -> backtests.

Every result is out-of-sample: models and scalers see only the training block, the test block
is the last slice of the calendar and is the same for every model, baseline and buy-and-hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features import build_features, forward_returns, make_windows
from features.build import FeatureMatrix
from features.returns import adjusted_ohlcv, simple_returns
from lstmbt.config import ModelPreset, RunConfig
from lstmbt.data import is_csv_path, load_one
from lstmbt.errors import DataError
from lstmbt.evaluation import forecast_metrics, strategy_metrics
from lstmbt.progress import Progress
from models import (
    LSTMForecaster,
    MeanForecaster,
    PersistenceForecaster,
    RidgeForecaster,
    Split,
    ZeroForecaster,
    chronological_split,
)
from strategies import (
    Costs,
    buy_and_hold_positions,
    held_positions,
    ma_crossover_positions,
    positions_from_forecast,
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
    splits: dict[str, Split]
    predictions: pd.DataFrame
    positions: pd.DataFrame
    returns: pd.DataFrame
    orders: pd.DataFrame
    metrics: dict
    models: dict[str, LSTMForecaster]
    run_dir: object = None


def _tickers(config: RunConfig, presets: list[ModelPreset]) -> list[str]:
    names = [config.ticker]
    for p in presets:
        names += [c for c in p.companions if c not in names]
    return names


def _companion_source(config: RunConfig, ticker: str) -> str:
    """Companions use the run's source, except with a CSV source, where they come from the sample."""
    if is_csv_path(ticker) or not is_csv_path(config.source):
        return config.source
    return "sample"


def prepare_data(
    config: RunConfig, prices: dict[str, pd.DataFrame] | None = None,
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
            source = config.source if i == 0 else _companion_source(config, ticker)
            progress.stage(f"loading {ticker} ({source})")
            prices[ticker] = load_one(ticker, source, config.start, config.end, cache)
    target = prices[config.ticker]
    notes = [*target.attrs.get("notes", [])]
    ohlcv = adjusted_ohlcv(target)
    targets = forward_returns(target["adj_close"], config.horizon)
    features: dict[str, FeatureMatrix] = {}
    dates = targets.dropna().index
    for p in presets:
        try:
            fm = build_features(
                target, p.features, {c: prices[c] for c in p.companions}, p.companion_features
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


def fit_forecasters(
    config: RunConfig, data: StudyData, progress: Progress | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Split], dict[str, LSTMForecaster]]:
    """Test-block forecasts (n_test, horizon) of every LSTM preset and every baseline."""
    progress = progress or Progress()
    y = data.targets.loc[data.dates].to_numpy(dtype=np.float64)
    n = len(data.dates)
    forecasts: dict[str, np.ndarray] = {}
    splits: dict[str, Split] = {}
    models: dict[str, LSTMForecaster] = {}

    def split_for(lookback: int) -> Split:
        try:
            return chronological_split(
                n, lookback=lookback, horizon=config.horizon, val_frac=config.val_frac,
                test_frac=config.test_frac,
            )
        except ValueError as exc:
            raise DataError(str(exc)) from None

    presets = config.model_presets()
    for p in presets:  # every split is checked before any training starts
        splits[p.name] = split_for(p.lookback)
    splits["_baselines"] = split_for(1)
    for p in presets:
        split = splits[p.name]
        X = _windows(data.features[p.name], p.lookback, data.dates)
        tr, va, te = split.train, split.val, split.test
        progress.stage(
            f"{p.name}: {X.shape[2]} features x {p.lookback} days, train {len(tr)} / "
            f"validation {len(va)} / test {len(te)} samples"
        )
        model = LSTMForecaster(
            hidden_size=p.hidden_size, num_layers=p.num_layers, dropout=p.dropout, lr=config.lr,
            batch_size=config.batch_size, epochs=config.epochs, patience=config.patience,
            seed=config.seed, device=config.device,
        )
        with progress.training(p.name, config.epochs) as on_epoch:
            model.fit(X[tr], y[tr], X[va], y[va], on_epoch=on_epoch)
        models[p.name] = model
        forecasts[f"{p.name}:lstm"] = model.predict(X[te])
        ridge = RidgeForecaster().fit(X[tr], y[tr])
        forecasts[f"{p.name}:ridge"] = ridge.predict(X[te])

    # Shared forecast baselines read only today's close change (lookback 1).
    split = splits["_baselines"]
    ret1 = simple_returns(data.ohlcv["close"]).loc[data.dates].to_numpy()[:, None, None]
    for name, fc in (
        ("random_walk", ZeroForecaster()),
        ("train_mean", MeanForecaster()),
        ("persistence", PersistenceForecaster(feature_index=0)),
    ):
        fc.fit(ret1[split.train], y[split.train])
        forecasts[name] = fc.predict(ret1[split.test])
    return forecasts, splits, models


def _signal(forecast: np.ndarray, signal_horizon: str) -> np.ndarray:
    return forecast[:, 0] if signal_horizon == "1" else forecast.sum(axis=1)


def backtest_all(
    config: RunConfig, data: StudyData, test_dates: pd.DatetimeIndex,
    forecasts: dict[str, np.ndarray], progress: Progress | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, dict]]:
    """Positions, daily returns and fills of every strategy, run through Backtrader.

    Each run is also computed by the vectorised twin; a disagreement fails the run.
    """
    progress = progress or Progress()
    costs = Costs(commission=config.commission, slippage=config.slippage)
    positions = {
        name: positions_from_forecast(
            pd.Series(_signal(f, config.signal_horizon), index=test_dates),
            config.threshold, config.long_short,
        )
        for name, f in forecasts.items()
    }
    positions[BENCHMARK] = buy_and_hold_positions(test_dates)
    adj_close = data.ohlcv["close"]
    if adj_close.index.get_loc(test_dates[0]) >= 200:
        positions["ma_crossover"] = ma_crossover_positions(adj_close, test_dates, 50, 200)
    else:
        progress.note("ma_crossover skipped: fewer than 200 days of history before the test block")
    progress.stage(f"backtesting {len(positions)} strategies in Backtrader ({len(test_dates)} days)")
    returns, orders, stats = {}, [], {}
    for name, pos in positions.items():
        res = run_backtrader(data.ohlcv, pos, costs, name=name)
        twin = vectorised_returns(data.ohlcv, pos, costs)
        gap = float(np.max(np.abs(res.returns.to_numpy() - twin.to_numpy())))
        if gap > PARITY_TOL:
            raise BacktestError(
                f"{name}: Backtrader and the vectorised twin disagree by {gap:.2e}; report this bug."
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
) -> StudyResult:
    """Run the whole experiment; with `write`, save every artifact under out/<run-id>/."""
    config = config.validate()
    progress = progress or Progress()
    run_dir = None
    if write:
        from lstmbt.report import new_run_dir

        run_dir = new_run_dir(config)  # fail before the slow part if the folder is unusable
    data = prepare_data(config, prices, progress)
    for note in data.notes:
        progress.note(note)
    forecasts, splits, models = fit_forecasters(config, data, progress)
    test_dates = data.dates[splits["_baselines"].test]
    positions, returns, orders, stats = backtest_all(config, data, test_dates, forecasts, progress)
    realised = data.targets.loc[test_dates].to_numpy()
    predictions = pd.DataFrame(
        {"realised": realised[:, 0], **{name: f[:, 0] for name, f in forecasts.items()}},
        index=test_dates,
    )
    predictions.index.name = "date"
    metrics = {
        "span": {
            "ticker": config.ticker,
            "test_start": f"{returns.index[0]:%Y-%m-%d}",
            "test_end": f"{returns.index[-1]:%Y-%m-%d}",
            "test_days": len(returns),
            "first_decision": f"{test_dates[0]:%Y-%m-%d}",
            "train_start": f"{data.dates[0]:%Y-%m-%d}",
            "costs_per_side": {"commission": config.commission, "slippage": config.slippage},
        },
        "forecast": {
            name: forecast_metrics(f[:, 0], realised[:, 0]) for name, f in forecasts.items()
        },
        "strategy": {
            name: strategy_metrics(returns[name], stats[name]["held"], stats[name]["n_trades"])
            for name in returns.columns
        },
        "benchmark": BENCHMARK,
        "notes": data.notes,
    }
    result = StudyResult(config, data, splits, predictions, positions, returns, orders, metrics,
                         models, run_dir)
    if write:
        from lstmbt.report import write_run

        write_run(result, progress)
    return result
