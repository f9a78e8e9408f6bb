"""Backtrader engine: a target-position strategy with cheat-on-open fills and fractional sizing.

The strategy gets the position decided at each close and trades at the next day's open, sized for
that open's fill price (with slippage, half-spread and commission, at least the minimum fee),
only when the target changes. Interest on cash and the borrowing fee of shorts accrue at each
close, after the day's fills (`AccruingBroker`). Any rejected, margin-called or cancelled order
fails the run: a silently skipped trade is a wrong number. Indicators are never computed in
Backtrader (its `collections.Iterable` use breaks on Python >= 3.10), only in `features/`.
"""

from __future__ import annotations

from dataclasses import dataclass

import backtrader as bt
import numpy as np
import pandas as pd

from lstmbt.strategies.costs import (
    CASH_BUFFER,
    TRADING_DAYS,
    Costs,
    StrategyRuined,
    daily_cash_rates,
)
from lstmbt.strategies.rebalance import check_positions, rebalance


class BacktestError(RuntimeError):
    """The engine did something the results cannot be trusted after (e.g. a rejected order)."""


class FractionalCommission(bt.CommInfoBase):
    """Percentage commission on traded value with a minimum per order (currency), stock-like,
    fractional share sizes allowed."""

    params = (
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("min_fee", 0.0),
    )

    def getsize(self, price: float, cash: float) -> float:
        return self.p.leverage * (cash / price)

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        fee = abs(size) * self.p.commission * price
        return max(fee, self.p.min_fee) if self.p.min_fee > 0 else fee


class AccruingBroker(bt.brokers.BackBroker):
    """Backtrader's broker, plus one cash adjustment at each close after the day's fills:
    `accrue()` (interest on cash, less the borrowing fee of a short), set by the strategy."""

    accrue = None

    def next(self) -> None:
        super().next()
        amount = self.accrue() if self.accrue is not None else 0.0
        if amount:
            self.cash += amount
            self._get_value()  # the day's value (what TimeReturn reads) includes it


class TargetPositionStrategy(bt.Strategy):
    """Holds `held[date]` (in {-1, 0, 1}) from that date's open; trades only on changes. With
    a rebalance `band`, `held[date]` is a fractional target weight instead, traded as
    `rebalance.rebalance` says (only when it is more than `band` from the drifted weight).

    `daily[date]`: that day's interest rate on cash; `borrow`: the daily borrowing fee of a
    short, a fraction of its value at the close. Short-sale proceeds earn nothing."""

    params = (
        ("held", None),
        ("slippage", 0.0),
        ("commission", 0.0),
        ("min_fee", 0.0),
        ("daily", None),
        ("borrow", 0.0),
        ("band", None),
        ("costs", None),
    )

    def __init__(self) -> None:
        self.current = 0.0
        self.proceeds = 0.0  # gross proceeds of the open short sale (they earn no interest)
        self.fills: list[dict] = []
        self.failed: list[str] = []

    def start(self) -> None:
        if isinstance(self.broker, AccruingBroker):
            self.broker.accrue = self.accrual

    def accrual(self) -> float:
        """Interest on the cash beyond the short-sale proceeds, less the borrowing fee."""
        rate = self.p.daily.get(self.data.datetime.date(0), 0.0) if self.p.daily else 0.0
        amount = rate * (self.broker.getcash() - self.proceeds)
        size = self.position.size
        if size < 0:
            amount -= self.p.borrow * (-size) * self.data.close[0]
        return amount

    def next_open(self) -> None:
        # In next_open the new bar is loaded but len(self) does not count it yet: look the
        # target up by date, never by bar number.
        day = self.data.datetime.date(0)
        target = float(self.p.held.get(day, 0.0))
        if self.p.band is not None:
            self._rebalance(target)
            return
        if target == self.current:
            return
        size = self.position.size
        cash = self.broker.getcash()
        o, s, c, m = self.data.open[0], self.p.slippage, self.p.commission, self.p.min_fee
        # equity: what closing the position at this open would leave (Backtrader charges the
        # closing and the opening part of a reversal separately, each at least the minimum)
        if size > 0:
            p = o * (1.0 - s)
            equity = cash + size * p - max(size * p * c, m)
        elif size < 0:
            p = o * (1.0 + s)
            equity = cash - (-size) * p - max((-size) * p * c, m)
        else:
            equity = cash
        if target > 0:
            p = o * (1.0 + s)
            new = equity * (1.0 - CASH_BUFFER) / (p * (1.0 + c))
            if m > 0 and new * p * c < m:  # the minimum fee binds: buy less, keep cash >= 0
                new = (equity * (1.0 - CASH_BUFFER) - m) / p
                if new <= 0:
                    raise StrategyRuined(
                        f"equity of {equity:.2f} on {day} cannot pay the minimum fee of "
                        f"{m:g}: the costs ruined the strategy; use a larger capital or a "
                        "smaller minimum fee."
                    )
        elif target < 0:
            new = -equity / (o * (1.0 - s))
        else:
            new = 0.0
        self.proceeds = -new * o * (1.0 - s) if new < 0 else 0.0
        delta = new - size
        if delta > 0:
            self.buy(size=delta)
        elif delta < 0:
            self.sell(size=-delta)
        self.current = target

    def _rebalance(self, target: float) -> None:
        order = rebalance(
            self.broker.getcash(),
            self.position.size,
            self.proceeds,
            self.data.open[0],
            target,
            self.p.band,
            self.p.costs,
        )
        if order is None:
            return
        self.proceeds = order.proceeds
        held, parts = self.position.size, [order.shares]
        if held * order.shares < 0 and abs(order.shares) > abs(held):
            # through zero: close, then open, as two orders (one order's closed + opened
            # parts need not add up to its size in floats, and Backtrader would then leave
            # a remainder of 1e-14 shares pending: a "Partial" fill and a margin call)
            parts = [-held, order.shares + held]
        for shares in parts:
            if shares > 0:
                self.buy(size=shares)
            else:
                self.sell(size=-shares)

    def notify_order(self, order: bt.Order) -> None:
        note_order(self, order)


def note_order(strategy: bt.Strategy, order: bt.Order, ticker: bool = False) -> None:
    """A filled order into `strategy.fills` (date, the ticker when `ticker`, size, price,
    commission); one not filled (margin, rejected...) into `strategy.failed`, in words."""
    if order.status == order.Completed:
        fill = {"date": bt.num2date(order.executed.dt).date()}
        if ticker:
            fill["ticker"] = order.data._name
        fill |= {
            "size": order.executed.size,
            "price": order.executed.price,
            "commission": order.executed.comm,
        }
        strategy.fills.append(fill)
    elif order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
        where = order.data._name if ticker else f"on {strategy.data.datetime.date(0)}"
        strategy.failed.append(
            f"{order.getstatusname()} {'buy' if order.isbuy() else 'sell'} of "
            f"{order.created.size:.6g} {where}"
        )


@dataclass(frozen=True)
class BacktestResult:
    """Daily returns and fills of one Backtrader run."""

    returns: pd.Series
    orders: pd.DataFrame

    @property
    def n_trades(self) -> int:
        return len(self.orders)


def next_open_cerebro(
    capital: float,
    commission: float,
    min_fee: float,
    price_move: float,
    broker: bt.brokers.BackBroker | None = None,
) -> bt.Cerebro:
    """A Cerebro that fills at the next open (cheat-on-open) with `capital` in cash, fractional
    shares paying `commission` (at least `min_fee` an order part), and every fill moved by
    `price_move` against the trader. Both engines (one series, a portfolio) start here."""
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    if broker is not None:
        cerebro.setbroker(broker)
    cerebro.broker.setcash(capital)
    cerebro.broker.addcommissioninfo(FractionalCommission(commission=commission, min_fee=min_fee))
    # slip_out: slip even when open*(1+s) leaves the bar's range, so fills match the twin.
    cerebro.broker.set_slippage_perc(
        price_move, slip_open=True, slip_limit=True, slip_match=True, slip_out=True
    )
    return cerebro


def run_filled(cerebro: bt.Cerebro, name: str, what: str) -> bt.Strategy:
    """Run `cerebro`'s one strategy; any order not filled stops the run (BacktestError)."""
    strat = cerebro.run()[0]
    if strat.failed:
        raise BacktestError(
            f"{name}: {len(strat.failed)} order(s) were not filled, e.g. {strat.failed[0]}; the "
            f"results would not match the {what}, so the run stops here."
        )
    return strat


def run_backtrader(
    prices: pd.DataFrame,
    positions: pd.Series,
    costs: Costs = Costs(),
    name: str = "strategy",
    cash_rate: float | pd.Series = 0.0,
    band: float | None = None,
) -> BacktestResult:
    """Run the target-position strategy over `positions.index` on adjusted OHLC `prices`,
    starting with `costs.capital` in cash; `cash_rate`: the annual interest rate on cash, a
    constant or one per position date. Positions are -1, 0 or +1, traded when they change;
    with a rebalance `band` in [0, 1) they are fractional target weights (strategies/
    rebalance.py)."""
    px = prices.reindex(positions.index)[["open", "high", "low", "close"]]
    if px.isna().any().any():
        raise ValueError("prices must cover every position date.")
    check_positions(positions.to_numpy(dtype=np.float64), band)
    feed_frame = px.assign(volume=0.0, openinterest=0.0)
    held = positions.shift(1, fill_value=0.0)
    held_by_day = {ts.date(): float(v) for ts, v in held.items()}

    daily = daily_cash_rates(cash_rate, positions.index)
    daily_by_day = (
        {ts.date(): float(v) for ts, v in zip(positions.index, daily, strict=True)}
        if daily is not None
        else None
    )
    accrues = daily is not None or costs.borrow_fee > 0

    # (without accruals, Backtrader's own broker: today's numbers, bit for bit)
    cerebro = next_open_cerebro(
        costs.capital,
        costs.commission,
        costs.min_fee,
        costs.price_move,
        AccruingBroker() if accrues else None,
    )
    cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame), name=name)
    cerebro.addstrategy(
        TargetPositionStrategy,
        held=held_by_day,
        slippage=costs.price_move,
        commission=costs.commission,
        min_fee=costs.min_fee,
        daily=daily_by_day,
        borrow=costs.borrow_fee / TRADING_DAYS,
        band=band,
        costs=costs,
    )
    cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Days, _name="daily")
    strat = run_filled(cerebro, name, "positions")
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
