"""Forecast and strategy metrics: known answers on tiny constructed series, worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

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


# --- seed spread, the absolute-loss DM and the costs per side: known answers (issue 21) --------


def test_seed_spread_is_the_sample_standard_deviation():
    """Seeds are a sample of initialisations: the spread divides by n - 1 (1.29, not 1.12)."""
    from lstmbt.metrics import seed_stats

    out = seed_stats([1.0, 2.0, None, 3.0, 4.0])  # a seed that never traded has no value
    assert out["mean"] == pytest.approx(2.5)
    assert out["std"] == pytest.approx(math.sqrt(5 / 3))  # sum of squares 5 over 4 - 1
    assert out["values"] == [1.0, 2.0, None, 3.0, 4.0]
    assert seed_stats([0.7])["std"] is None  # one seed has no spread


def _dm_by_hand(loss_model: np.ndarray, loss_rw: np.ndarray) -> tuple[float, float]:
    """DM statistic with the HLN correction (horizon 1) and its two-sided t p-value."""
    d = loss_model - loss_rw
    n = len(d)
    stat = d.mean() / math.sqrt(np.mean((d - d.mean()) ** 2) / n) * math.sqrt((n - 1) / n)
    return stat, 2 * float(stats.t.sf(abs(stat), n - 1))


def test_absolute_loss_dm_is_computed_on_absolute_errors():
    """A forecast that is often exactly right and sometimes far off: lower absolute loss than
    the random walk but higher squared loss, so the two DM tests point opposite ways."""
    from lstmbt.study.evaluation import forecast_tests
    from lstmbt.study.leaks import known_returns

    rng = np.random.default_rng(3)
    n = 400
    dates = pd.bdate_range("2015-01-01", periods=n)
    today = pd.Series(rng.normal(0, 0.01, n), index=dates)
    y = rng.normal(0, 0.01, n)
    miss = rng.random(n) < 0.1
    f = np.where(miss, y + np.sign(rng.normal(size=n)) * 0.05, y)  # right 90% of the days
    row = forecast_tests(pd.Series(f, index=dates), y, today, known_returns(today, dates))
    abs_stat, abs_p = _dm_by_hand(np.abs(f - y), np.abs(y))
    sq_stat, sq_p = _dm_by_hand((f - y) ** 2, y**2)
    assert abs_stat < 0 < sq_stat  # better in absolute loss, worse in squared loss
    assert row["dm_abs_stat"] == pytest.approx(abs_stat)
    assert row["dm_abs_p"] == pytest.approx(abs_p)
    assert row["dm_abs_p_better"] == pytest.approx(abs_p / 2)
    assert row["dm_stat"] == pytest.approx(sq_stat) and row["dm_p"] == pytest.approx(sq_p)
    assert row["dm_p_better"] == pytest.approx(1 - sq_p / 2)
    assert row["loss_ratio"] == pytest.approx(np.mean((f - y) ** 2) / np.mean(y**2))


def test_costs_per_side_are_the_configured_rates_once():
    """5 bps commission + 3 slippage + 1 half-spread is 9 bps per side (not 18: a round
    trip pays both sides, each trade one)."""
    from types import SimpleNamespace

    from lstmbt.config import RunConfig
    from lstmbt.metrics import Span
    from lstmbt.study.evaluation import _span
    from lstmbt.study.forecasters import BASELINE_FOLDS

    config = RunConfig(commission=5e-4, slippage=3e-4, half_spread=1e-4)
    days = pd.bdate_range("2015-01-01", periods=30)
    data = SimpleNamespace(dates=days, cash_rate=None)
    fc = SimpleNamespace(folds={BASELINE_FOLDS: [None]})
    span = _span(config, data, fc, pd.DataFrame(index=days[1:]), days[:-1])
    assert span.costs_per_side == {"commission": 5e-4, "slippage": 3e-4, "half_spread": 1e-4}
    assert span.cost_bps == pytest.approx(9.0)
    assert Span(**{**span.__dict__, "costs_per_side": {"commission": 0.001}}).cost_bps == 10.0
