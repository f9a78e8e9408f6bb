"""How long a track record a Sharpe ratio needs: the probabilistic Sharpe ratio (PSR) against
buy-and-hold's Sharpe ratio, and the minimum track record length (MinTRL) at which it would
reach a confidence level (Bailey and Lopez de Prado 2012, "The Sharpe ratio efficient
frontier").

With n daily returns of per-day Sharpe ratio SR, skewness g3 and kurtosis g4 (not excess),

    PSR(SR*) = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2))
    MinTRL   = 1 + (1 - g3 SR + (g4 - 1) / 4 SR^2) (z_level / (SR - SR*))^2

MinTRL is the n at which PSR reaches `level` with the moments seen so far: "at this Sharpe
difference, about N more years of daily data would be needed". It treats buy-and-hold's
Sharpe ratio SR* as a known number; the block-bootstrap Sharpe difference (which also
resamples buy-and-hold) is the test, this is the back-of-the-envelope for "how much longer".
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from lstmbt.findings import LEVEL, TrackRecord
from lstmbt.study.significance import TRADING_DAYS, ZERO_VOL, probabilistic_sharpe

MIN_DAYS = 10  # as probabilistic_sharpe: fewer days give no estimate


def min_track_record_days(
    sr: float, sr_benchmark: float, skew: float, kurtosis: float, level: float = LEVEL
) -> float | None:
    """MinTRL in observations for per-period Sharpe ratios `sr` > `sr_benchmark` (None
    otherwise, or when the moments leave no variance: 1 - g3 SR + (g4 - 1)/4 SR^2 <= 0)."""
    if not sr > sr_benchmark:
        return None
    var = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if not var > 0:
        return None
    z = stats.norm.ppf(level)
    return 1.0 + var * (z / (sr - sr_benchmark)) ** 2


def track_record(
    returns: np.ndarray | pd.Series,
    benchmark: np.ndarray | pd.Series | float,
    level: float = LEVEL,
) -> TrackRecord | None:
    """PSR and MinTRL of `returns` (daily, over the cash rate) against `benchmark`: buy-and-
    hold's daily returns on the same days (its Sharpe ratio is taken as the bar) or an
    annualised Sharpe ratio. None when the record is too short (< 10 days) or flat."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    if isinstance(benchmark, int | float | np.floating):
        sr_star = float(benchmark) / math.sqrt(TRADING_DAYS)
    else:
        b = np.asarray(benchmark, dtype=float)
        b = b[np.isfinite(b)]
        sd_b = b.std(ddof=1) if len(b) > 1 else 0.0
        if not sd_b > ZERO_VOL:
            return None
        sr_star = b.mean() / sd_b
    sd = r.std(ddof=1) if len(r) > 1 else 0.0
    if len(r) < MIN_DAYS or not sd > ZERO_VOL:
        return None
    sr = r.mean() / sd
    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))
    root = math.sqrt(TRADING_DAYS)
    return TrackRecord(
        sharpe=float(sr * root),
        benchmark_sharpe=float(sr_star * root),
        days=len(r),
        psr=probabilistic_sharpe(r, sr_star),
        min_days=min_track_record_days(sr, sr_star, skew, kurt, level),
        skew=skew,
        kurtosis=kurt,
        level=level,
    )
