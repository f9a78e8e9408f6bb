"""Chronological train / validation / test split of decision dates, with an embargo gap.

A sample decided at the close of t reads feature rows t-lookback+1..t and is labelled with
returns up to t+horizon. The embargo of lookback+horizon-1 rows before the validation and test
blocks means no training label reaches the first input row of a later block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    """Positions (into the common decision calendar) of each block's samples."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    embargo: int


def chronological_split(
    n: int,
    *,
    lookback: int,
    horizon: int = 1,
    val_frac: float = 0.15,
    test_frac: float = 0.15,
    min_train: int = 100,
    min_val: int = 20,
    min_test: int = 20,
) -> Split:
    """Split n consecutive decision dates: train | gap | val | gap | test (test = the last block).

    The block boundaries depend only on n and the fractions, so models with different lookbacks
    share the same test span; only their embargo gaps differ.
    """
    if not (0 < val_frac < 1 and 0 < test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(
            f"val_frac={val_frac} and test_frac={test_frac} must be in (0, 1) with a sum below 1."
        )
    embargo = lookback + horizon - 1
    i_test = n - int(round(n * test_frac))
    i_val = i_test - int(round(n * val_frac))
    train = np.arange(0, max(i_val - embargo, 0))
    val = np.arange(i_val, max(i_test - embargo, i_val))
    test = np.arange(i_test, n)
    if len(train) < min_train or len(val) < min_val or len(test) < min_test:
        raise ValueError(
            f"{n} usable dates are too few for lookback {lookback} and horizon {horizon}: the "
            f"split gives train={len(train)}, validation={len(val)}, test={len(test)} samples "
            f"(need at least {min_train}/{min_val}/{min_test}). Use a longer date range, a "
            "shorter lookback or a smaller horizon."
        )
    return Split(train, val, test, embargo)
