"""Signal -> target position. A position indexed by date t is decided at the close of t."""

from __future__ import annotations

import numpy as np
import pandas as pd


def signal_from_forecast(forecast: np.ndarray, horizon_rule: str = "1") -> np.ndarray:
    """The number a position is decided on: the next day's forecast ("1") or the sum of an
    h-day forecast's daily returns ("h"). `forecast` is (samples, horizon)."""
    if horizon_rule not in ("1", "h"):
        raise ValueError(f"horizon rule must be '1' or 'h', got {horizon_rule!r}")
    return forecast[:, 0] if horizon_rule == "1" else forecast.sum(axis=1)


def positions_from_forecast(
    forecast: pd.Series, threshold: float = 0.0, allow_short: bool = False
) -> pd.Series:
    """+1 when the forecast exceeds `threshold`; else 0, or -1 below -threshold when shorting."""
    if forecast.isna().any():
        raise ValueError("forecast has NaN values; every decision date needs a forecast.")
    values = forecast.to_numpy(dtype=np.float64)
    pos = np.where(values > threshold, 1.0, 0.0)
    if allow_short:
        pos = np.where(values < -threshold, -1.0, pos)
    return pd.Series(pos, index=forecast.index, name="position")


def forecast_positions(
    forecast: np.ndarray,
    index: pd.DatetimeIndex,
    horizon_rule: str = "1",
    threshold: float = 0.0,
    allow_short: bool = False,
) -> pd.Series:
    """Positions on `index` from a (dates, horizon) forecast matrix: `signal_from_forecast`,
    then `positions_from_forecast`."""
    signal = pd.Series(signal_from_forecast(forecast, horizon_rule), index=index)
    return positions_from_forecast(signal, threshold, allow_short)


def buy_and_hold_positions(index: pd.DatetimeIndex) -> pd.Series:
    """Always long: bought at the first open after the first decision date, held to the end."""
    return pd.Series(1.0, index=index, name="position")


def ma_crossover_positions(
    close: pd.Series, index: pd.DatetimeIndex, fast: int = 50, slow: int = 200
) -> pd.Series:
    """Long while the fast SMA of `close` is above the slow one (computed on history up to t)."""
    fast_ma, slow_ma = close.rolling(fast).mean(), close.rolling(slow).mean()
    pos = (fast_ma > slow_ma).astype(np.float64).reindex(index)
    if pos.isna().any():
        raise ValueError("the moving-average crossover needs price history covering every date.")
    return pos.rename("position")
