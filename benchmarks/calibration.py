"""Calibration of the significance tests: how often the whole pipeline claims an edge where there
is none, and how often it finds a tradable signal that was planted (never asserted in tests).

    nice -n 10 python benchmarks/calibration.py --readme   # ~30 min on 2 cores; writes README.md
    python benchmarks/calibration.py --universes 2 --tickers 2 --default-runs 0   # a quick look

Null series: real S&P 500 daily bars (arch.data, 1999-2018) resampled i.i.d. as whole bars
(overnight gap, body, high and low relative to the bar, and volume), each series with its own
seed, the log gaps and log bodies demeaned: nothing to predict, and buy-and-hold and a strategy
that knows nothing earn about the same. Planted series: the same bars with a signal planted in
the *bodies* (open to close) of the next day, from today's close-to-close return (see
`resampled_prices`): a forecast made at today's close trades it from the next open, so the
open-to-open returns a strategy earns carry it (`planted_correlations` measures it on every
series and the README reports it).

Every claim is one-sided, an edge claim at 5% for the headline LSTM (`baseline:lstm`): DM vs
the random walk (squared loss), `dm_p_better` < 0.05; PT p < 0.05 (one-sided by construction);
the bootstrap Sharpe difference to buy-and-hold > 0 with two-sided p < 0.05 (so 2.5% under the
null); SPA (consistent) p < 0.05; deflated Sharpe > 0.95. A universe is `--tickers` series of
the same kind, judged together by `lstmbt.study.universe.cross_section` (the code a universe
run uses): the pooled Sharpe difference > 0 with p < 0.05, and at least one ticker whose
difference is > 0 with a Benjamini-Hochberg (or Holm) adjusted p < 0.05.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import re
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lstmbt import RunConfig, _runtime, run_study  # noqa: E402
from lstmbt.progress import Progress  # noqa: E402

TICKER = "NULL"
HEADLINE = "baseline:lstm"
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
    plant: float = 0.0,
    ar: float = 0.0,
    start: str = "2010-01-04",
) -> pd.DataFrame:
    """An OHLCV frame of `n` business days from whole bars drawn i.i.d. with `seed`.

    Each drawn bar is a gap (open over the previous close) and a body (close over open). With
    `demean`, the log gaps and the log bodies are each demeaned (else they keep the real
    drift).

    `plant` > 0 plants a tradable signal in the bodies: the log body of day t becomes
    plant * s[t-1] + sqrt(1 - plant^2) * body[t], with s[t-1] the previous day's
    close-to-close log return rescaled to the bodies' spread. A forecast made at the close of
    t-1 trades from the open of t, so the strategy's open-to-open return (body of t plus gap
    of t+1) carries the signal; the gaps are left as drawn (`planted_correlations` measures
    both correlations).

    `ar` > 0 makes the close-to-close log returns an AR(1) with that coefficient and the same
    variance, each bar keeping its drawn open/close ratio: the planted part moves the open with
    the close and lands mostly in the overnight gap, which a strategy trading at the open
    cannot earn (kept for the leak benchmark's honest forecasts of a predictable series).

    High and low keep each drawn bar's shape around its close and are widened where needed
    so that low <= open, close <= high.
    """
    rng = np.random.default_rng(seed)
    pick = bars.iloc[rng.integers(0, len(bars), n)]
    gap = np.log(pick["open"].to_numpy())
    body = np.log((pick["close"] / pick["open"]).to_numpy())
    if demean:
        gap, body = gap - gap.mean(), body - body.mean()
    if ar:
        e = gap + body
        x = np.empty(n)
        x[0] = e[0]
        for t in range(1, n):
            x[t] = ar * x[t - 1] + math.sqrt(1 - ar**2) * e[t]
        gap = x + np.log((pick["open"] / pick["close"]).to_numpy())  # open/close as drawn
    elif plant:
        scale = body.std() / (gap + body).std()
        planted = np.empty(n)
        prev = 0.0  # the close-to-close log return of the day before
        for t in range(n):
            planted[t] = plant * scale * prev + math.sqrt(1 - plant**2) * body[t]
            prev = gap[t] + planted[t]
        body = planted
        x = gap + body
    else:
        x = gap + body
    close = 100.0 * np.exp(np.cumsum(x))
    prev_close = np.concatenate([[100.0], close[:-1]])
    k = close / (prev_close * pick["close"].to_numpy())  # the drawn bar's shape, at the new close
    frame = pd.DataFrame(
        {
            "open": prev_close * np.exp(gap),
            "high": prev_close * pick["high"].to_numpy() * k,
            "low": prev_close * pick["low"].to_numpy() * k,
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


def planted_correlations(prices: pd.DataFrame) -> dict[str, float]:
    """Correlation of each day's close-to-close return r[t] with what a strategy deciding at
    that close earns (open[t+2] / open[t+1] - 1: bought at the next open, held one day) and
    with the next close-to-close return r[t+1]."""
    r = prices["close"].pct_change()
    oo = prices["open"].pct_change().shift(-2)
    return {"open_to_open": float(r.corr(oo)), "close_to_close": float(r.corr(r.shift(-1)))}


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
        "dm": ft("dm_p_better"),
        "pt": ft("pt_p"),
        "sharpe_diff": st("diff_p_value"),
        "spa": m.spa.p_consistent,
    }
    edge = {
        "dm": _below(p["dm"]),
        "pt": _below(p["pt"]),
        "sharpe_diff": (st("diff") or 0) > 0 and _below(p["sharpe_diff"]),
        "spa": _below(p["spa"]),
        "dsr": dsr is not None and dsr > 0.95,
    }
    diff_se = {}  # bootstrap standard error of each strategy's Sharpe difference
    for name in m.strategy_tests.index:
        lo, hi = st("diff_ci_low", name), st("diff_ci_high", name)
        differs = (st("diff_days", name) or 0) >= MDE_DIFFERS * m.span.test_days
        if lo is not None and hi is not None and differs:
            diff_se[name] = (hi - lo) / (2 * 1.959964)  # 95% percentile interval width / 3.92
    return {
        "edge": edge,
        "p": p,
        "dsr": dsr,
        "sharpe_diff": st("diff"),
        "diff_se": diff_se,
        "days": m.span.test_days,
        "spa_merged": dict(m.spa.merged),
        "leak": bool(ft("leak")),
        "caution": bool(ft("implausible")),
    }


def universe_claims(results: list) -> dict[str, bool]:
    """The universe verdict's claims for the headline LSTM over these tickers' studies."""
    from lstmbt.study.universe import cross_section

    cs = cross_section({f"T{i}": r for i, r in enumerate(results)}, reps=UNIVERSE_REPS)
    rows = cs.table.xs(HEADLINE, level="forecaster")
    pooled = cs.pooled.loc[HEADLINE]
    up = rows["diff"] > 0
    return {
        "pooled": bool((pooled["diff"] or 0) > 0 and _below(pooled["p_value"])),
        "bh": bool((up & (rows["diff_p_bh"] < ALPHA)).any()),
        "holm": bool((up & (rows["diff_p_holm"] < ALPHA)).any()),
    }


def _below(p: float | None, alpha: float = 0.05) -> bool:
    return p is not None and p == p and p < alpha


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for k successes in n trials."""
    a = 1 - level
    lo = stats.beta.ppf(a / 2, k, n - k + 1) if k > 0 else 0.0
    hi = stats.beta.ppf(1 - a / 2, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def one_run(job: tuple[str, dict, int, int, argparse.Namespace]):
    """One series: its study's claims, its planted correlations, and the study itself (kept
    until its universe is complete)."""
    group, kind, seed, n_days, args = job
    _runtime.start()
    prices = resampled_prices(real_bars(), n_days, seed, **kind)
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
    row = {**claims(result), **planted_correlations(prices), "group": group, "seed": seed}
    keep = result if group != DEFAULT else None
    return row, _slim(keep)


def _slim(result):
    """What cross_section reads of a study (its returns and metrics), without the rest."""
    if result is None:
        return None
    return dataclasses.replace(
        result, predictions=None, positions=None, orders=None, data=None, models={}, model_meta={}
    )


def rate_cell(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.1%} [{lo:.1%}, {hi:.1%}]"


def table(rows: dict[str, list[dict]], universes: dict[str, list[dict]]) -> str:
    """Markdown: edge-claim rates with 95% Clopper-Pearson intervals, one column per group."""
    groups = list(rows)
    head = "| test | " + " | ".join(groups) + " |\n|---|" + "---:|" * len(groups) + "\n"
    body = ""
    for t in TESTS:
        cells = [rate_cell(sum(r["edge"][t] for r in rows[g]), len(rows[g])) for g in groups]
        body += f"| {LABELS[t]} | " + " | ".join(cells) + " |\n"
    for t in UNIVERSE_TESTS:
        cells = [rate_cell(sum(u[t] for u in universes[g]), len(universes[g])) for g in groups]
        body += f"| {LABELS[t]} | " + " | ".join(cells) + " |\n"
    for flag, label in (("leak", "leak warning (headline LSTM)"), ("caution", "caution")):
        cells = [rate_cell(sum(r[flag] for r in rows[g]), len(rows[g])) for g in groups]
        body += f"| {label} | " + " | ".join(cells) + " |\n"
    cells = []
    for g in groups:
        oo = np.array([r["open_to_open"] for r in rows[g]])
        cc = np.array([r["close_to_close"] for r in rows[g]])
        cells.append(f"{oo.mean():+.3f} (close to close {cc.mean():+.3f})")
    body += "| mean corr(r[t], next open-to-open return) | " + " | ".join(cells) + " |\n"
    return head + body


def null_check(rows: list[dict], universes: list[dict]) -> str:
    """Whether each null rate's 95% interval contains its nominal rate or lies below it."""
    above = []
    for t in TESTS:
        nominal = 0.025 if t == "sharpe_diff" else ALPHA
        lo, _ = clopper_pearson(sum(r["edge"][t] for r in rows), len(rows))
        if lo > nominal:
            above.append(LABELS[t])
    for t in UNIVERSE_TESTS:
        lo, _ = clopper_pearson(sum(u[t] for u in universes), len(universes))
        if universes and lo > ALPHA:
            above.append(LABELS[t])
    if not above:
        return (
            "Every null interval contains the nominal rate or lies below it (5%; 2.5% for "
            "the one-sided claim from the two-sided Sharpe-difference test): no test claims "
            "edges too often."
        )
    return "Null intervals lying above the nominal rate: " + "; ".join(above)


def mde_table(runs: list[dict], label: str) -> str:
    """Median bootstrap SE of each strategy's Sharpe difference and the 80%-power MDE."""
    z = 1.959964 + 0.841621
    names = sorted({n for r in runs for n in r["diff_se"]})
    out = f"| {label}: strategy | runs tested | median SE | MDE (80% power) | MDE range |\n"
    out += "|---|---:|---:|---:|---:|\n"
    for name in names:
        se = np.array([r["diff_se"][name] for r in runs if name in r["diff_se"]])
        out += (
            f"| `{name}` | {len(se)}/{len(runs)} | {np.median(se):.2f} | "
            f"**{z * np.median(se):.2f}** | {z * se.min():.2f}–{z * se.max():.2f} |\n"
        )
    return out


def _median_se(runs: list[dict]) -> float:
    """Median bootstrap SE of the Sharpe difference over every (run, strategy) measured."""
    return float(np.median([se for r in runs for se in r["diff_se"].values()]))


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


def write_section(section: str, text: str) -> None:
    """Put `text` (which starts with the `section` heading) into README.md in place of that
    section, or at the end; the other sections stay as they are."""
    old = README.read_text()
    if section in old:
        i = old.index(section)
        nxt = re.search(r"^## ", old[i + len(section) :], flags=re.M)
        end = i + len(section) + nxt.start() if nxt else len(old)
        new = old[:i] + text.rstrip("\n") + "\n\n" + old[end:].lstrip("\n")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    README.write_text(new.rstrip("\n") + "\n")


def describe(args, n_days: int, wall: float, n_runs: int, rows, universes, default) -> str:
    null = rows[NULL]
    days = int(np.median([r["days"] for r in null]))
    z = 1.959964 + 0.841621
    lstm_copy = sum(r["spa_merged"].get(HEADLINE) == "buy_and_hold" for r in null)
    text = (
        f"{SECTION}\n\n"
        f"`nice -n 10 python benchmarks/calibration.py --readme` ({time.strftime('%Y-%m-%d')}; "
        f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other work, "
        f"{args.jobs} worker processes, Python {platform.python_version()}): the whole "
        f"pipeline (`run_study`, write=False) on {args.universes * args.tickers} series per "
        f"column, judged one by one and as {args.universes} universes of {args.tickers}; "
        f"**{wall / 60:.1f} min wall** for {n_runs} runs. Nothing here is asserted; "
        f"`tests/test_calibration.py` is the CI version (the tests called directly on "
        f"synthetic inputs, size held within a band on both sides).\n\n"
        f"Settings (reduced to fit the time: the study's defaults are 20 epochs with early "
        f"stopping and 1,000 reps): preset `baseline`, walk-forward (expanding window, refit "
        f"every 252 days, last half evaluated: {days} days), {args.seeds} seeds × "
        f"{args.epochs} epochs, {args.reps} bootstrap and SPA reps (the universe's pooled "
        f"test {UNIVERSE_REPS}), block 20, 5 + 5 bps per side; each series {n_days} business "
        f"days of real S&P 500 bars (arch.data, 1999–2018) resampled i.i.d. as whole bars, "
        f"its own seed, log gaps and log bodies demeaned. *Planted b*: the log body "
        f"(open to close) of each day is b · s + sqrt(1 − b²) · (its drawn body), s the "
        f"previous day's close-to-close log return rescaled to the bodies' spread; the gaps "
        f"stay as drawn. So the signal lives in the returns the strategy trades (decided at "
        f"the close of t, bought at the open of t + 1, that day's body is its return): the "
        f"last row measures corr(r[t], open[t+2] / open[t+1] − 1) on every series. (The "
        f"previous version of this benchmark planted an AR(1) in close-to-close returns with "
        f"the opens moving along, which put the signal in the overnight gap: 0.006 / 0.030 / "
        f"0.066 open to open for b = 0.1 / 0.2 / 0.3.)\n\n"
        f"Edge claims at 5% for `{HEADLINE}`, one-sided (a claim of being better only), with "
        f"95% Clopper-Pearson intervals; null column: the false-positive rate; planted "
        f"columns: power. Universe rows: one claim per universe of {args.tickers} "
        f"independent series.\n\n"
        f"{table(rows, universes)}\n"
        f"{null_check(null, universes[NULL])}\n\n"
        f"**Minimum detectable Sharpe difference** to buy-and-hold at 80% power (two-sided "
        f"5%): MDE = (z(0.975) + z(0.80)) × SE = 2.80 × SE, with SE the bootstrap standard "
        f"error of the annualised Sharpe difference (width of its 95% percentile interval / "
        f"3.92), for strategies whose returns differ from buy-and-hold's on at least "
        f"{MDE_DIFFERS:.0%} of the days (a near-copy has a tiny SE and no difference to "
        f"detect), over the null runs ({days} evaluated days):\n\n"
        f"{mde_table(null, 'this design')}\n"
    )
    if default:
        d_days = int(np.median([r["days"] for r in default]))
        text += (
            f"The default design (`lstmbt study`: the S&P 500 sample's 5,031 days, "
            f"walk-forward, last half evaluated): {len(default)} null series of 5,031 days, "
            f"{d_days} evaluated days each, the same settings otherwise:\n\n"
            f"{mde_table(default, 'default design')}\n"
            f"So the default study detects, with 80% power, a Sharpe difference to "
            f"buy-and-hold of about **{z * _median_se(default):.2f}** (the median over its "
            f"strategies and runs; this design's {days} days: "
            f"{z * _median_se(null):.2f}, and √(n) scaling from it predicts "
            f"{z * _median_se(null) * math.sqrt(days / d_days):.2f}).\n\n"
        )
    text += (
        f"- {near_five(null, args.reps)}\n"
        f"- `{HEADLINE}` after {args.epochs} epochs often learns little more than the training "
        f"mean: it was an exact copy of buy-and-hold (always long) in {lstm_copy} of "
        f"{len(null)} null runs, and its Sharpe difference is then 0 with p = 1.\n"
    )
    return text


NULL, DEFAULT = "null", "default design (null)"
TESTS = ("dm", "pt", "sharpe_diff", "spa", "dsr")
UNIVERSE_TESTS = ("pooled", "bh", "holm")
ALPHA = 0.05
UNIVERSE_REPS = 500
MDE_DIFFERS = 0.2  # the MDE counts strategies whose returns differ from B&H on 20% of days
LABELS = {
    "dm": "DM vs random walk (squared loss), one-sided p (better than RW)",
    "pt": "Pesaran-Timmermann",
    "sharpe_diff": "bootstrap Sharpe difference vs buy-and-hold, diff > 0",
    "spa": "Hansen's SPA (consistent p)",
    "dsr": "deflated Sharpe > 0.95",
    "pooled": "universe: pooled Sharpe difference > 0",
    "bh": "universe: a ticker better after BH",
    "holm": "universe: a ticker better after Holm",
}


def main(argv: list[str] | None = None) -> None:
    _runtime.start()  # what the CLI does: malloc tuning (CPU training), quiet third parties
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--universes", type=int, default=40, help="universes per column")
    ap.add_argument("--tickers", type=int, default=3, help="series per universe")
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--years", type=float, default=7.0)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=300, help="bootstrap and SPA reps")
    ap.add_argument("--default-runs", type=int, default=20, help="null runs of 5,031 days")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--readme", action="store_true", help="write the section into README.md")
    args = ap.parse_args(argv)

    n_days = int(round(args.years * 252))
    per = args.universes * args.tickers
    plan = [(NULL, {}, 1000 + i, n_days, args) for i in range(per)]
    for b in args.strengths:
        plan += [(f"planted b = {b:g}", {"plant": b}, 2000 + i, n_days, args) for i in range(per)]
    plan += [(DEFAULT, {}, 6000 + i, 5031, args) for i in range(args.default_runs)]
    rows: dict[str, list[dict]] = {}
    universes: dict[str, list[dict]] = {}
    pending: dict[str, list] = {}
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, (row, result) in enumerate(pool.map(one_run, plan)):
            group = row["group"]
            rows.setdefault(group, []).append(row)
            if result is not None:
                pending.setdefault(group, []).append(result)
                if len(pending[group]) == args.tickers:
                    universes.setdefault(group, []).append(universe_claims(pending.pop(group)))
            edges = ",".join(name for name, v in row["edge"].items() if v) or "-"
            ps = " ".join(p_text(n, v, args.reps) for n, v in row["p"].items() if v is not None)
            print(
                f"[{k + 1}/{len(plan)}] {group} seed {row['seed']}: claims {edges}; p {ps}; "
                f"dsr {row['dsr']}; corr oo {row['open_to_open']:+.3f}",
                flush=True,
            )
    wall = time.perf_counter() - t0
    default = rows.pop(DEFAULT, [])
    text = wrap_markdown(describe(args, n_days, wall, len(plan), rows, universes, default))
    print()
    print(text)
    if args.readme:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
