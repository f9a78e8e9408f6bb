"""The probability of backtest overfitting as figures: the histogram of CSCV's logits and the
performance-degradation scatter (matplotlib `Figure` objects, house style inside only).

They draw a `lstmbt.study.overfitting.Overfitting` (the report sits below the study layer, so
it is named here by the fields it reads: `CSCV`)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from matplotlib.figure import Figure

from lstmbt.report.figures import style


class CSCV(Protocol):
    """What the figures read of a PBO result (study.overfitting.Overfitting)."""

    pbo: float
    prob_loss: float
    logits: np.ndarray
    in_sample: np.ndarray
    out_of_sample: np.ndarray
    slope: float
    intercept: float
    configurations: tuple[str, ...]

    @property
    def combinations(self) -> int: ...


def logit_histogram_figure(result: CSCV) -> Figure:
    """How far above or below the median out of sample the in-sample best landed, per split;
    the share at or left of zero is PBO."""
    with style():
        fig = Figure(figsize=(8, 3.6))
        ax = fig.subplots()
        logits = result.logits
        edges = np.histogram_bin_edges(logits, bins=min(40, max(10, len(np.unique(logits)))))
        ax.hist(logits[logits <= 0], bins=edges, color="tab:red", alpha=0.8, label="overfit")
        ax.hist(logits[logits > 0], bins=edges, color="tab:blue", alpha=0.8, label="held up")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("logit of the in-sample best's out-of-sample rank (0 = median)")
        ax.set_ylabel("splits")
        ax.set_title(
            f"Probability of backtest overfitting: {result.pbo:.2f} "
            f"({result.combinations} splits, {len(result.configurations)} configurations)"
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def degradation_figure(result: CSCV) -> Figure:
    """Each split's in-sample best: its Sharpe ratio in sample against out of sample, with
    the least-squares line; points below zero lost money out of sample."""
    with style():
        fig = Figure(figsize=(6.5, 4.8))
        ax = fig.subplots()
        x, y = result.in_sample, result.out_of_sample
        ax.scatter(x, y, s=5, alpha=0.3)
        if np.isfinite(result.slope):
            grid = np.linspace(x.min(), x.max(), 2)
            ax.plot(
                grid,
                result.intercept + result.slope * grid,
                color="black",
                lw=1.2,
                label=f"slope {result.slope:.2f}",
            )
            ax.legend(fontsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("Sharpe ratio in sample (the best of the split)")
        ax.set_ylabel("its Sharpe ratio out of sample")
        ax.set_title(f"Performance degradation (lost money in {result.prob_loss:.0%} of splits)")
        fig.tight_layout()
    return fig


def overfitting_figures(result: CSCV) -> dict[str, Figure]:
    """Both figures, keyed by file stem."""
    return {
        "pbo_logits": logit_histogram_figure(result),
        "pbo_degradation": degradation_figure(result),
    }
