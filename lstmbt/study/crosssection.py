"""Across tickers: one family of tests per universe, with the multiple-testing control a search
over many stocks demands (test 50 tickers at 5% and about 2.5 "work" by chance).

- Benjamini-Hochberg (false-discovery rate) and Holm (family-wise error) adjusted p-values of
  every (ticker, forecaster) Sharpe difference to buy-and-hold and of its DM test;
- a pooled test of the average Sharpe difference that keeps the cross-sectional correlation:
  one stationary bootstrap of the union calendar, the same resampled days for every ticker (a
  ticker whose strategy never trades counts with Sharpe ratio 0: it held cash);
- the expected number of 5% "wins" by luck alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.study.significance import (
    ZERO_VOL,
    finite_or_none,
    sharpe,
    stationary_bootstrap_indices,
)


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
    between tickers (a market-wide day moves them all) is kept.

    The returns are excess returns over the cash rate. A ticker on which the strategy never
    holds a position (its excess returns do not vary: it held cash, which earns the cash rate)
    is included with Sharpe ratio 0, in the point estimate and in every replicate alike, and
    so is a resample in which a rarely trading strategy holds no position: staying out is the
    forecaster's decision on that ticker, and leaving the ticker out would hide it. `idle`
    counts the tickers whose strategy never held a position. A replicate in which a ticker has
    fewer than two days is left out (the interval needs 90% of the replicates).
    """
    names = [n for n in strategy if n in benchmark]
    out: dict[str, float | int | None] = {
        "diff": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "tickers": len(names),
        "idle": 0,
    }
    if not names:
        return out
    calendar = pd.DatetimeIndex(sorted(set().union(*(strategy[n].index for n in names))))
    idx = stationary_bootstrap_indices(len(calendar), reps, block, seed)
    diffs, point = np.zeros(reps), []
    for name in names:
        s = strategy[name].reindex(calendar).to_numpy(float)
        b = benchmark[name].reindex(calendar).to_numpy(float)
        held = s[np.isfinite(s)]
        out["idle"] = int(out["idle"]) + int(len(held) > 1 and not held.std(ddof=1) > ZERO_VOL)
        point.append(float(sharpe(s, skipna=True, flat=0.0) - sharpe(b, skipna=True, flat=0.0)))
        rs, rb = s[idx], b[idx]  # (reps, days); days outside this ticker's span are NaN
        diffs += sharpe(rs, axis=1, skipna=True, flat=0.0) - sharpe(
            rb, axis=1, skipna=True, flat=0.0
        )
    diffs /= len(names)
    out["diff"] = finite_or_none(float(np.mean(point)))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    d = diffs[np.isfinite(diffs)]
    if len(d) < 0.9 * reps:
        return out
    out.update(
        ci_low=float(np.percentile(d, lo)),
        ci_high=float(np.percentile(d, hi)),
        p_value=float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0)))),
    )
    return out
