"""Which strategies beat buy-and-hold, family-wise, and which forecasters are the best:
Romano and Wolf's StepM and Hansen, Lunde and Nason's model confidence set (arch.bootstrap),
on a stationary bootstrap with the study's block size, replications and seed.

SPA (in significance.py) asks whether *any* strategy beats the benchmark. StepM names *which*
do, controlling the family-wise error rate: with size 0.05, the chance that even one strategy
without an edge is named is at most 5%, however many were tried. The model confidence set
keeps the forecasters whose loss is not significantly worse than the best's: at size 0.10 it
holds the best forecaster with probability at least 90%; a forecaster outside it is worse.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.findings import MCS_SIZE, STEPM_SIZE, ConfidenceSet, StepM
from lstmbt.study.significance import EQUAL_TOL, MIN_DIFFERENT_DAYS

LOSSES = ("squared", "absolute")


def _check(frame: pd.DataFrame, what: str, size: float, reps: int, block: int) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a DataFrame (days x names), got {type(frame).__name__}.")
    if not frame.columns.is_unique:
        raise ValueError(f"{what}' column names must be unique.")
    if not np.isfinite(frame.to_numpy(dtype=float)).all():
        raise ValueError(f"{what} must be finite on every day; align them on common days first.")
    if not 0 < size < 1:
        raise ValueError(f"size must be in (0, 1), got {size}.")
    if reps < 1 or block < 1:
        raise ValueError(f"reps and block must be positive, got reps={reps}, block={block}.")


def _days_different(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.sum(~(np.abs(a - b) <= EQUAL_TOL)))


def stepm(
    returns: pd.DataFrame,
    benchmark: str,
    *,
    size: float = STEPM_SIZE,
    reps: int = 1000,
    block: int = 20,
    seed: int = 0,
) -> StepM:
    """Which columns of `returns` (daily, after costs; over the cash rate where Sharpe ratios
    are) beat the `benchmark` column in mean return, family-wise at `size`.

    The loss is the negative return, and the statistic is each strategy's mean loss
    differential, not studentised: arch 8.0's `studentize` flag (on by default) only labels
    the output, so a volatile strategy weighs more in the bootstrap maximum than a quiet one
    (docs/statistics.md, "Romano-Wolf StepM"). A column equal to the benchmark's, or
    different from it on fewer than MIN_DIFFERENT_DAYS days, is left out with the reason (its
    loss differential is zero or a handful of days).
    """
    from arch.bootstrap import StepM as ArchStepM

    _check(returns, "returns", size, reps, block)
    if benchmark not in returns.columns:
        raise ValueError(f"no benchmark column {benchmark!r} in returns.")
    bench = returns[benchmark].to_numpy(dtype=float)
    tested, left_out = [], {}
    for name in returns.columns:
        if name == benchmark:
            continue
        k = _days_different(returns[name].to_numpy(dtype=float), bench)
        if k == 0:
            left_out[str(name)] = f"has the same daily returns as {benchmark} on every day"
        elif k < MIN_DIFFERENT_DAYS:
            left_out[str(name)] = (
                f"differs from {benchmark} on only {k} days (fewer than {MIN_DIFFERENT_DAYS})"
            )
        else:
            tested.append(name)
    superior: tuple[str, ...] = ()
    if tested:
        test = ArchStepM(
            -returns[benchmark],
            -returns[tested],
            size=size,
            block_size=block,
            reps=reps,
            seed=np.random.default_rng(seed),
        )
        test.compute()
        found = set(test.superior_models)
        superior = tuple(str(n) for n in tested if n in found)
    return StepM(
        str(benchmark),
        superior,
        tuple(str(n) for n in tested),
        left_out,
        size,
        reps,
        block,
        seed,
    )


def stepm_or_why(
    returns: pd.DataFrame, benchmark: str, *, reps: int, block: int, seed: int
) -> tuple[StepM | None, str]:
    """`stepm` at the default size, or None and why it could not run (returns missing on some
    day, no benchmark column), for a run to say in a note."""
    try:
        return stepm(returns, benchmark, reps=reps, block=block, seed=seed), ""
    except ValueError as exc:
        return None, str(exc)


def forecast_losses(
    predictions: pd.DataFrame,
    names: list[str] | tuple[str, ...],
    realised: str = "realised",
    loss: str = "squared",
) -> pd.DataFrame:
    """(days x names) daily losses of each forecast against the realised return: squared or
    absolute error (days where any is missing are dropped)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
    missing = [n for n in (*names, realised) if n not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack the columns {missing}.")
    err = predictions[list(names)].sub(predictions[realised], axis=0).dropna()
    return err**2 if loss == "squared" else err.abs()


def model_confidence_set(
    losses: pd.DataFrame,
    *,
    size: float = MCS_SIZE,
    loss: str = "squared",
    reps: int = 1000,
    block: int = 20,
    seed: int = 0,
) -> ConfidenceSet:
    """Hansen's model confidence set (method R) over `losses` (days x forecasters, lower is
    better; `forecast_losses` builds them). `loss` only labels the result.

    A forecaster whose losses equal an earlier one's on every day is merged into it (the pair
    has no loss differential to test) and shares its p-value.
    """
    from arch.bootstrap import MCS

    _check(losses, "losses", size, reps, block)
    L = losses.to_numpy(dtype=float)
    names = [str(c) for c in losses.columns]
    kept: list[int] = []
    merged: dict[str, str] = {}
    for j in range(L.shape[1]):
        twin = next((k for k in kept if _days_different(L[:, j], L[:, k]) == 0), None)
        if twin is None:
            kept.append(j)
        else:
            merged[names[j]] = names[twin]
    if len(kept) == 1:
        only = names[kept[0]]
        pvalues = {only: 1.0, **{n: 1.0 for n in merged}}
        return ConfidenceSet((only, *merged), (), pvalues, merged, size, loss, reps, block, seed)
    frame = pd.DataFrame(L[:, kept], columns=[names[k] for k in kept])
    mcs = MCS(
        frame, size, reps=reps, block_size=block, method="R", seed=np.random.default_rng(seed)
    )
    mcs.compute()
    pv = mcs.pvalues["Pvalue"]
    pvalues = {str(n): float(pv[n]) for n in pv.index}
    for name, into in merged.items():
        pvalues[name] = pvalues[into]
    included = tuple(sorted((n for n in pvalues if pvalues[n] > size), key=lambda n: -pvalues[n]))
    excluded = tuple(str(n) for n in pv.index if pvalues[str(n)] <= size)
    excluded += tuple(n for n in merged if pvalues[n] <= size)
    return ConfidenceSet(included, excluded, pvalues, merged, size, loss, reps, block, seed)
