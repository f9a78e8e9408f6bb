"""Size of each significance test on null series, measured and bounded (issue 14).

Hundreds of series with no predictability (real S&P 500 daily returns from arch.data, drawn
i.i.d. and demeaned; forecasts built from past returns only), every test called directly, no
training. Only one-sided edge claims count (DM statistic < 0, Sharpe difference > 0, PT and SPA
are one-sided by construction, deflated Sharpe > 0.95).

The rule: with k claims at 5% in n series, CI fails when P(Binomial(n, 0.05) >= k) < 0.001,
i.e. when the 99.9% one-sided Clopper-Pearson lower limit of the claim rate lies above 5%
(29 or more of 300). A test of true size 10% exceeds that with probability 0.6, of size 12%
with 0.9; a sign error or a leak exceeds it by far (a DM sign flip: 135 of 300), and a one-sided
test flipped the wrong way, invisible on a symmetric null, misses the leaky forecaster.
Bootstrap and SPA use 199 reps to stay fast: a Monte Carlo error of about ±0.015 on each
p-value near 5%, which moves a claim here and there but not a rate over hundreds of series.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from scipy import signal, stats

from lstmbt.study.significance import (
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    distinct_trials,
    pesaran_timmermann,
    sharpe,
    spa_test,
)

ALPHA = 0.05
N_NULL = 300
DAYS = 750  # three years of out-of-sample days
REPS = 199
TESTS = ("dm", "pt", "sharpe_diff", "spa", "dsr")


def claim_bound(n: int, alpha: float = ALPHA, false_alarm: float = 0.001) -> int:
    """Smallest count of edge claims in n null series that says the size is above `alpha`."""
    return int(stats.binom.ppf(1 - false_alarm, n, alpha)) + 1


def over_bound(counts: dict[str, tuple[int, int]]) -> dict[str, str]:
    """The tests whose (claims, series) exceed the bound, as 'k/n'."""
    return {t: f"{k}/{n}" for t, (k, n) in counts.items() if k >= claim_bound(n)}


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    """Real daily S&P 500 returns (1999-2018), demeaned: fat tails, no drift."""
    r = sp500.load()["Adj Close"].pct_change().dropna().to_numpy()
    return r - r.mean()


def null_forecasts(pool: np.ndarray, rng: np.random.Generator, days: int) -> tuple:
    """Tomorrow's returns y and three forecasts of them that use only returns known today."""
    r = rng.choice(pool, days + 20)  # r[t]: the return known at the close of day t
    y = r[20:]
    scale = 10 ** rng.uniform(-1.0, 0.5)  # forecasts shrunk to zero, or overconfident
    forecasts = {
        "headline": scale * np.convolve(r, np.ones(20) / 20, mode="valid")[:-1],  # momentum
        "persistence": 0.05 * r[19:-1],
        "noise": 1e-4 * signal.lfilter([1.0], [1.0, -0.95], rng.normal(size=days)),  # AR(1)
    }
    return y, forecasts


def one_series(pool: np.ndarray, seed: np.random.SeedSequence, leak: bool) -> dict[str, bool]:
    """Edge claims of every test on one series; with `leak` the headline forecaster peeks."""
    rng = np.random.default_rng(seed)
    y, forecasts = null_forecasts(pool, rng, DAYS)
    if leak:
        forecasts["headline"] = 0.5 * (y + rng.normal(0, pool.std(), DAYS))
    headline = forecasts["headline"]
    claims = {}
    dm = diebold_mariano(headline - y, -y, "squared")
    claims["dm"] = dm["stat"] is not None and dm["stat"] < 0 and dm["p_value"] < ALPHA
    pt = pesaran_timmermann(headline, y)
    claims["pt"] = pt["p_value"] is not None and pt["p_value"] < ALPHA
    returns = pd.DataFrame(
        {
            **{name: y * (f > 0) for name, f in forecasts.items()},  # long/flat
            "train_mean": y.copy(),  # always long: identical to buy-and-hold
            "buy_and_hold": y,
        }
    )
    h = bootstrap_sharpe(returns, "buy_and_hold", reps=REPS, seed=int(rng.integers(1 << 31)))
    h = h["headline"]
    p = h["diff_p_value"]
    claims["sharpe_diff"] = p is not None and h["diff"] > 0 and p < ALPHA
    spa = spa_test(returns, "buy_and_hold", reps=REPS, seed=int(rng.integers(1 << 31)))
    claims["spa"] = spa["p_consistent"] is not None and spa["p_consistent"] < ALPHA
    trials = distinct_trials(returns)  # train_mean is buy-and-hold: one trial, not two
    per_period = sharpe(trials.to_numpy(), axis=0) / math.sqrt(252)
    dsr = [deflated_sharpe(trials[c].to_numpy(), per_period)["dsr"] for c in trials.columns]
    claims["dsr"] = any(d is not None and d > 0.95 for d in dsr)
    return claims


def claims_by_test(pool: np.ndarray, n: int, leak: bool = False, entropy: int = 14) -> dict:
    """Each test's (edge claims, series) over n series with fixed seeds."""
    rows = [one_series(pool, s, leak) for s in np.random.SeedSequence(entropy).spawn(n)]
    return {t: (sum(r[t] for r in rows), n) for t in TESTS}


def test_claim_bound_is_the_binomial_upper_tail():
    n, k = N_NULL, claim_bound(N_NULL)
    assert k == 29  # 29 or more of 300 (9.7%) fails; 28 (9.3%) passes
    assert stats.binom.sf(k - 1, n, ALPHA) < 0.001 <= stats.binom.sf(k - 2, n, ALPHA)
    # the same rule read as an interval: k claims put the 99.9% lower limit above 5%
    assert stats.beta.ppf(0.001, k, n - k + 1) > ALPHA > stats.beta.ppf(0.001, k - 1, n - k + 2)


def test_every_test_claims_an_edge_at_most_at_its_nominal_rate_on_null_series(pool):
    counts = claims_by_test(pool, N_NULL)
    too_many = over_bound(counts)
    assert not too_many, f"edge claims significantly above 5% of {N_NULL}: {too_many}"


def test_the_harness_flags_a_leaky_forecaster(pool):
    """Teeth: forecast = half of (tomorrow's return + noise of the same size). Every test of
    the headline forecaster exceeds the bound."""
    counts = claims_by_test(pool, 40, leak=True, entropy=15)
    assert set(over_bound(counts)) == set(TESTS), f"a leak went unnoticed: {counts}"


def test_spa_with_a_copy_of_buy_and_hold_in_a_bull_market_stays_calibrated(pool):
    """Issue 14 at scale: with a strong drift (25% a year) every long/flat strategy that knows
    nothing is worse than buy-and-hold, and a strategy identical to buy-and-hold made SPA reject
    in ~40% of such series (well over the bound)."""
    n, days, drift = 60, 1000, 0.25 / 252
    claims = 0
    for seed in np.random.SeedSequence(16).spawn(n):
        rng = np.random.default_rng(seed)
        y, forecasts = null_forecasts(pool, rng, days)
        y = y + drift
        returns = {k: y * (f > 0.5 * f.std()) for k, f in forecasts.items()}  # ~30% long
        returns = pd.DataFrame({**returns, "train_mean": y.copy(), "buy_and_hold": y})
        spa = spa_test(returns, "buy_and_hold", reps=REPS, seed=int(rng.integers(1 << 31)))
        assert spa["merged"] == {"train_mean": "buy_and_hold"}
        claims += spa["p_consistent"] < ALPHA
    assert claims < claim_bound(n), f"SPA claimed an edge in {claims}/{n} series"
