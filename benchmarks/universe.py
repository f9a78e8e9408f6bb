"""Universe throughput, measured in one run and printed as ratios (never asserted in tests).

    python benchmarks/universe.py                 # the sample universe, reduced study settings
    python benchmarks/universe.py --presets baseline,lookback,multifeature --seeds 5   # default

Prints: ticker-studies per hour with 1 worker (the study trains in this process) and 2 (one
pool of 2 workers for the whole universe, training the next tickers while this process
evaluates one), the scaling from 1 to 2, the same on a local Ray instance against the pool,
CPU seconds (this process and the pool's workers), and a projection, with its arithmetic, of a
500-ticker universe on a 10-node Ray cluster from the measured CPU-seconds per ticker.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt import RunConfig, _runtime  # noqa: E402
from lstmbt.api import run_universe  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the pool's workers; Ray's
    workers are not children and are not counted)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(config: RunConfig) -> tuple[float, int, float]:
    """Wall seconds, tickers studied and CPU seconds of one universe."""
    cpu, start = cpu_seconds(), time.perf_counter()
    result = run_universe(config)
    return time.perf_counter() - start, len(result.tickers), cpu_seconds() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="baseline,lookback")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--refit-every", type=int, default=252)
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    _runtime.start()
    cores = os.cpu_count() or 1
    print(
        f"{cores} cores, load average {os.getloadavg()[0]:.1f} before the runs (figures taken "
        "on a busy machine measure the load, not lstmbt: compare CPU-s there)"
    )
    with tempfile.TemporaryDirectory() as out:
        base = dict(
            universe="sample",
            presets=args.presets,
            seeds=args.seeds,
            epochs=args.epochs,
            walk_forward=True,
            refit_every=args.refit_every,
            tearsheets=False,
            bootstrap_reps=200,
            out=out,
        )
        rows = {}
        for label, extra in (
            ("pool, 1 worker", dict(jobs=1)),
            ("pool, 2 workers", dict(jobs=2)),
            *(() if args.no_ray else (("ray, 2 CPUs (local)", dict(jobs=2, backend="ray")),)),
        ):
            seconds, tickers, cpu = timed(RunConfig(**base, **extra))
            rows[label] = (seconds, tickers)
            used = "" if "ray" in label else f"  {cpu:6.1f} CPU-s"
            print(
                f"{label:22s} {seconds:7.1f} s  {tickers / seconds * 3600:7.1f} tickers/hour"
                f"{used}  (load average {os.getloadavg()[0]:.1f})"
            )
    one, two = rows["pool, 1 worker"][0], rows["pool, 2 workers"][0]
    print(f"scaling 1 -> 2 workers: {one / two:.2f}x (ideal 2.00x)")
    if "ray, 2 CPUs (local)" in rows:
        ray = rows["ray, 2 CPUs (local)"][0]
        print(f"ray / pool on the same units: {ray / two:.2f}x the time")
    per_ticker_cpu = one / rows["pool, 1 worker"][1]  # one worker: wall time = CPU time
    nodes, cores_per_node, efficiency = 10, 16, one / two / 2
    hours = 500 * per_ticker_cpu / (nodes * cores_per_node * efficiency) / 3600
    print(
        f"projection: 500 tickers x {per_ticker_cpu:.0f} CPU-s per ticker / (10 nodes x 16 "
        f"cores x {efficiency:.2f} parallel efficiency measured here) = {hours:.2f} h "
        f"(machine: {cores} cores; settings: {args.presets}, {args.seeds} seeds, "
        f"{args.epochs} epochs, refit every {args.refit_every} days)"
    )


if __name__ == "__main__":
    main()
