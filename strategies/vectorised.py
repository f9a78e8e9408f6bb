"""Vectorised twin of the Backtrader engine: same fills, costs and sizing, in numpy.

Conventions shared with strategies/backtest.py (and pinned by a parity test):
- `positions[t]` in {-1, 0, 1} is decided at the close of t and held from the open of t+1;
  the first day starts flat and the last decision is never executed.
- Trades happen only when the held position changes, at that day's open, buying at
  open*(1+slippage) and selling at open*(1-slippage), paying `commission` on traded value.
- A long entry invests all equity less CASH_BUFFER; a short entry sells equity/price shares.
- Daily returns are close-to-close changes of portfolio value (cash + shares * close).
Works on one series (1-D) or many at once (2-D, one column per series).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from strategies.costs import CASH_BUFFER, Costs


def held_positions(positions: np.ndarray) -> np.ndarray:
    """Position held during day d = decision at the close of d-1 (flat on the first day)."""
    held = np.zeros_like(positions, dtype=np.float64)
    held[1:] = positions[:-1]
    return held


def _shift(a: np.ndarray, fill: float) -> np.ndarray:
    """Rows moved down by one along axis 0, `fill` in the first row."""
    return np.concatenate([np.full_like(a[:1], fill), a[:-1]], axis=0)


def _simulate(open_: np.ndarray, close: np.ndarray, held: np.ndarray, costs: Costs):
    """Portfolio value at each close for a starting equity of 1."""
    s, c = costs.slippage, costs.commission
    n_days = held.shape[0]
    prev = _shift(held, 0.0)
    start = held != prev
    start[0] = True  # the first day opens an episode (flat unless a position is held at once)
    side = held
    p_buy, p_sell = open_ * (1.0 + s), open_ * (1.0 - s)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_long = (1.0 - CASH_BUFFER) / (p_buy * (1.0 + c))
        n_short = 1.0 / p_sell
    n_entry = np.where(side > 0, n_long, np.where(side < 0, n_short, 0.0))
    k_long = (1.0 - n_long * p_buy) - n_long * p_buy * c
    k_short = (1.0 + n_short * p_sell) - n_short * p_sell * c
    k_entry = np.where(side > 0, k_long, np.where(side < 0, k_short, 1.0))
    # forward-fill each episode's (shares, cash, side) from its start day
    rows = np.arange(n_days).reshape((-1,) + (1,) * (held.ndim - 1))
    last_start = np.maximum.accumulate(np.where(start, rows, 0), axis=0)
    n = np.take_along_axis(n_entry, last_start, axis=0)
    k = np.take_along_axis(k_entry, last_start, axis=0)
    sd = np.take_along_axis(side, last_start, axis=0)
    # exit factor on a start day: the previous episode's equity at this open, after costs
    n_prev, k_prev, s_prev = _shift(n, 0.0), _shift(k, 1.0), _shift(sd, 0.0)
    exit_long = k_prev + n_prev * p_sell - n_prev * p_sell * c
    exit_short = k_prev - n_prev * p_buy - n_prev * p_buy * c
    exit_val = np.where(s_prev > 0, exit_long, np.where(s_prev < 0, exit_short, k_prev))
    factor = np.where(start, exit_val, 1.0)
    factor[0] = 1.0
    equity = np.cumprod(factor, axis=0)  # equity at the start of the current episode
    value = equity * (k + sd * n * close)
    return value


def vectorised_returns(
    prices: pd.DataFrame, positions: pd.Series | pd.DataFrame, costs: Costs = Costs()
) -> pd.Series | pd.DataFrame:
    """Daily strategy returns on `positions.index` from adjusted open/close in `prices`."""
    px = prices if prices.index.equals(positions.index) else prices.reindex(positions.index)
    open_ = px["open"].to_numpy(np.float64)
    close = px["close"].to_numpy(np.float64)
    if np.isnan(open_).any() or np.isnan(close).any():
        raise ValueError("prices must cover every position date (open and close).")
    pos = positions.to_numpy(dtype=np.float64)
    if not ((pos == 1.0) | (pos == 0.0) | (pos == -1.0)).all():
        raise ValueError("positions must be -1, 0 or +1.")
    if pos.ndim == 2:
        open_, close = open_[:, None], close[:, None]
    value = _simulate(open_, close, held_positions(pos), costs)
    prev = _shift(value, 1.0)
    rets = value / prev - 1.0
    if isinstance(positions, pd.DataFrame):
        return pd.DataFrame(rets, index=positions.index, columns=positions.columns)
    return pd.Series(rets, index=positions.index, name="returns")
