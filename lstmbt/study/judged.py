"""Judging forecasts made elsewhere: the same backtest, costs, baselines, tests and leak checks
as a study, on the span the forecasts cover.

A forecast dated t is the forecast, made at t's close, of the next day's simple return (or,
with positions, the position to hold from t+1's open). Baselines on the same span: buy-and-hold,
the random walk, persistence, the 50/200 moving-average crossover, and a ridge regression on the
last 30 close changes refit every 252 days on the data before each block (never after it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.errors import DataError
from lstmbt.features import build_features
from lstmbt.features.returns import adjusted_ohlcv, forward_returns, simple_returns
from lstmbt.metrics import BENCHMARK, model_entry
from lstmbt.models import RidgeForecaster, Split
from lstmbt.progress import Progress
from lstmbt.results import StudyData, StudyResult
from lstmbt.runs import EarlierTrials
from lstmbt.study.backtests import backtest_all
from lstmbt.study.evaluation import evaluate
from lstmbt.study.forecasters import BASELINE_FOLDS, Forecasts
from lstmbt.study.inputs import cash_rate_of, windows
from lstmbt.study.pipeline import prediction_table

RIDGE_LOOKBACK = 30
RIDGE_REFIT = 252
MIN_TESTED = 20  # dates where every column has a forecast, below which nothing is tested


@dataclass(frozen=True)
class Submission:
    """Forecasts (or positions) brought by a user: one column each, indexed by decision date;
    NaN where a column has no forecast for a date."""

    table: pd.DataFrame
    positions: bool = False
    declared_trials: int = 0  # variants the user tried before (counted by the deflated Sharpe)
    weights: bool = False  # positions are fractions of equity, traded with a rebalance band


def judge_data(
    prices: pd.DataFrame,
    ticker: str,
    config: RunConfig | None = None,
    notes: Sequence[str] = (),
) -> StudyData:
    """The traded series' targets and the ridge baseline's inputs, on one decision calendar,
    and the interest on cash on it (`config`'s --cash-rate, from where its --source says).
    `notes`: the forecasts' repairs; the report lists them beside the prices' and the rate's."""
    ohlcv = adjusted_ohlcv(prices)
    targets = forward_returns(prices["adj_close"], 1)
    fm = build_features(prices, ("close_change",), {}, ())
    dates = targets.dropna().index.intersection(fm.frame.index[RIDGE_LOOKBACK - 1 :])
    rate = cash_rate_of(config or RunConfig(), ohlcv.index)
    return StudyData(
        {ticker: prices},
        ohlcv,
        targets,
        {"ridge": fm},
        pd.DatetimeIndex(dates),
        [*notes, *prices.attrs.get("notes", []), *rate.notes],
        rate,
    )


def span_of(sub: Submission, data: StudyData, progress: Progress) -> pd.DatetimeIndex:
    """The decision dates judged: every trading day from the earliest to the latest forecast
    date that has a known next-day return (the table's row order does not matter)."""
    table = sub.table
    unknown = table.index.difference(data.prices[next(iter(data.prices))].index)
    if len(unknown):
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in unknown[:5])
        raise DataError(
            f"{len(unknown)} forecast date(s) are not trading days of the price history "
            f"({shown}); the prices cover {data.ohlcv.index[0]:%Y-%m-%d} to "
            f"{data.ohlcv.index[-1]:%Y-%m-%d}. Use the same calendar (and --source/--ticker)."
        )
    last_known = data.dates[-1]
    late = table.index[table.index > last_known]
    if len(late):
        progress.note(
            f"{len(late)} forecast date(s) after {last_known:%Y-%m-%d} have no next-day return "
            "yet and are not judged"
        )
    early = table.index[table.index < data.dates[0]]
    if len(early):
        raise DataError(
            f"forecasts start {table.index.min():%Y-%m-%d}, before the price history allows "
            f"({data.dates[0]:%Y-%m-%d}: {RIDGE_LOOKBACK} days of history are needed); give "
            "prices that start earlier."
        )
    inside = table.index[table.index <= last_known]
    if len(inside) == 0:
        raise DataError("no forecast date has a known next-day return to judge it by.")
    # from the earliest to the latest forecast date, whatever order the rows came in
    return data.dates[(data.dates >= inside.min()) & (data.dates <= inside.max())]


def _ridge(data: StudyData, eval_pos: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list]:
    """Ridge on the last 30 close changes, refit every 252 days on the rows before each block
    (their labels are known by the block's first decision), and the blocks as folds."""
    X = windows(data.features["ridge"], RIDGE_LOOKBACK, data.dates)
    out, folds = [], []
    for lo in range(0, len(eval_pos), RIDGE_REFIT):
        block = eval_pos[lo : lo + RIDGE_REFIT]
        train = np.arange(0, block[0] - 1)  # label of row block[0]-1 is known only at block[0]
        if len(train) < RIDGE_REFIT:
            out.append(np.full((len(block), 1), np.nan))
        else:
            out.append(RidgeForecaster().fit(X[train], y[train]).predict(X[block]))
        folds.append(Split(train=train, val=np.array([], int), test=block, embargo=1))
    return np.concatenate(out), folds


def judge_forecasts(
    config: RunConfig,
    data: StudyData,
    sub: Submission,
    progress: Progress | None = None,
    earlier: EarlierTrials | None = None,
) -> StudyResult:
    """Backtest and test every submitted column beside the baselines on the same span."""
    progress = progress or Progress()
    dates = span_of(sub, data, progress)
    eval_pos = data.dates.get_indexer(dates)
    y = data.targets.loc[data.dates].to_numpy(dtype=np.float64)
    table = sub.table.reindex(dates)
    missing = table.isna().any(axis=1)
    tested = ~missing.to_numpy()
    if missing.any():
        progress.note(
            f"{int(missing.sum())} of {len(dates)} dates lack a forecast in some column: the "
            "previous position is held there, and the forecast tests use the "
            f"{int(tested.sum())} dates where every column has one"
        )
    if tested.sum() < MIN_TESTED:
        raise DataError(
            f"only {int(tested.sum())} dates have a forecast in every column; at least "
            f"{MIN_TESTED} are needed to test anything."
        )
    held = table.ffill().fillna(0.0)  # before a column's first forecast: flat
    main: dict[str, np.ndarray] = {}
    entries = []
    given = None
    bands = {}
    if sub.positions:
        given = {name: held[name].rename("position") for name in held.columns}
        entries += [model_entry(n, "positions", "forecaster") for n in held.columns]
        if sub.weights:  # sized positions: every column trades with the band
            bands = {n: config.rebalance_band for n in held.columns}
    else:
        for name in held.columns:
            main[name] = held[name].to_numpy(dtype=np.float64)[:, None]
            entries.append(model_entry(name, "submitted", "forecaster"))
    today = simple_returns(data.ohlcv["close"]).loc[dates].to_numpy()
    main["random_walk"] = np.zeros((len(dates), 1))
    main["persistence"] = today[:, None].copy()
    ridge, folds = _ridge(data, eval_pos, y)
    if np.isnan(ridge).any():
        progress.note(f"ridge skipped: fewer than {RIDGE_REFIT} days before a block to fit on")
    else:
        main["ridge"] = ridge
        entries.append(model_entry("ridge", "ridge", "baseline"))
    entries += [model_entry(n, n, "baseline") for n in ("random_walk", "persistence")]
    fc = Forecasts(eval_pos, main, {}, {BASELINE_FOLDS: folds}, {}, entries, tested)
    bt = backtest_all(config, data.ohlcv, dates, main, progress, given, data.cash_rate, bands=bands)
    metrics = evaluate(config, data, fc, bt, BENCHMARK, earlier, sub.declared_trials, kind="judge")
    # the submitted columns as given (empty where a date had none), then the baselines
    given_columns = {name: table[name].to_numpy() for name in sub.table.columns}
    baselines = {n: f[:, 0] for n, f in main.items() if n not in given_columns}
    predictions = prediction_table(data, dates, {**given_columns, **baselines})
    return StudyResult(
        config=config,
        metrics=metrics,
        predictions=predictions,
        positions=bt.positions,
        returns=bt.returns,
        orders=bt.orders,
        folds={BASELINE_FOLDS: folds},
        data=data,
    )
