"""Forecast and strategy metrics: known answers on tiny constructed series, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstmbt.study.evaluation import forecast_metrics, strategy_metrics

YEAR = 252  # trading days per year, written out here so the test does not share the constant


def strat(returns, **kw) -> dict:
    return strategy_metrics(pd.Series(returns, dtype=float), **kw)


# --- strategy metrics ---------------------------------------------------------------------------


def test_total_return_compounds_and_drawdown_is_peak_to_trough():
    # equity 1.1, 0.55, 0.66: down 50% from the 1.1 peak, ending 34% below the start
    m = strat([0.1, -0.5, 0.2])
    assert m["total_return"] == pytest.approx(-0.34, abs=1e-12)
    assert m["max_drawdown"] == pytest.approx(-0.5, abs=1e-12)
    assert m["days"] == 3
    # the deepest fall comes after a later, higher peak: 1.5, 1.2, 1.8, 0.9
    assert strat([0.5, -0.2, 0.5, -0.5])["max_drawdown"] == pytest.approx(-0.5, abs=1e-12)


def test_drawdown_counts_from_the_starting_capital():
    # equity 0.8, 0.88: never above its first close, but 20% below the money put in
    assert strat([-0.2, 0.1])["max_drawdown"] == pytest.approx(-0.2, abs=1e-12)
    assert strat([0.01, 0.02, 0.0])["max_drawdown"] == 0.0


def test_cagr_annualises_over_days_divided_by_252():
    two_years = [1.21 ** (1 / (2 * YEAR)) - 1] * (2 * YEAR)  # +21% over two years
    m = strat(two_years)
    assert m["total_return"] == pytest.approx(0.21, rel=1e-9)
    assert m["cagr"] == pytest.approx(0.10, rel=1e-9)  # 1.1 ** 2 == 1.21
    half_year = [1.1 ** (1 / (YEAR // 2)) - 1] * (YEAR // 2)  # +10% in half a year
    assert strat(half_year)["cagr"] == pytest.approx(0.21, rel=1e-9)


def test_wiped_out_capital_has_no_cagr():
    m = strat([-1.0, 0.1])
    assert m["total_return"] == pytest.approx(-1.0)
    assert m["max_drawdown"] == pytest.approx(-1.0)
    assert m["cagr"] is None


def test_volatility_and_sharpe_use_the_sample_std_annualised():
    # mean 0, sample variance 4e-4 / 3
    m = strat([0.01, -0.01, 0.01, -0.01])
    assert m["volatility"] == pytest.approx(math.sqrt(4e-4 / 3 * YEAR), rel=1e-9)
    # mean 0.01, sample std sqrt((1e-4 + 0 + 1e-4) / 2) = 0.01
    assert strat([0.02, 0.0, 0.01])["sharpe"] == pytest.approx(math.sqrt(YEAR), rel=1e-9)


def test_sortino_divides_by_the_downside_deviation_over_all_days():
    # mean 0.005; downside deviation sqrt((0 + 1e-4 + 0 + 1e-4) / 4) (target 0, all four days)
    m = strat([0.03, -0.01, 0.01, -0.01])
    expected = 0.005 / math.sqrt(2e-4 / 4) * math.sqrt(YEAR)
    assert m["sortino"] == pytest.approx(expected, rel=1e-9)
    assert m["sortino"] == pytest.approx(11.2249721603, rel=1e-9)
    assert strat([0.01, 0.02, 0.0])["sortino"] is None  # no losing day: undefined, not infinite


def test_one_day_or_flat_returns_have_no_sharpe_or_volatility():
    one = strat([0.05])
    assert one["sharpe"] is None and one["volatility"] is None
    assert one["total_return"] == pytest.approx(0.05)
    flat = strat([0.25] * 4)  # exact in binary: the sample std is exactly 0
    assert flat["sharpe"] is None and flat["volatility"] == 0.0


def test_exposure_counts_long_and_short_days_and_trades_pass_through():
    held = pd.Series([0.0, 1.0, 1.0, -1.0, 0.0])
    m = strat([0.0, 0.01, -0.01, 0.02, 0.0], positions_held=held, n_trades=3)
    assert m["exposure"] == pytest.approx(3 / 5)
    assert m["trades"] == 3
    assert "exposure" not in strat([0.01, 0.02]) and "trades" not in strat([0.01, 0.02])


# --- forecast metrics ---------------------------------------------------------------------------

F = [0.1, -0.2, 0.0, 0.3, 0.1]
R = [0.2, -0.1, 0.5, -0.1, 0.0]


def test_errors_and_r2_against_a_zero_forecast():
    m = forecast_metrics(np.array(F), np.array(R))
    # errors f - r = -0.1, -0.1, -0.5, 0.4, 0.1
    mse = (0.01 + 0.01 + 0.25 + 0.16 + 0.01) / 5  # 0.088
    assert m["rmse"] == pytest.approx(math.sqrt(mse), rel=1e-9)
    assert m["mae"] == pytest.approx((0.1 + 0.1 + 0.5 + 0.4 + 0.1) / 5, rel=1e-9)
    # benchmark: the zero forecast, whose MSE is mean(r^2) = 0.31 / 5 (not the variance of r)
    assert m["r2_vs_zero"] == pytest.approx(1 - mse / (0.31 / 5), rel=1e-9)
    assert m["n"] == 5


def test_hit_rate_skips_zero_forecasts_and_zero_returns():
    # day 0 (+,+) hit, day 1 (-,-) hit, day 2 zero forecast, day 3 (+,-) miss, day 4 zero return
    assert forecast_metrics(np.array(F), np.array(R))["hit_rate"] == pytest.approx(2 / 3)


def test_zero_forecast_has_no_hit_rate_no_ic_and_r2_zero():
    r = np.array(R)
    m = forecast_metrics(np.zeros(5), r)
    assert m["hit_rate"] is None and m["ic"] is None
    assert m["r2_vs_zero"] == 0.0
    assert m["rmse"] == pytest.approx(math.sqrt(0.31 / 5), rel=1e-9)


def test_ic_is_spearman_rank_correlation():
    # ranks of r: 1 3 2 5 4 against 1 2 3 4 5: sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8
    f = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    r = np.array([0.1, 0.3, 0.2, 0.9, 0.4])  # an outlier that would move a Pearson correlation
    assert forecast_metrics(f, r)["ic"] == pytest.approx(0.8, rel=1e-12)
    assert forecast_metrics(f**3, f)["ic"] == pytest.approx(1.0)  # monotone, not linear
    assert forecast_metrics(-f, f)["ic"] == pytest.approx(-1.0)


def test_perfect_forecast():
    r = np.array(R[:4])
    m = forecast_metrics(r.copy(), r)
    assert m["rmse"] == 0.0 and m["mae"] == 0.0
    assert m["hit_rate"] == 1.0 and m["r2_vs_zero"] == 1.0 and m["ic"] == pytest.approx(1.0)
