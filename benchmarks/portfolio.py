"""Speed of the ranking-portfolio engines (issue 17), printed as ratios (never asserted).

    python benchmarks/portfolio.py                 # the allocator as a library user has it
    python benchmarks/portfolio.py --tuned-malloc  # as `lstmbt` commands run (_runtime)

1. The panel twin (`strategies.panel.twin_panel_returns`, and `panel_returns` with its pandas
   wrapper and checks) vs plain numpy 2-D returns (held weights x open-to-open returns -
   turnover x cost: no sizing, no drift, no cash) on a synthetic 500-asset x 5,000-day panel,
   for top-k and long-short rankings of a 20-day momentum signal. Target: within 3x of numpy.
2. The multi-data Backtrader strategy vs the twin on 20 assets, in bars (asset-days) per
   second, on the same weights (and the largest difference between their returns).

Timings interleave the engines compared and keep each one's best run, so a busy shared machine
moves both alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt.strategies import (  # noqa: E402
    Costs,
    panel_returns,
    price_panel,
    ranking_weights,
    run_portfolio_backtrader,
)
from lstmbt.strategies.panel import twin_panel_returns  # noqa: E402

COSTS = Costs()


def synthetic_panel(assets: int, days: int, seed: int = 0) -> pd.DataFrame:
    """Geometric random walks with their own drift and volatility per asset; the open gaps
    from the previous close, high/low bracket open and close."""
    rng = np.random.default_rng(seed)
    vol = rng.uniform(0.01, 0.03, size=assets)
    drift = rng.normal(0.0003, 0.0003, size=assets)
    gap = rng.normal(0.0, 0.3, size=(days, assets)) * vol
    body = rng.normal(0.0, 1.0, size=(days, assets)) * vol
    log_close = np.cumsum(drift + gap + body, axis=0) + np.log(rng.uniform(10, 500, assets))
    close = np.exp(log_close)
    open_ = np.exp(log_close - body)
    index = pd.bdate_range("2000-01-03", periods=days)
    frames = {}
    for i in range(assets):
        o, c = open_[:, i], close[:, i]
        frames[f"A{i:03d}"] = pd.DataFrame(
            {
                "open": o,
                "high": np.maximum(o, c) * 1.002,
                "low": np.minimum(o, c) * 0.998,
                "close": c,
            },
            index=index,
        )
    return price_panel(frames)


def momentum(panel: pd.DataFrame, days: int = 20) -> pd.DataFrame:
    close = panel["close"]
    return close / close.shift(days) - 1.0


def numpy_plain_panel(open_: np.ndarray, weights: np.ndarray, cost: float) -> np.ndarray:
    """(days, assets): held weights x open-to-open returns - turnover x cost, summed."""
    held = np.zeros_like(weights)
    held[1:] = weights[:-1]
    r = np.zeros_like(weights)
    r[:-1] = open_[1:] / open_[:-1] - 1.0
    turnover = np.abs(np.diff(held, axis=0, prepend=0.0))
    return (held * r).sum(axis=1) - turnover.sum(axis=1) * cost


def interleaved_best(fns: dict, repeat: int) -> dict:
    """Best wall time of each function, running them in turn `repeat` times."""
    best = dict.fromkeys(fns, np.inf)
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def bench_panel(panel: pd.DataFrame, repeat: int = 15) -> list[dict]:
    signal = momentum(panel)
    open_ = np.ascontiguousarray(panel["open"].to_numpy())
    close = np.ascontiguousarray(panel["close"].to_numpy())
    cost = COSTS.commission + COSTS.slippage
    rows = []
    for label, k, kind in (
        ("top 10 (2% of the assets)", 10, "long"),
        ("top 50 (10%)", 50, "long"),
        ("top 50 / bottom 50 (long-short)", 50, "long-short"),
        ("top 250 (half the universe)", 250, "long"),
    ):
        frame = ranking_weights(signal, k, kind, prices=panel)
        weights = frame.reindex(panel.index, fill_value=0.0)
        w = np.ascontiguousarray(weights.to_numpy())
        changes = np.abs(np.diff(w, axis=0)) > 0
        best = interleaved_best(
            {
                "twin": lambda w=w: twin_panel_returns(open_, close, w, COSTS),
                "numpy": lambda w=w: numpy_plain_panel(open_, w, cost),
                "pandas": lambda f=weights: panel_returns(panel, f, COSTS),
            },
            repeat,
        )
        bars = w.size
        rows.append(
            {
                "label": label,
                "names_changed": float(changes.sum(axis=1).mean()),
                "rebalance_days": float(changes.any(axis=1).mean()),
                **{f"{name}_ms": 1e3 * t for name, t in best.items()},
                **{f"{name}_bps": bars / t for name, t in best.items()},
            }
        )
    return rows


def bench_backtrader(panel: pd.DataFrame, k: int = 5, repeat: int = 2) -> dict:
    weights = ranking_weights(momentum(panel), k, prices=panel)
    bars = weights.size
    result = {}
    t = time.perf_counter()
    engine = run_portfolio_backtrader(panel, weights, COSTS)
    first = time.perf_counter() - t
    best = interleaved_best(
        {
            "backtrader": lambda: run_portfolio_backtrader(panel, weights, COSTS),
            "twin_pandas": lambda: panel_returns(panel, weights, COSTS),
        },
        repeat,
    )
    twin = panel_returns(panel, weights, COSTS)
    result["assets"], result["days"], result["k"] = weights.shape[1], weights.shape[0], k
    result["orders"] = engine.n_trades
    result["max_diff"] = float(np.abs(engine.returns - twin).max())
    result["backtrader_bps"] = bars / min(first, best["backtrader"])
    result["twin_pandas_bps"] = bars / best["twin_pandas"]
    w = np.ascontiguousarray(weights.to_numpy())
    o = np.ascontiguousarray(panel["open"].reindex(weights.index).to_numpy())
    c = np.ascontiguousarray(panel["close"].reindex(weights.index).to_numpy())
    arrays = interleaved_best({"twin": lambda: twin_panel_returns(o, c, w, COSTS)}, 50)
    result["twin_bps"] = bars / arrays["twin"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tuned-malloc",
        action="store_true",
        help="keep freed memory in the process first, as the CLI does (fewer page faults)",
    )
    if parser.parse_args().tuned_malloc:
        from lstmbt._runtime import tune_malloc

        print(f"glibc malloc tuned: {tune_malloc()}")
    print(
        f"lstmbt portfolio benchmarks  {time.strftime('%Y-%m-%d')}  {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}, backtrader {bt.__version__}; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    panel = synthetic_panel(500, 5000)
    print(
        "\nPanel twin vs plain numpy 2-D (500 assets x 5,000 days = 2.5M bars, 20-day momentum "
        "ranks, 5+5 bps; best of 15, interleaved)"
    )
    print(
        f"  {'portfolio':<34}{'names/day':>10}{'rebal.':>8}{'twin ms':>9}{'numpy ms':>10}"
        f"{'twin/numpy':>12}{'pandas ms':>11}{'twin bars/s':>14}"
    )
    for row in bench_panel(panel):
        print(
            f"  {row['label']:<34}{row['names_changed']:>10.1f}{row['rebalance_days']:>8.0%}"
            f"{row['twin_ms']:>9.1f}{row['numpy_ms']:>10.1f}"
            f"{row['twin_ms'] / row['numpy_ms']:>11.2f}x{row['pandas_ms']:>11.1f}"
            f"{row['twin_bps']:>14,.0f}"
        )
    print("  names/day: tickers whose weight changes per day; rebal.: share of days that rebalance")
    small = synthetic_panel(20, 2000, seed=1)
    bt_row = bench_backtrader(small)
    print(
        f"\nBacktrader multi-data strategy vs the twin ({bt_row['assets']} assets x "
        f"{bt_row['days']:,} days, top {bt_row['k']} by momentum, {bt_row['orders']:,} orders)"
    )
    print(f"  Backtrader:               {bt_row['backtrader_bps']:>14,.0f} bars/s")
    print(
        f"  twin, arrays:             {bt_row['twin_bps']:>14,.0f} bars/s  "
        f"({bt_row['twin_bps'] / bt_row['backtrader_bps']:,.0f}x Backtrader)"
    )
    print(
        f"  twin, pandas in and out:  {bt_row['twin_pandas_bps']:>14,.0f} bars/s  "
        f"({bt_row['twin_pandas_bps'] / bt_row['backtrader_bps']:,.0f}x Backtrader)"
    )
    print(f"  largest |difference| of daily returns: {bt_row['max_diff']:.1e}")


if __name__ == "__main__":
    main()
