"""The probability of backtest overfitting (Bailey, Borwein, Lopez de Prado and Zhu 2017):
combinatorially symmetric cross-validation (CSCV) over the daily returns of every
configuration tried.

The days are cut into S equal blocks (in time order). Each of the C(S, S/2) ways of choosing
half the blocks is a split: the chosen half is "in sample", the other half "out of sample".
In each split the configuration with the best in-sample Sharpe ratio is picked, as a user
picking the best backtest would, and its out-of-sample Sharpe ratio is ranked among all
configurations'. The logit of that relative rank is positive when the pick stays above the
median out of sample; PBO is the share of splits where it does not (logit <= 0). Noise
configurations give PBO near 0.5 (the in-sample best is a random draw out of sample); a
configuration with a real, stable edge gives PBO near 0.

Performance is the annualised Sharpe ratio (by TRADING_DAYS, as everywhere) of the returns
given, so pass returns over the cash rate where the study measures Sharpe ratios over it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from lstmbt.findings import Overfitting
from lstmbt.study.significance import TRADING_DAYS, ZERO_VOL

DEFAULT_BLOCKS = 16
MIN_BLOCK_DAYS = 2  # a Sharpe ratio needs two days; a block fewer than that is not a block


def _block_sums(R: np.ndarray, blocks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block: sums of returns and of squares (centred on each column's mean, so variances
    of unions of blocks keep their precision), and the day count."""
    days_per_block = len(R) // blocks
    X = R - R.mean(axis=0, keepdims=True)
    X = X.reshape(blocks, days_per_block, R.shape[1])
    return X.sum(axis=1), (X * X).sum(axis=1), np.full(blocks, days_per_block, float)


def _sharpe_of_unions(
    mask: np.ndarray, s1: np.ndarray, s2: np.ndarray, n: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """(splits, configurations) annualised Sharpe over the union of the blocks each row of
    `mask` selects; a configuration that takes no risk there (sd <= ZERO_VOL) scores 0."""
    m = mask.astype(float)
    S1, S2, N = m @ s1, m @ s2, (m @ n)[:, None]
    mean_c = S1 / N
    var = np.maximum(S2 - N * mean_c**2, 0.0) / (N - 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        sr = (mean_c + shift[None, :]) / sd * math.sqrt(TRADING_DAYS)
    return np.where(sd > ZERO_VOL, sr, 0.0)


def _relative_rank(perf: np.ndarray, pick: np.ndarray) -> np.ndarray:
    """Rank (1 = worst, ties averaged) of each row's picked column among the row, over N + 1."""
    x = perf[np.arange(len(perf)), pick][:, None]
    below = (perf < x).sum(axis=1)
    ties = (perf == x).sum(axis=1)
    rank = below + (ties + 1) / 2.0
    return rank / (perf.shape[1] + 1)


def split_masks(blocks: int) -> np.ndarray:
    """(C(blocks, blocks/2), blocks) booleans: True where a block is in sample. Every split's
    complement is also a split (CSCV's symmetry)."""
    combos = list(itertools.combinations(range(blocks), blocks // 2))
    mask = np.zeros((len(combos), blocks), dtype=bool)
    for i, c in enumerate(combos):
        mask[i, list(c)] = True
    return mask


def probability_of_overfitting(
    returns: pd.DataFrame | np.ndarray, blocks: int = DEFAULT_BLOCKS
) -> Overfitting:
    """PBO by CSCV over `returns` (days x configurations: the daily returns of every
    configuration tried, each column one configuration, on one calendar).

    Days on which any configuration has no return (NaN) are left out, then the oldest
    T mod `blocks` days, so the blocks are equal; both counts are in `dropped_days`.
    """
    if isinstance(blocks, bool) or not isinstance(blocks, int | np.integer):
        raise TypeError(f"blocks must be an even integer, got {blocks!r}.")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"blocks must be an even integer of at least 2, got {blocks}.")
    if isinstance(returns, pd.DataFrame):
        names = tuple(str(c) for c in returns.columns)
        R = returns.to_numpy(dtype=float)
    else:
        R = np.asarray(returns, dtype=float)
        if R.ndim != 2:
            raise ValueError(f"returns must be 2-D (days x configurations), got shape {R.shape}.")
        names = tuple(str(j) for j in range(R.shape[1]))
    if R.shape[1] < 2:
        raise ValueError(f"PBO compares configurations: give at least 2 columns, got {R.shape[1]}.")
    if np.isinf(R).any():
        raise ValueError("returns must be finite (NaN marks a day without a return).")
    total = len(R)
    R = R[np.isfinite(R).all(axis=1)]
    usable = len(R) - len(R) % blocks
    if usable < blocks * MIN_BLOCK_DAYS:
        raise ValueError(
            f"{len(R)} days with a return for every configuration are too few for {blocks} "
            f"blocks of at least {MIN_BLOCK_DAYS} days; use fewer blocks or a longer span."
        )
    R = R[len(R) - usable :]
    shift = R.mean(axis=0)
    s1, s2, n = _block_sums(R, blocks)
    mask = split_masks(blocks)
    perf_in = _sharpe_of_unions(mask, s1, s2, n, shift)
    perf_out = _sharpe_of_unions(~mask, s1, s2, n, shift)
    pick = np.argmax(perf_in, axis=1)  # ties: the earlier column
    w = _relative_rank(perf_out, pick)
    logits = np.log(w / (1.0 - w))
    rows = np.arange(len(mask))
    return Overfitting.of_splits(
        logits,
        perf_in[rows, pick],
        perf_out[rows, pick],
        pick,
        names,
        blocks,
        usable,
        total - usable,
    )


def overfitting_or_why(
    returns: pd.DataFrame, blocks: int = DEFAULT_BLOCKS
) -> tuple[Overfitting | None, str]:
    """`probability_of_overfitting`, or None and why it could not be estimated (fewer than 2
    configurations, too few days for the blocks), for a run to say in a note."""
    try:
        return probability_of_overfitting(returns, blocks), ""
    except ValueError as exc:
        return None, str(exc)
