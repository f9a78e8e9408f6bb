"""The cross-sectional (alphalens-style) analysis on synthetic panels with known answers: a
planted factor gives monotone quantile returns, a positive spread and IC; noise gives none;
the pieces (forward returns, quantiles, turnover, Newey-West errors) against hand counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstmbt.study.factor import (
    factor_analysis,
    forward_returns,
    mean_and_se,
    quantile_labels,
    top_k_turnover,
)


def planted_panel(seed: int, days: int = 600, tickers: int = 20, beta: float = 0.002):
    """Closes whose next-day return is beta x today's factor plus noise: (factor, closes)."""
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-01", periods=days)
    names = [f"T{i:02d}" for i in range(tickers)]
    factor = rng.normal(size=(days, tickers))
    returns = np.zeros((days, tickers))
    returns[1:] = beta * factor[:-1] + rng.normal(0, 0.01, (days - 1, tickers))
    closes = 50 * np.cumprod(1 + returns, axis=0)
    return (
        pd.DataFrame(factor, index=index, columns=names),
        pd.DataFrame(closes, index=index, columns=names),
    )


def test_a_planted_factor_gives_monotone_quantiles_a_spread_and_ic():
    factor, closes = planted_panel(0)
    result = factor_analysis(factor, closes, name="planted", top_k=4, quantiles=5)
    one = result.quantile_mean[1].to_numpy()
    assert (np.diff(one) > 0).all(), one
    assert result.spread.loc[1, "t"] > 10 and result.spread.loc[1, "mean"] > 0.003
    ic = result.ic_summary
    assert ic.loc[1, "mean"] > 0.15 and ic.loc[1, "t"] > 10
    # only the first day of a longer horizon is predictable: the IC fades with the horizon
    assert ic.loc[1, "mean"] > ic.loc[5, "mean"] > ic.loc[21, "mean"]
    assert (result.ic_by_month > 0).mean() > 0.9 and len(result.ic_by_month) == 28
    assert "planted: mean daily rank IC +0." in result.summary
    doc = result.to_dict()
    assert doc["quantiles"] == 5 and len(doc["quantile_mean"]["1"]) == 5


def test_noise_gives_no_spread_and_no_ic():
    _, closes = planted_panel(1)
    noise = pd.DataFrame(
        np.random.default_rng(99).normal(size=closes.shape), closes.index, closes.columns
    )
    result = factor_analysis(noise, closes, top_k=4, quantiles=5)
    assert (result.ic_summary["t"].abs() < 3).all(), result.ic_summary
    assert (result.spread["t"].abs() < 3).all(), result.spread
    # a fresh random ranking changes most of the top 4 every day: 1 - 4/20 on average
    assert result.turnover.mean() == pytest.approx(0.8, abs=0.03)


def test_forward_returns_use_each_tickers_own_bars():
    index = pd.bdate_range("2020-01-01", periods=6)
    closes = pd.DataFrame(
        {"a": [1.0, 2.0, 4.0, 8.0, 16.0, 32.0], "b": [1.0, np.nan, 2.0, 3.0, np.nan, 6.0]},
        index=index,
    )
    two = forward_returns(closes, 2)
    assert two["a"].tolist()[:4] == [3.0, 3.0, 3.0, 3.0] and two["a"].iloc[4:].isna().all()
    # b's bars: 1, 2, 3, 6 on days 0, 2, 3, 5: two bars on from day 0 is day 3
    assert two.at[index[0], "b"] == 2.0 and two.at[index[2], "b"] == 2.0
    assert np.isnan(two.at[index[1], "b"]) and np.isnan(two.at[index[3], "b"])


def test_quantiles_split_each_days_ranked_tickers():
    index = pd.bdate_range("2020-01-01", periods=3)
    f = pd.DataFrame(
        [[4.0, 3.0, 2.0, 1.0], [1.0, np.nan, 2.0, 3.0], [np.nan, np.nan, 5.0, np.nan]],
        index=index,
        columns=list("abcd"),
    )
    q = quantile_labels(f, 2)
    assert q.iloc[0].tolist() == [2, 2, 1, 1]
    assert q.iloc[1].fillna(0).tolist() == [1, 0, 1, 2]  # three: the lower half takes two
    assert q.iloc[2].isna().all()  # one ticker cannot fill two quantiles


def test_turnover_of_a_fixed_and_of_a_rotating_ranking():
    index = pd.bdate_range("2020-01-01", periods=10)
    fixed = pd.DataFrame(np.tile(np.arange(6.0), (10, 1)), index=index, columns=list("abcdef"))
    assert (top_k_turnover(fixed, 2) == 0).all() and len(top_k_turnover(fixed, 2)) == 9
    turn = (np.arange(6)[None, :] + 2 * np.arange(10)[:, None]) % 6  # the top 2 move on
    rotating = pd.DataFrame(turn * 1.0, index=index, columns=list("abcdef"))
    assert (top_k_turnover(rotating, 2) == 1).all()


def test_newey_west_errors():
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    m, se, n = mean_and_se(x)
    assert (m, n) == (2.5, 4) and se == pytest.approx(math.sqrt(1.25 / 4))
    rng = np.random.default_rng(3)
    walk = np.convolve(rng.normal(size=3000), np.ones(10), mode="valid")  # overlapping sums
    assert mean_and_se(walk, 9)[1] > 2.5 * mean_and_se(walk, 0)[1]


def test_bad_input_is_refused():
    factor, closes = planted_panel(2, days=40, tickers=4)
    with pytest.raises(ValueError, match="lack the tickers"):
        factor_analysis(factor, closes.drop(columns="T01"))
    with pytest.raises(ValueError, match="include 1"):
        factor_analysis(factor, closes, horizons=(5,))
    with pytest.raises(TypeError, match="DatetimeIndex"):
        factor_analysis(factor.reset_index(drop=True), closes)


def test_the_factor_page_shows_each_forecaster_beside_the_naive_rankings(tmp_path):
    import matplotlib

    from lstmbt.report.factor_page import write_factor_page

    before = dict(matplotlib.rcParams)
    factor, closes = planted_panel(4, days=300, tickers=8)
    planted = factor_analysis(factor, closes, name="p:lstm", top_k=2)
    noise = factor_analysis(-factor.shift(3), closes, name="momentum_20d", top_k=2)
    path = write_factor_page(tmp_path, "synthetic", {"p:lstm": planted}, {"momentum_20d": noise})
    page = path.read_text()
    assert path.name == "factor.html" and 'href="index.html"' in page
    assert page.count("<h2>") == 1 and "p:lstm: mean daily rank IC" in page
    assert "<th>momentum_20d</th><td>naive ranking</td>" in page
    assert "<th>Q4</th>" in page  # 8 tickers: 4 quantiles of two
    shown = list((tmp_path / "figures").iterdir())
    assert len(shown) == 4 and all(f"figures/{f.name}" in page for f in shown)
    assert dict(matplotlib.rcParams) == before
    (tmp_path / "none").mkdir()
    empty = write_factor_page(tmp_path / "none", "x", {})
    assert "No forecaster was ranked" in empty.read_text()
