"""Backtrader engine for portfolios: one multi-data strategy holding target weights per ticker.

One data feed per ticker, each with only its own bars (Backtrader keeps the feeds on one
clock; a feed without a bar on a day keeps its last bar, so a held ticker is valued at its last
close). The strategy gets the weights decided at each close and, when they change, rebalances
at the next day's opens with cheat-on-open: every ticker to its target weight of the equity
left after costs, sized with `panel.rebalance_scale`, sells before buys. Conventions and the
sizing rule: strategies/panel.py, whose `panel_returns` is this engine's vectorised twin. Any
rejected, margin-called or cancelled order, or a trade asked of a ticker without a bar that
day, fails the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import backtrader as bt
import numpy as np
import pandas as pd

from lstmbt.strategies.backtest import (
    BacktestError,
    next_open_cerebro,
    note_order,
    run_filled,
)
from lstmbt.strategies.costs import CASH_BUFFER, Costs
from lstmbt.strategies.panel import FIELDS, _prepare, field_array, rebalance_scale


class TargetWeightsStrategy(bt.Strategy):
    """Holds `held[date]` (a tuple of weights, one per data) from that date's opens."""

    params = (("held", None), ("costs", Costs()))

    def __init__(self) -> None:
        self.current = (0.0,) * len(self.datas)
        self.fills: list[dict] = []
        self.failed: list[str] = []
        self.values: dict = {}

    # Feeds start and end on their own dates: before every feed has a bar Backtrader calls
    # the pre-* hooks; the portfolio trades and is valued on every day all the same.
    def prenext_open(self) -> None:
        self.next_open()

    def prenext(self) -> None:
        self.next()

    def _today(self) -> float:
        # In next_open the new bars are loaded but len(self) does not count them: find the day
        # from the feeds (a feed with no bar today still shows an earlier date).
        return max(d.datetime[0] for d in self.datas if len(d))

    def next_open(self) -> None:
        now = self._today()
        day = bt.num2date(now).date()
        target = self.p.held.get(day, self.current)
        if target == self.current:
            return
        n = len(self.datas)
        size, price = np.zeros(n), np.zeros(n)
        for i, d in enumerate(self.datas):
            pos = self.broker.positions.get(d)  # .get: never create a position for a feed
            size[i] = pos.size if pos else 0.0
            if (size[i] != 0.0 or target[i] != 0.0) and not (len(d) and d.datetime[0] == now):
                self.failed.append(f"a trade of {d._name} on {day}, where it has no bar")
                return
            if len(d):
                price[i] = d.open[0]
        w = np.asarray(target) * (1.0 - CASH_BUFFER)
        equity = self.broker.getcash() + float(size @ price)
        u = size * price / equity
        kept = rebalance_scale(u[None, :], w[None, :], self.p.costs)[0]
        new = np.divide(w * equity * kept, price, out=np.zeros(n), where=w != 0.0)
        delta = new - size
        for i in np.flatnonzero(delta < 0.0):  # sells first: their cash pays for the buys
            self.sell(data=self.datas[i], size=-delta[i])
        for i in np.flatnonzero(delta > 0.0):
            self.buy(data=self.datas[i], size=delta[i])
        self.current = target

    def next(self) -> None:
        self.values[bt.num2date(self._today()).date()] = self.broker.getvalue()

    def notify_order(self, order: bt.Order) -> None:
        note_order(self, order, ticker=True)


@dataclass(frozen=True)
class PortfolioResult:
    """Daily returns and fills (one row per ticker traded) of one portfolio Backtrader run."""

    returns: pd.Series
    orders: pd.DataFrame

    @property
    def n_trades(self) -> int:
        return len(self.orders)

    @property
    def rebalance_days(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(sorted(set(self.orders["date"]))).as_unit("ns")


def run_portfolio_backtrader(
    prices: pd.DataFrame, weights: pd.DataFrame, costs: Costs = Costs(), name: str = "portfolio"
) -> PortfolioResult:
    """Run the target-weights strategy over `weights.index` on a price panel (`price_panel`);
    `weights` is (days x tickers), e.g. from `ranking_weights`."""
    # the twin's checks and messages, and what both engines trade: the weights tradable at
    # each rebalance, a ticker's last close standing in on its days without a bar
    open_, close, tradable = _prepare(prices, weights)
    index = weights.index
    tickers = list(weights.columns)
    fields = {f: field_array(prices, f, index, tickers) for f in FIELDS}
    bar = np.isfinite(fields["open"]) & np.isfinite(fields["close"])
    fields = {
        "open": open_,
        "high": np.where(bar, fields["high"], close),
        "low": np.where(bar, fields["low"], close),
        "close": close,
    }
    feeds, columns = {}, []
    for i, ticker in enumerate(tickers):
        frame = pd.DataFrame({f: v[:, i] for f, v in fields.items()}, index=index).dropna()
        if not frame.empty:  # before its first bar a ticker is never held
            feeds[ticker] = frame.assign(volume=0.0, openinterest=0.0)
            columns.append(i)
    held = np.zeros((len(index), len(columns)))
    held[1:] = tradable[:-1, columns]
    held_by_day = {ts.date(): tuple(map(float, row)) for ts, row in zip(index, held, strict=True)}

    # commission, slippage and half the spread (the portfolio engine's cost model)
    cerebro = next_open_cerebro(costs.capital, costs.commission, 0.0, costs.price_move)
    for ticker, feed in feeds.items():
        cerebro.adddata(bt.feeds.PandasData(dataname=feed), name=str(ticker))
    cerebro.addstrategy(TargetWeightsStrategy, held=held_by_day, costs=costs)
    strat = run_filled(cerebro, name, "weights")
    values = pd.Series(strat.values, dtype=np.float64)
    values.index = pd.DatetimeIndex([pd.Timestamp(d) for d in values.index]).as_unit("ns")
    values = values.reindex(index)
    if values.isna().any():
        raise BacktestError(f"{name}: Backtrader produced no value for some dates.")
    rets = values.pct_change().fillna(values.iloc[0] / costs.capital - 1.0).rename(name)
    orders = pd.DataFrame(strat.fills, columns=["date", "ticker", "size", "price", "commission"])
    return PortfolioResult(rets, orders)
