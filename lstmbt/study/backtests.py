"""Every strategy through Backtrader, checked against the vectorised twin: forecasts become
positions decided at each close and traded at the next open, with the same costs (and the
same interest on cash) for all."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.data.rates import CashRate
from lstmbt.errors import ConfigError
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
from lstmbt.strategies.costs import StrategyRuined, daily_cash_rates
from lstmbt.strategies.rebalance import check_positions
from lstmbt.strategies.vectorised import rebalanced_paths
from lstmbt.study.sizing import Sizing, sized_positions

PARITY_TOL = 1e-9


@dataclass(frozen=True)
class Backtests:
    """Positions decided each close, daily after-cost returns, fills, and per strategy the
    number of trades and the position held each return day; `cash_rate`: the interest a day
    in cash earns, each return day (what Sharpe ratios are measured over); `annual_rate`:
    the annual cash rate on each position date (None: none), as the engines were given it;
    `bands`: the rebalance band of each strategy that trades fractional weights (the sized
    ones; the others hold -1, 0 or +1); `turnover`: what each of those traded at each open
    (position dates), as its twin computed it beside its returns (the cost analysis reuses
    it rather than simulating it again)."""

    positions: pd.DataFrame
    returns: pd.DataFrame
    orders: pd.DataFrame
    trades: dict[str, int]
    held: dict[str, pd.Series]
    entries: list[dict]  # catalogue rows of the strategies that are not forecasts
    cash_rate: pd.Series | None = None
    annual_rate: pd.Series | None = None
    bands: Mapping[str, float] = field(default_factory=dict)  # sized strategies' bands
    turnover: Mapping[str, pd.Series] = field(default_factory=dict)  # the sized ones' trades

    @property
    def rf(self) -> pd.Series:
        """The daily cash rate on the return days (zeros when cash earns nothing)."""
        if self.cash_rate is None:
            return pd.Series(0.0, index=self.returns.index, name="cash_rate")
        return self.cash_rate


def check_parity(name: str, engine: pd.Series, twin: pd.Series, what: str) -> None:
    """Backtrader's returns against its twin's: more than PARITY_TOL apart on any day (a NaN
    on either side included) is a bug, and stops the run."""
    gap = np.abs(engine.to_numpy() - twin.to_numpy())
    if not (gap <= PARITY_TOL).all():
        raise BacktestError(
            f"{name}: Backtrader and the {what} disagree by {np.nanmax(gap, initial=np.inf):.2e}; "
            "report this bug."
        )


def costs_of(config: RunConfig) -> Costs:
    return Costs(
        commission=config.commission,
        slippage=config.slippage,
        half_spread=config.half_spread,
        min_fee=config.min_fee,
        capital=config.capital,
        borrow_fee=config.borrow_fee,
    )


def strategy_positions(
    config: RunConfig,
    ohlcv: pd.DataFrame,
    dates: pd.DatetimeIndex,
    forecasts: dict[str, np.ndarray],
    progress: Progress,
    given: dict[str, pd.Series] | None = None,
    sizing: Sizing | None = None,
) -> tuple[dict[str, pd.Series], list[dict]]:
    """Each forecast's positions under the signal rule (and any `given` positions), its sized
    weights (with `sizing`), buy-and-hold and the MA crossover."""
    positions = dict(given or {})
    positions |= {
        name: forecast_positions(
            f, dates, config.signal_horizon, config.threshold, config.long_short
        )
        for name, f in forecasts.items()
    }
    entries = []
    if sizing is not None:
        positions |= sized_positions(sizing, forecasts, ohlcv["close"], dates)
        entries += list(sizing.entries)
    positions[BENCHMARK] = buy_and_hold_positions(dates)
    entries.append(model_entry(BENCHMARK, BENCHMARK, "benchmark"))
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
    cash: CashRate | None = None,
    sizing: Sizing | None = None,
    bands: Mapping[str, float] | None = None,
) -> Backtests:
    """Positions, daily returns and fills of every strategy, run through Backtrader, with the
    interest on cash of `cash` (none when None); with `sizing`, each sized forecast's weights
    too, traded with its rebalance band; `bands`: the rebalance band of `given` positions that
    hold fractional weights.

    Each run is also computed by the vectorised twin; a disagreement fails the run.
    """
    progress = progress or Progress()
    costs = costs_of(config)
    annual = None if cash is None or cash.is_zero else cash.annual.reindex(dates)
    rate = 0.0 if annual is None else annual
    positions, entries = strategy_positions(
        config, ohlcv, dates, forecasts, progress, given, sizing
    )
    bands = dict(bands or {})
    if sizing is not None:
        bands |= {e["name"]: sizing.band for e in sizing.entries}
    progress.stage(  # the return days: every decision's next day (the report counts the same)
        f"backtesting {len(positions)} strategies in Backtrader ({len(dates) - 1} trading days)"
    )
    returns, orders, trades, held, turnover = {}, [], {}, {}, {}
    for name, pos in positions.items():
        band = bands.get(name)
        try:
            res = run_backtrader(ohlcv, pos, costs, name=name, cash_rate=rate, band=band)
            if band is None:
                twin = vectorised_returns(ohlcv, pos, costs, cash_rate=rate)
            else:
                twin, turnover[name] = _sized_twin(ohlcv, pos, costs, rate, band)
        except StrategyRuined as exc:  # the user's capital and fees, not a bug: one line
            raise ConfigError(
                f"{name}: {str(exc).rstrip('.')} (--capital {config.capital:g}, --min-fee "
                f"{config.min_fee:g})."
            ) from None
        check_parity(name, res.returns, twin, "vectorised twin")
        # day 0 is the first decision's close: nothing is held yet, so it is not a return day
        returns[name] = res.returns.iloc[1:]
        orders.append(res.orders.assign(strategy=name))
        held[name] = pd.Series(held_positions(pos.to_numpy()), index=pos.index).iloc[1:]
        trades[name] = res.n_trades
    returns = pd.DataFrame(returns)
    return Backtests(
        pd.DataFrame(positions),
        returns,
        pd.concat(orders, ignore_index=True),
        trades,
        held,
        entries,
        None if annual is None else cash.daily(returns.index),
        annual,
        bands,
        turnover,
    )


def _sized_twin(
    ohlcv: pd.DataFrame, weights: pd.Series, costs: Costs, rate: float | pd.Series, band: float
) -> tuple[pd.Series, pd.Series]:
    """The twin of target `weights` traded with `band`: its daily returns (what
    `vectorised_returns(..., band=band)` gives) and the value it traded at each open over the
    equity there (what `rebalanced_turnover` gives), from one simulation."""
    px = ohlcv.reindex(weights.index)
    open_, close = px["open"].to_numpy(np.float64), px["close"].to_numpy(np.float64)
    if not np.isfinite(open_.sum() + close.sum()):
        raise ValueError("prices must cover every position date (finite open and close).")
    w = weights.to_numpy(dtype=np.float64)
    check_positions(w, band)
    rets, traded = rebalanced_paths(
        open_,
        close,
        w[None, :],
        costs,
        daily_cash_rates(rate, weights.index),
        band,
    )
    return (
        pd.Series(rets[0], index=weights.index, name="returns"),
        pd.Series(traded[0], index=weights.index, name="turnover"),
    )


def twin_returns_of(
    ohlcv: pd.DataFrame,
    positions: pd.DataFrame,
    costs: Costs,
    cash_rate: float | pd.Series,
    bands: Mapping[str, float],
) -> pd.DataFrame:
    """The vectorised twin's returns of every column of `positions` (position dates), each
    traded as the study trades it: sized columns (in `bands`) as weights with their band."""
    sized = [c for c in positions.columns if c in bands]
    if not sized:
        return vectorised_returns(ohlcv, positions, costs, cash_rate=cash_rate)
    parts = [
        vectorised_returns(ohlcv, positions[[c]], costs, cash_rate=cash_rate, band=bands[c])
        for c in sized
    ]
    signs = [c for c in positions.columns if c not in bands]
    if signs:
        parts.append(vectorised_returns(ohlcv, positions[signs], costs, cash_rate=cash_rate))
    return pd.concat(parts, axis=1)[list(positions.columns)]
