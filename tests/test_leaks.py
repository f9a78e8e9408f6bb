"""The leak checks' false alarms on honest forecasts and their detection of leaks, with binomial
bounds (issue 21). Synthetic forecasts of resampled real S&P 500 returns (arch.data), no
training; benchmarks/leaks.py measures the same on trained LSTMs and GRUs.

Honest: forecasts made from the returns known at t (today's plus noise, correlation 0.71 with
it; a smooth 20-day momentum; a non-linear function of the last two days; the true conditional
mean of a planted AR(1), which correlates 0.25 with tomorrow's return). Leaks: tomorrow's
return plus noise at correlation 0.15 and 0.18, and today's return plus noise dated a day
early. The claims, each checked with a 95% Clopper-Pearson interval: at most 5% false leak
alarms on honest forecasts, at least 90% detection of leaks of correlation 0.15 over 2,000 days
and of 0.18 over 1,000 (the issue's missed leak).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500
from scipy import stats

from lstmbt.study.leaks import (
    LAGS,
    PLAUSIBLE_CORR,
    known_returns,
    leak_check,
    leak_sentences,
)
from lstmbt.study.significance import lag_check


@pytest.fixture(scope="module")
def pool() -> np.ndarray:
    r = sp500.load()["Adj Close"].pct_change().dropna().to_numpy()
    return r - r.mean()


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return float(lo), float(hi)


def returns(pool: np.ndarray, rng: np.random.Generator, days: int, ar: float = 0.0):
    """Daily returns by date (`ar`: an AR(1) with that coefficient), the decision dates (with
    LAGS days of history and a next day), and the returns known at each."""
    e = rng.choice(pool, days + 30)
    if ar:
        x = np.empty_like(e)
        x[0] = e[0]
        for t in range(1, len(e)):
            x[t] = ar * x[t - 1] + math.sqrt(1 - ar**2) * e[t]
        e = x
    today = pd.Series(e, index=pd.bdate_range("2000-01-03", periods=len(e)))
    dates = today.index[25:-1][:days]
    return today, dates, known_returns(today, dates)


def flags(pool, entropy: int, n: int, days: int, make) -> list[dict]:
    """leak_check on n series of `days` decision dates, the forecast built by make(today,
    dates, rng)."""
    out = []
    for seed in np.random.SeedSequence(entropy).spawn(n):
        rng = np.random.default_rng(seed)
        ar = getattr(make, "ar", 0.0)
        today, dates, known = returns(pool, rng, days, ar)
        f = make(today, dates, rng)
        out.append(leak_check(f, today.shift(-1).loc[dates].to_numpy(), known))
    return out


def noise_like(x: np.ndarray, rng, ratio: float) -> np.ndarray:
    return rng.normal(0, ratio * x.std(), len(x))


def today_plus_noise(today, dates, rng):
    x = today.loc[dates].to_numpy()
    return x + noise_like(x, rng, 1.0)


def momentum(today, dates, rng):
    return today.rolling(20).mean().loc[dates].to_numpy()


def nonlinear(today, dates, rng):
    x, x1 = today.loc[dates].to_numpy(), today.shift(1).loc[dates].to_numpy()
    return np.tanh(x / 0.01) + 0.3 * np.sign(x1) * x1**2 / 1e-4


def ar_mean(today, dates, rng):
    return 0.25 * today.loc[dates].to_numpy()


ar_mean.ar = 0.25  # type: ignore[attr-defined]


def leak(corr: float):
    def make(today, dates, rng):
        y = today.shift(-1).loc[dates].to_numpy()
        return y + noise_like(y, rng, math.sqrt(1 / corr**2 - 1))

    return make


def early(today, dates, rng):
    """Today's return plus noise, made at the close of t + 1 and dated t."""
    x = today.shift(-1).loc[dates].to_numpy()
    return x + noise_like(x, rng, 1.0)


HONEST = {
    "today's return + noise": today_plus_noise,
    "20-day momentum": momentum,
    "non-linear in the last two days": nonlinear,
    "AR(1) conditional mean": ar_mean,
}


@pytest.mark.parametrize("name", list(HONEST))
def test_honest_forecasts_get_at_most_5_percent_false_leak_alarms(pool, name):
    rows = flags(pool, 40 + list(HONEST).index(name), 150, 1250, HONEST[name])
    k = sum(r["leak"] for r in rows)
    assert clopper_pearson(k, len(rows))[1] <= 0.05, f"{name}: {k}/{len(rows)} leak alarms"
    if name != "AR(1) conditional mean":  # a real market's series does not predict itself
        assert sum(r["implausible"] for r in rows) <= 1, name


def test_the_conditional_mean_of_a_predictable_series_is_a_caution_not_a_leak(pool):
    rows = flags(pool, 45, 40, 1250, ar_mean)
    assert all(r["implausible"] and not r["leak"] for r in rows)
    assert all(r["corr_beyond"] == 0.0 and r["p_leak"] == 1.0 for r in rows)  # linear in r_t
    assert np.median([r["corr_next"] for r in rows]) == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize(
    ("make", "days", "what"),
    [
        (leak(0.15), 2000, "tomorrow + noise, corr 0.15"),
        (leak(0.18), 1000, "tomorrow + noise, corr 0.18"),
        (early, 500, "today + noise dated a day early"),
    ],
)
def test_leaks_are_detected_at_least_90_percent_of_the_time(pool, make, days, what):
    rows = flags(pool, 50 + days, 150, days, make)
    k = sum(r["leak"] for r in rows)
    assert clopper_pearson(k, len(rows))[0] >= 0.90, f"{what}: {k}/{len(rows)} detected"


def test_known_returns_are_those_known_at_the_close():
    today = pd.Series(np.arange(1.0, 11.0), index=pd.bdate_range("2020-01-01", periods=10))
    dates = today.index[6:8]
    known = known_returns(today, dates)
    assert known.shape == (2, LAGS)
    assert known[0].tolist() == [7.0, 6.0, 5.0, 4.0, 3.0]  # today's, then the days before


def test_a_forecast_that_is_today_s_return_has_nothing_beyond_it(pool):
    today, dates, known = returns(pool, np.random.default_rng(1), 600)
    out = leak_check(today.loc[dates].to_numpy(), today.shift(-1).loc[dates].to_numpy(), known)
    assert out["corr_beyond"] == 0.0 and out["p_leak"] == 1.0 and not out["leak"]
    assert out["corr_same"] == pytest.approx(1.0)
    assert lag_check(today.loc[dates], today)["echo"]


def test_constant_or_short_forecasts_are_not_checked(pool):
    today, dates, known = returns(pool, np.random.default_rng(2), 600)
    y = today.shift(-1).loc[dates].to_numpy()
    flat = leak_check(np.zeros(len(dates)), y, known)
    assert flat["corr_next"] is None and not flat["leak"] and not flat["implausible"]
    short = leak_check(y[:20], y[:20], known[:20])
    assert short["p_leak"] is None and short["leak_days"] == 20 and not short["leak"]


# --- the sentences ------------------------------------------------------------------------------


def row(**values) -> dict:
    base = {
        "leak": False,
        "implausible": False,
        "echo": False,
        "corr_next": 0.01,
        "corr_beyond": 0.0,
        "p_leak": 0.9,
        "p_strong": 0.9,
        "leak_days": 1250,
        "lag_corr": [0.3, 0.0],
        "corr_same": 0.3,
    }
    return {**base, **values}


def test_no_sentence_for_an_honest_row_and_for_an_old_run():
    assert leak_sentences(row()) == ()
    old = {"leak": True, "corr_next": 0.25, "p_next": 1e-9, "corr_same": 0.1, "echo": False}
    assert leak_sentences(old) == (), "the old fixed-threshold flag is not evidence"


def test_a_leak_is_named_with_its_evidence():
    (text,) = leak_sentences(
        row(leak=True, implausible=True, corr_next=0.19, corr_beyond=0.18, p_leak=2e-4)
    )
    assert text.startswith("likely look-ahead leak")
    assert "+0.18" in text and "p < 0.001" in text and "1,250 days" in text
    assert f"{PLAUSIBLE_CORR:.2f}" in text and not text.startswith(";")


def test_implausible_strength_is_a_caution_conditional_on_market_data():
    (text,) = leak_sentences(row(implausible=True, corr_next=0.27, p_strong=1e-6))
    assert text.startswith("caution") and "implausibly strong" in text and "+0.27" in text
    assert "if this is market data" in text and "leak" not in text.split(":")[0]
    assert "explain it" in text  # beyond the last days' returns: +0.00


def test_the_echo_is_a_note():
    texts = leak_sentences(row(echo=True, lag_corr=[0.93, 0.1]))
    assert texts == (
        "note: the forecast mostly follows today's change (correlation +0.93 with it), so its "
        "skill is close to the persistence baseline's or its mirror image's",
    )
    (mirror,) = leak_sentences(row(echo=True, lag_corr=[-1.0, 0.1]))
    assert mirror.startswith("note: the forecast mostly mirrors today's change (correlation -1.00")
