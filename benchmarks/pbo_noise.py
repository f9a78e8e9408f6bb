"""How widely one PBO scatters when nothing has an edge: the range the verdict quotes
(`lstmbt.findings.NOISE_PBO`) and the rate at which its "held up" / "picks luck" sentences
would fire on pure noise. Rates, not timings; nothing is asserted here
(tests/test_overfitting.py re-measures one shape's false-alarm rate in CI).

    nice -n 10 python benchmarks/pbo_noise.py            # ~25 min on a loaded 2-core machine
    python benchmarks/pbo_noise.py --families 50         # a quick look

Families: daily returns of N configurations over T days, nothing to find. Independent
configurations are i.i.d. normal; correlated ones share a common factor (pairwise correlation
0.8, as seeds of one model or presets on one ticker are); fat-tailed ones are Student t with 4
degrees of freedom. Each family's PBO by CSCV with the default 16 blocks, as a run computes it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt.study.overfitting import DEFAULT_BLOCKS, probability_of_overfitting  # noqa: E402

SHAPES = [  # (configurations, days, kind)
    (2, 750, "independent"),
    (6, 750, "independent"),
    (6, 750, "correlated"),
    (6, 2500, "independent"),
    (20, 800, "independent"),
    (20, 800, "correlated"),
    (20, 2500, "fat-tailed"),
    (40, 2500, "independent"),
]


def family(n: int, days: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    """(days x n) daily returns with no edge anywhere."""
    if kind == "fat-tailed":
        return 0.01 * rng.standard_t(4, size=(days, n)) / np.sqrt(2.0)
    eps = rng.normal(0.0, 0.01, size=(days, n))
    if kind == "correlated":
        common = rng.normal(0.0, 0.01, size=(days, 1))
        return np.sqrt(0.8) * common + np.sqrt(0.2) * eps
    return eps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"PBO of pure-noise families: {args.families} per shape, {DEFAULT_BLOCKS} blocks")
    print("| configs | days | kind | 2.5% | 5% | median | 95% | 97.5% | min | max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    everything = []
    for i, (n, days, kind) in enumerate(SHAPES):
        rng = np.random.default_rng([args.seed, i])
        draws = (family(n, days, kind, rng) for _ in range(args.families))
        pbos = np.array([probability_of_overfitting(r).pbo for r in draws])
        everything.append(pbos)
        q = np.quantile(pbos, [0.025, 0.05, 0.5, 0.95, 0.975])
        print(
            f"| {n} | {days:,} | {kind} | "
            + " | ".join(f"{v:.2f}" for v in (*q, pbos.min(), pbos.max()))
            + " |"
        )
    print("\nby configurations: the widest central 95% over that size's shapes (NOISE_PBO),")
    print("and how often a PBO of noise falls outside it (each verdict sentence fires on one side)")
    for n in sorted({shape[0] for shape in SHAPES}):
        mine = [p for shape, p in zip(SHAPES, everything, strict=True) if shape[0] == n]
        # rounded outwards to the 2 decimals NOISE_PBO keeps, and compared as the verdict does
        low = math.floor(100 * min(float(np.quantile(p, 0.025)) for p in mine)) / 100
        high = math.ceil(100 * max(float(np.quantile(p, 0.975)) for p in mine)) / 100
        below = max(float(np.mean(p < low)) for p in mine)
        above = max(float(np.mean(p > high)) for p in mine)
        print(
            f"{n} configurations: {low:.2f} to {high:.2f}; outside on noise, worst shape: "
            f"below {below:.1%}, above {above:.1%}"
        )


if __name__ == "__main__":
    main()
