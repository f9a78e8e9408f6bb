"""Every strategy through Backtrader, checked against the vectorised twin: forecasts become
positions decided at each close and traded at the next open, with the same costs for all."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.metrics import BENCHMARK, model_entry
from lstmbt.progress import Progress
from lstmbt.strategies import (
    Costs,
    buy_and_hold_positions,
    forecast_positions,
    held_positions,
    ma_crossover_positions,
    run_backtrader,
    vectorised_returns,
)
from lstmbt.strategies.backtest import BacktestError

PARITY_TOL = 1e-9


@dataclass(frozen=True)
class Backtests:
    """Positions decided each close, daily after-cost returns, fills, and per strategy the
    number of trades and the position held each return day."""

    positions: pd.DataFrame
    returns: pd.DataFrame
    orders: pd.DataFrame
    trades: dict[str, int]
    held: dict[str, pd.Series]
    entries: list[dict]  # catalogue rows of the strategies that are not forecasts


def costs_of(config: RunConfig) -> Costs:
    return Costs(commission=config.commission, slippage=config.slippage)


def strategy_positions(
    config: RunConfig,
    ohlcv: pd.DataFrame,
    dates: pd.DatetimeIndex,
    forecasts: dict[str, np.ndarray],
    progress: Progress,
    given: dict[str, pd.Series] | None = None,
) -> tuple[dict[str, pd.Series], list[dict]]:
    """Each forecast's positions under the signal rule (and any `given` positions), buy-and-hold
    and the MA crossover."""
    positions = dict(given or {})
    positions |= {
        name: forecast_positions(
            f, dates, config.signal_horizon, config.threshold, config.long_short
        )
        for name, f in forecasts.items()
    }
    positions[BENCHMARK] = buy_and_hold_positions(dates)
    entries = [model_entry(BENCHMARK, BENCHMARK, "benchmark")]
    close = ohlcv["close"]
    if close.index.get_loc(dates[0]) >= 200:
        positions["ma_crossover"] = ma_crossover_positions(close, dates, 50, 200)
        entries.append(model_entry("ma_crossover", "ma_crossover", "strategy"))
    else:
        progress.note("ma_crossover skipped: fewer than 200 days of history before the test block")
    return positions, entries


def backtest_all(
    config: RunConfig,
    ohlcv: pd.DataFrame,
    dates: pd.DatetimeIndex,
    forecasts: dict[str, np.ndarray],
    progress: Progress | None = None,
    given: dict[str, pd.Series] | None = None,
) -> Backtests:
    """Positions, daily returns and fills of every strategy, run through Backtrader.

    Each run is also computed by the vectorised twin; a disagreement fails the run.
    """
    progress = progress or Progress()
    costs = costs_of(config)
    positions, entries = strategy_positions(config, ohlcv, dates, forecasts, progress, given)
    progress.stage(f"backtesting {len(positions)} strategies in Backtrader ({len(dates)} days)")
    returns, orders, trades, held = {}, [], {}, {}
    for name, pos in positions.items():
        res = run_backtrader(ohlcv, pos, costs, name=name)
        twin = vectorised_returns(ohlcv, pos, costs)
        gap = float(np.max(np.abs(res.returns.to_numpy() - twin.to_numpy())))
        if gap > PARITY_TOL:
            raise BacktestError(
                f"{name}: Backtrader and the vectorised twin disagree by {gap:.2e}; "
                "report this bug."
            )
        # day 0 is the first decision's close: nothing is held yet, so it is not a return day
        returns[name] = res.returns.iloc[1:]
        orders.append(res.orders.assign(strategy=name))
        held[name] = pd.Series(held_positions(pos.to_numpy()), index=pos.index).iloc[1:]
        trades[name] = res.n_trades
    return Backtests(
        pd.DataFrame(positions),
        pd.DataFrame(returns),
        pd.concat(orders, ignore_index=True),
        trades,
        held,
        entries,
    )
