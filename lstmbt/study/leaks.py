"""Signs that a forecast peeks at the future, measured against what an honest forecast can do.

A forecast made at the close of day t may use everything known then, today's return included:
an honest forecast that reads today's change correlates with it strongly (today's return plus
noise: 0.71), and on a series that is itself predictable (an AR(1) with coefficient 0.25) the
best honest forecast, 0.25 x today's return, correlates 0.25 with tomorrow's. Neither is a leak.
What an honest forecast cannot do is explain the next day's return *beyond* what the day's
information explains by more than forecasts of real markets do. So the checks are:

- **leak** (strong evidence): regress the next day's return and the forecast each on the
  returns known at t (today's and the LAGS - 1 days before, with an intercept); the partial
  correlation of the two residuals (`corr_beyond`) is what the forecast knows about tomorrow
  beyond the series' own recent past. Published daily forecasts of real markets reach an
  information coefficient of about PLAUSIBLE_CORR (0.05) in total; `p_leak` is the one-sided
  p-value of "|partial correlation| <= PLAUSIBLE_CORR", and the flag needs p_leak < ALPHA_LEAK.
  A forecast that is a linear function of the known returns (persistence, 0.25 x today's
  return) has nothing beyond them: partial correlation 0, p_leak 1.
- **implausible** (a caution): the plain correlation with the next day's return
  (`corr_next`) exceeds PLAUSIBLE_CORR in size with `p_strong` < ALPHA_STRONG. True of a leak,
  and of honest forecasts on a series whose own past predicts it this well, which real
  markets do not show; it asks the user to check the data if they are a real market's.
- **echo** (a description, lstmbt.study.significance.lag_check): |correlation with today's
  change| >= 0.8: the forecast mostly follows today's change.

Inference: the correlations' standard errors come from the delta method with a Newey-West
long-run variance (no normality assumed: daily returns have fat tails and volatility
clusters). The thresholds were chosen from measurement (benchmarks/leaks.py and the table in
benchmarks/README.md): false alarms on honest forecasts (LSTMs, GRUs and ridge on resampled
real daily bars, today's return plus noise, the conditional mean of a planted AR(1)) and
detection of forecasts built from tomorrow's return plus noise and of forecasts dated a day
early. `leak_sentences` renders one forecaster's row of `Metrics.forecast_tests` in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from lstmbt.metrics import LEAK_COLUMNS

LAGS = 5  # the returns known at t that stand for "today's information": r_t ... r_{t-4}
PLAUSIBLE_CORR = 0.05  # about the best information coefficient of daily forecasts of real markets
ALPHA_LEAK = 0.01  # one-sided level of "beyond today's information by more than PLAUSIBLE_CORR"
ALPHA_STRONG = 0.01  # one-sided level of "plain correlation above PLAUSIBLE_CORR"
MIN_DAYS = 30  # fewer common days than this: no check
EXPLAINED = 1e-10  # residual variance share below which the known returns explain the forecast

# the forecast_tests columns this module fills (and `leak_sentences` reads), documented in
# docs/statistics.md#leak-checks and docs/report-fields.md
COLUMNS = LEAK_COLUMNS


def known_returns(today: pd.Series, dates: pd.DatetimeIndex, lags: int = LAGS) -> np.ndarray:
    """(len(dates), lags): the returns known at the close of each date, today's first, then
    the days before (`today`: one return per trading day, each dated by its close)."""
    return np.column_stack([today.shift(k).reindex(dates).to_numpy(float) for k in range(lags)])


def _newey_west(w: np.ndarray) -> float:
    """Long-run variance of a mean-zero series (Bartlett weights, the usual automatic lag)."""
    n = len(w)
    lags = int(4 * (n / 100) ** (2 / 9))
    lrv = float(np.dot(w, w)) / n
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2 * (1 - k / (lags + 1)) * float(np.dot(w[k:], w[:-k])) / n
    return max(lrv, float(np.dot(w, w)) / n * 1e-12)


def robust_corr(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    """Pearson correlation and its standard error (delta method, Newey-West), or None when a
    side does not vary. The sample correlation minus rho is about the mean of
    w_t = u_t v_t - rho (u_t^2 + v_t^2) / 2 for the standardised series u, v."""
    a = a - a.mean()
    b = b - b.mean()
    sa, sb = math.sqrt(np.mean(a * a)), math.sqrt(np.mean(b * b))
    if not (sa > 0 and sb > 0):
        return None
    u, v = a / sa, b / sb
    rho = float(np.clip(np.mean(u * v), -1.0, 1.0))
    w = u * v - rho * (u * u + v * v) / 2
    return rho, math.sqrt(_newey_west(w - w.mean()) / len(w))


def _p_beyond(rho: float, se: float, bound: float) -> float:
    """One-sided p-value of H0: |rho| <= bound (large |rho| is the evidence)."""
    if se <= 0:
        return 0.0 if abs(rho) > bound else 1.0
    return float(stats.norm.sf((abs(rho) - bound) / se))


def _p_zero(rho: float, se: float) -> float:
    """Two-sided p-value of H0: rho = 0."""
    if se <= 0:
        return 1.0 if rho == 0 else 0.0
    return float(2 * stats.norm.sf(abs(rho) / se))


def _residuals(y: np.ndarray, X: np.ndarray) -> np.ndarray:
    """y minus its least-squares fit on X and an intercept (normal equations on the centred,
    scaled columns: a few columns, thousands of rows)."""
    Z = X - X.mean(axis=0)
    scale = Z.std(axis=0)
    Z = Z[:, scale > 0] / scale[scale > 0]
    yc = y - y.mean()
    coef = np.linalg.pinv(Z.T @ Z) @ (Z.T @ yc)
    return yc - Z @ coef


def leak_check(forecast: np.ndarray, next_return: np.ndarray, known: np.ndarray) -> dict:
    """The leak columns of one forecaster (COLUMNS): `forecast` made at each date's close,
    `next_return` the return it forecasts, `known` the returns known at that close (see
    `known_returns`; column 0 is today's). Days with a missing value anywhere are left out."""
    f = np.asarray(forecast, float)
    y = np.asarray(next_return, float)
    K = np.asarray(known, float).reshape(len(f), -1)
    ok = np.isfinite(f) & np.isfinite(y) & np.isfinite(K).all(axis=1)
    f, y, K = f[ok], y[ok], K[ok]
    out: dict = {c: None for c in COLUMNS}
    out.update(leak=False, implausible=False, leak_days=int(len(f)))
    if len(f) < MIN_DAYS or np.ptp(f) == 0 or np.ptp(y) == 0:
        return out
    nxt = robust_corr(f, y)
    same = robust_corr(f, K[:, 0]) if np.ptp(K[:, 0]) > 0 else None
    if nxt is not None:
        out.update(
            corr_next=nxt[0],
            p_next=_p_zero(*nxt),
            p_strong=_p_beyond(*nxt, PLAUSIBLE_CORR),
        )
    if same is not None:
        out.update(corr_same=same[0], p_same=_p_zero(*same))
    rf = _residuals(f, K)
    if np.mean(rf * rf) <= EXPLAINED * np.var(f):  # a linear function of the known returns
        out.update(corr_beyond=0.0, p_leak=1.0)
    else:
        beyond = robust_corr(rf, _residuals(y, K))
        if beyond is not None:
            out.update(corr_beyond=beyond[0], p_leak=_p_beyond(*beyond, PLAUSIBLE_CORR))
    out["leak"] = bool(out["p_leak"] is not None and out["p_leak"] < ALPHA_LEAK)
    out["implausible"] = bool(out["p_strong"] is not None and out["p_strong"] < ALPHA_STRONG)
    return out


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _num(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def leak_sentences(row: Mapping[str, object]) -> tuple[str, ...]:
    """The warnings one forecaster's forecast_tests row supports, in words, strongest first
    (each a complete clause, without leading punctuation); empty when none fires.

    A row from before these checks (no `p_leak`: lstmbt wrote only the old fixed-threshold
    flags, which fired on most honest forecasts) gets no leak sentence; the echo note keeps
    its rule. Columns read: leak, implausible, corr_beyond, p_leak, corr_next, p_strong,
    leak_days, echo, lag_corr, corr_same.
    """
    out = []
    p_leak, beyond = _num(row.get("p_leak")), _num(row.get("corr_beyond"))
    nxt, p_strong = _num(row.get("corr_next")), _num(row.get("p_strong"))
    days = _num(row.get("leak_days"))
    over = f" over {int(days):,} days" if days else ""
    if row.get("leak") and p_leak is not None and beyond is not None:
        out.append(
            f"likely look-ahead leak: beyond what the last {LAGS} days' returns explain, the "
            f"forecast still correlates {beyond:+.2f} with the next day's return{over}, more "
            f"than the {PLAUSIBLE_CORR:.2f} or so that forecasts of real daily markets reach "
            f"(one-sided test against {PLAUSIBLE_CORR:.2f}: {_p(p_leak)}): check that it uses "
            "nothing from after the close of the day it is dated"
        )
    elif row.get("implausible") and p_strong is not None and nxt is not None and p_leak is not None:
        explained = (
            f"the series' own last {LAGS} returns explain it (beyond them: "
            f"{beyond:+.2f}), a predictability real markets do not show"
            if beyond is not None and abs(beyond) <= PLAUSIBLE_CORR
            else f"beyond the series' own last {LAGS} returns it still correlates "
            f"{beyond if beyond is not None else 0.0:+.2f}, not significantly more than "
            f"{PLAUSIBLE_CORR:.2f}"
        )
        out.append(
            f"caution: the forecast correlates {nxt:+.2f} with the next day's return{over}, "
            f"implausibly strong for daily returns of a real market (published daily forecasts "
            f"reach about {PLAUSIBLE_CORR:.2f}; one-sided test against {PLAUSIBLE_CORR:.2f}: "
            f"{_p(p_strong)}); {explained}: if this is market data, check the prices and the "
            "forecast for look-ahead"
        )
    if row.get("echo"):
        lag = row.get("lag_corr")
        corr = _num(lag[0]) if isinstance(lag, (list, tuple)) and lag else None
        corr = corr if corr is not None else _num(row.get("corr_same"))
        if corr is not None:
            verb = "follows" if corr >= 0 else "mirrors"
            out.append(
                f"note: the forecast mostly {verb} today's change (correlation {corr:+.2f} "
                "with it), so its skill is close to the persistence baseline's or its mirror "
                "image's"
            )
    return tuple(out)
