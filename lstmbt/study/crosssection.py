"""Across tickers: one family of tests per universe, with the multiple-testing control a search
over many stocks demands (test 50 tickers at 5% and about 2.5 "work" by chance).

- Benjamini-Hochberg (false-discovery rate) and Holm (family-wise error) adjusted p-values of
  every (ticker, forecaster) Sharpe difference to buy-and-hold and of its DM test;
- a pooled test of the average Sharpe difference that keeps the cross-sectional correlation:
  one stationary bootstrap of the union calendar, the same resampled days for every ticker;
- the expected number of 5% "wins" by luck alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.study.significance import sharpe, stationary_bootstrap_indices


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH adjusted p-values (step-up; NaN stays NaN)."""

    def step_up(q: np.ndarray) -> np.ndarray:  # sorted p-values -> adjusted, same order
        n = len(q)
        return np.minimum(np.minimum.accumulate((q * n / np.arange(1, n + 1))[::-1])[::-1], 1.0)

    return _adjusted(p, step_up)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN stays NaN)."""

    def step_down(q: np.ndarray) -> np.ndarray:
        n = len(q)
        return np.maximum.accumulate(np.minimum(q * (n - np.arange(n)), 1.0))

    return _adjusted(p, step_down)


def _adjusted(p: np.ndarray, rule) -> np.ndarray:
    """Apply a rule on the sorted finite p-values and put them back in place."""
    p = np.asarray(p, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q = p[ok]
        order = np.argsort(q)
        res = np.empty(len(q))
        res[order] = rule(q[order])
        out[ok] = res
    return out


def adjust(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """`column` adjusted by BH and by Holm across every row of `table` (one family)."""
    p = table[column].to_numpy(dtype=float)
    return table.assign(**{f"{column}_bh": benjamini_hochberg(p), f"{column}_holm": holm(p)})


def pooled_sharpe_difference(
    strategy: dict[str, pd.Series],
    benchmark: dict[str, pd.Series],
    *,
    reps: int = 1000,
    block: float = 20.0,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float | int | None]:
    """The average over tickers of Sharpe(strategy) - Sharpe(buy-and-hold), with a stationary
    block bootstrap interval and two-sided p-value. Each replicate resamples the union calendar
    once and every ticker uses the resampled days inside its own span, so the correlation
    between tickers (a market-wide day moves them all) is kept."""
    names = [n for n in strategy if n in benchmark]
    if not names:
        return {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "tickers": 0}
    calendar = pd.DatetimeIndex(sorted(set().union(*(strategy[n].index for n in names))))
    idx = stationary_bootstrap_indices(len(calendar), reps, block, seed)
    diffs, point = np.zeros(reps), []
    for name in names:
        s = strategy[name].reindex(calendar).to_numpy(float)
        b = benchmark[name].reindex(calendar).to_numpy(float)
        point.append(float(sharpe(s[np.isfinite(s)]) - sharpe(b[np.isfinite(b)])))
        rs, rb = s[idx], b[idx]  # (reps, days); days outside this ticker's span are NaN
        diffs += _nan_sharpe(rs) - _nan_sharpe(rb)
    diffs /= len(names)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    ok = np.isfinite(diffs)
    d = diffs[ok]
    if len(d) < 0.9 * reps:
        return {
            "diff": float(np.mean(point)),
            "ci_low": None,
            "ci_high": None,
            "p_value": None,
            "tickers": len(names),
        }
    p = min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))
    return {
        "diff": float(np.mean(point)),
        "ci_low": float(np.percentile(d, lo)),
        "ci_high": float(np.percentile(d, hi)),
        "p_value": float(p),
        "tickers": len(names),
    }


def _nan_sharpe(r: np.ndarray) -> np.ndarray:
    """Annualised Sharpe of each row over its finite entries."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nanmean(r, axis=1)
        sd = np.nanstd(r, axis=1, ddof=1)
        return np.where(sd > 0, mu / sd * np.sqrt(252), np.nan)
