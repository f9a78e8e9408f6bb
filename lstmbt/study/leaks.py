"""Signs that a forecast peeks at the future or is dated wrongly, from its correlations with the
return it should predict (next day's) and with the return already known when it is made
(the same day's). Every flag needs a correlation that is both large and significant, so pure
noise is not flagged (p < 0.001 per check).

Thresholds (daily returns; documented in the docs' statistics page):
- leak: |corr with the next day's return| >= 0.2. Published daily predictors reach 0.02-0.1;
  0.2 on thousands of days is what a forecast built from the future looks like.
- misaligned: corr with the same day's return is significant, at least 0.1 in size, and larger
  than with the next day's by 0.05: the forecast dated t was probably made a day later, for t.
- echo: |corr with the same day's return| >= 0.8: mostly a repeat of today's change (not a leak;
  a forecast of no use beyond the persistence baseline).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats

LEAK_CORR = 0.2
MISALIGNED_CORR = 0.1
MISALIGNED_GAP = 0.05
ECHO_CORR = 0.8
ALPHA = 0.001


def _corr(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 10 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    r = stats.pearsonr(a, b)
    return float(r.statistic), float(r.pvalue)


def leak_check(forecast: np.ndarray, next_return: np.ndarray, same_return: np.ndarray) -> dict:
    """Correlations with the next and the same day's return, and the three flags."""
    f = np.asarray(forecast, float)
    c_next, p_next = _corr(f, np.asarray(next_return, float))
    c_same, p_same = _corr(f, np.asarray(same_return, float))
    big_next = c_next is not None and abs(c_next) >= LEAK_CORR and p_next < ALPHA
    echo = c_same is not None and abs(c_same) >= ECHO_CORR
    misaligned = (
        not echo
        and c_same is not None
        and p_same < ALPHA
        and abs(c_same) >= MISALIGNED_CORR
        and abs(c_same) > abs(c_next or 0.0) + MISALIGNED_GAP
    )
    return {
        "corr_next": c_next,
        "p_next": p_next,
        "corr_same": c_same,
        "p_same": p_same,
        "leak": bool(big_next),
        "misaligned": bool(misaligned),
        "echo": bool(echo),
    }


def leak_sentences(row: Mapping[str, object]) -> tuple[str, ...]:
    """Plain words for the checks that fired on one forecaster (`row`: its forecast_tests
    values by column), one sentence each; none when nothing fired."""
    out = []
    if row.get("leak"):
        out.append(
            f"WARNING: the forecast correlates {row['corr_next']:+.2f} with the next day's "
            "return, implausibly well for daily data: it probably uses information from the "
            "future (a look-ahead leak)"
        )
    if row.get("echo"):
        lag = (row.get("lag_corr") or [None])[0]
        corr = lag if lag is not None else row.get("corr_same")
        out.append(
            f"WARNING: the forecast is mostly a function of today's change (corr {corr:+.2f})"
        )
    if row.get("misaligned"):
        out.append(
            f"WARNING: the forecast correlates better with the same day's return "
            f"({row['corr_same']:+.2f}) than with the next day's "
            f"({row.get('corr_next') or 0:+.2f}): its dates are probably one day late (a "
            "forecast dated t must be made at t's close for t+1)"
        )
    return tuple(out)
