"""Family-wise tests and the track record on known answers: StepM names exactly a planted
strategy among noise, the model confidence set keeps the true best forecaster and drops worse
ones, and the minimum track record length matches its closed form (skew and kurtosis
included)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lstmbt.study.familywise import forecast_losses, model_confidence_set, stepm
from lstmbt.study.significance import probabilistic_sharpe
from lstmbt.study.trackrecord import min_track_record_days, track_record

# --- Romano-Wolf StepM ------------------------------------------------------------------------


def strategies(seed: int, days: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = ["buy_and_hold"] + [f"s{i}" for i in range(8)]
    return pd.DataFrame(rng.normal(0.0003, 0.01, (days, 9)), columns=names)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stepm_names_exactly_the_planted_strategy(seed):
    R = strategies(seed)
    R["s5"] = np.random.default_rng(50 + seed).normal(0.003, 0.01, len(R))
    R["copy"] = R["buy_and_hold"]  # buy-and-hold itself under another name
    result = stepm(R, "buy_and_hold", reps=300, block=20, seed=seed)
    assert result.superior == ("s5",)
    assert "copy" not in result.tested and "same daily returns" in result.left_out["copy"]
    assert len(result.tested) == 8 and "s5" in result.summary


def test_stepm_steps_down_to_a_second_planted_strategy():
    R = strategies(3)
    rng = np.random.default_rng(9)
    R["s1"] = rng.normal(0.004, 0.01, len(R))
    R["s6"] = rng.normal(0.0025, 0.01, len(R))
    assert stepm(R, "buy_and_hold", reps=300, seed=3).superior == ("s1", "s6")


def test_stepm_is_reproducible_and_controls_the_family_wise_error():
    R = strategies(4, 500)
    a = stepm(R, "buy_and_hold", reps=200, seed=7)
    assert a == stepm(R, "buy_and_hold", reps=200, seed=7)
    # 40 families of pure noise (measured: 2 named; on 500 days the block bootstrap is
    # liberal, about 12%, on 2500 days 5.0% over 200 families: docs/statistics.md)
    named = [
        bool(stepm(strategies(100 + k), "buy_and_hold", reps=200, seed=k).superior)
        for k in range(40)
    ]
    assert np.mean(named) <= 0.1, "at 5% family-wise, noise families are rarely named"
    assert a.to_dict()["benchmark"] == "buy_and_hold"


def test_stepm_leaves_out_a_strategy_that_barely_differs():
    R = strategies(5, 300)
    R["s2"] = R["buy_and_hold"]
    R.loc[:4, "s2"] += 0.01  # five better days, no test
    result = stepm(R, "buy_and_hold", reps=100)
    assert "only 5 days" in result.left_out["s2"] and "s2" not in result.superior


def test_stepm_bad_input_is_refused():
    R = strategies(6, 100)
    with pytest.raises(ValueError, match="no benchmark column"):
        stepm(R, "spy")
    gap = R.copy()
    gap.iloc[3, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        stepm(gap, "buy_and_hold")
    with pytest.raises(ValueError, match="size"):
        stepm(R, "buy_and_hold", size=1.5)


# --- model confidence set -----------------------------------------------------------------------


def forecasts(seed: int, days: int = 1000) -> pd.DataFrame:
    """A realised return with a predictable half: `best` knows it, `close` nearly, the
    others know less."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(0, 0.01, days)
    realised = signal * 0.5 + rng.normal(0, 0.01, days)
    return pd.DataFrame(
        {
            "realised": realised,
            "best": 0.5 * signal,
            "close": 0.5 * signal + rng.normal(0, 0.0005, days),
            "zero": 0.0,
            "noisy": 0.5 * signal + rng.normal(0, 0.01, days),
            "copy_of_best": 0.5 * signal,
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_mcs_keeps_the_best_and_drops_the_clearly_worse(seed):
    P = forecasts(seed)
    names = ["zero", "noisy", "best", "close", "copy_of_best"]
    result = model_confidence_set(forecast_losses(P, names), reps=300, seed=seed)
    assert {"best", "close", "copy_of_best"} <= set(result.included)
    assert set(result.excluded) == {"zero", "noisy"}
    assert sorted(result.included + result.excluded) == sorted(names)  # a partition
    assert result.merged == {"copy_of_best": "best"}
    assert result.pvalues["best"] > 0.1 and result.pvalues["zero"] <= 0.1
    assert "significantly worse" in result.summary and result.to_dict()["loss"] == "squared"


def test_forecast_losses_and_their_errors():
    P = forecasts(2, 50)
    sq = forecast_losses(P, ["best"])
    ab = forecast_losses(P, ["best"], loss="absolute")
    np.testing.assert_allclose(sq["best"], (P["best"] - P["realised"]) ** 2)
    np.testing.assert_allclose(ab["best"], (P["best"] - P["realised"]).abs())
    with pytest.raises(ValueError, match="lack"):
        forecast_losses(P, ["lstm"])
    with pytest.raises(ValueError, match="loss must be"):
        forecast_losses(P, ["best"], loss="huber")


# --- probabilistic Sharpe and minimum track record length ----------------------------------------


def test_min_track_record_matches_the_closed_form():
    """Bailey and Lopez de Prado (2012): MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2)
    (z / (SR - SR*))^2, per-period Sharpe ratios, kurtosis not excess."""
    sr, star, g3, g4 = 0.1, 0.05, -0.5, 6.0
    by_hand = 1 + (1 + 0.05 + 5 / 4 * 0.01) * (1.6448536269514722 / 0.05) ** 2
    assert min_track_record_days(sr, star, g3, g4) == pytest.approx(by_hand, rel=1e-12)
    normal = 1 + (1 + 0.5 * 0.1**2) * (1.6448536269514722 / 0.05) ** 2
    assert min_track_record_days(sr, star, 0.0, 3.0) == pytest.approx(normal, rel=1e-12)
    assert min_track_record_days(0.05, 0.05, 0.0, 3.0) is None
    assert min_track_record_days(0.04, 0.05, 0.0, 3.0) is None


def test_track_record_on_skewed_returns_matches_the_formula_and_the_psr():
    rng = np.random.default_rng(3)
    r = rng.normal(0.0012, 0.01, 750) - 0.04 * (rng.random(750) < 0.015)  # rare crashes
    bh = rng.normal(0.0002, 0.01, 750)
    got = track_record(r, bh)
    m = r - r.mean()
    m2, m3, m4 = (m**2).mean(), (m**3).mean(), (m**4).mean()
    g3, g4 = m3 / m2**1.5, m4 / m2**2
    sr, star = r.mean() / r.std(ddof=1), bh.mean() / bh.std(ddof=1)
    var = 1 - g3 * sr + (g4 - 1) / 4 * sr**2
    assert got.skew == pytest.approx(g3, rel=1e-10) and g3 < -0.5  # the terms matter here
    assert got.kurtosis == pytest.approx(g4, rel=1e-10) and g4 > 5
    assert got.min_days == pytest.approx(1 + var * (stats.norm.ppf(0.95) / (sr - star)) ** 2)
    assert got.psr == probabilistic_sharpe(r, star)
    # with min_days observations and the same moments, PSR is exactly the level
    at = stats.norm.cdf((sr - star) * math.sqrt(got.min_days - 1) / math.sqrt(var))
    assert at == pytest.approx(0.95, abs=1e-12)
    assert got.more_years == pytest.approx((got.min_days - 750) / 252)
    assert got.sharpe == pytest.approx(sr * math.sqrt(252)) and got.days == 750
    assert "more years of daily data would be needed to reach 95%" in got.summary


def test_track_record_says_when_no_length_helps_and_when_it_is_enough():
    rng = np.random.default_rng(9)
    r = rng.normal(0.0001, 0.01, 500)
    worse = track_record(r, 3.0)  # an annualised bar far above it
    assert worse.min_days is None and worse.more_years is None
    assert "no track record length" in worse.summary
    strong = track_record(rng.normal(0.003, 0.01, 500), 0.0)
    assert strong.more_days == 0 and "already reaches 95%" in strong.summary
    assert track_record(r[:5], 0.0) is None and track_record(np.zeros(50), 0.0) is None
    assert strong.to_dict()["min_days"] == strong.min_days
