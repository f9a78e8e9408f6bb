"""A forecast read as a cross-sectional factor, in the manner of alphalens: each day the
tickers are sorted by the forecast made at that close into quantiles, and the returns that
follow are measured by quantile, with standard errors; the top-minus-bottom spread; the rank
information coefficient (IC) at 1, 5, 10 and 21 days; the IC by month; and how much of the
top k changes each day.

Only the forecasts and the prices are used. Forward returns are what is measured (the
evaluation target), never an input: the h-day forward return at t is each ticker's close h of
its own bars later over its close at t. Returns over h > 1 days overlap from one day to the
next, so their standard errors are Newey-West with h - 1 lags; h-day returns are shown per day
(divided by h), so the horizons share one scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lstmbt.findings import Factor
from lstmbt.strategies import rank_ic

HORIZONS = (1, 5, 10, 21)
MAX_QUANTILES = 5
MIN_IC_ASSETS = 3  # a rank correlation across two tickers is always +-1: not a measurement


def mean_and_se(x: np.ndarray, lags: int = 0) -> tuple[float, float, int]:
    """Mean of the finite values of `x`, its Newey-West standard error (Bartlett weights,
    `lags` autocovariances), and the count."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n < 2:
        return (float(x.mean()) if n else math.nan), math.nan, n
    d = x - x.mean()
    s = d @ d / n
    for lag in range(1, min(lags, n - 1) + 1):
        s += 2 * (1 - lag / (lags + 1)) * (d[lag:] @ d[:-lag]) / n
    return float(x.mean()), math.sqrt(max(s, 0.0) / n), n


def forward_returns(closes: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """(dates x tickers) each ticker's return from its close at t to its close `horizon` of
    its own bars later (NaN on days without a bar and near the end)."""
    out = {}
    for ticker, col in closes.items():
        own = col.dropna()
        out[ticker] = (own.shift(-horizon) / own - 1.0).reindex(closes.index)
    return pd.DataFrame(out, index=closes.index)


def quantile_labels(forecasts: pd.DataFrame, quantiles: int) -> pd.DataFrame:
    """(dates x tickers) each ranked ticker's quantile 1..`quantiles` by that day's forecast
    (1 = lowest; ties by column order), NaN where unranked or on days with fewer ranked
    tickers than quantiles."""
    f = forecasts.to_numpy(float)
    ranked = np.isfinite(f)
    n = ranked.sum(axis=1)
    order = np.argsort(np.where(ranked, f, np.inf), axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(f.shape[1])[None, :], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.floor(place * quantiles / n[:, None]) + 1.0
    q[~ranked | (n[:, None] < quantiles)] = np.nan
    return pd.DataFrame(q, index=forecasts.index, columns=forecasts.columns)


def top_k_turnover(forecasts: pd.DataFrame, k: int) -> pd.Series:
    """Per day, the share of the k highest-forecast tickers that were not among them the day
    before (days with fewer than k ranked, and the first, are left out)."""
    f = forecasts.to_numpy(float)
    ranked = np.isfinite(f)
    order = np.argsort(np.where(ranked, -f, np.inf), axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(f.shape[1])[None, :], axis=1)
    full = ranked.sum(axis=1) >= k
    top = (place < k) & ranked
    new = (top[1:] & ~top[:-1]).sum(axis=1) / k
    ok = full[1:] & full[:-1]
    return pd.Series(new[ok], index=forecasts.index[1:][ok], name="turnover")


def choose_quantiles(forecasts: pd.DataFrame) -> int:
    """Quantiles of at least two tickers each on a typical day: between 2 and 5."""
    ranked = forecasts.notna().sum(axis=1)
    typical = int(ranked[ranked > 0].median()) if (ranked > 0).any() else 0
    return max(2, min(MAX_QUANTILES, typical // 2))


def factor_analysis(
    forecasts: pd.DataFrame,
    closes: pd.DataFrame,
    *,
    name: str = "forecast",
    top_k: int = 2,
    quantiles: int | None = None,
    horizons: Sequence[int] = HORIZONS,
) -> Factor:
    """The cross-sectional analysis of `forecasts` (dates x tickers, made at each close; NaN
    where a ticker is not ranked) against `closes` (dates x tickers, each ticker's adjusted
    close, NaN where it has no bar, e.g. a price panel's "close")."""
    if not isinstance(forecasts, pd.DataFrame) or not isinstance(forecasts.index, pd.DatetimeIndex):
        raise TypeError("forecasts must be a DataFrame (dates x tickers) with a DatetimeIndex.")
    missing = [t for t in forecasts.columns if t not in closes.columns]
    if missing:
        raise ValueError(f"closes lack the tickers {missing}.")
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be positive day counts, got {horizons}.")
    if 1 not in horizons:
        raise ValueError("horizons must include 1 (the spread's daily series and IC by month).")
    closes = closes.reindex(columns=forecasts.columns)
    q = quantiles or choose_quantiles(forecasts)
    if q < 2:
        raise ValueError(f"quantiles must be at least 2, got {q}.")
    labels = quantile_labels(forecasts, q).to_numpy()
    means, ses, spreads, ics, ic_rows = {}, {}, {}, {}, {}
    spread_daily = None
    for h in horizons:
        fwd = forward_returns(closes, h).reindex(forecasts.index).to_numpy(float) / h
        lags = h - 1
        by_q = np.full((len(forecasts), q), np.nan)
        for k in range(1, q + 1):
            inside = (labels == k) & np.isfinite(fwd)
            count = inside.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                by_q[:, k - 1] = np.where(inside, fwd, 0.0).sum(axis=1) / count
        stats = [mean_and_se(by_q[:, k], lags) for k in range(q)]
        means[h] = [s[0] for s in stats]
        ses[h] = [s[1] for s in stats]
        top_minus_bottom = by_q[:, -1] - by_q[:, 0]
        m, se, _ = mean_and_se(top_minus_bottom, lags)
        spreads[h] = {"mean": m, "se": se, "t": m / se if se > 0 else math.nan}
        if h == 1:
            spread_daily = pd.Series(top_minus_bottom, index=forecasts.index).dropna()
        realised = pd.DataFrame(fwd, index=forecasts.index, columns=forecasts.columns)
        ics[h] = rank_ic(forecasts, realised, min_assets=MIN_IC_ASSETS)
        m, se, n = mean_and_se(ics[h].to_numpy(), lags)
        ic_rows[h] = {"mean": m, "se": se, "t": m / se if se > 0 else math.nan, "days": n}
    index = pd.Index(range(1, q + 1), name="quantile")
    ic = pd.DataFrame(ics)
    daily = ic[1].dropna()
    by_month = daily.groupby(daily.index.to_period("M")).mean()
    by_month.index = by_month.index.to_timestamp()
    return Factor(
        name=name,
        quantiles=q,
        top_k=top_k,
        quantile_mean=pd.DataFrame(means, index=index),
        quantile_se=pd.DataFrame(ses, index=index),
        spread=pd.DataFrame.from_dict(spreads, orient="index").rename_axis("horizon"),
        spread_daily=spread_daily,
        ic=ic,
        ic_summary=pd.DataFrame.from_dict(ic_rows, orient="index").rename_axis("horizon"),
        ic_by_month=by_month.rename("ic"),
        turnover=top_k_turnover(forecasts, top_k),
    )
