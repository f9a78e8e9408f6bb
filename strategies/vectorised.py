"""Vectorised twin of the Backtrader engine: same fills, costs and sizing, in numpy.

Conventions shared with strategies/backtest.py (and pinned by a parity test):
- `positions[t]` in {-1, 0, 1} is decided at the close of t and held from the open of t+1;
  the first day starts flat and the last decision is never executed.
- Trades happen only when the held position changes, at that day's open, buying at
  open*(1+m) and selling at open*(1-m) with m = slippage + half-spread, paying `commission` on
  traded value (at least `min_fee` per order, in currency against `capital`).
- A long entry invests all equity less CASH_BUFFER (less where the minimum fee binds); a short
  entry sells equity/price shares.
- At each close, after the fills: interest on the cash beyond the short-sale proceeds, less
  the borrowing fee on the short's value (costs.py).
- Daily returns are close-to-close changes of portfolio value (cash + shares * close).
Works on one series or many at once (one column per series, all on the same prices).

Speed: sizing and cash are computed once per *episode* (a run of days holding one position),
not per day, so only a few passes over the day-by-series array remain (see benchmarks/). With
interest or a borrowing fee, cash inside an episode grows with the cumulative interest factor
G (one array for all series), so each day still needs only its episode's constants; a minimum
fee makes each trade depend on the equity level, so those episodes are sized one trade round
at a time (all series at once).
"""

from __future__ import annotations

import functools

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


def held_positions(positions: np.ndarray) -> np.ndarray:
    """Position held during day d = decision at the close of d-1 (flat on the first day)."""
    held = np.zeros_like(positions, dtype=np.float64)
    held[1:] = positions[:-1]
    return held


def twin_returns(
    open_: np.ndarray,
    close: np.ndarray,
    positions: np.ndarray,
    costs: Costs = Costs(),
    daily: np.ndarray | None = None,
) -> np.ndarray:
    """Daily returns of the twin on arrays; the first day's return is 0.

    `open_`, `close`: (days,) prices; `positions`: (series, days) C-contiguous decisions in
    {-1, 0, 1}; `daily`: (days,) interest rate on cash per day (`daily_cash_rates`), None for
    none. Returns (series, days).

    How: an *episode* is a run of days holding one position, entered at the open o_e of its
    first day. Per unit of equity brought into it, it holds `cash` and x = H / o_e signed
    shares, where `cash` and H depend only on the side (`_per_side`). Inside an episode the
    day's return is x*(close_t - close_{t-1}) / (cash + x*close_{t-1}) = diff(close) /
    (a + close_{t-1}) with a = o_e * cash / H (inf when flat: the return is 0), one gathered
    number per day. On the day an episode starts, the old one is closed at the open after
    costs and the new one entered, in per-episode arithmetic. No compounding and no branches
    (np.where on a noisy signal costs more than all the rest); errors stay ~1e-16 relative.
    """
    m, n = positions.shape
    if n < 2:
        return np.zeros((m, n))
    # an episode starts on day 0 and wherever the held position (yesterday's decision) changes
    start = np.empty((m, n), dtype=bool)
    start[:, 0] = True
    start[:, 1] = positions[:, 0] != 0.0
    np.not_equal(positions[:, 1:-1], positions[:, :-2], out=start[:, 2:])
    flat = np.flatnonzero(start)
    first = np.searchsorted(flat, np.arange(m) * n)  # each series' first episode
    if m == 1:
        day = flat
    else:
        day = flat - np.repeat(np.arange(m) * n, np.diff(first, append=len(flat)))
    # (np.take rather than fancy indexing: ~1.5x faster gathers)
    side = np.take(positions, flat - 1)  # held = the previous day's decision ...
    side[first] = 0.0  # ... and flat on each series' first day
    code = (side + 1.0).astype(np.intp)
    if daily is not None or costs.borrow_fee > 0 or costs.min_fee > 0:
        return _accruing(open_, close, start, flat, first, day, side, code, costs, daily)
    cash, exit_gain, hold, level = np.take(_per_side(costs), code, axis=1)  # 4 rows
    o = np.take(open_, day)
    # start days: 1 + return = (old episode's value at this open after costs) * (new episode's
    # value at the close) / (old episode's value at the last close), all per unit of equity
    old_o = o[:-1]
    ratio = cash[:-1] + exit_gain[:-1] * (o[1:] / old_o)
    ratio *= cash[1:] + hold[1:] * np.take(close / open_, day[1:])
    ratio /= cash[:-1] + hold[:-1] * (np.take(close, day[1:] - 1) / old_o)
    ratio -= 1.0
    # other days: diff(close) / (a + close_{t-1}) with the day's episode's a
    episode = np.cumsum(start.ravel().view(np.uint8), dtype=np.int64)
    episode -= 1
    denominator = np.take(o * level, episode).reshape(m, n)[:, 1:]
    denominator += close[:-1]
    rets = np.empty((m, n))
    np.divide(np.diff(close), denominator, out=rets[:, 1:])
    rets.ravel()[flat[1:]] = ratio
    rets[:, 0] = 0.0  # each series' first day (its slot above held another series' ratio)
    return rets


@functools.lru_cache(maxsize=64)
def _per_side(costs: Costs) -> np.ndarray:
    """Per side (index 0 short, 1 flat, 2 long), per unit of equity entering an episode:
    cash kept; exit gain G (cash back per unit of exit open / entry open); H = shares x entry
    open; level = cash / H (inf when flat). Entry buys at open*(1+s), sells short at
    open*(1-s); a long keeps CASH_BUFFER and pays commission c from equity (the engine's
    sizing), so it holds (1-B)/(1+c) of value; a short sells one unit of value."""
    s, c = costs.price_move, costs.commission
    side = np.array([-1.0, 0.0, 1.0])
    value = np.array([-1.0, 0.0, (1.0 - CASH_BUFFER) / (1.0 + c)])  # signed value bought
    cash = (1.0 - value) - np.abs(value) * c
    hold = value / (1.0 + s * side)
    exit_gain = hold * (1.0 - s * side) * (1.0 - side * c)
    with np.errstate(divide="ignore"):
        level = cash / hold
    table = np.stack([cash, exit_gain, hold, level])
    table.flags.writeable = False  # cached and shared between calls
    return table


def _accruing(open_, close, start, flat, first, day, side, code, costs, daily) -> np.ndarray:
    """The twin with interest on cash, a borrowing fee or a minimum fee (see `twin_returns`).

    Per unit of the equity E brought into an episode, it holds x shares, the short-sale
    proceeds P (earning nothing) and interest-bearing cash K. With G the cumulative interest
    factor and S the running sum of close / G, K at the close of day t is
    G_t * (k - beta * S_t), where k and beta = borrow * |x| (shorts only) are constants of the
    episode, so the value per unit of E is v_t = G_t * (k - beta * S_t) + P + x * close_t. A
    day's return is v_t / v_{t-1} - 1, times E_j / E_{j-1} on the day episode j starts (the
    old episode's liquidation value at that open, per unit of its own E).
    """
    m, n = start.shape
    G = np.ones(n) if daily is None else np.cumprod(1.0 + daily)
    g_prev = np.concatenate([[1.0], G[:-1]])
    borrow = costs.borrow_fee / TRADING_DAYS
    S = np.cumsum(close / G) if borrow > 0 else None
    if costs.min_fee > 0:
        x, proceeds, k, beta, liquidation = _sized_with_min_fee(
            open_, close, first, day, side, costs, G, S
        )
    else:
        cash, exit_gain, hold, _ = np.take(_per_side(costs), code, axis=1)
        o = np.take(open_, day)
        x = hold / o
        proceeds = np.where(side < 0, 1.0, 0.0)  # a short sells one unit of value
        k = (cash - proceeds) / np.take(g_prev, day)
        beta = borrow * np.maximum(-x, 0.0)
        if S is not None:
            k += beta * np.take(S, day - 1)  # (day 0 never holds a short)
        # the old episode's liquidation value at the new one's open, per unit of its own E
        b = day[1:] - 1
        s_b = None if S is None else np.take(S, b)
        c_b = np.take(close, b)
        liquidation = _value(k[:-1], beta[:-1], proceeds[:-1], x[:-1], np.take(G, b), s_b, c_b)
        liquidation += exit_gain[:-1] * (o[1:] / o[:-1]) - x[:-1] * c_b
    episode = np.cumsum(start.ravel().view(np.uint8), dtype=np.int64)
    episode -= 1
    per_day = [np.take(a, episode).reshape(m, n) for a in (k, beta, proceeds, x)]
    v = _value(*per_day, G, S, close)
    rets = np.empty((m, n))
    np.divide(v[:, 1:], v[:, :-1], out=rets[:, 1:])
    rets.ravel()[flat[1:]] *= liquidation
    rets -= 1.0
    rets[:, 0] = 0.0  # each series' first day (its slot above held another series' ratio)
    return rets


def _value(k, beta, proceeds, x, g, s_, close) -> np.ndarray:
    """Value per unit of an episode's E at a close (see `_accruing`): G * (k - beta * S) +
    P + x * close, from the episode's constants and that day's G, S (None: no fee), close."""
    cash = k if s_ is None else k - beta * s_
    return g * cash + proceeds + x * close


def _sized_with_min_fee(open_, close, first, day, side, costs, G, S):
    """Per-episode constants (x, proceeds, k, beta per unit of E) and liquidation ratios when
    a minimum fee makes each trade depend on the equity level: one trade at a time, in the
    engine's own bookkeeping (the closing and the opening part of a trade each pay at least
    the minimum fee). Plain floats: a few microseconds per trade, where numpy calls on one
    number each would cost ten times that."""
    s, c, fee_min = costs.price_move, costs.commission, costs.min_fee
    borrow = costs.borrow_fee / TRADING_DAYS
    n_ep = len(day)
    x, proceeds, k, beta = ([0.0] * n_ep for _ in range(4))
    liquidation = [1.0] * n_ep
    days, sides = day.tolist(), side.tolist()
    opens, g, cum = open_.tolist(), G.tolist(), None if S is None else S.tolist()
    starts = set(first.tolist())
    e_old = costs.capital
    for j in range(n_ep):
        if j in starts:  # each series starts flat on day 0 with E = capital, all in cash
            k[j], e_old = 1.0, costs.capital
            continue
        i, before = j - 1, days[j] - 1
        held = k[i] if cum is None else k[i] - beta[i] * cum[before]
        cash = (g[before] * held + proceeds[i]) * e_old  # cash at the open, before the trade
        shares = x[i] * e_old
        o = opens[days[j]]
        if shares > 0:
            p = o * (1.0 - s)
            E = cash + shares * p - max(shares * p * c, fee_min)
        elif shares < 0:
            p = o * (1.0 + s)
            E = cash + shares * p - max(-shares * p * c, fee_min)
        else:
            E = cash
        if sides[j] > 0:
            p = o * (1.0 + s)
            new = E * (1.0 - CASH_BUFFER) / (p * (1.0 + c))
            if new * p * c < fee_min:
                new = (E * (1.0 - CASH_BUFFER) - fee_min) / p
                if new <= 0:
                    raise StrategyRuined(
                        f"equity of {E:.2f} cannot pay the minimum fee of {fee_min:g}: the "
                        "costs ruined the strategy; use a larger capital or a smaller minimum "
                        "fee."
                    )
        elif sides[j] < 0:
            p = o * (1.0 - s)
            new = -E / p
        else:
            new = 0.0
        cash_after = E - new * p - max(abs(new) * p * c, fee_min) if new else E
        short_proceeds = -new * p if new < 0 else 0.0
        x[j], proceeds[j] = new / E, short_proceeds / E
        beta[j] = borrow * -x[j] if new < 0 else 0.0
        k[j] = (cash_after - short_proceeds) / E / g[before]
        if cum is not None:
            k[j] += beta[j] * cum[before]
        liquidation[j] = E / e_old
        e_old = E
    # liquidation[j] for j >= 1 belongs to the day episode j starts (as in `_accruing`)
    arrays = (np.array(a) for a in (x, proceeds, k, beta, liquidation[1:]))
    return tuple(arrays)


def rebalanced_paths(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    costs: Costs,
    daily: np.ndarray | None,
    band: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The twin for fractional target weights (series, days): daily returns and, each day, the
    value traded at the open over the equity at that open (the turnover the band and the
    drift leave, not the targets' changes). A trade depends on the weight held when it comes,
    which depends on every earlier trade, so this is a day-by-day loop in plain floats
    (microseconds a day) with `rebalance.rebalance`, the engine's own rule."""
    m, n = weights.shape
    o, c = open_.tolist(), close.tolist()
    rate = [0.0] * n if daily is None else daily.tolist()
    borrow = costs.borrow_fee / TRADING_DAYS
    out = np.zeros((m, n))
    traded = np.zeros((m, n))
    for i in range(m):
        w = weights[i].tolist()
        cash, shares, proceeds, prev = costs.capital, 0.0, 0.0, costs.capital
        row, turn = out[i], traded[i]
        for t in range(1, n):
            order = rebalance(cash, shares, proceeds, o[t], w[t - 1], band, costs)
            if order is not None:
                turn[t] = abs(order.shares) * o[t] / (cash + shares * o[t])
                cash -= order.shares * order.price + order.fee
                shares += order.shares
                proceeds = order.proceeds
            cash += rate[t] * (cash - proceeds)
            if shares < 0:
                cash -= borrow * -shares * c[t]
            value = cash + shares * c[t]
            row[t] = value / prev - 1.0
            prev = value
    return out, traded


def vectorised_returns(
    prices: pd.DataFrame,
    positions: pd.Series | pd.DataFrame,
    costs: Costs = Costs(),
    cash_rate: float | pd.Series = 0.0,
    band: float | None = None,
) -> pd.Series | pd.DataFrame:
    """Daily strategy returns on `positions.index` from adjusted open/close in `prices`;
    `cash_rate`: the annual interest rate on cash, a constant or one per position date.
    Positions are -1, 0 or +1, traded when they change; with a rebalance `band` in [0, 1)
    they are fractional target weights (strategies/rebalance.py)."""
    px = prices if prices.index.equals(positions.index) else prices.reindex(positions.index)
    open_ = px["open"].to_numpy(np.float64)
    close = px["close"].to_numpy(np.float64)
    if not np.isfinite(open_.sum() + close.sum()):  # one pass each; NaN or inf anywhere
        raise ValueError("prices must cover every position date (finite open and close).")
    pos = positions.to_numpy(dtype=np.float64)
    check_positions(pos, band)
    # (series, days), C-contiguous: a DataFrame's values are column blocks, so .T is no copy
    grid = np.ascontiguousarray(pos.T) if pos.ndim == 2 else pos[None, :]
    daily = daily_cash_rates(cash_rate, positions.index)
    if band is None:
        rets = twin_returns(open_, close, grid, costs, daily)
    else:
        rets = rebalanced_paths(open_, close, grid, costs, daily, band)[0]
    if isinstance(positions, pd.DataFrame):
        return pd.DataFrame(rets.T, index=positions.index, columns=positions.columns, copy=False)
    return pd.Series(rets[0], index=positions.index, name="returns")


def rebalanced_turnover(
    prices: pd.DataFrame,
    weights: pd.Series,
    costs: Costs = Costs(),
    cash_rate: float | pd.Series = 0.0,
    band: float = 0.0,
) -> pd.Series:
    """Value traded at each open over the equity at that open, for target `weights` traded
    with a rebalance `band` (what `vectorised_returns(..., band=band)` trades)."""
    px = prices.reindex(weights.index)
    w = weights.to_numpy(dtype=np.float64)
    check_positions(w, band)
    _, traded = rebalanced_paths(
        px["open"].to_numpy(np.float64),
        px["close"].to_numpy(np.float64),
        w[None, :],
        costs,
        daily_cash_rates(cash_rate, weights.index),
        band,
    )
    return pd.Series(traded[0], index=weights.index, name="turnover")
