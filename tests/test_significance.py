"""Statistics checked on constructed series whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.data import sp500

from lstmbt.strategies import Costs, vectorised_returns
from lstmbt.study.significance import (
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    distinct_trials,
    information_coefficient,
    lag_check,
    pesaran_timmermann,
    probabilistic_sharpe,
    sharpe,
    spa_test,
    stationary_bootstrap_indices,
)

N = 2000


def realised(seed: int = 0) -> np.ndarray:
    """Daily returns of a series with no predictability (each test draws its own)."""
    return np.random.default_rng(seed).normal(0, 0.01, N)


def test_dm_identical_forecasts():
    rng = np.random.default_rng(10)
    e = rng.normal(size=N)
    same = {"stat": 0.0, "p_value": 1.0, "p_better": 1.0, "loss_ratio": 1.0}
    assert diebold_mariano(e, e) == same
    for loss in ("squared", "absolute"):  # the horizon's autocovariance terms change nothing
        assert diebold_mariano(e, e.copy(), loss, horizon=5) == same


def test_dm_perfect_forecaster_beats_random_walk():
    rng = np.random.default_rng(11)
    perfect = np.zeros(N)
    rw = 0 - realised()  # zero forecast error
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
    r = realised()
    perfect = pesaran_timmermann(r, r)
    assert perfect["hit_rate"] == 1.0 and perfect["p_value"] < 1e-10
    local = np.random.default_rng(2)
    ps = [
        pesaran_timmermann(local.normal(size=500), local.normal(size=500))["p_value"]
        for _ in range(300)
    ]
    assert 0.02 < np.mean(np.array(ps) < 0.05) < 0.09
    assert pesaran_timmermann(np.ones(N), r)["p_value"] is None  # always long: undefined


@pytest.mark.parametrize("constant", [1e-4, 0.0, -1e-4], ids=["always-up", "zero", "always-down"])
def test_pt_constant_forecast_claims_nothing(constant):
    r = realised(12)
    out = pesaran_timmermann(np.full(N, constant), r)
    assert out["stat"] is None and out["p_value"] is None
    assert out["hit_rate"] == pytest.approx(np.mean((r > 0) == (constant > 0)))
    # a realised series that never goes up gives no directional test either
    assert pesaran_timmermann(r, -np.abs(r))["p_value"] is None


def test_ic_interval_covers_the_truth():
    rng = np.random.default_rng(13)
    x = rng.normal(size=N)
    y = 0.3 * x + rng.normal(size=N)
    ic = information_coefficient(x, y)
    assert ic["ci_low"] < ic["ic"] < ic["ci_high"]
    assert ic["ci_low"] < 0.28 < ic["ci_high"]  # Spearman of this bivariate normal is about 0.28
    assert information_coefficient(np.zeros(N), y)["ic"] is None


def test_lag_check_flags_an_echo():
    rng = np.random.default_rng(14)
    idx = pd.bdate_range("2010-01-01", periods=N)
    today = pd.Series(realised(), index=idx)
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
    r = np.random.default_rng(15).normal(0.0005, 0.01, 1000)
    out = bootstrap_sharpe(pd.DataFrame({"a": r, "b": r}), "b", reps=200, seed=1)["a"]
    assert out["diff"] == 0 and out["diff_ci_low"] == 0 and out["diff_p_value"] == 1.0


def test_bootstrap_sharpe_copy_of_buy_and_hold_claims_nothing():
    """An exact copy: difference 0, interval [0, 0], p = 1. A near copy that stays out of the
    market on 5 down days would be 'significant' (p ~ 0.01): it gets no p-value or interval."""
    rng = np.random.default_rng(16)
    bh = rng.normal(0.0004, 0.01, 1500)
    near = bh.copy()
    worst = np.argsort(bh)[:5]
    near[worst] = 0.0  # flat on the five worst days
    frame = pd.DataFrame({"copy": bh.copy(), "near": near, "buy_and_hold": bh})
    out = bootstrap_sharpe(frame, "buy_and_hold", reps=300, seed=2)
    assert out["copy"]["diff_days"] == 0
    assert (out["copy"]["diff"], out["copy"]["diff_p_value"]) == (0.0, 1.0)
    assert (out["copy"]["diff_ci_low"], out["copy"]["diff_ci_high"]) == (0.0, 0.0)
    assert out["near"]["diff_days"] == 5 and out["near"]["diff"] > 0
    assert out["near"]["diff_p_value"] is None and out["near"]["diff_ci_low"] is None


def test_bootstrap_indices_are_valid_blocks():
    idx = stationary_bootstrap_indices(100, 50, 10.0, 0)
    assert idx.shape == (50, 100) and idx.min() >= 0 and idx.max() < 100
    steps = np.diff(idx, axis=1)
    continuing = (steps == 1) | (steps == -99)
    assert 0.8 < continuing.mean() < 0.97  # blocks of mean length 10


def test_spa_finds_a_clearly_better_strategy_and_not_noise():
    rng = np.random.default_rng(17)
    bench = rng.normal(0.0, 0.01, 1500)
    good = bench + 0.002 + rng.normal(0, 0.001, 1500)
    noise = pd.DataFrame({"bench": bench, **{f"n{i}": rng.normal(0, 0.01, 1500) for i in range(3)}})
    assert spa_test(noise.assign(good=good), "bench", reps=300)["p_consistent"] < 0.01
    assert spa_test(noise, "bench", reps=300)["p_consistent"] > 0.05


def test_spa_merges_copies_and_leaves_out_near_copies():
    rng = np.random.default_rng(20)
    bench = rng.normal(0.0003, 0.01, 1500)
    a = bench * (rng.random(1500) < 0.5)
    near = bench.copy()
    near[:7] = 0.0  # differs from buy-and-hold on 7 days only
    frame = pd.DataFrame(
        {
            "buy_and_hold": bench,
            "train_mean": bench.copy(),
            "a": a,
            "a_again": a + 1e-14,  # equal within 1e-12
            "near": near,
            "cash": np.zeros(1500),
        }
    )
    out = spa_test(frame, "buy_and_hold", reps=200)
    assert out["merged"] == {"train_mean": "buy_and_hold", "a_again": "a"}
    assert set(out["left_out"]) == {"near", "cash"}
    assert "7 of 1500 days" in out["left_out"]["near"]
    assert out["tested"] == ["a"] and out["n_strategies"] == 1
    assert out["p_consistent"] is not None
    assert len(out["notes"]) == 4 and any("train_mean" in n for n in out["notes"])
    nothing = spa_test(frame[["buy_and_hold", "train_mean", "near"]], "buy_and_hold", reps=200)
    assert nothing["n_strategies"] == 0 and nothing["p_consistent"] is None
    assert "nothing to test" in nothing["notes"][-1]


def sp500_resampled_bars(seed: int, n: int = 2000) -> pd.DataFrame:
    """OHLC with no predictability: real S&P 500 bars (2009-2018, a strong drift) drawn i.i.d.

    Each bar keeps its open/high/low/close relative to the previous close, so the frame's OHLC
    is consistent (low <= open, close <= high) and only the order of the days is random.
    """
    raw = sp500.load().loc["2009-03-10":]
    shape = raw[["Open", "High", "Low", "Close"]].div(raw["Close"].shift(1), axis=0).dropna()
    pick = shape.to_numpy()[np.random.default_rng(seed).integers(0, len(shape), n)]
    close = 100 * np.cumprod(pick[:, 3])
    prev_close = np.concatenate([[100.0], close[:-1]])
    frame = pd.DataFrame(
        pick * prev_close[:, None],
        columns=["open", "high", "low", "close"],
        index=pd.bdate_range("2010-01-04", periods=n),
    )
    return frame.assign(volume=1e9)


def test_spa_no_false_edge_from_a_strategy_identical_to_buy_and_hold():
    """Issue 14: `train_mean` is always long where the training mean is positive, so its returns
    equal buy-and-hold's; that zero loss-differential column made SPA reject (p = 0.01 here)
    although every other strategy is worse than buy-and-hold."""
    bars = sp500_resampled_bars(seed=3)
    rng = np.random.default_rng(103)
    positions = {"buy_and_hold": np.ones(len(bars)), "train_mean": np.ones(len(bars))}
    for k in range(3):  # long/flat in 20-day regimes, drawn without looking at the bars
        regime = rng.random(len(bars) // 20 + 1) < 0.5
        positions[f"random{k}"] = np.repeat(regime, 20)[: len(bars)].astype(float)
    returns = vectorised_returns(bars, pd.DataFrame(positions, index=bars.index), Costs())
    returns = returns.iloc[1:]  # day 0 is the first decision: nothing held yet
    assert returns["train_mean"].equals(returns["buy_and_hold"])
    for seed in (0, 1):
        out = spa_test(returns, "buy_and_hold", reps=1000, seed=seed)
        assert out["p_consistent"] >= 0.05
        assert out["merged"] == {"train_mean": "buy_and_hold"}
        assert out["n_strategies"] == 3
        assert any("train_mean" in n and "buy_and_hold" in n for n in out["notes"])


def test_distinct_trials_counts_a_duplicate_once():
    rng = np.random.default_rng(21)
    bh = rng.normal(0.0004, 0.01, 1000)
    trials = pd.DataFrame(
        {
            "buy_and_hold": bh,
            "train_mean": bh.copy(),  # always long: the same trial as buy-and-hold
            "seed0": bh * (rng.random(1000) < 0.6),
            "ridge": bh * (rng.random(1000) < 0.6),
        }
    )
    trials["ensemble_of_one_seed"] = trials["seed0"]
    distinct = distinct_trials(trials)
    assert list(distinct.columns) == ["buy_and_hold", "seed0", "ridge"]
    per_period = sharpe(distinct.to_numpy(), axis=0) / math.sqrt(252)
    assert deflated_sharpe(bh, per_period)["n_trials"] == 3


def test_probabilistic_and_deflated_sharpe():
    rng = np.random.default_rng(18)
    r = rng.normal(0.001, 0.01, 2520)  # annual Sharpe ~1.6
    assert probabilistic_sharpe(r) > 0.99
    assert probabilistic_sharpe(-r) < 0.01
    many = rng.normal(0, 0.03, 200)  # 200 configurations tried
    dsr = deflated_sharpe(r, many)
    assert dsr["n_trials"] == 200 and dsr["sr0_annual"] > 0
    assert dsr["dsr"] < probabilistic_sharpe(r)


def test_sharpe_matches_definition():
    r = np.random.default_rng(19).normal(0.0004, 0.01, 500)
    assert sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(252))


# --- one Sharpe ratio, one trading-day count (issue 21) -----------------------------------------


def test_one_sharpe_ratio_with_its_options():
    from lstmbt.study.significance import ZERO_VOL, sharpe_of

    r = np.random.default_rng(20).normal(0.0004, 0.01, (3, 400))
    by_row = sharpe(r, axis=1)
    assert by_row == pytest.approx(r.mean(axis=1) / r.std(axis=1, ddof=1) * math.sqrt(252))
    assert sharpe_of(r.mean(axis=1), r.std(axis=1, ddof=1)) == pytest.approx(by_row)
    gappy = r.copy()
    gappy[:, :100] = np.nan  # days outside a ticker's span
    assert sharpe(gappy, axis=1, skipna=True) == pytest.approx(sharpe(r[:, 100:], axis=1))
    assert np.isnan(sharpe(gappy, axis=1)).all()
    cash = np.full(300, 1e-19)  # excess returns of cash: float noise, no risk
    assert np.isnan(sharpe(cash)) and sharpe(cash, flat=0.0) == 0.0
    assert np.isnan(sharpe(np.array([0.01]), flat=0.0))  # one day: no Sharpe ratio at all
    assert ZERO_VOL < 1e-9


def test_one_trading_day_count_and_no_sharpe_ratio_written_out():
    """Issue 21: the Sharpe ratio lived in four places (one with sqrt(252) written out) and the
    trading-day count in two. The application and the strategies share strategies/costs.py's
    TRADING_DAYS; no module annualises with a literal."""
    import re
    from pathlib import Path

    from lstmbt.strategies import costs
    from lstmbt.study import significance

    assert significance.TRADING_DAYS is costs.TRADING_DAYS == 252
    root = Path(__file__).resolve().parents[1]
    sources = [*root.glob("lstmbt/**/*.py"), *root.glob("strategies/*.py")]
    definitions = [p for p in sources if re.search(r"^TRADING_DAYS\s*=", p.read_text(), re.M)]
    assert [p.relative_to(root).as_posix() for p in definitions] == ["strategies/costs.py"]
    literal = re.compile(r"sqrt\(\s*252|/\s*252\.0|\*\s*252\b")
    assert [p.name for p in sources if literal.search(p.read_text())] == []


def test_pooled_test_counts_a_ticker_that_never_trades_as_cash():
    """A strategy that never holds a position on one ticker earns the cash rate there: excess
    return 0 every day, Sharpe ratio 0 by the stated rule (never NaN, never left out)."""
    from lstmbt.study.crosssection import pooled_sharpe_difference

    bench = {f"t{k}": _returns(500, k) for k in range(3)}
    strategy = {"t0": bench["t0"] + 0.001, "t1": bench["t1"] * 0.5}
    strategy["t2"] = pd.Series(1e-19, index=bench["t2"].index)  # cash, to float noise
    out = pooled_sharpe_difference(strategy, bench, reps=300)
    assert out["tickers"] == 3 and out["idle"] == 1
    expected = np.mean(
        [sharpe(strategy[k].to_numpy()) - sharpe(bench[k].to_numpy()) for k in ("t0", "t1")]
        + [0.0 - sharpe(bench["t2"].to_numpy())]
    )
    assert out["diff"] == pytest.approx(expected)
    assert out["ci_low"] < out["diff"] < out["ci_high"] and 0 <= out["p_value"] <= 1
    idle = pooled_sharpe_difference({"t2": strategy["t2"]}, {"t2": bench["t2"]}, reps=200)
    assert idle["diff"] == pytest.approx(-sharpe(bench["t2"].to_numpy()))
    assert idle["p_value"] is not None


def _returns(n, seed, mu=0.0003, sd=0.01, start="2010-01-01"):
    idx = pd.bdate_range(start, periods=n)
    return pd.Series(np.random.default_rng(seed).normal(mu, sd, n), index=idx)


def test_dm_one_sided_p_value_and_loss_ratio():
    rng = np.random.default_rng(12)
    y = rng.normal(0, 0.01, 800)
    better = diebold_mariano(0.5 * y - y, -y)  # a forecast with half the realised move
    assert better["stat"] < 0 and better["p_better"] == pytest.approx(better["p_value"] / 2)
    assert better["loss_ratio"] == pytest.approx(0.25)
    worse = diebold_mariano(rng.normal(0, 0.01, 800) - y, -y)
    assert worse["stat"] > 0 and worse["p_better"] == pytest.approx(1 - worse["p_value"] / 2)
    assert worse["loss_ratio"] == pytest.approx(2.0, rel=0.15)
