"""The probability of backtest overfitting as figures: the histogram of CSCV's logits and the
performance-degradation plot (matplotlib `Figure` objects, house style inside only).

Both draw what metrics.json keeps of a `lstmbt.findings.Overfitting` (the exact logit
histogram and the degradation scatter binned on a grid), so a report rebuilt from disk draws
the same figures as the run that computed them."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lstmbt.findings import Overfitting
from lstmbt.report.figures import style


def logit_histogram_figure(result: Overfitting) -> Figure:
    """How far above or below the median out of sample the in-sample best landed, per split;
    the share at or left of zero is PBO."""
    with style():
        fig = Figure(figsize=(8, 3.6))
        ax = fig.subplots()
        values = np.asarray(result.logit_values, dtype=float)
        counts = np.asarray(result.logit_counts, dtype=float)
        # the logits take few distinct values (ranks among N): one bar each, never a bin
        # that straddles zero
        gaps = np.diff(values)
        width = 0.8 * (gaps.min() if len(gaps) else 1.0)
        low = values <= 0
        for part, colour, label in (
            (low, "tab:red", "at or below the median (overfit)"),
            (~low, "tab:blue", "above the median"),
        ):
            ax.bar(values[part], counts[part], width=width, color=colour, alpha=0.8, label=label)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("logit of the in-sample best's out-of-sample rank (0 = median)")
        ax.set_ylabel("splits")
        ax.set_title(
            f"Probability of backtest overfitting, estimated: {result.pbo:.2f} "
            f"({result.combinations:,} splits, {len(result.configurations)} configurations)"
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def degradation_figure(result: Overfitting) -> Figure:
    """Each split's in-sample best: its Sharpe ratio in sample against out of sample (splits
    counted on a grid), with the least-squares line fitted on every split; below zero it lost
    money out of sample."""
    with style():
        fig = Figure(figsize=(6.5, 4.8))
        ax = fig.subplots()
        grid = np.ma.masked_equal(result.grid(), 0)
        x, y = np.asarray(result.grid_x), np.asarray(result.grid_y)
        mesh = ax.pcolormesh(x, y, grid.T, cmap="Blues", vmin=0)
        fig.colorbar(mesh, ax=ax, label="splits")
        if np.isfinite(result.slope) and len(x):
            ends = np.array([x[0], x[-1]])
            ax.plot(
                ends,
                result.intercept + result.slope * ends,
                color="black",
                lw=1.2,
                label=f"slope {result.slope:.2f}",
            )
            ax.legend(fontsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("Sharpe ratio in sample (the best of the split)")
        ax.set_ylabel("its Sharpe ratio out of sample")
        ax.set_title(
            "Performance degradation (negative Sharpe ratio out of sample in "
            f"{result.prob_loss:.0%} of splits)"
        )
        fig.tight_layout()
    return fig


def overfitting_figures(result: Overfitting) -> dict[str, Figure]:
    """Both figures, keyed by file stem."""
    return {
        "pbo_logits": logit_histogram_figure(result),
        "pbo_degradation": degradation_figure(result),
    }
