"""Price panels and the vectorised twin of the multi-asset (portfolio) Backtrader engine.

A *price panel* is one DataFrame for a universe: columns are a MultiIndex (field, ticker) with
fields open/high/low/close (adjusted), rows the union of the tickers' calendars, NaN where a
ticker has no bar. `price_panel` builds it from one OHLC frame per ticker.

Conventions shared with strategies/portfolio_backtest.py (and pinned by a parity test):
- `weights.loc[t]` (one column per ticker, signed fractions of equity, sum of |w| <= 1) is
  decided at the close of t and held from the next open of `weights.index`; the first day
  starts in cash and the last decision is never executed.
- The portfolio trades only on days when the held row changes (a *rebalance*), at that day's
  opens: every ticker is brought to its target weight of the equity left after the trades'
  costs (sells before buys), buying at open*(1+slippage), selling at open*(1-slippage), paying
  `commission` on traded value. Between rebalances the shares are held and weights drift.
- Every target weight is scaled by (1 - CASH_BUFFER), as in the single-asset engine, so float
  rounding can never leave a buy short of cash.
- A ticker with no bar on a day cannot be traded that day: a rebalance that would trade it (a
  ticker held before or after it) is an error. While held it is valued at its last close.
- Daily returns are close-to-close changes of portfolio value (cash + shares * close).

Equity after a rebalance: with E the value at the opens before trading, u_i the weight ticker i
has then (drifted), w_i its target and x = E'/E the share left after costs, the trades are
t_i = w_i x - u_i (in units of E) and x solves x + sum_i kappa(t_i) |t_i| = 1, kappa being the
cost per unit of value bought ((1+s)(1+c) - 1) or sold (1 - (1-s)(1-c)). The left side is
convex and increasing in x, so Newton's method from x = 1 reaches the exact root in a few
steps (`rebalance_scale`); both engines size their orders with it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lstmbt.strategies.costs import CASH_BUFFER, Costs

FIELDS = ("open", "high", "low", "close")


def price_panel(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One (field, ticker) column panel on the union of the tickers' calendars from one
    adjusted OHLC frame per ticker (e.g. `features.returns.adjusted_ohlcv` of each)."""
    if not frames:
        raise ValueError("price_panel needs at least one ticker's prices, got none.")
    columns = {}
    for ticker, frame in frames.items():
        missing = [f for f in FIELDS if f not in frame.columns]
        if missing:
            raise ValueError(f"prices of {ticker!r} lack column(s) {missing}; need {FIELDS}.")
        if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_unique:
            raise ValueError(f"prices of {ticker!r} need a DatetimeIndex of unique dates.")
        values = frame[list(FIELDS)].to_numpy(np.float64)
        if not (np.isfinite(values).all() and (values > 0).all()):
            raise ValueError(
                f"prices of {ticker!r} have NaN or non-positive values; drop those rows "
                "(a day without a bar is simply a missing row)."
            )
        for field in FIELDS:
            columns[(field, ticker)] = frame[field].astype(np.float64)
    panel = pd.concat(columns, axis=1, sort=True)
    panel.columns = pd.MultiIndex.from_tuples(panel.columns, names=["field", "ticker"])
    return panel


def rebalance_scale(u: np.ndarray, w: np.ndarray, costs: Costs) -> np.ndarray:
    """Share x = E'/E of the equity left after one rebalance's costs, per column.

    `u`: (assets, events) weights held just before trading, marked at the opens; `w`:
    (assets, events) target weights. Solves x + sum_i kappa(t_i) |t_i| = 1 with
    t_i = w_i x - u_i exactly (Newton's method on a convex piecewise-linear function; each
    step solves the linear piece of the current buy/sell pattern). Only tickers with u or w
    nonzero enter, so the work grows with the names traded, not with the universe."""
    s, c = costs.slippage, costs.commission
    buy_cost, sell_cost = (1.0 + s) * (1.0 + c) - 1.0, 1.0 - (1.0 - s) * (1.0 - c)
    m = u.shape[1]
    rows, cols = np.nonzero((u != 0.0) | (w != 0.0))
    uf, wf = u[rows, cols], w[rows, cols]
    x = np.ones(m)
    buying = None
    for _ in range(100):  # converges in 2-3 steps; the cap only guards rounding ties
        t = wf * x[cols] - uf
        now = t > 0.0
        if buying is not None and np.array_equal(now, buying):
            break  # x is the root of the linear piece it lies on: exact
        buying = now
        kappa = np.where(buying, buy_cost, -sell_cost)  # cost = kappa * t on either side
        x = (1.0 + np.bincount(cols, kappa * uf, minlength=m)) / (
            1.0 + np.bincount(cols, kappa * wf, minlength=m)
        )
    return x


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Along days (axis 1): NaN -> the last finite value; NaN before the first -> 0."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    days = np.where(missing, 0, np.arange(values.shape[1]))
    np.maximum.accumulate(days, axis=1, out=days)
    filled = np.take_along_axis(values, days, axis=1)
    return np.nan_to_num(filled, nan=0.0, copy=False)


def twin_panel_returns(
    open_: np.ndarray, close: np.ndarray, weights: np.ndarray, costs: Costs = Costs()
) -> np.ndarray:
    """Daily portfolio returns (days,) of the twin on (assets, days) C-contiguous arrays; the
    first day's return is 0. NaN prices mean no bar; `weights` must not trade a ticker on a
    day without a bar (`panel_returns` checks this).

    How: an *episode* runs from one rebalance to the next. Per unit of the equity E'_e it
    starts with, it holds cash 1 - sum(w) and a_i = w_i / open_i shares, so its value on any
    of its days is v(d) = cash + sum_i a_i close_i(d): one gathered row per day, no
    compounding. At the next rebalance the old episode is worth G = cash + sum_i a_i open_i
    at the opens, the drifted weights are u = a * open / G, and x = `rebalance_scale(u, w)`;
    that day's return is G x v_new(d) / v_old(d-1) - 1, every other day's v(d) / v(d-1) - 1.
    """
    n_assets, n = weights.shape
    if n < 2:
        return np.zeros(n)
    # a rebalance on day d >= 1 wherever the held row (yesterday's decision) changes
    change = np.zeros(n, dtype=bool)
    change[1] = bool(np.any(weights[:, 0] != 0.0))
    if n > 2:
        np.any(weights[:, 1:-1] != weights[:, :-2], axis=0, out=change[2:])
    days = np.flatnonzero(change)
    target = weights[:, days - 1] * (1.0 - CASH_BUFFER)  # (assets, events)
    opens = open_[:, days]
    # episode 0 is the starting cash; episode e >= 1 starts on days[e - 1]
    shares = np.zeros((n_assets, len(days) + 1))
    np.divide(target, opens, out=shares[:, 1:], where=target != 0.0)
    cash = np.empty(len(days) + 1)
    cash[0] = 1.0
    cash[1:] = 1.0 - target.sum(axis=0)
    episode = np.cumsum(change)
    # value per unit of each day's episode's starting equity, at the close
    value = np.einsum("ij,ij->j", np.take(shares, episode, axis=1), _forward_fill(close))
    value += cash[episode]
    # drifted weights at each rebalance's opens (old episode), and the share kept after costs
    held = shares[:, :-1] * np.nan_to_num(opens, nan=0.0)
    growth = cash[:-1] + held.sum(axis=0)
    held /= growth
    kept = rebalance_scale(held, target, costs)
    rets = np.empty(n)
    rets[0] = 0.0
    np.divide(value[1:], value[:-1], out=rets[1:])
    rets[days] *= growth * kept
    rets[1:] -= 1.0
    return rets


def _prepare(
    prices: pd.DataFrame, weights: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (assets, days) open, close and weight arrays on `weights.index`."""
    if not isinstance(weights, pd.DataFrame):
        raise TypeError(f"weights must be a DataFrame (days x tickers), got {type(weights)}.")
    if not isinstance(weights.index, pd.DatetimeIndex) or not weights.index.is_unique:
        raise ValueError("weights need a DatetimeIndex of unique dates.")
    if not weights.index.is_monotonic_increasing:
        raise ValueError("weights' dates must be sorted (ascending).")
    if not isinstance(prices.columns, pd.MultiIndex) or "open" not in prices.columns.levels[0]:
        raise ValueError(
            "prices must be a price panel with (field, ticker) columns; see price_panel."
        )
    tickers = list(weights.columns)
    missing = [t for t in tickers if t not in prices["open"].columns]
    if missing:
        raise ValueError(f"weights name ticker(s) {missing} that the price panel lacks.")
    w = np.ascontiguousarray(weights.to_numpy(np.float64).T)
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite (0 for a ticker not held).")
    gross = np.abs(w).sum(axis=0)
    if gross.max(initial=0.0) > 1.0 + 1e-9:
        day = weights.index[int(np.argmax(gross))].date()
        raise ValueError(
            f"weights on {day} sum to {gross.max():.6g} in absolute value; at most 1 (no leverage)."
        )
    open_ = np.ascontiguousarray(prices["open"].reindex(weights.index)[tickers].to_numpy().T)
    close = np.ascontiguousarray(prices["close"].reindex(weights.index)[tickers].to_numpy().T)
    bar = np.isfinite(open_) & np.isfinite(close)
    # every ticker traded at a rebalance (held before or after it) needs a bar that day
    held = np.zeros_like(w)
    held[:, 1:] = w[:, :-1]
    before = np.zeros_like(w)
    before[:, 1:] = held[:, :-1]
    trade_days = np.flatnonzero((held != before).any(axis=0))
    involved = (held[:, trade_days] != 0.0) | (before[:, trade_days] != 0.0)
    bad = involved & ~bar[:, trade_days]
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"the weights trade {tickers[i]} on {weights.index[trade_days[j]].date()}, where it "
            "has no bar; a ticker can only be traded on days it has prices (ranking_weights "
            "with prices= leaves such tickers out)."
        )
    return np.where(bar, open_, np.nan), np.where(bar, close, np.nan), w


def panel_returns(prices: pd.DataFrame, weights: pd.DataFrame, costs: Costs = Costs()) -> pd.Series:
    """Daily portfolio returns on `weights.index` from a price panel (the vectorised twin of
    `run_portfolio_backtrader`: same fills, costs and sizing)."""
    open_, close, w = _prepare(prices, weights)
    rets = twin_panel_returns(open_, close, w, costs)
    return pd.Series(rets, index=weights.index, name="returns")
