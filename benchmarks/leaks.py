"""How often each leak warning fires on honest forecasts, and how often it catches leaks
(issue 21). Rates, not timings; nothing here is asserted (tests/test_leaks.py is the CI check).

    nice -n 10 python benchmarks/leaks.py --readme      # ~25 min on 2 cores; writes README.md
    python benchmarks/leaks.py --trained 4 --synthetic 50   # a quick look

Series: real S&P 500 daily bars (arch.data, 1999-2018) resampled i.i.d. as whole bars and
demeaned (benchmarks/calibration.py `resampled_prices`): nothing to predict. Planted series:
the same with close-to-close log returns made an AR(1) with coefficient 0.25, whose true
conditional mean, 0.25 x today's log return, correlates 0.25 with tomorrow's return.

Part 1, trained: `run_study` (walk-forward, yearly refits, last half evaluated) with LSTMs and
GRUs of the `baseline` (today's change) and `lookback` (30 days) presets, beside the ridge,
training-mean and persistence baselines, on null and planted series; every warning is read
from the pipeline's own forecast_tests rows. The same trained forecasts moved one day early
(the forecast made at the close of t+1 dated t: a look-ahead leak of one day) are checked
with the same `leak_check` on the same days.

Part 2, constructed (no training, many series, several spans): today's return plus noise
(correlation 0.71 with it; honest), the true conditional mean of the planted AR(1) (honest),
tomorrow's return plus noise at correlations 0.05-0.7 (leaks), and today's return plus noise
moved one day early (a leak).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration import (  # noqa: E402
    clopper_pearson,
    real_bars,
    resampled_prices,
    wrap_markdown,
    write_section,
)

from lstmbt import RunConfig, _runtime, run_study  # noqa: E402
from lstmbt.features.returns import simple_returns  # noqa: E402
from lstmbt.progress import Progress  # noqa: E402
from lstmbt.study.leaks import (  # noqa: E402
    ALPHA_LEAK,
    ALPHA_STRONG,
    LAGS,
    PLAUSIBLE_CORR,
    known_returns,
    leak_check,
)
from lstmbt.study.significance import lag_check  # noqa: E402

SECTION = "## Leak checks: false alarms and detection"
TICKER = "NULL"
AR = 0.25
LEAK_CORRS = (0.05, 0.1, 0.15, 0.18, 0.2, 0.3, 0.5, 0.7)
WARNINGS = ("leak", "implausible", "echo")
Z90 = float(stats.norm.ppf(1 - ALPHA_LEAK) + stats.norm.ppf(0.9))


def detectable(days: int) -> float:
    """The leak correlation flagged 90% of the time over `days` (normal approximation)."""
    return PLAUSIBLE_CORR + Z90 / math.sqrt(days)


def _warnings(row: dict) -> dict:
    """The three flags of one forecast_tests-like row, and the numbers behind them."""
    return {
        **{w: bool(row.get(w)) for w in WARNINGS},
        **{k: row.get(k) for k in ("corr_next", "corr_beyond", "corr_same")},
    }


def _checked(f: pd.Series, realised: pd.Series, today: pd.Series) -> dict:
    """What the pipeline computes for one forecast (leak and lag checks) on its own days."""
    f = f.dropna()
    known = known_returns(today, f.index)
    row = leak_check(f.to_numpy(), realised.reindex(f.index).to_numpy(), known)
    row["echo"] = lag_check(f, today)["echo"]
    return _warnings(row)


def trained_one(job: tuple[str, int, float, int, int]) -> list[dict]:
    """One series: a study's honest forecasters (read from its forecast_tests rows) and the
    same forecasts moved one day early."""
    group, seed, ar, n_days, epochs = job
    _runtime.start()
    prices = resampled_prices(real_bars(), n_days, seed, ar=ar)
    config = RunConfig(
        ticker=TICKER,
        source="sample",
        presets=("baseline", "lookback"),
        models=("lstm", "gru"),
        walk_forward=True,
        seeds=1,
        epochs=epochs,
        tearsheets=False,
        jobs=1,
        device="cpu",
        bootstrap_reps=100,
        seed=seed,
    )
    result = run_study(config, prices={TICKER: prices}, progress=Progress(), write=False)
    m = result.metrics
    preds = result.predictions
    today = simple_returns(prices["close"])
    rows = []
    for name in m.forecast_tests.index:
        model = m.models.at[name, "model"]
        if model == "random_walk":  # a constant forecast: nothing to check
            continue
        row = {c: m.value("forecast_tests", name, c) for c in m.forecast_tests.columns}
        kind = model if model in ("train_mean", "persistence") else f"{model} ({name})"
        rows.append({"group": group, "kind": kind, "days": len(preds), **_warnings(row)})
        if model in ("lstm", "gru"):
            early = _checked(preds[name].shift(-1), preds["realised"], today)
            rows.append(
                {"group": f"{group}, moved a day early", "kind": kind, "days": len(preds), **early}
            )
    return rows


def constructed(n_series: int, n_days: int, entropy: int) -> list[dict]:
    """Part 2: forecasts built by hand on resampled returns (null) and on the planted AR(1)."""
    bars = real_bars()
    rows = []
    for k, seed in enumerate(np.random.SeedSequence(entropy).spawn(n_series)):
        rng = np.random.default_rng(seed)
        s = int(rng.integers(1 << 31))
        for ar in (0.0, AR):
            close = resampled_prices(bars, n_days + 40, s, ar=ar)["close"]
            today = simple_returns(close)
            dates = close.index[30:-2]
            realised = today.shift(-1)
            sd = float(today.loc[dates].std())

            def noise(scale: float, dates=dates, sd=sd, rng=rng) -> pd.Series:
                return pd.Series(rng.normal(0, scale * sd, len(dates)), index=dates)

            cases: dict[str, pd.Series] = {}
            if ar:
                cases["conditional mean 0.25 x today's log return (honest)"] = AR * np.log1p(
                    today.loc[dates]
                )
            else:
                honest = today.loc[dates] + noise(1.0)
                cases["today's return + noise, corr 0.71 (honest)"] = honest
                cases["today's return + noise, moved a day early (leak)"] = honest.shift(-1)
                for c in LEAK_CORRS:
                    leak = realised.loc[dates] + noise(math.sqrt(1 / c**2 - 1))
                    cases[f"tomorrow's return + noise, corr {c:.2f} (leak)"] = leak
            for kind, f in cases.items():
                row = _checked(f, realised, today)
                rows.append({"group": f"constructed, {n_days} days", "kind": kind, **row})
        if (k + 1) % 50 == 0:
            print(f"  constructed {n_days} days: {k + 1}/{n_series}", flush=True)
    return rows


def rate(flags: pd.Series) -> str:
    k, n = int(flags.sum()), len(flags)
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.1%} [{lo:.1%}, {hi:.1%}]"


def table(rows: pd.DataFrame, by: list[str]) -> str:
    """Markdown: each warning's firing rate with its 95% Clopper-Pearson interval, and the
    median correlations behind them."""
    head = (
        "| " + " | ".join(by) + " | leak | caution (implausible) | echo note | "
        "median abs corr next | median abs corr beyond |\n|" + "---|" * len(by) + "---:|" * 5 + "\n"
    )
    body = ""
    for key, g in rows.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        cells = [rate(g[w]) for w in WARNINGS]
        med = [
            f"{g[c].dropna().abs().median():.3f}" if g[c].notna().any() else "-"
            for c in ("corr_next", "corr_beyond")
        ]
        body += "| " + " | ".join(map(str, key)) + " | " + " | ".join(cells + med) + " |\n"
    return head + body


def pooled_line(rows: pd.DataFrame, what: str) -> str:
    return f"{what}: leak {rate(rows['leak'])}; caution {rate(rows['implausible'])}"


def describe(args, trained: pd.DataFrame, built: pd.DataFrame, wall: float) -> str:
    moved = trained["group"].str.contains("early")
    honest = trained[~moved]
    null = honest[honest["group"] == "null"]
    planted = honest[honest["group"] != "null"]
    early = trained[moved & (trained["corr_next"].abs() >= 0.15)]
    is_leak = built["kind"].str.contains(r"\(leak\)")
    strong = is_leak & (
        built["kind"].str.contains("early")
        | built["kind"].str.contains(r"corr 0\.(?:15|18|2|3|5|7)")
    )
    by_span = "; ".join(
        f"{span:,} days: {rate(built.loc[strong & (built['group'] == f'constructed, {span} days'), 'leak'])}"  # noqa: E501
        for span in args.spans
    )
    honest_built = built[~is_leak]
    return (
        f"{SECTION}\n\n"
        f"`nice -n 10 python benchmarks/leaks.py --readme` ({time.strftime('%Y-%m-%d')}; "
        f"{platform.machine()}, {os.cpu_count()} CPU cores shared with other work, "
        f"{args.jobs} worker processes; {wall / 60:.1f} min wall). The checks "
        f"(`lstmbt/study/leaks.py`, docs/statistics.md#leak-checks): **leak** when the "
        f"forecast's partial correlation with the next day's return beyond the last {LAGS} "
        f"days' returns exceeds {PLAUSIBLE_CORR} in size with one-sided p < {ALPHA_LEAK}; "
        f"**caution** when its plain correlation with the next day's return does (p < "
        f"{ALPHA_STRONG}); **echo note** when |correlation with today's change| >= 0.8 (a "
        f"description, true whenever it fires). Rates per forecast with 95% Clopper-Pearson "
        f"intervals.\n\n"
        f"**Part 1, trained.** {args.trained} null series and {args.trained} planted AR(1) "
        f"series (coefficient {AR} on close-to-close log returns) of {args.years:g} years of "
        f"resampled S&P 500 bars each; `run_study` walk-forward (yearly refits, last half "
        f"evaluated: {int(trained['days'].median())} days), presets `baseline` and "
        f"`lookback`, models LSTM and GRU, 1 seed × {args.epochs} epochs, beside the ridge, "
        f"training-mean and persistence baselines. Warnings as the pipeline's forecast_tests "
        f"rows hold them; 'moved a day early': the same LSTM/GRU forecasts, each dated one "
        f"day before the close it was made at (a one-day look-ahead leak).\n\n"
        f"{table(trained, ['group', 'kind'])}\n"
        f"- {pooled_line(null, 'Every honest trained forecaster, null series')}.\n"
        f"- {pooled_line(planted, 'Every honest trained forecaster, planted AR(1)')}: the "
        f"caution says the correlation is implausible for a real market, which is true of "
        f"this synthetic series.\n"
        f"- Moved a day early, a forecast's correlation with the next day's return is its "
        f"correlation with today's return (the models read it); "
        f"{pooled_line(early, 'those with |corr next| >= 0.15')}.\n\n"
        f"**Part 2, constructed.** {args.synthetic} series per span, the same resampled "
        f"bars (no training); evaluated spans of {', '.join(map(str, args.spans))} days:\n\n"
        f"{table(built, ['group', 'kind'])}\n"
        f"- {pooled_line(honest_built, 'Honest constructed forecasts, every span')}.\n"
        f"- Leaks with correlation >= 0.15 (and those dated a day early), flagged as a leak: "
        f"{by_span}.\n"
        f"- The smallest leak flagged 90% of the time is about {PLAUSIBLE_CORR} + "
        f"(z(1 - {ALPHA_LEAK}) + z(0.9)) / sqrt(days) = {PLAUSIBLE_CORR} + {Z90:.2f} / "
        f"sqrt(days) (normal approximation): "
        + ", ".join(f"{detectable(n):.2f} at {n:,} days" for n in (500, 880, 1250, 2500))
        + " (the default `lstmbt study` evaluates about 2,500 days of the S&P 500 sample).\n"
    )


def main(argv: list[str] | None = None) -> None:
    _runtime.start()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trained", type=int, default=40, help="trained series of each kind")
    ap.add_argument("--years", type=float, default=10.0, help="length of a trained series")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--synthetic", type=int, default=200, help="constructed series per span")
    ap.add_argument("--spans", type=int, nargs="+", default=[500, 1250, 2500])
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for part 1")
    ap.add_argument("--readme", action="store_true", help="write the section into README.md")
    ap.add_argument("--rows", help="also write every checked forecast's row to this CSV")
    args = ap.parse_args(argv)
    args.days = max(args.spans)  # the default study's span: about 2,500 days

    t0 = time.perf_counter()
    n_days = int(round(args.years * 252))
    jobs = [("null", 4000 + i, 0.0, n_days, args.epochs) for i in range(args.trained)]
    jobs += [("planted AR(1)", 5000 + i, AR, n_days, args.epochs) for i in range(args.trained)]
    trained_rows: list[dict] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, rows in enumerate(pool.map(trained_one, jobs)):
            trained_rows += rows
            fired = [f"{r['kind']}:{w}" for r in rows for w in WARNINGS if r[w]]
            print(f"[{k + 1}/{len(jobs)}] {jobs[k][0]} seed {jobs[k][1]}: {fired}", flush=True)
    built_rows: list[dict] = []
    for span in args.spans:
        built_rows += constructed(args.synthetic, span, entropy=span)
    wall = time.perf_counter() - t0
    trained = pd.DataFrame(trained_rows)
    built = pd.DataFrame(built_rows)
    if args.rows:
        pd.concat([trained.assign(part="trained"), built.assign(part="constructed")]).to_csv(
            args.rows, index=False
        )
    text = wrap_markdown(describe(args, trained, built, wall))
    print()
    print(text)
    if args.readme:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
