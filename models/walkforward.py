"""Walk-forward folds: retrain every `step` decision dates, each fold predicting only its block.

Fold k tests decisions [first_test + k*step, first_test + (k+1)*step). It trains on decisions
before that block minus an embargo of lookback+horizon-1 rows (so no training label reaches the
first input row of the block), expanding from the start or rolling over the last `train_size`.
Its validation block for early stopping is the tail of that training segment, embargoed the same
way. Test blocks depend only on n, first_test and step, so every model shares them.
"""

from __future__ import annotations

import numpy as np

from lstmbt.models.split import Split

WINDOWS = ("expanding", "rolling")


def walk_forward_folds(
    n: int,
    *,
    first_test: int,
    step: int,
    lookback: int,
    horizon: int = 1,
    window: str = "expanding",
    train_size: int | None = None,
    val_frac: float = 0.15,
    min_train: int = 100,
    min_val: int = 20,
) -> list[Split]:
    """The folds covering decisions [first_test, n); raises ValueError naming what is too short."""
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; choose expanding or rolling.")
    if step < 1:
        raise ValueError(f"refit step must be >= 1 day, got {step}")
    if window == "rolling" and (train_size is None or train_size < min_train + min_val):
        raise ValueError(
            f"a rolling window needs train_size >= {min_train + min_val} days, got {train_size}"
        )
    if not 0 < first_test < n:
        raise ValueError(f"the first test date must fall inside the {n} usable dates.")
    embargo = lookback + horizon - 1
    folds = []
    for start in range(first_test, n, step):
        test = np.arange(start, min(start + step, n))
        fit_end = start - embargo  # exclusive end of train + val decisions
        fit_start = 0 if window == "expanding" else max(0, fit_end - train_size)
        span = fit_end - fit_start
        n_val = int(round(span * val_frac))
        val_start = fit_end - n_val
        train = np.arange(fit_start, max(val_start - embargo, fit_start))
        val = np.arange(val_start, fit_end)
        if len(train) < min_train or len(val) < min_val:
            raise ValueError(
                f"walk-forward fold {len(folds)} (testing from position {start}) has only "
                f"{len(train)} training and {len(val)} validation samples (need {min_train} and "
                f"{min_val}); start the evaluation later, use a longer history or a shorter "
                "lookback."
            )
        folds.append(Split(train, val, test, embargo))
    return folds
