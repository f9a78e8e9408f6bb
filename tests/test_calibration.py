"""Size of each significance test held within a band on both sides, on synthetic inputs where
the test's null hypothesis holds (issues 14 and 21).

A p-value is calibrated when it is uniform under its null: at every level a, a test rejects in
about a share a of null series. Each test here is run on many null series and its rejection
rate checked at a = 0.05, 0.10, 0.25, 0.50 and 0.75 against a band around a: too many
rejections fail (a p-value no longer doubled rejects every series at 0.5 and above; SPA's
liberal "lower" p-value reported as the "consistent" one rejects almost every series at 0.75)
and so do too few (a p-value doubled twice, a one-sided p-value that never goes below 0.5).
The band: the binomial 1e-4 tails of the count at a - slack and a + slack, where the slack is
the test's measured distortion at these sample sizes (analytic tests: 0.02; the bootstrap
tests, whose percentile p-values are a little liberal on 300 fat-tailed days: 0.04). The draws
have fixed seeds, so a pass is deterministic.

The nulls: DM (squared loss), a forecast whose expected squared error equals the random walk's
(twice the true conditional mean: f = 2 b x for y = b x + e); PT, a forecast independent of the
return; the bootstrap Sharpe difference and SPA, a long/flat strategy on an independent signal
against buy-and-hold of demeaned returns (equal expected return, equal Sharpe ratio 0). The
returns are real S&P 500 daily returns (arch.data), demeaned and drawn i.i.d.: fat tails.
Direction is checked separately on known answers, through the evaluation's own call site (a
better forecast must get a small one-sided p; DM's arguments swapped there would not).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from scipy import stats

from lstmbt.study.evaluation import forecast_tests
from lstmbt.study.leaks import known_returns
from lstmbt.study.significance import (
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    distinct_trials,
    pesaran_timmermann,
    sharpe,
    spa_test,
)

LEVELS = (0.05, 0.10, 0.25, 0.50, 0.75)
TAIL = 1e-4  # chance that a calibrated test's count falls outside its band, per level
ANALYTIC, BOOTSTRAP = 0.02, 0.04  # slack: the measured distortion of each kind of test


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    """Real daily S&P 500 returns (1999-2018), demeaned: fat tails, no drift."""
    r = sp500.load()["Adj Close"].pct_change().dropna().to_numpy()
    return r - r.mean()


def band(n: int, level: float, slack: float) -> tuple[int, int]:
    """The rejection counts at `level` in n null series that pass: from the binomial TAIL
    quantile at level - slack to the one at level + slack."""
    lo = int(stats.binom.ppf(TAIL, n, max(level - slack, 0.0)))
    hi = int(stats.binom.isf(TAIL, n, min(level + slack, 1.0)))
    return lo, hi


def outside(p_values, slack: float) -> dict[float, str]:
    """The levels at which the rejection count leaves its band, as 'k/n not in [lo, hi]'."""
    p = np.asarray(p_values, float)
    assert np.isfinite(p).all() and ((0 <= p) & (p <= 1)).all()
    out = {}
    for level in LEVELS:
        k = int(np.sum(p < level))
        lo, hi = band(len(p), level, slack)
        if not lo <= k <= hi:
            out[level] = f"{k}/{len(p)} not in [{lo}, {hi}]"
    return out


def draws(entropy: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence(entropy).spawn(n)]


def test_band_is_two_sided_and_rejects_a_doubled_size():
    lo, hi = band(2000, 0.05, ANALYTIC)
    assert lo <= 0.05 * 2000 <= hi and lo > 0.01 * 2000 and hi < 0.10 * 2000
    rng = np.random.default_rng(0)
    calibrated = rng.uniform(size=2000)
    assert outside(calibrated, ANALYTIC) == {}
    assert set(outside(calibrated / 2, ANALYTIC)) == set(LEVELS)  # size doubled: too many
    assert {0.25, 0.5, 0.75} <= set(outside(np.minimum(calibrated * 2, 1), ANALYTIC))  # too few


def test_diebold_mariano_size_in_band_two_sided_and_one_sided(pool):
    """y = b x + e; f = 2 b x has the random walk's expected squared error: the null."""
    two, one = [], []
    for rng in draws(21, 2000):
        x, e = rng.choice(pool, 250), rng.choice(pool, 250)
        b = 0.6 * e.std() / pool.std()
        y = b * x + e
        dm = diebold_mariano(2 * b * x - y, 0.0 - y, "squared")
        two.append(dm["p_value"])
        one.append(dm["p_better"])
    assert outside(two, ANALYTIC) == {}, "two-sided DM p-value"
    assert outside(one, ANALYTIC) == {}, "one-sided DM p-value (better than the random walk)"


def test_pesaran_timmermann_size_in_band(pool):
    p = []
    for rng in draws(22, 2000):
        y, f = rng.choice(pool, 250), rng.choice(pool, 250)
        p.append(pesaran_timmermann(f, y)["p_value"])
    assert outside(p, ANALYTIC) == {}


def test_bootstrap_sharpe_difference_size_in_band(pool):
    """A long/flat strategy on an independent signal vs buy-and-hold of demeaned returns:
    both have Sharpe ratio 0. The two-sided p-value, 2 x min(P(d* <= 0), P(d* >= 0))."""
    p = []
    for rng in draws(23, 500):
        y = rng.choice(pool, 300)
        frame = pd.DataFrame({"s": y * (rng.normal(size=300) > 0), "buy_and_hold": y})
        seed = int(rng.integers(1 << 31))
        p.append(bootstrap_sharpe(frame, "buy_and_hold", reps=99, block=5, seed=seed)["s"])
    assert outside([r["diff_p_value"] for r in p], BOOTSTRAP) == {}


def test_spa_consistent_p_value_size_in_band(pool):
    """One long/flat strategy with buy-and-hold's expected return: the null's boundary, where
    the consistent p-value is uniform and the lower one is not (about 1 in 2 series have a
    strategy behind the benchmark, which the lower p-value leaves uncentred)."""
    p, lower = [], []
    for rng in draws(24, 200):
        y = rng.choice(pool, 250)
        frame = pd.DataFrame({"s": y * (rng.normal(size=250) > 0), "buy_and_hold": y})
        spa = spa_test(frame, "buy_and_hold", reps=99, block=5, seed=int(rng.integers(1 << 31)))
        p.append(spa["p_consistent"])
        lower.append(spa["p_lower"])
    assert outside(p, BOOTSTRAP) == {}
    assert 0.75 in outside(lower, BOOTSTRAP), "the lower p-value is the liberal one"


def test_the_dm_call_site_reads_a_better_forecast_as_better(pool):
    """Through the evaluation's own call site (the forecast's error first): a forecast with
    skill gets a negative statistic, small one-sided p-values and a loss ratio below 1; a
    forecast of noise the opposite. DM's arguments swapped at the call site fail here."""
    rng = np.random.default_rng(25)
    n = 1500
    r = rng.choice(pool, n + 10)
    today = pd.Series(r, index=pd.bdate_range("2010-01-01", periods=n + 10))
    dates = today.index[6:-1]
    x = today.loc[dates].to_numpy()
    y = 0.3 * x + rng.choice(pool, len(dates))  # tomorrow's return, predictable from today's
    known = known_returns(today, dates)
    good = forecast_tests(pd.Series(0.3 * x, index=dates), y, today, known)
    bad = forecast_tests(pd.Series(3 * x, index=dates), y, today, known)
    assert good["dm_stat"] < 0 and good["dm_p_better"] < 1e-3 and good["dm_abs_p_better"] < 0.05
    assert good["loss_ratio"] < 1
    assert bad["dm_stat"] > 0 and bad["dm_p_better"] > 0.999 and bad["loss_ratio"] > 1
    for row in (good, bad):  # one-sided and two-sided agree: p = 2 min(p_better, 1 - p_better)
        assert row["dm_p"] == pytest.approx(2 * min(row["dm_p_better"], 1 - row["dm_p_better"]))


def leaky_claims(pool: np.ndarray, rng: np.random.Generator) -> dict[str, bool]:
    """Edge claims (one-sided, 5%) of every headline test on one series of 500 days whose
    headline forecaster peeks at tomorrow's return (correlation about 0.7)."""
    r = rng.choice(pool, 520)
    y = r[20:]
    headline = 0.5 * (y + rng.normal(0, pool.std(), len(y)))
    returns = pd.DataFrame(
        {"headline": y * (headline > 0), "persistence": y * (r[19:-1] > 0), "buy_and_hold": y}
    )
    seed = int(rng.integers(1 << 31))
    h = bootstrap_sharpe(returns, "buy_and_hold", reps=99, seed=seed)["headline"]
    spa = spa_test(returns, "buy_and_hold", reps=99, seed=seed)
    per_period = sharpe(returns.to_numpy(), axis=0) / math.sqrt(252)
    dsr = deflated_sharpe(returns["headline"].to_numpy(), per_period)["dsr"]
    return {
        "dm": diebold_mariano(headline - y, -y)["p_better"] < 0.05,
        "pt": (pesaran_timmermann(headline, y)["p_value"] or 1) < 0.05,
        "sharpe_diff": h["diff"] > 0 and h["diff_p_value"] < 0.05,
        "spa": spa["p_consistent"] < 0.05,
        "dsr": dsr is not None and dsr > 0.95,
    }


def test_every_headline_test_sees_a_forecaster_that_peeks(pool):
    """Teeth for the bands above: a forecaster that knows tomorrow gets an edge claim from
    every test in most series."""
    leak = [leaky_claims(pool, rng) for rng in draws(27, 20)]
    for test in leak[0]:
        assert sum(r[test] for r in leak) >= 15, f"{test} missed a leak"


def test_deflated_sharpe_claims_at_most_its_rate_on_null_series(pool):
    """The deflated Sharpe ratio is one-sided with a conservative bar (not held to a band):
    over 100 null series of four strategies (one a copy of buy-and-hold, counted once) its
    claims stay within the binomial bound of 5%."""
    claims = 0
    for rng in draws(26, 100):
        r = rng.choice(pool, 770)
        y = r[20:]
        momentum = np.convolve(r, np.ones(20) / 20, mode="valid")[:-1]
        returns = pd.DataFrame(
            {
                "momentum": y * (momentum > 0),
                "persistence": y * (r[19:-1] > 0),
                "train_mean": y.copy(),  # always long: identical to buy-and-hold
                "buy_and_hold": y,
            }
        )
        trials = distinct_trials(returns)
        assert list(trials.columns) == ["momentum", "persistence", "train_mean"]
        per_period = sharpe(trials.to_numpy(), axis=0) / math.sqrt(252)
        dsr = [deflated_sharpe(trials[c].to_numpy(), per_period)["dsr"] for c in trials]
        claims += any(d is not None and d > 0.95 for d in dsr)
    assert claims <= int(stats.binom.isf(TAIL, 100, 0.05)), f"{claims}/100 claims"


def test_spa_with_a_copy_of_buy_and_hold_in_a_bull_market_stays_calibrated(pool):
    """Issue 14: with a strong drift (25% a year) every long/flat strategy that knows nothing
    is worse than buy-and-hold, and a strategy identical to buy-and-hold made SPA reject in
    ~40% of such series (well over the bound)."""
    n, days, drift = 40, 600, 0.25 / 252
    claims = 0
    for rng in draws(16, n):
        y = rng.choice(pool, days) + drift
        signals = {"momentum": rng.normal(size=days), "noise": rng.normal(size=days)}
        returns = {k: y * (f > 0.5) for k, f in signals.items()}  # ~30% long
        returns = pd.DataFrame({**returns, "train_mean": y.copy(), "buy_and_hold": y})
        spa = spa_test(returns, "buy_and_hold", reps=99, seed=int(rng.integers(1 << 31)))
        assert spa["merged"] == {"train_mean": "buy_and_hold"}
        claims += spa["p_consistent"] < 0.05
    assert claims <= int(stats.binom.isf(TAIL, n, 0.05)), f"SPA claimed an edge in {claims}/{n}"
