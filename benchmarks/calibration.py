"""Calibration of the significance tests: how often the whole pipeline claims an edge where there
is none, and how often it finds one that was planted (never asserted in tests).

    nice -n 10 python benchmarks/calibration.py --readme   # ~15 min; writes benchmarks/README.md
    python benchmarks/calibration.py --null 10 --planted 3   # a quick look

Null series: real S&P 500 daily bars (arch.data, 1999-2018) resampled i.i.d. as whole bars
(open, high, low, close relative to the previous close, and volume), each series with its own
seed, with the close-to-close returns demeaned before the path is built. Resampling removes
any predictability; demeaning makes buy-and-hold and every long/flat strategy that knows
nothing earn the same (zero) expected return, the hardest null for a test "better than
buy-and-hold" (on drifting bars such a strategy is genuinely worse, and a test that rarely
claims an edge there proves little). Planted series: the same bars with close-to-close returns
r[t+1] = b * r[t] + sqrt(1 - b^2) * e[t+1], an AR(1) component the `baseline` preset (which
reads today's close change) can learn.

Every claim is one-sided, an edge claim at 5% for the headline LSTM (`baseline:lstm`):
DM vs the random walk (squared loss) with statistic < 0 and p < 0.05; PT p < 0.05 (one-sided by
construction); the bootstrap Sharpe difference to buy-and-hold > 0 with p < 0.05; SPA
(consistent) p < 0.05; deflated Sharpe > 0.95.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt import RunConfig, _runtime, run_study  # noqa: E402
from lstmbt.progress import Progress  # noqa: E402

TICKER = "NULL"
HEADLINE = "baseline:lstm"
TESTS = ("dm", "pt", "sharpe_diff", "spa", "dsr")
LABELS = {
    "dm": "DM vs random walk (squared loss), stat < 0",
    "pt": "Pesaran-Timmermann",
    "sharpe_diff": "bootstrap Sharpe difference vs buy-and-hold, diff > 0",
    "spa": "Hansen's SPA (consistent p)",
    "dsr": "deflated Sharpe > 0.95",
}
README = Path(__file__).with_name("README.md")
SECTION = "## Calibration of the significance tests"


def real_bars() -> pd.DataFrame:
    """S&P 500 daily bars as ratios to the previous close, plus volume (the resampling unit)."""
    from arch.data import sp500

    raw = sp500.load()
    prev = raw["Close"].shift(1)
    shape = pd.DataFrame(
        {
            "open": raw["Open"] / prev,
            "high": raw["High"] / prev,
            "low": raw["Low"] / prev,
            "close": raw["Close"] / prev,
            "volume": raw["Volume"].astype(float),
        }
    )
    return shape.dropna()


def resampled_prices(
    bars: pd.DataFrame,
    n: int,
    seed: int,
    *,
    demean: bool = True,
    ar: float = 0.0,
    start: str = "2010-01-04",
) -> pd.DataFrame:
    """An OHLCV frame of `n` business days from whole bars drawn i.i.d. with `seed`.

    With `demean`, close-to-close log returns are demeaned (else they keep the real drift);
    with `ar` > 0 they become an AR(1) with that coefficient and the same variance. Open, high
    and low keep each drawn bar's shape around its close; high and low are widened where needed
    so that low <= open, close <= high.
    """
    rng = np.random.default_rng(seed)
    pick = bars.iloc[rng.integers(0, len(bars), n)]
    log_c = np.log(pick["close"].to_numpy())
    e = log_c - log_c.mean() if demean else log_c
    if ar:
        x = np.empty(n)
        x[0] = e[0]
        for t in range(1, n):
            x[t] = ar * x[t - 1] + math.sqrt(1 - ar**2) * e[t]
    else:
        x = e
    close = 100.0 * np.exp(np.cumsum(x))
    prev = np.concatenate([[100.0], close[:-1]])
    # rescale the drawn bar around its new close: shape relative to the drawn close is kept
    k = np.exp(x) / pick["close"].to_numpy()
    frame = pd.DataFrame(
        {
            "open": prev * pick["open"].to_numpy() * k,
            "high": prev * pick["high"].to_numpy() * k,
            "low": prev * pick["low"].to_numpy() * k,
            "close": close,
        },
        index=pd.bdate_range(start, periods=n),
    )
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    frame["adj_close"] = frame["close"]
    frame["volume"] = pick["volume"].to_numpy()
    frame.index.name = "date"
    return frame


def claims(result) -> dict:
    """Every number this benchmark reads from a study result (the one place that knows its shape:
    the typed Metrics tables, indexed by model name)."""
    m = result.metrics

    def ft(col: str):
        return m.value("forecast_tests", HEADLINE, col)

    def st(col: str, name: str = HEADLINE):
        return m.value("strategy_tests", name, col)

    dsr = st("dsr")
    p = {
        "dm": ft("dm_p"),
        "pt": ft("pt_p"),
        "sharpe_diff": st("diff_p_value"),
        "spa": m.spa.p_consistent,
    }
    edge = {
        "dm": ft("dm_stat") is not None and ft("dm_stat") < 0 and _below(p["dm"]),
        "pt": _below(p["pt"]),
        "sharpe_diff": (st("diff") or 0) > 0 and _below(p["sharpe_diff"]),
        "spa": _below(p["spa"]),
        "dsr": dsr is not None and dsr > 0.95,
    }
    diff_se = {}  # bootstrap standard error of each strategy's Sharpe difference
    for name in m.strategy_tests.index:
        lo, hi = st("diff_ci_low", name), st("diff_ci_high", name)
        if lo is not None and hi is not None and (st("diff_days", name) or 0) >= 20:
            diff_se[name] = (hi - lo) / (2 * 1.959964)  # 95% percentile interval width / 3.92
    return {
        "edge": edge,
        "p": p,
        "dsr": dsr,
        "sharpe_diff": st("diff"),
        "diff_se": diff_se,
        "spa_merged": dict(m.spa.merged),
        "spa_left_out": dict(m.spa.left_out),
    }


def _below(p: float | None, alpha: float = 0.05) -> bool:
    return p is not None and p < alpha


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials."""
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def one_run(prices: pd.DataFrame, seed: int, args: argparse.Namespace) -> dict:
    config = RunConfig(
        ticker=TICKER,
        source="sample",
        presets=("baseline",),
        walk_forward=True,
        seeds=args.seeds,
        epochs=args.epochs,
        tearsheets=False,
        jobs=1,
        device="cpu",
        bootstrap_reps=args.reps,
        seed=seed,
    )
    result = run_study(config, prices={TICKER: prices}, progress=Progress(), write=False)
    return claims(result)


def rate_cell(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.1%} [{lo:.1%}, {hi:.1%}]"


def table(rows: dict[str, list[dict]]) -> str:
    """Markdown: edge-claim rates with 95% Clopper-Pearson intervals, one column per group."""
    groups = list(rows)
    head = "| test | " + " | ".join(groups) + " |\n|---|" + "---:|" * len(groups) + "\n"
    body = ""
    for t in TESTS:
        cells = []
        for g in groups:
            if t == "dsr" and g == DRIFT:
                cells.append("not a null (drift)")
                continue
            cells.append(rate_cell(sum(r["edge"][t] for r in rows[g]), len(rows[g])))
        body += f"| {LABELS[t]} | " + " | ".join(cells) + " |\n"
    return head + body


def null_check(rows: dict[str, list[dict]]) -> str:
    """Whether each null rate's 95% interval contains 5% or lies below it (the issue's rule)."""
    above = []
    for g in (NULL, DRIFT):
        for t in TESTS:
            if g not in rows or not rows[g] or (t == "dsr" and g == DRIFT):
                continue
            lo, _ = clopper_pearson(sum(r["edge"][t] for r in rows[g]), len(rows[g]))
            if lo > 0.05:
                above.append(f"{LABELS[t]} ({g})")
    if not above:
        return "Every null interval contains 5% or lies below it: no test claims edges too often."
    return "Null intervals lying above 5% (the test claims edges too often): " + "; ".join(above)


def mde_table(runs: list[dict]) -> str:
    """Median bootstrap SE of each strategy's Sharpe difference and the 80%-power MDE."""
    z = 1.959964 + 0.841621
    names = sorted({n for r in runs for n in r["diff_se"]})
    out = "| strategy | runs tested | median SE | MDE (80% power) | MDE range |\n"
    out += "|---|---:|---:|---:|---:|\n"
    for name in names:
        se = np.array([r["diff_se"][name] for r in runs if name in r["diff_se"]])
        out += (
            f"| `{name}` | {len(se)}/{len(runs)} | {np.median(se):.2f} | "
            f"**{z * np.median(se):.2f}** | {z * se.min():.2f}–{z * se.max():.2f} |\n"
        )
    return out


def near_five(runs: list[dict], reps: int) -> str:
    """How many bootstrap p-values fell near 5%, and their Monte Carlo error."""
    near = [
        r["p"][t]
        for r in runs
        for t in ("sharpe_diff", "spa")
        if r["p"][t] is not None and 0.03 <= r["p"][t] <= 0.08
    ]
    mc = [math.sqrt(p * (1 - p) / reps) for p in near]
    text = (
        f"Monte Carlo error of a bootstrap p-value (Sharpe difference, SPA): "
        f"sqrt(p(1 − p) / reps), reps = {reps}: ±{math.sqrt(0.05 * 0.95 / reps):.3f} at "
        f"p = 0.05. Of the null runs' bootstrap p-values, {len(near)} fell in [0.03, 0.08]"
    )
    if near:
        flip = sum(abs(p - 0.05) < 2 * e for p, e in zip(near, mc, strict=True))
        text += (
            f" (MC error {min(mc):.3f}–{max(mc):.3f}); {flip} of them lie within two MC errors "
            f"of 0.05, where another bootstrap seed could change the claim"
        )
    return text + ". DM and PT p-values are analytic (no Monte Carlo error)."


def p_text(test: str, p: float, reps: int) -> str:
    """A p-value, with its Monte Carlo error when it is a bootstrap p-value near 5%."""
    if test in ("sharpe_diff", "spa") and 0.03 <= p <= 0.08:
        return f"{test}={p:.3f}±{math.sqrt(p * (1 - p) / reps):.3f}"
    return f"{test}={p:.3f}"


def _fill(text: str, width: int, indent: str = "") -> str:
    return textwrap.fill(
        text, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
    )


def wrap_markdown(text: str, width: int = 100) -> str:
    """Wrap prose paragraphs and bullets at `width` like the rest of the README; tables stay."""
    out = []
    for block in text.split("\n\n"):
        lines = block.split("\n")
        if lines[0].startswith(("|", "#")):
            out.append(block)
        elif lines[0].startswith("- "):
            items = [_fill(x, width, "  ") for x in lines]
            out.append("\n".join(items))
        else:
            out.append(_fill(" ".join(lines), width))
    return "\n\n".join(out)


def write_readme(text: str) -> None:
    old = README.read_text()
    if SECTION in old:
        i = old.index(SECTION)
        nxt = re.search(r"^## ", old[i + len(SECTION) :], flags=re.M)
        end = i + len(SECTION) + nxt.start() if nxt else len(old)
        new = old[:i] + text + old[end:]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    README.write_text(new)


def describe(args: argparse.Namespace, n_days: int, wall: float, n_runs: int, rows) -> str:
    null = rows[NULL]
    both = rows[NULL] + rows.get(DRIFT, [])
    merged = sum(bool(r["spa_merged"]) for r in both)
    lstm_copy = sum(r["spa_merged"].get(HEADLINE) == "buy_and_hold" for r in null)
    return (
        f"{SECTION}\n\n"
        f"`nice -n 10 python benchmarks/calibration.py --readme` ({time.strftime('%Y-%m-%d')}; "
        f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other work, Python "
        f"{platform.python_version()}): the whole pipeline (`run_study`, write=False) on "
        f"{args.null} null series of each kind and {args.planted} series per planted strength; "
        f"**{wall / 60:.1f} min wall** for {n_runs} runs ({wall / n_runs:.1f} s per run). "
        f"Nothing here is asserted; `tests/test_calibration.py` is the CI version (the tests "
        f"called directly on synthetic forecasts, with a binomial bound).\n\n"
        f"Settings: preset `baseline`, walk-forward (expanding window, refit every 252 days, "
        f"last half evaluated), {args.seeds} seeds × {args.epochs} epochs, "
        f"{args.reps} bootstrap and SPA reps, block 20, 5 + 5 bps per side; each series "
        f"{n_days} business days of real S&P 500 bars (arch.data, 1999–2018) resampled i.i.d. "
        f"as whole bars (open/high/low/close relative to the previous close, and volume), its "
        f"own seed. *Null, real drift*: the resampled close-to-close returns as drawn (about "
        f"+5% a year): a long/flat strategy that knows nothing is genuinely worse than "
        f"buy-and-hold there, and the deflated Sharpe's 'better than cash' is true, so that "
        f"column is no null for it. *Null, demeaned*: log returns demeaned, so buy-and-hold and "
        f"a strategy that knows nothing have the same expected return, the hardest null for "
        f"'better than buy-and-hold' and the one the deflated Sharpe is calibrated on. "
        f"*Planted*: demeaned, then r[t+1] = b·r[t] + sqrt(1 − b²)·e[t+1], a component the "
        f"`baseline` preset (today's close change in) can learn.\n\n"
        f"Edge claims at 5% for `{HEADLINE}`, one-sided (a claim of being better only: DM stat "
        f"< 0, Sharpe difference > 0), with 95% Clopper-Pearson intervals. Null columns: the "
        f"false-positive rate, which should be 5% or below (interval containing 5% or lying "
        f"below it); planted columns: power.\n\n"
        f"{table(rows)}\n"
        f"{null_check(rows)}\n\n"
        f"Smallest Sharpe difference to buy-and-hold the design detects at 80% power "
        f"(two-sided 5%): MDE = (z(0.975) + z(0.80)) × SE = 2.80 × SE, with SE the bootstrap "
        f"standard error of the annualised Sharpe difference (width of its 95% percentile "
        f"interval / 3.92), over the demeaned null runs, for strategies that differ from "
        f"buy-and-hold on 20 days or more:\n\n"
        f"{mde_table(null)}\n"
        f"- {near_five(null, args.reps)}\n"
        f"- `{HEADLINE}` after {args.epochs} epochs often learns little more than the training "
        f"mean: it was an exact copy of buy-and-hold (always long) in {lstm_copy} of "
        f"{len(null)} demeaned null runs, and its Sharpe difference is then 0 with p = 1. SPA "
        f"merged at least one strategy into another (or into buy-and-hold) in {merged} of "
        f"{len(both)} null runs; before that fix a column identical to buy-and-hold could "
        f"make SPA reject on its own.\n"
    )


NULL, DRIFT = "null, demeaned", "null, real drift"


def main(argv: list[str] | None = None) -> None:
    _runtime.start()  # what the CLI does: malloc tuning (CPU training), quiet third parties
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--null", type=int, default=200, help="null series of each kind")
    ap.add_argument("--planted", type=int, default=50, help="series per planted strength")
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--years", type=float, default=7.0)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=500, help="bootstrap and SPA reps")
    ap.add_argument("--readme", action="store_true", help="write the section into README.md")
    args = ap.parse_args(argv)

    n_days = int(round(args.years * 252))
    bars = real_bars()
    rows: dict[str, list[dict]] = {NULL: [], DRIFT: []}
    plan = [(NULL, dict(demean=True), 1000 + i) for i in range(args.null)]
    plan += [(DRIFT, dict(demean=False), 3000 + i) for i in range(args.null)]
    for b in args.strengths:
        group = f"planted b = {b:g}"
        rows[group] = []
        plan += [(group, dict(ar=b), 2000 + i) for i in range(args.planted)]
    t0 = time.perf_counter()
    for k, (group, kind, seed) in enumerate(plan):
        prices = resampled_prices(bars, n_days, seed, **kind)
        t = time.perf_counter()
        row = one_run(prices, seed, args)
        rows[group].append(row)
        edges = ",".join(name for name, v in row["edge"].items() if v) or "-"
        ps = " ".join(p_text(n, v, args.reps) for n, v in row["p"].items() if v is not None)
        print(
            f"[{k + 1}/{len(plan)}] {group} seed {seed}: {time.perf_counter() - t:.1f}s "
            f"claims: {edges}; p {ps}; dsr {row['dsr']}; merged {row['spa_merged']}",
            flush=True,
        )
    wall = time.perf_counter() - t0
    text = wrap_markdown(describe(args, n_days, wall, len(plan), rows))
    print()
    print(text)
    if args.readme:
        write_readme(text)


if __name__ == "__main__":
    main()
