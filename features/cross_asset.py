"""Other tickers' features as inputs, aligned on the target's trading calendar without look-ahead.

Rule: for each target date t the companion contributes its latest row dated on or before t
(an as-of join), and nothing if that row is more than `max_stale` target rows old. Companion
days on which the target did not trade are not filled into the target's calendar; they only feed
the companion's own multi-day features. Set `lag=1` when the companion closes after the target
on the same calendar date (e.g. a US companion for an Asian target).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def align_companion(
    target_index: pd.DatetimeIndex,
    companion: pd.DataFrame,
    *,
    prefix: str,
    max_stale: int = 5,
    lag: int = 0,
) -> pd.DataFrame:
    """Companion features on `target_index`, columns prefixed; stale or missing rows are NaN."""
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got {lag}")
    pos = companion.index.searchsorted(target_index, side="right") - 1 - lag  # last row <= t
    values = companion.to_numpy(dtype=np.float64)
    out = np.full((len(target_index), values.shape[1]), np.nan)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    # staleness: how many target rows ago the companion's row date falls
    comp_dates = companion.index.to_numpy()
    src_dates = np.where(ok, comp_dates[np.clip(pos, 0, None)], np.datetime64("NaT"))
    target_pos_of_src = target_index.searchsorted(src_dates, side="left")
    stale = np.arange(len(target_index)) - target_pos_of_src > max_stale + lag
    out[stale | ~ok] = np.nan
    frame = pd.DataFrame(
        out, index=target_index, columns=[f"{prefix}:{c}" for c in companion.columns]
    )
    return frame
