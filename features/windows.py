"""Sliding windows: a (dates, features) matrix -> (samples, lookback, features) ending at each t."""

from __future__ import annotations

import numpy as np


def make_windows(values: np.ndarray, lookback: int) -> np.ndarray:
    """Window i covers rows i .. i+lookback-1, so it ends at row t = i + lookback - 1 (inclusive).

    Returns a C-contiguous float32 copy, ready to slice batches from by index.
    """
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D (dates, features) array, got shape {values.shape}")
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    if len(values) < lookback:
        raise ValueError(
            f"history of {len(values)} rows is shorter than the lookback of {lookback}"
        )
    view = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)  # (n, F, L)
    return np.ascontiguousarray(view.transpose(0, 2, 1), dtype=np.float32)  # (n, L, F)
