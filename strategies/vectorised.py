"""Vectorised twin of the Backtrader engine: same fills, costs and sizing, in numpy.

Conventions shared with strategies/backtest.py (and pinned by a parity test):
- `positions[t]` in {-1, 0, 1} is decided at the close of t and held from the open of t+1;
  the first day starts flat and the last decision is never executed.
- Trades happen only when the held position changes, at that day's open, buying at
  open*(1+slippage) and selling at open*(1-slippage), paying `commission` on traded value.
- A long entry invests all equity less CASH_BUFFER; a short entry sells equity/price shares.
- Daily returns are close-to-close changes of portfolio value (cash + shares * close).
Works on one series or many at once (one column per series, all on the same prices).

Speed: sizing and cash are computed once per *episode* (a run of days holding one position),
not per day, so only a few passes over the day-by-series array remain (see benchmarks/).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from lstmbt.strategies.costs import CASH_BUFFER, Costs


def held_positions(positions: np.ndarray) -> np.ndarray:
    """Position held during day d = decision at the close of d-1 (flat on the first day)."""
    held = np.zeros_like(positions, dtype=np.float64)
    held[1:] = positions[:-1]
    return held


def twin_returns(
    open_: np.ndarray, close: np.ndarray, positions: np.ndarray, costs: Costs = Costs()
) -> np.ndarray:
    """Daily returns of the twin on arrays; the first day's return is 0.

    `open_`, `close`: (days,) prices; `positions`: (series, days) C-contiguous decisions in
    {-1, 0, 1}. Returns (series, days).

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
    s, c = costs.slippage, costs.commission
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


def vectorised_returns(
    prices: pd.DataFrame, positions: pd.Series | pd.DataFrame, costs: Costs = Costs()
) -> pd.Series | pd.DataFrame:
    """Daily strategy returns on `positions.index` from adjusted open/close in `prices`."""
    px = prices if prices.index.equals(positions.index) else prices.reindex(positions.index)
    open_ = px["open"].to_numpy(np.float64)
    close = px["close"].to_numpy(np.float64)
    if not np.isfinite(open_.sum() + close.sum()):  # one pass each; NaN or inf anywhere
        raise ValueError("prices must cover every position date (finite open and close).")
    pos = positions.to_numpy(dtype=np.float64)
    if not (np.sign(pos) == pos).all():  # exactly -1, 0 or +1 (NaN fails too)
        raise ValueError("positions must be -1, 0 or +1.")
    # (series, days), C-contiguous: a DataFrame's values are column blocks, so .T is no copy
    grid = np.ascontiguousarray(pos.T) if pos.ndim == 2 else pos[None, :]
    rets = twin_returns(open_, close, grid, costs)
    if isinstance(positions, pd.DataFrame):
        return pd.DataFrame(rets.T, index=positions.index, columns=positions.columns, copy=False)
    return pd.Series(rets[0], index=positions.index, name="returns")
