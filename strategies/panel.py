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
  costs (sells before buys), buying at open*(1+s), selling at open*(1-s) with s the slippage plus
  half the spread (`Costs.price_move`), paying
  `commission` on traded value. Between rebalances the shares are held and weights drift.
- Every target weight is scaled by (1 - CASH_BUFFER), as in the single-asset engine, so float
  rounding can never leave a buy short of cash.
- A ticker with no bar on a day cannot be traded at that day's open. At a rebalance it is then
  not bought (its target weight stays in cash until the next rebalance) and, if held, it is
  sold at its last close (a delisting's or halt's exit at the last price seen); between
  rebalances a held ticker without a bar is valued at its last close. Only the rebalancing
  day's own bars decide this (its open shows them), never a later day's (`_tradable`).
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
# value the held names one by one (not as a dense days x assets product) when episodes hold
# fewer than this share of the assets on average (measured: benchmarks/portfolio.py)
SPARSE_BELOW = 0.25


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


def field_array(
    prices: pd.DataFrame, field: str, index: pd.DatetimeIndex, tickers: list
) -> np.ndarray:
    """One field of a price panel as a (days, tickers) C-contiguous array on `index` (NaN
    where a ticker has no bar); a clear error for tickers the panel lacks."""
    if not isinstance(prices.columns, pd.MultiIndex) or field not in prices.columns.levels[0]:
        raise ValueError(
            f"prices must be a price panel with (field, ticker) columns and a {field!r} field; "
            "see price_panel."
        )
    frame = prices[field]
    if list(frame.columns) != tickers:
        missing = [t for t in tickers if t not in set(frame.columns)]
        if missing:
            raise ValueError(f"the price panel lacks ticker(s) {missing}.")
        frame = frame[tickers]
    if not frame.index.equals(index):
        frame = frame.reindex(index)
    return np.ascontiguousarray(frame.to_numpy(np.float64))


def rebalance_scale(u: np.ndarray, w: np.ndarray, costs: Costs) -> np.ndarray:
    """Share x = E'/E of the equity left after each rebalance's costs.

    `u`: (events, assets) weights held just before trading, marked at the opens; `w`:
    (events, assets) target weights. Returns x per event; only tickers with u or w nonzero
    enter (`_scale` does the work on those)."""
    m, n_assets = u.shape
    flat = np.flatnonzero((u != 0.0) | (w != 0.0))
    starts = np.searchsorted(flat, np.arange(m + 1) * n_assets)
    return _scale(np.take(u, flat), np.take(w, flat), starts, costs)


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of values[starts[i]:starts[i + 1]] for each i (0 for an empty segment)."""
    sums = np.zeros(len(starts) - 1)
    filled = starts[:-1] < starts[1:]
    if filled.any():  # reduceat over the nonempty segments only: each runs to the next one
        sums[filled] = np.add.reduceat(values, starts[:-1][filled])
    return sums


def _scale(
    u: np.ndarray,
    w: np.ndarray,
    starts: np.ndarray,
    costs: Costs,
    fixed: np.ndarray | float = 0.0,
) -> np.ndarray:
    """`rebalance_scale` on flat entries (u, w) of the names traded, sorted by event, event
    i's being [starts[i], starts[i + 1]).

    Solves x + sum_i kappa(t_i) |t_i| = 1 with t_i = w_i x - u_i exactly: Newton's method on
    a convex, increasing, piecewise-linear function, from x = 1; each step solves the linear
    piece of the current buy/sell pattern, and a step that keeps the pattern is the root.
    `fixed`: per-event sums of kappa w over names left out of the entries because they are
    bought from nothing (u = 0: their side cannot change with x; see `twin_panel_returns`)."""
    buy_cost, sell_cost = costs.buy_cost, costs.sell_cost
    both = buy_cost + sell_cost  # kappa = -sell_cost + both * (bought or not)
    base_u = 1.0 - sell_cost * _segment_sums(u, starts)
    base_w = 1.0 + fixed - sell_cost * _segment_sums(w, starts)
    counts = np.diff(starts)
    t = w - u  # the pattern at x = 1
    buying = None
    for _ in range(100):  # converges in 2-3 steps; the cap only guards rounding ties
        now = t > 0.0
        if buying is not None and np.array_equal(now, buying):
            break
        buying = now
        np.multiply(u, buying, out=t)  # (t is free until the next pattern)
        x = base_u + both * _segment_sums(t, starts)
        np.multiply(w, buying, out=t)
        x /= base_w + both * _segment_sums(t, starts)
        np.multiply(w, np.repeat(x, counts), out=t)
        t -= u
    return x


def _forward_fill(values: np.ndarray) -> np.ndarray:
    """Along days (axis 0): NaN -> the last finite value; NaN before the first -> 0."""
    if not np.isnan(values).any():
        return values
    return np.nan_to_num(_carry(values, ~np.isnan(values)), nan=0.0, copy=False)


def _carry(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Along days (axis 0): each day's value on the latest day `present` on or before it (NaN
    before the first)."""
    days = np.where(present, np.arange(values.shape[0])[:, None], -1)
    np.maximum.accumulate(days, axis=0, out=days)
    carried = np.take_along_axis(values, np.maximum(days, 0), axis=0)
    return np.where(days >= 0, carried, np.nan)


def twin_panel_returns(
    open_: np.ndarray, close: np.ndarray, weights: np.ndarray, costs: Costs = Costs()
) -> np.ndarray:
    """Daily portfolio returns (days,) of the twin on (days, assets) C-contiguous arrays; the
    first day's return is 0. NaN prices mean no bar; `weights` must not trade a ticker on a
    day without a bar (`panel_returns` checks this).

    How: an *episode* runs from one rebalance to the next. Per unit of the equity it starts
    with, it holds cash 1 - sum(w) and a_i = w_i / open_i shares, so its value on any of its
    days is v(d) = cash + sum_i a_i close_i(d): one gathered row per day, no compounding. At
    the next rebalance the old episode is worth G = cash + sum_i a_i open_i at the opens, the
    drifted weights are u = a * open / G, and x = `rebalance_scale(u, w)`; that day's return
    is G x v_new(d) / v_old(d-1) - 1, every other day's v(d) / v(d-1) - 1. Per rebalance only
    the names held before or after it are touched, so that work grows with the names traded.
    """
    n, n_assets = weights.shape
    rets = np.zeros(n)
    if n < 2:
        return rets
    # a rebalance on day d >= 1 wherever the held row (yesterday's decision) changes
    change = np.zeros(n, dtype=bool)
    change[1] = bool(np.any(weights[0] != 0.0))
    if n > 2:
        np.any(weights[1:-1] != weights[:-2], axis=1, out=change[2:])
    days = np.flatnonzero(change)
    m = len(days)
    if m == 0:
        return rets
    # the names held after each rebalance, as flat entries into (events, assets) arrays,
    # sorted by event: event i's are [starts[i], starts[i + 1]); it starts episode i + 1
    # (episode 0 is the starting cash)
    if m == n - 1:  # every day from the second rebalances: views instead of gathered rows
        target, opens = weights[:-1], open_[1:]
    else:
        target, opens = weights[days - 1], open_[days]
    flat = np.flatnonzero(target != 0.0)
    starts = np.searchsorted(flat, np.arange(m + 1) * n_assets)
    w = np.take(target, flat) * (1.0 - CASH_BUFFER)
    a = w / np.take(opens, flat)  # shares per unit of the episode's starting equity
    cash = np.ones(m + 1)
    cash[1:] -= _segment_sums(w, starts)
    episode = np.cumsum(change)
    value = _episode_values(close, episode, flat, starts, a)
    value += cash[episode]
    # at event i + 1 the names of event i are worth a * open: the old episode's growth G,
    # drifted weights u and targets w (0 where sold out)
    cut = starts[m - 1]
    worth = a[:cut] * np.take(opens, flat[:cut] + n_assets)
    growth = cash[:m].copy()
    growth[1:] += _segment_sums(worth, starts[:m])
    u_old = worth / np.repeat(growth[1:], np.diff(starts[:m]))
    w_old = np.take(target, flat[:cut] + n_assets) * (1.0 - CASH_BUFFER)
    # names bought from nothing buy at any x, so their costs are summed once, outside the
    # iteration: every name's kappa * w if it were bought from nothing, less those of the
    # names the event before held (which the iteration prices at their real trade)
    buy_cost, sell_cost = costs.buy_cost, costs.sell_cost
    old_starts = np.concatenate([[0], starts[:m]])  # event i's old names: event i - 1's

    def from_nothing(weight: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        paid = buy_cost * np.maximum(weight, 0.0)
        paid -= sell_cost * np.minimum(weight, 0.0)  # short sales
        return _segment_sums(paid, bounds)

    fixed = from_nothing(w, starts) - from_nothing(w_old, old_starts)
    x = _scale(u_old, w_old, old_starts, costs, fixed)
    np.divide(value[1:], value[:-1], out=rets[1:])
    rets[days] *= growth * x
    rets[1:] -= 1.0
    return rets


def _episode_values(
    close: np.ndarray, episode: np.ndarray, flat: np.ndarray, starts: np.ndarray, a: np.ndarray
) -> np.ndarray:
    """sum_i a_i close_i(d) over each day's episode's names (per unit of its equity).

    Dense (a gathered (days, assets) row per day and one row-wise dot) when episodes hold
    many of the assets; sparse (only the held names, k per day) when they hold few."""
    n, n_assets = close.shape
    m = len(starts) - 1
    close = _forward_fill(close)  # a held ticker without a bar keeps its last close
    per_episode = np.zeros(m + 1, dtype=np.int64)
    per_episode[1:] = np.diff(starts)
    per_day = per_episode[episode]
    total = int(per_day.sum())
    if total > n * n_assets * SPARSE_BELOW:
        shares = np.zeros((m + 1) * n_assets)
        shares[flat + n_assets] = a  # event i's names are episode i + 1's
        rows = np.take(shares.reshape(m + 1, n_assets), episode, axis=0)
        return np.einsum("ij,ij->i", rows, close)
    # entry j of day d is name (j - start of d) of d's episode
    day_start = np.cumsum(per_day) - per_day
    entry = np.arange(total) - np.repeat(day_start - starts[np.maximum(episode - 1, 0)], per_day)
    asset = np.take(flat, entry) % n_assets
    day = np.repeat(np.arange(n), per_day)
    held = np.take(a, entry) * np.take(close, day * n_assets + asset)
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(per_day, out=bounds[1:])
    return _segment_sums(held, bounds)


def _prepare(
    prices: pd.DataFrame, weights: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated (days, assets) open, close and weight arrays on `weights.index`."""
    if not isinstance(weights, pd.DataFrame):
        raise TypeError(f"weights must be a DataFrame (days x tickers), got {type(weights)}.")
    if not isinstance(weights.index, pd.DatetimeIndex) or not weights.index.is_unique:
        raise ValueError("weights need a DatetimeIndex of unique dates.")
    if not weights.index.is_monotonic_increasing:
        raise ValueError("weights' dates must be sorted (ascending).")
    tickers = list(weights.columns)
    open_ = field_array(prices, "open", weights.index, tickers)
    close = field_array(prices, "close", weights.index, tickers)
    w = np.ascontiguousarray(weights.to_numpy(np.float64))
    if not np.isfinite(w).all():
        raise ValueError("weights must be finite (0 for a ticker not held).")
    gross = np.abs(w).sum(axis=1)
    if gross.max(initial=0.0) > 1.0 + 1e-9:
        day = weights.index[int(np.argmax(gross))].date()
        raise ValueError(
            f"weights on {day} sum to {gross.max():.6g} in absolute value; at most 1 (no leverage)."
        )
    bar = np.isfinite(open_) & np.isfinite(close)
    if bar.all():
        return open_, close, w
    return *_without_bars(open_, close, bar), _tradable(w, bar)


def _without_bars(
    open_: np.ndarray, close: np.ndarray, bar: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Open and close with a ticker's last close standing in on days without a bar (after its
    first): a member whose bars stopped is valued, and sold, at its last close."""
    last = _carry(close, bar)  # each day's latest close on a day with a bar
    return np.where(bar, open_, last), np.where(bar, close, last)


def _tradable(w: np.ndarray, bar: np.ndarray) -> np.ndarray:
    """The weights the engines can trade: at each rebalance (a day the held row changes) a
    ticker without a bar that day is not bought (its weight stays in cash) and, if held, is
    sold at its last close; between rebalances the row traded stays as it was. Only that
    day's bar decides, which the open of that day shows: the decisions never see it."""
    n = w.shape[0]
    held = np.zeros_like(w)
    held[1:] = w[:-1]
    change = np.zeros(n, dtype=bool)
    change[1:] = (held[1:] != held[:-1]).any(axis=1)
    last = np.where(change, np.arange(n), 0)
    np.maximum.accumulate(last, out=last)
    traded = np.where(bar, held, 0.0)[last]  # each day: the row of its latest rebalance
    out = w.copy()
    out[:-1] = traded[1:]  # the decision row executed the next day
    return out


def panel_returns(prices: pd.DataFrame, weights: pd.DataFrame, costs: Costs = Costs()) -> pd.Series:
    """Daily portfolio returns on `weights.index` from a price panel (the vectorised twin of
    `run_portfolio_backtrader`: same fills, costs and sizing)."""
    open_, close, w = _prepare(prices, weights)
    rets = twin_panel_returns(open_, close, w, costs)
    return pd.Series(rets, index=weights.index, name="returns")
