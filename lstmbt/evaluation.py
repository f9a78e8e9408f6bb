"""Out-of-sample forecast metrics and after-cost strategy metrics (annualised with 252 days)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

TRADING_DAYS = 252


def _clean(value: float) -> float | None:
    """JSON-friendly float: NaN/inf -> None (rendered as '-')."""
    return None if value is None or not math.isfinite(value) else float(value)


def forecast_metrics(forecast: np.ndarray, realised: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE, directional hit rate, Spearman IC and out-of-sample R² against a zero forecast.

    The hit rate counts days with a non-zero forecast and a non-zero realised return; a forecaster
    that never commits to a direction (the random walk) has no hit rate.
    """
    f = np.asarray(forecast, dtype=np.float64)
    r = np.asarray(realised, dtype=np.float64)
    err = f - r
    mse = float(np.mean(err**2))
    decided = (f != 0) & (r != 0)
    hit = float(np.mean(np.sign(f[decided]) == np.sign(r[decided]))) if decided.any() else math.nan
    ic = math.nan
    if np.ptp(f) > 0 and np.ptp(r) > 0:
        ic = float(stats.spearmanr(f, r).statistic)
    return {
        "rmse": _clean(math.sqrt(mse)),
        "mae": _clean(float(np.mean(np.abs(err)))),
        "hit_rate": _clean(hit),
        "ic": _clean(ic),
        "r2_vs_zero": _clean(1.0 - mse / float(np.mean(r**2))),
        "n": int(len(f)),
    }


def strategy_metrics(
    returns: pd.Series, positions_held: pd.Series | None = None, n_trades: int | None = None
) -> dict[str, float | int | None]:
    """Total return, CAGR, Sharpe, Sortino, volatility, max drawdown, exposure, trades."""
    r = returns.to_numpy(dtype=np.float64)
    n = len(r)
    equity = np.cumprod(1.0 + r)
    total = equity[-1] - 1.0 if n else math.nan
    years = n / TRADING_DAYS
    cagr = equity[-1] ** (1.0 / years) - 1.0 if n and equity[-1] > 0 else math.nan
    sd = np.std(r, ddof=1) if n > 1 else math.nan
    sharpe = np.mean(r) / sd * math.sqrt(TRADING_DAYS) if n > 1 and sd > 0 else math.nan
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if n else math.nan
    sortino = np.mean(r) / downside * math.sqrt(TRADING_DAYS) if n and downside > 0 else math.nan
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    max_dd = float(np.min(np.concatenate([[1.0], equity]) / peak - 1.0))
    out = {
        "total_return": _clean(total),
        "cagr": _clean(cagr),
        "sharpe": _clean(sharpe),
        "sortino": _clean(sortino),
        "volatility": _clean(sd * math.sqrt(TRADING_DAYS)) if n > 1 else None,
        "max_drawdown": _clean(max_dd),
        "days": n,
    }
    if positions_held is not None:
        out["exposure"] = _clean(float((positions_held.to_numpy() != 0).mean()))
    if n_trades is not None:
        out["trades"] = int(n_trades)
    return out
