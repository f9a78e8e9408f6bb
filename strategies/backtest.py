"""Backtrader engine: a target-position strategy with cheat-on-open fills and fractional sizing.

The strategy gets the position decided at each close and trades at the next day's open, sized for
that open's fill price (with slippage and commission), only when the target changes. Any
rejected, margin-called or cancelled order fails the run: a silently skipped trade is a wrong
number. Indicators are never computed in Backtrader (its `collections.Iterable` use breaks on
Python >= 3.10), only in `features/`.
"""

from __future__ import annotations

from dataclasses import dataclass

import backtrader as bt
import numpy as np
import pandas as pd

from lstmbt.strategies.costs import CASH_BUFFER, Costs

START_CASH = 100_000.0


class BacktestError(RuntimeError):
    """The engine did something the results cannot be trusted after (e.g. a rejected order)."""


class FractionalCommission(bt.CommInfoBase):
    """Percentage commission on traded value, stock-like, fractional share sizes allowed."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True))

    def getsize(self, price: float, cash: float) -> float:
        return self.p.leverage * (cash / price)


class TargetPositionStrategy(bt.Strategy):
    """Holds `held[date]` (in {-1, 0, 1}) from that date's open; trades only on changes."""

    params = (("held", None), ("slippage", 0.0), ("commission", 0.0))

    def __init__(self) -> None:
        self.current = 0.0
        self.fills: list[dict] = []
        self.failed: list[str] = []

    def next_open(self) -> None:
        # In next_open the new bar is loaded but len(self) does not count it yet: look the
        # target up by date, never by bar number.
        day = self.data.datetime.date(0)
        target = float(self.p.held.get(day, 0.0))
        if target == self.current:
            return
        size = self.position.size
        cash = self.broker.getcash()
        o, s, c = self.data.open[0], self.p.slippage, self.p.commission
        if size > 0:
            p = o * (1.0 - s)
            equity = cash + size * p - size * p * c
        elif size < 0:
            p = o * (1.0 + s)
            equity = cash - (-size) * p - (-size) * p * c
        else:
            equity = cash
        if target > 0:
            p = o * (1.0 + s)
            new = equity * (1.0 - CASH_BUFFER) / (p * (1.0 + c))
        elif target < 0:
            new = -equity / (o * (1.0 - s))
        else:
            new = 0.0
        delta = new - size
        if delta > 0:
            self.buy(size=delta)
        elif delta < 0:
            self.sell(size=-delta)
        self.current = target

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills.append(
                {
                    "date": bt.num2date(order.executed.dt).date(),
                    "size": order.executed.size,
                    "price": order.executed.price,
                    "commission": order.executed.comm,
                }
            )
        elif order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
            self.failed.append(
                f"{order.getstatusname()} {'buy' if order.isbuy() else 'sell'} of "
                f"{order.created.size:.6g} on {self.data.datetime.date(0)}"
            )


@dataclass(frozen=True)
class BacktestResult:
    """Daily returns and fills of one Backtrader run."""

    returns: pd.Series
    orders: pd.DataFrame

    @property
    def n_trades(self) -> int:
        return len(self.orders)


def run_backtrader(
    prices: pd.DataFrame, positions: pd.Series, costs: Costs = Costs(), name: str = "strategy"
) -> BacktestResult:
    """Run the target-position strategy over `positions.index` on adjusted OHLC `prices`."""
    px = prices.reindex(positions.index)[["open", "high", "low", "close"]]
    if px.isna().any().any():
        raise ValueError("prices must cover every position date.")
    if not np.isin(positions.to_numpy(), (-1.0, 0.0, 1.0)).all():
        raise ValueError("positions must be -1, 0 or +1.")
    feed_frame = px.assign(volume=0.0, openinterest=0.0)
    held = positions.shift(1, fill_value=0.0)
    held_by_day = {ts.date(): float(v) for ts, v in held.items()}

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame), name=name)
    cerebro.broker.setcash(START_CASH)
    cerebro.broker.addcommissioninfo(FractionalCommission(commission=costs.commission))
    # slip_out: slip even when open*(1+s) leaves the bar's range, so fills match the twin.
    cerebro.broker.set_slippage_perc(
        costs.slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=True
    )
    cerebro.addstrategy(
        TargetPositionStrategy,
        held=held_by_day,
        slippage=costs.slippage,
        commission=costs.commission,
    )
    cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="daily")
    strat = cerebro.run()[0]
    if strat.failed:
        raise BacktestError(
            f"{name}: {len(strat.failed)} order(s) were not filled, e.g. {strat.failed[0]}; the "
            "results would not match the positions, so the run stops here."
        )
    daily = strat.analyzers.daily.get_analysis()
    rets = pd.Series(
        list(daily.values()),
        index=pd.DatetimeIndex([pd.Timestamp(d) for d in daily.keys()]).as_unit("ns"),
        name=name,
        dtype=np.float64,
    ).reindex(positions.index)
    if rets.isna().any():
        raise BacktestError(f"{name}: Backtrader produced no return for some dates.")
    orders = pd.DataFrame(strat.fills, columns=["date", "size", "price", "commission"])
    return BacktestResult(rets, orders)
