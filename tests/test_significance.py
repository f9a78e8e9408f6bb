"""Statistics checked on constructed series whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstmbt.study.significance import (
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    information_coefficient,
    lag_check,
    pesaran_timmermann,
    probabilistic_sharpe,
    sharpe,
    spa_test,
    stationary_bootstrap_indices,
)

rng = np.random.default_rng(0)
N = 2000
REALISED = rng.normal(0, 0.01, N)


def test_dm_identical_forecasts():
    e = rng.normal(size=N)
    assert diebold_mariano(e, e) == {"stat": 0.0, "p_value": 1.0}


def test_dm_perfect_forecaster_beats_random_walk():
    perfect = np.zeros(N)
    rw = 0 - REALISED  # zero forecast error
    for loss in ("squared", "absolute"):
        out = diebold_mariano(perfect + 1e-12 * rng.normal(size=N), rw, loss)
        assert out["stat"] < -10 and out["p_value"] < 1e-6


def test_dm_coin_flips_reject_at_about_the_nominal_rate():
    local = np.random.default_rng(1)
    rejections = 0
    for _ in range(300):
        a, b = local.normal(size=250), local.normal(size=250)
        rejections += diebold_mariano(a, b)["p_value"] < 0.05
    assert 0.02 < rejections / 300 < 0.09


def test_pt_perfect_and_coin_flip_and_constant():
    perfect = pesaran_timmermann(REALISED, REALISED)
    assert perfect["hit_rate"] == 1.0 and perfect["p_value"] < 1e-10
    local = np.random.default_rng(2)
    ps = [
        pesaran_timmermann(local.normal(size=500), local.normal(size=500))["p_value"]
        for _ in range(300)
    ]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.09
    assert pesaran_timmermann(np.ones(N), REALISED)["p_value"] is None  # always long: undefined


def test_ic_interval_covers_the_truth():
    x = rng.normal(size=N)
    y = 0.3 * x + rng.normal(size=N)
    ic = information_coefficient(x, y)
    assert ic["ci_low"] < ic["ic"] < ic["ci_high"]
    assert ic["ci_low"] < 0.28 < ic["ci_high"]  # Spearman of this bivariate normal is about 0.28
    assert information_coefficient(np.zeros(N), y)["ic"] is None


def test_lag_check_flags_an_echo():
    idx = pd.bdate_range("2010-01-01", periods=N)
    today = pd.Series(REALISED, index=idx)
    echo = lag_check(today * 0.9 + 1e-5, today)
    assert echo["echo"] and echo["corr_by_lag"][0] == pytest.approx(1.0)
    honest = lag_check(pd.Series(rng.normal(size=N), index=idx), today)
    assert not honest["echo"]


def test_bootstrap_sharpe_interval_covers_a_known_sharpe():
    true_sr = 1.0
    daily_sd = 0.01
    mu = true_sr / math.sqrt(252) * daily_sd
    local = np.random.default_rng(3)
    covered = 0
    for k in range(20):
        r = local.normal(mu, daily_sd, 2520)
        frame = pd.DataFrame({"s": r, "bench": local.normal(0, daily_sd, 2520)})
        out = bootstrap_sharpe(frame, "bench", reps=400, block=10, seed=k)["s"]
        covered += out["ci_low"] < true_sr < out["ci_high"]
        width = out["ci_high"] - out["ci_low"]
        assert 0.8 < width < 1.8  # about 2 * 1.96 * sqrt(252 / 2520)
    assert covered >= 16


def test_bootstrap_sharpe_difference_of_a_strategy_with_itself_is_zero():
    r = rng.normal(0.0005, 0.01, 1000)
    out = bootstrap_sharpe(pd.DataFrame({"a": r, "b": r}), "b", reps=200, seed=1)["a"]
    assert out["diff"] == 0 and out["diff_ci_low"] == 0 and out["diff_p_value"] == 1.0


def test_bootstrap_indices_are_valid_blocks():
    idx = stationary_bootstrap_indices(100, 50, 10.0, 0)
    assert idx.shape == (50, 100) and idx.min() >= 0 and idx.max() < 100
    steps = np.diff(idx, axis=1)
    continuing = (steps == 1) | (steps == -99)
    assert 0.8 < continuing.mean() < 0.97  # blocks of mean length 10


def test_spa_finds_a_clearly_better_strategy_and_not_noise():
    bench = rng.normal(0.0, 0.01, 1500)
    good = bench + 0.002 + rng.normal(0, 0.001, 1500)
    noise = pd.DataFrame({"bench": bench, **{f"n{i}": rng.normal(0, 0.01, 1500) for i in range(3)}})
    assert spa_test(noise.assign(good=good), "bench", reps=300)["p_consistent"] < 0.01
    assert spa_test(noise, "bench", reps=300)["p_consistent"] > 0.05


def test_probabilistic_and_deflated_sharpe():
    r = rng.normal(0.001, 0.01, 2520)  # annual Sharpe ~1.6
    assert probabilistic_sharpe(r) > 0.99
    assert probabilistic_sharpe(-r) < 0.01
    many = rng.normal(0, 0.03, 200)  # 200 configurations tried
    dsr = deflated_sharpe(r, many)
    assert dsr["n_trials"] == 200 and dsr["sr0_annual"] > 0
    assert dsr["dsr"] < probabilistic_sharpe(r)


def test_sharpe_matches_definition():
    r = rng.normal(0.0004, 0.01, 500)
    assert sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))
