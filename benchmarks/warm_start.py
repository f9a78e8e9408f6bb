"""Warm-started walk-forward folds against cold starts: time and out-of-sample quality, one run.

    python benchmarks/warm_start.py                 # `lstmbt study` (S&P 500) + the universe
    python benchmarks/warm_start.py --no-universe   # the S&P 500 study only (~3 minutes idle)

Runs the default `lstmbt study` from the command line twice, `--no-warm-start` then with warm
starts (its default), each as a fresh process writing its full report, and prints the wall
time of each with their ratio; then the same pair on the sample universe (`--universe
sample`, 6 tickers, `--seeds` seeds). From the runs' own files it prints, per ticker and
preset, cold | warm: the out-of-sample loss as a ratio to the random walk's (MSE / MSE of a
zero forecast), the Diebold-Mariano statistic against the random walk, a DM test of the warm
ensemble against the cold one on the same days (negative: warm more accurate), and the seeds'
spread (the standard deviation over seeds of their RMSE and of their Sharpe ratio). Markdown
tables, ready for benchmarks/README.md. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt.study.significance import diebold_mariano  # noqa: E402

PRESETS = ("baseline", "lookback", "multifeature")


def lstmbt_study(out: Path, run_id: str, *flags: str) -> float:
    """Wall seconds of one `lstmbt study` in a fresh process (its report written)."""
    cmd = [sys.executable, "-m", "lstmbt", "study", "--out", str(out), "--run-id", run_id, *flags]
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def quality(cold: Path, warm: Path, label: str) -> list[dict]:
    """Per preset: cold and warm loss ratio, DM vs the random walk, warm-vs-cold DM, spread."""
    runs = (("c", cold), ("w", warm))
    docs = {k: json.loads((d / "metrics.json").read_text()) for k, d in runs}
    preds = {k: pd.read_csv(d / "predictions.csv", index_col=0) for k, d in runs}
    rows = []
    for preset in PRESETS:
        name = f"{preset}:lstm"
        if name not in docs["c"]["forecast"]:
            continue
        row = {"ticker": label, "preset": preset}
        for k in ("c", "w"):
            m = docs[k]
            row[f"loss_{k}"] = 1.0 - m["forecast"][name]["r2_vs_zero"]
            row[f"dm_rw_{k}"] = m["forecast_tests"][name]["dm_squared_vs_rw"]["stat"]
            row[f"sd_rmse_{k}"] = m["seeds"][name]["rmse"]["std"]
            row[f"sd_sharpe_{k}"] = m["seeds"][name]["sharpe"]["std"]
        realised = preds["c"]["realised"].to_numpy()
        e_cold = preds["c"][name].to_numpy() - realised
        e_warm = preds["w"][name].to_numpy() - realised
        dm = diebold_mariano(e_warm, e_cold)
        row["dm_warm_vs_cold"], row["p_warm_vs_cold"] = dm["stat"], dm["p_value"]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        "| ticker | preset | loss / RW cold | warm | DM vs RW cold | warm | DM warm vs cold (p) "
        "| seeds' RMSE sd cold | warm | seeds' Sharpe sd cold | warm |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['ticker']} | {r['preset']} | {r['loss_c']:.5f} | {r['loss_w']:.5f} | "
            f"{r['dm_rw_c']:+.2f} | {r['dm_rw_w']:+.2f} | {r['dm_warm_vs_cold']:+.2f} "
            f"({r['p_warm_vs_cold']:.2f}) | {r['sd_rmse_c']:.2e} | {r['sd_rmse_w']:.2e} | "
            f"{r['sd_sharpe_c']:.2f} | {r['sd_sharpe_w']:.2f} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Counts and geometric means over the distinct (ticker, preset) rows (the universe's
    ^GSPC is the S&P 500 study again, number for number: counted once)."""
    seen, distinct = set(), []
    for r in rows:
        key = tuple(v for k, v in r.items() if k != "ticker")
        if key not in seen:
            seen.add(key)
            distinct.append(r)

    def geo(values) -> float:
        return float(np.exp(np.mean(np.log(values))))

    worse = sum(r["dm_warm_vs_cold"] > 0 and r["p_warm_vs_cold"] < 0.05 for r in distinct)
    better = sum(r["dm_warm_vs_cold"] < 0 and r["p_warm_vs_cold"] < 0.05 for r in distinct)
    loss = [r["loss_w"] / r["loss_c"] for r in distinct]
    rmse = [r["sd_rmse_w"] / r["sd_rmse_c"] for r in distinct]
    sharpe = [r["sd_sharpe_w"] / r["sd_sharpe_c"] for r in distinct]
    return (
        f"{len(distinct)} distinct (ticker, preset) pairs: warm significantly worse than cold "
        f"(DM p < 0.05) on {worse}, significantly better on {better} (by chance alone: about "
        f"{0.025 * len(distinct):.1f} each); loss / RW warm / cold: mean {np.mean(loss):.5f}, "
        f"warm lower on {sum(x < 1 for x in loss)}; DM vs RW mean cold "
        f"{np.mean([r['dm_rw_c'] for r in distinct]):+.2f}, warm "
        f"{np.mean([r['dm_rw_w'] for r in distinct]):+.2f}; seeds' spread warm / cold "
        f"(geometric mean): RMSE sd {geo(rmse):.2f} (warm wider on {sum(x > 1 for x in rmse)}), "
        f"Sharpe sd {geo(sharpe):.2f} (warm wider on {sum(x > 1 for x in sharpe)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-universe", action="store_true", help="the S&P 500 study only")
    ap.add_argument("--seeds", type=int, default=5, help="seeds in the universe runs")
    args = ap.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load {os.getloadavg()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cold = lstmbt_study(out, "cold", "--no-warm-start")
        warm = lstmbt_study(out, "warm")
        print(
            f"\n`lstmbt study` (S&P 500, 3 presets x 5 seeds x yearly folds, report written): "
            f"cold {cold:.1f} s, warm {warm:.1f} s, warm / cold = {warm / cold:.2f}"
        )
        rows += quality(out / "cold", out / "warm", "^GSPC")
        if not args.no_universe:
            flags = ("--universe", "sample", "--seeds", str(args.seeds), "--no-tearsheets")
            u_cold = lstmbt_study(out, "u-cold", *flags, "--no-warm-start")
            u_warm = lstmbt_study(out, "u-warm", *flags)
            tickers = sorted(p.name for p in (out / "u-cold" / "tickers").iterdir() if p.is_dir())
            print(
                f"`lstmbt study --universe sample --seeds {args.seeds} --no-tearsheets` "
                f"({len(tickers)} tickers): cold {u_cold:.1f} s, warm {u_warm:.1f} s, "
                f"warm / cold = {u_warm / u_cold:.2f}"
            )
            for t in tickers:
                rows += quality(out / "u-cold" / "tickers" / t, out / "u-warm" / "tickers" / t, t)
    print("\n" + table(rows) + "\n\n" + summary(rows))


if __name__ == "__main__":
    main()
