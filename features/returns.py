"""Returns and targets. All returns are simple (not log) returns of the adjusted close."""

from __future__ import annotations

import numpy as np
import pandas as pd


def adjusted_ohlcv(prices: pd.DataFrame) -> pd.DataFrame:
    """OHLC scaled by adj_close/close so dividends and splits do not look like price jumps."""
    factor = prices["adj_close"] / prices["close"]
    out = prices[["open", "high", "low", "close"]].mul(factor, axis=0)
    out["volume"] = prices["volume"]
    return out


def simple_returns(close: pd.Series, periods: int = 1) -> pd.Series:
    """close[t] / close[t - periods] - 1: known at the close of t."""
    return close / close.shift(periods) - 1.0


def forward_returns(close: pd.Series, horizon: int = 1) -> pd.DataFrame:
    """Targets: column k (1..horizon) holds the simple return from close t+k-1 to close t+k.

    Row t is a label for a decision taken at the close of t; the last `horizon` rows are NaN.
    """
    ret = simple_returns(close, 1)
    cols = {f"r_t+{k}": ret.shift(-k) for k in range(1, horizon + 1)}
    return pd.DataFrame(cols, index=close.index, dtype=np.float64)
