"""Signal -> target position. A position indexed by date t is decided at the close of t."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.strategies.costs import TRADING_DAYS


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


# --- sized positions: weights from the forecast's strength ----------------------------------


def ewma_volatility(close: pd.Series, halflife: float = 20.0, min_periods: int = 20) -> pd.Series:
    """Daily volatility predicted at each close: the square root of an exponentially weighted
    mean of squared close-to-close returns up to and including that close (known when the
    position is decided); NaN until `min_periods` returns are in."""
    if not halflife > 0:
        raise ValueError(f"halflife must be > 0 days, got {halflife}")
    r = close.pct_change()
    return np.sqrt((r * r).ewm(halflife=halflife, min_periods=min_periods).mean()).rename("vol")


def fit_vol_scale(
    forecast: np.ndarray, vol: np.ndarray, realised: np.ndarray, vol_target: float
) -> float:
    """The scale k at which weights k * forecast / vol would have had `vol_target` annual
    volatility (of weight x realised next-day return) on the rows given: a fold's training
    block, never the block it trades. 0 when those weights would not have moved at all."""
    if not vol_target > 0:
        raise ValueError(f"the volatility target must be > 0 (0.10 = 10% a year), got {vol_target}")
    f, v, r = (np.asarray(a, dtype=np.float64) for a in (forecast, vol, realised))
    ok = np.isfinite(f) & np.isfinite(v) & (v > 0) & np.isfinite(r)
    pnl = f[ok] / v[ok] * r[ok]
    sd = float(np.std(pnl, ddof=1)) * np.sqrt(TRADING_DAYS) if ok.sum() > 1 else 0.0
    return vol_target / sd if sd > 0 else 0.0


def vol_target_weights(
    forecast: pd.Series,
    vol: pd.Series,
    scale: float | np.ndarray,
    leverage: float = 1.0,
    allow_short: bool = False,
) -> pd.Series:
    """Target weight = scale * forecast / predicted volatility, capped at `leverage` (and at 0
    from below unless shorts are allowed); `scale`: one number, or one per date (a fold's)."""
    if not leverage > 0:
        raise ValueError(f"leverage must be > 0, got {leverage}")
    v = vol.reindex(forecast.index).to_numpy(dtype=np.float64)
    if not (np.isfinite(v) & (v > 0)).all():
        raise ValueError("the predicted volatility must be known and > 0 on every decision date.")
    w = scale * forecast.to_numpy(dtype=np.float64) / v
    w = np.clip(w, -leverage if allow_short else 0.0, leverage)
    return pd.Series(w, index=forecast.index, name="weight")
