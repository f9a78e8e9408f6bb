"""The report's figures as matplotlib `Figure` objects, drawn from returns and predictions only
(so `lstmbt report` can redraw them without retraining).

Figures are built with the object API (`matplotlib.figure.Figure`): no backend switch, no
pyplot state, and the house style applies only inside `style()`, so a notebook's own plotting
settings are left as they were.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import rankdata

from lstmbt.metrics import is_step_column

STYLE = {
    "figure.dpi": 100,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.family": "DejaVu Sans",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
WINDOW = 63  # trading days of the rolling hit rate (the rank IC uses twice as many)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The house style for figures drawn (and saved) inside; the caller's rcParams outside."""
    with matplotlib.rc_context(STYLE):
        yield


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, height))
    return fig, np.atleast_1d(fig.subplots(1, ncols, squeeze=False)[0])


def rolling_spearman(a: pd.Series, b: pd.Series, window: int) -> pd.Series:
    """Spearman correlation over each trailing window (ranks taken inside the window)."""
    out = pd.Series(np.nan, index=a.index)
    if len(a) < window:
        return out
    wa = np.lib.stride_tricks.sliding_window_view(a.to_numpy(float), window)
    wb = np.lib.stride_tricks.sliding_window_view(b.to_numpy(float), window)
    ra, rb = rankdata(wa, axis=1), rankdata(wb, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    denom = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out.iloc[window - 1 :] = np.where(denom > 0, (ra * rb).sum(axis=1) / denom, np.nan)
    return out


def _strategy_lines(ax, frame: pd.DataFrame, benchmark: str, highlight: Sequence[str]) -> None:
    """One line per column: the benchmark black and thickest, `highlight` bold, others thin."""
    for col in frame.columns:
        bold = col == benchmark or col in highlight
        ax.plot(
            frame.index,
            frame[col],
            lw=2.2 if col == benchmark else (1.6 if bold else 0.9),
            color="black" if col == benchmark else None,
            alpha=1 if bold else 0.6,
            label=col,
        )


def equity_figure(returns: pd.DataFrame, benchmark: str, highlight: Sequence[str]) -> Figure:
    """Growth of 1 after costs for every strategy; the benchmark black, `highlight` bold."""
    with style():
        fig, (ax,) = _figure(10, 4.5)
        _strategy_lines(ax, (1 + returns).cumprod(), benchmark, highlight)
        ax.set_title("Growth of 1 after costs (out of sample)")
        ax.legend(fontsize=8, ncol=3)
        fig.tight_layout()
    return fig


def drawdown_figure(returns: pd.DataFrame, benchmark: str, highlight: Sequence[str]) -> Figure:
    """Drawdowns of the benchmark and the highlighted strategies."""
    with style():
        fig, (ax,) = _figure(10, 3.2)
        equity = (1 + returns).cumprod()
        for col in [benchmark, *[h for h in highlight if h in equity.columns]]:
            dd = equity[col] / equity[col].cummax() - 1
            ax.plot(
                dd.index,
                dd,
                lw=1.8 if col == benchmark else 1.2,
                color="black" if col == benchmark else None,
                label=col,
            )
        ax.set_title("Drawdown")
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def scatter_figure(preds: pd.DataFrame, shown: Sequence[str]) -> Figure:
    """Forecast against the realised next-day return, one panel per model."""
    with style():
        fig, axes = _figure(4.2 * len(shown), 3.8, ncols=len(shown))
        realised = preds["realised"]
        lim = np.nanpercentile(np.abs(realised), 99)
        for ax, col in zip(axes, shown, strict=True):
            ax.scatter(preds[col], realised, s=4, alpha=0.35)
            ax.set_ylim(-lim, lim)
            ax.axhline(0, color="grey", lw=0.8)
            ax.axvline(0, color="grey", lw=0.8)
            ax.set_xlabel(f"forecast ({col})")
            ax.set_ylabel("realised next-day return")
            ax.set_title(col)
        fig.tight_layout()
    return fig


def forecast_time_figure(preds: pd.DataFrame, shown: Sequence[str]) -> Figure:
    """Forecasts over time beside the realised return's 21-day mean."""
    with style():
        fig, (ax,) = _figure(10, 3.6)
        realised = preds["realised"]
        ax.plot(
            realised.index,
            realised.rolling(21).mean(),
            color="grey",
            lw=1,
            label="realised (21-day mean)",
        )
        for col in shown:
            ax.plot(preds.index, preds[col], lw=1, label=col)
        ax.set_title("Forecasts over time")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def rolling_figure(preds: pd.DataFrame, shown: Sequence[str], window: int = WINDOW) -> Figure:
    """Rolling hit rate and rank IC of every forecast but the random walk's."""
    with style():
        fig, axes = _figure(11, 3.6, ncols=2)
        realised = preds["realised"]
        for col in [c for c in preds.columns if c not in ("realised", "random_walk")]:
            # the table's hit rate: days with a non-zero forecast and a non-zero return only
            decided = (preds[col] != 0) & (realised != 0)
            hit = (np.sign(preds[col]) == np.sign(realised)).astype(float).where(decided)
            hit = hit.rolling(window, min_periods=window // 2).mean()
            axes[0].plot(hit.index, hit, lw=1.3 if col in shown else 0.7, label=col)
            ic = rolling_spearman(preds[col], realised, 2 * window)
            axes[1].plot(ic.index, ic, lw=1.3 if col in shown else 0.7, label=col)
        fig.autofmt_xdate()
        axes[0].axhline(0.5, color="black", lw=0.8)
        axes[0].set_title(f"Rolling hit rate ({window} days)")
        axes[1].axhline(0, color="black", lw=0.8)
        axes[1].set_title(f"Rolling rank IC ({2 * window} days)")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
    return fig


def distribution_figure(preds: pd.DataFrame, shown: Sequence[str]) -> Figure:
    """Histograms of the forecasts, with the realised returns' spread in the title."""
    with style():
        fig, (ax,) = _figure(10, 3.4)
        lo = min(np.nanpercentile(preds[c], 0.5) for c in shown)
        hi = max(np.nanpercentile(preds[c], 99.5) for c in shown)
        bins = np.linspace(lo, hi, 60) if hi > lo else 30
        for col in shown:
            ax.hist(preds[col], bins=bins, histtype="step", lw=1.5, label=col)
        ax.axvline(0, color="black", lw=0.8)
        sd = preds["realised"].std()
        ax.set_title(f"Distribution of forecasts (realised next-day returns: sd {sd:.4f})")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def lag_figure(corr_by_lag: dict[str, list[float | None]]) -> Figure:
    """Correlation of each forecast with the returns known at t, t-1, ... (the echo check)."""
    names = [n for n, corrs in corr_by_lag.items() if any(c is not None for c in corrs)]
    with style():
        fig, (ax,) = _figure(10, 3.4)
        width = 0.8 / max(len(names), 1)
        lags = max((len(c) for c in corr_by_lag.values()), default=6)
        for i, name in enumerate(names):
            corrs = [c if c is not None else 0.0 for c in corr_by_lag[name]]
            ax.bar(np.arange(len(corrs)) + i * width, corrs, width=width, label=name)
        ax.axhline(0.8, color="red", lw=0.8, ls="--")
        ax.axhline(-0.8, color="red", lw=0.8, ls="--")
        ax.set_xticks(
            np.arange(lags) + 0.4 - width / 2, [f"r(t-{k})" if k else "r(t)" for k in range(lags)]
        )
        ax.set_title(
            "Lag check: does the forecast just repeat recent returns? (|corr| ≥ 0.8 flagged)"
        )
        ax.legend(fontsize=7, ncol=3)
        fig.tight_layout()
    return fig


def cost_sweep_figure(
    sweep: pd.DataFrame, benchmark: str, highlight: Sequence[str], paid_bps: float | None = None
) -> Figure:
    """Each strategy's Sharpe ratio (over the cash rate) against one per-side cost rate paid
    by it and buy-and-hold alike; buy-and-hold black, `highlight` bold, the run's own cost
    dashed. Where a line crosses buy-and-hold's is that strategy's break-even cost."""
    with style():
        fig, (ax,) = _figure(10, 4.2)
        _strategy_lines(ax, sweep, benchmark, highlight)
        if paid_bps is not None:
            ax.axvline(paid_bps, color="grey", ls="--", lw=1, label="this run's cost")
        ax.set_xlabel("cost per side (bps), for every strategy and buy-and-hold alike")
        ax.set_ylabel("Sharpe ratio over the cash rate")
        ax.set_title("Cost sweep: where each strategy's line crosses buy-and-hold's, its edge ends")
        ax.legend(fontsize=8, ncol=3)
        fig.tight_layout()
    return fig


def report_figures(
    returns: pd.DataFrame,
    preds: pd.DataFrame,
    benchmark: str,
    lstms: Sequence[str],
    corr_by_lag: dict[str, list[float | None]],
    sweep: pd.DataFrame | None = None,
    paid_bps: float | None = None,
) -> dict[str, Figure]:
    """Every figure of index.html, keyed by its file stem (`cost_sweep` with a sweep)."""
    preds = preds[[c for c in preds.columns if not is_step_column(c)]]  # next-day forecasts
    shown = [c for c in lstms if c in preds.columns] or [
        c for c in preds.columns if c != "realised"
    ][:1]
    figures = {
        "equity": equity_figure(returns, benchmark, lstms),
        "drawdown": drawdown_figure(returns, benchmark, lstms),
        "scatter": scatter_figure(preds, shown),
        "forecast_time": forecast_time_figure(preds, shown),
        "rolling": rolling_figure(preds, shown),
        "distribution": distribution_figure(preds, shown),
    }
    if corr_by_lag:
        figures["lag_check"] = lag_figure(corr_by_lag)
    if sweep is not None and not sweep.empty:
        figures["cost_sweep"] = cost_sweep_figure(sweep, benchmark, lstms, paid_bps)
    return figures


def save_figures(figures: dict[str, Figure], folder: Path) -> dict[str, str]:
    """PNG files in `folder`; returns {key: path relative to the run folder}."""
    folder.mkdir(exist_ok=True)
    out = {}
    with style():
        for key, fig in figures.items():
            fig.savefig(folder / f"{key}.png", format="png")
            out[key] = f"{folder.name}/{key}.png"
    return out
