"""Report figures (PNG, matplotlib Agg) drawn only from a run's saved files, so `lstmbt report`
can redraw them without retraining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "figure.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.family": "DejaVu Sans",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def _lstms(columns) -> list[str]:
    return [c for c in columns if str(c).endswith(":lstm")]


def rolling_spearman(a: pd.Series, b: pd.Series, window: int) -> pd.Series:
    """Spearman correlation over each trailing window (ranks taken inside the window)."""
    from scipy.stats import rankdata

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


def draw_all(
    run_dir: Path, benchmark: str, returns: pd.DataFrame, preds: pd.DataFrame
) -> dict[str, str]:
    """Every figure of index.html (from the saved returns and predictions), written to
    run_dir/figures; returns {key: relative path}."""
    plt = _plt()
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(exist_ok=True)
    lstms = _lstms(returns.columns)
    out: dict[str, str] = {}

    equity = (1 + returns).cumprod()
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for col in equity.columns:
        bold = col == benchmark or col in lstms
        ax.plot(
            equity.index,
            equity[col],
            lw=2.2 if col == benchmark else (1.6 if bold else 0.9),
            color="black" if col == benchmark else None,
            alpha=1 if bold else 0.6,
            label=col,
        )
    ax.set_title("Growth of 1 after costs (out of sample)")
    ax.legend(fontsize=8, ncol=3)
    out["equity"] = "figures/" + _save(fig, fig_dir / "equity.png")

    fig, ax = plt.subplots(figsize=(10, 3.2))
    for col in [benchmark, *lstms]:
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
    out["drawdown"] = "figures/" + _save(fig, fig_dir / "drawdown.png")

    models = [c for c in preds.columns if c != "realised"]
    shown = _lstms(models) or models[:1]
    realised = preds["realised"]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.8), squeeze=False)
    for ax, col in zip(axes[0], shown, strict=True):
        ax.scatter(preds[col], realised, s=4, alpha=0.35)
        lim = np.nanpercentile(np.abs(realised), 99)
        ax.set_ylim(-lim, lim)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel(f"forecast ({col})")
        ax.set_ylabel("realised next-day return")
        ax.set_title(col)
    out["scatter"] = "figures/" + _save(fig, fig_dir / "scatter.png")

    fig, ax = plt.subplots(figsize=(10, 3.6))
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
    out["forecast_time"] = "figures/" + _save(fig, fig_dir / "forecast_time.png")

    window = 63
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for col in models:
        if col in ("random_walk",):
            continue
        hit = (np.sign(preds[col]) == np.sign(realised)).astype(float).rolling(window).mean()
        axes[0].plot(hit.index, hit, lw=1.3 if col in shown else 0.7, label=col)
        ic = rolling_spearman(preds[col], realised, 2 * window)
        axes[1].plot(ic.index, ic, lw=1.3 if col in shown else 0.7, label=col)
    fig.autofmt_xdate()
    axes[0].axhline(0.5, color="black", lw=0.8)
    axes[0].set_title(f"Rolling hit rate ({window} days)")
    axes[1].axhline(0, color="black", lw=0.8)
    axes[1].set_title(f"Rolling rank IC ({2 * window} days)")
    axes[1].legend(fontsize=7)
    out["rolling"] = "figures/" + _save(fig, fig_dir / "rolling.png")

    fig, ax = plt.subplots(figsize=(10, 3.4))
    lo = min(np.nanpercentile(preds[c], 0.5) for c in shown)
    hi = max(np.nanpercentile(preds[c], 99.5) for c in shown)
    bins = np.linspace(lo, hi, 60) if hi > lo else 30
    for col in shown:
        ax.hist(preds[col], bins=bins, histtype="step", lw=1.5, label=col)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_title(f"Distribution of forecasts (realised next-day returns: sd {realised.std():.4f})")
    ax.legend(fontsize=8)
    out["distribution"] = "figures/" + _save(fig, fig_dir / "distribution.png")
    return out


def draw_lag_check(run_dir: Path, lag_tests: dict[str, dict]) -> str:
    """Bar chart: correlation of each forecast with the returns known at t, t-1, ..."""
    plt = _plt()
    names = [n for n, t in lag_tests.items() if any(c is not None for c in t["corr_by_lag"])]
    fig, ax = plt.subplots(figsize=(10, 3.4))
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        corrs = [c if c is not None else 0.0 for c in lag_tests[name]["corr_by_lag"]]
        ax.bar(np.arange(len(corrs)) + i * width, corrs, width=width, label=name)
    ax.axhline(0.8, color="red", lw=0.8, ls="--")
    ax.axhline(-0.8, color="red", lw=0.8, ls="--")
    ax.set_xticks(np.arange(6) + 0.4 - width / 2, [f"r(t-{k})" if k else "r(t)" for k in range(6)])
    ax.set_title("Lag check: does the forecast just repeat recent returns? (|corr| ≥ 0.8 flagged)")
    ax.legend(fontsize=7, ncol=3)
    return "figures/" + _save(fig, run_dir / "figures" / "lag_check.png")
