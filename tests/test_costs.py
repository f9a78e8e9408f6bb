"""After costs, really: interest on cash (the risk-free rate from arch), Sharpe ratios over it,
turnover, gross against net, the cost sweep and the break-even cost, with known answers."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from lstmbt import RunConfig, resume_study, run_study
from lstmbt.cli import main
from lstmbt.data import rates as rates_mod
from lstmbt.data.rates import cash_rate, risk_free_monthly
from lstmbt.errors import ConfigError, DataError
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.judge import judge
from lstmbt.strategies import Costs, vectorised_returns
from lstmbt.study.costs import analyse_costs, at_cost, daily_turnover
from lstmbt.study.evaluation import strategy_metrics
from lstmbt.study.significance import sharpe

COSTS_ON = dict(
    cash_rate="risk-free",
    half_spread=0.0001,
    borrow_fee=0.01,
    min_fee=1.0,
    bootstrap_reps=200,
    tearsheets=False,
)


# --- the cash rate ----------------------------------------------------------------------------


def test_the_risk_free_rate_is_arch_s_monthly_rf_as_an_annual_fraction():
    rf = risk_free_monthly()
    assert rf.index[0] == pd.Period("1926-07", "M") and rf.index[-1] == pd.Period("2018-11", "M")
    # RF is in percent per month: 0.22 in 1926-07, 0.00 in 2008-12, 0.18 in 2018-11
    assert rf[pd.Period("1926-07", "M")] == pytest.approx(0.22 * 12 / 100)
    assert rf[pd.Period("2008-12", "M")] == 0.0
    assert rf[pd.Period("2018-11", "M")] == pytest.approx(0.18 * 12 / 100)
    days = pd.bdate_range("2007-03-01", "2007-04-30")
    on_days = cash_rate("risk-free", days).annual
    assert on_days.loc["2007-03"].nunique() == 1 and on_days.loc["2007-04"].nunique() == 1
    assert on_days.loc["2007-03-15"] == rf[pd.Period("2007-03", "M")]


def test_the_last_month_is_carried_forward_two_months_with_a_note_and_no_further():
    ok = cash_rate("risk-free", pd.bdate_range("2018-11-20", "2019-01-31"))
    assert ok.annual.loc["2019-01-31"] == ok.annual.loc["2018-11-30"]
    assert len(ok.notes) == 1 and "carried forward to 2019-01" in ok.notes[0]
    assert cash_rate("risk-free", pd.bdate_range("2018-01-01", "2018-11-30")).notes == ()
    with pytest.raises(DataError, match="ends 2018-11.*--end 2019-01-31 or a constant"):
        cash_rate("risk-free", pd.bdate_range("2018-11-20", "2019-02-01"))


def test_constant_and_zero_cash_rates():
    days = pd.bdate_range("2020-01-01", periods=5)
    assert cash_rate("0.03", days).annual.eq(0.03).all()
    assert cash_rate("0", days).is_zero
    assert RunConfig(cash_rate=0.02).cash_rate == "0.02"  # a number given in Python


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (dict(cash_rate="-0.01"), "--cash-rate must be >= 0"),
        (dict(cash_rate="treasury"), "--cash-rate must be 0, an annual fraction"),
        (dict(cash_rate="3"), "annual fraction"),
        (dict(borrow_fee=-0.01), "--borrow-fee is an annual fraction"),
        (dict(half_spread=-0.0001), "--half-spread is a fraction per side"),
        (dict(min_fee=-1.0), "--min-fee must be >= 0"),
        (dict(capital=-5.0), "--capital must be a positive amount"),
    ],
)
def test_bad_cost_values_are_refused(values, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig(**values).validate()


def test_bad_cost_values_are_one_line_on_the_command_line(capsys):
    assert main(["run", "--cash-rate", "-0.02"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cash-rate must be >= 0" in err


def test_a_cash_rate_that_does_not_cover_the_prices_is_refused_before_training(tiny, sp500):
    later = sp500.copy()
    later.index = later.index + pd.DateOffset(years=2)  # now runs to 2020-12
    with pytest.raises(DataError, match="risk-free rate ends 2018-11"):
        run_study(tiny(cash_rate="risk-free"), prices={"^GSPC": later})


# --- Sharpe ratios over the cash rate ---------------------------------------------------------


def test_sharpe_ratios_are_measured_over_the_cash_rate():
    rng = np.random.default_rng(3)
    excess = rng.normal(0.0004, 0.01, 500)
    rf = np.linspace(0.0, 0.05, 500) / 252
    over_cash = strategy_metrics(pd.Series(excess + rf), cash_rate=rf)
    plain = strategy_metrics(pd.Series(excess))
    assert over_cash["sharpe"] == pytest.approx(plain["sharpe"], rel=1e-9)
    assert over_cash["sortino"] == pytest.approx(plain["sortino"], rel=1e-9)
    assert strategy_metrics(pd.Series(rf), cash_rate=rf)["sharpe"] is None  # cash: no Sharpe


# --- judged strategies with every cost on: known answers --------------------------------------


@pytest.fixture(scope="module")
def judged(sp500, tmp_path_factory):
    """Positions judged with every cost on: always long (buy-and-hold itself), always in cash,
    and a long/flat strategy that knows tomorrow's move 56% of the time (an edge that costs
    eat)."""
    px = adjusted_ohlcv(sp500)
    days = sp500.index[sp500.index >= "2010-01-01"][:-1]
    o = px["open"]
    held_return = (o.shift(-2) / o.shift(-1) - 1).reindex(days).fillna(0.0)
    right = np.random.default_rng(0).random(len(days)) < 0.56
    edge = np.where(right, held_return > 0, held_return <= 0).astype(float)
    table = pd.DataFrame({"same": 1.0, "cash": 0.0, "edge": edge}, index=days)
    out = tmp_path_factory.mktemp("judged")
    config = RunConfig(**COSTS_ON, out=str(out), run_id="j")
    return judge(table, sp500, config=config, positions=True, write=True)


def _verdict(result, name):
    return dict(zip(result.metrics.names(role="forecaster"), result.verdict, strict=True))[name]


def test_a_strategy_identical_to_buy_and_hold_has_no_break_even_and_the_report_says_so(judged):
    m = judged.metrics
    assert m.value("strategy_tests", "same", "breakeven") == "identical"
    assert m.value("strategy_tests", "same", "breakeven_bps") is None
    assert "no break-even cost" in _verdict(judged, "same")
    assert m.comparison().at["same", "Break-even"] == "none (= B&H)"
    page = (judged.run_dir / "index.html").read_text()
    costs = pd.read_html(io.StringIO(page), attrs={"id": "costs"})[0].set_index("Strategy")
    assert costs.at["same", "Break-even (Sharpe) [95% CI]"] == "none (= B&H)"


def test_a_strategy_always_in_cash_earns_exactly_the_cash_rate(judged):
    rf = judged.data.cash_rate.daily(judged.returns.index)
    np.testing.assert_allclose(judged.returns["cash"], rf, rtol=0, atol=1e-15)
    total = judged.metrics.value("strategy", "cash", "total_return")
    assert total == pytest.approx(float((1 + rf).prod() - 1), rel=1e-12)
    assert judged.metrics.value("strategy", "cash", "sharpe") is None  # no excess return


def test_the_break_even_cost_is_where_the_exact_engine_s_sharpe_meets_buy_and_hold(judged):
    m = judged.metrics
    assert m.value("strategy_tests", "edge", "breakeven") == "crosses"
    bps = m.value("strategy_tests", "edge", "breakeven_bps")
    low = m.value("strategy_tests", "edge", "breakeven_low")
    high = m.value("strategy_tests", "edge", "breakeven_high")
    assert 0 < bps < 50 and low <= bps <= high
    # the approximation (returns - cost x turnover) lands within a bp of the exact root
    assert m.value("strategy_tests", "edge", "breakeven_approx_bps") == pytest.approx(bps, abs=1)
    # at the break-even cost, the exact engine gives both the same Sharpe ratio
    cfg = judged.config
    costs = Costs(0.0005, 0.0005, cfg.half_spread, cfg.min_fee, cfg.capital, cfg.borrow_fee)
    annual = judged.data.cash_rate.annual.reindex(judged.positions.index)
    pos = judged.positions[["edge", "buy_and_hold"]]
    rets = vectorised_returns(judged.data.ohlcv, pos, at_cost(costs, bps), annual).iloc[1:]
    rf = judged.data.cash_rate.daily(rets.index).to_numpy()
    gap = [float(sharpe(rets[c].to_numpy() - rf)) for c in pos]
    assert gap[0] == pytest.approx(gap[1], abs=1e-6)
    assert f"the edge would vanish above {bps:.1f} bps per side" in _verdict(judged, "edge")
    assert m.comparison().at["edge", "Break-even"] == f"{bps:.1f} bps"
    # the sweep shows the same crossing, and costs only ever lower a Sharpe ratio here
    sweep = m.cost_sweep
    ahead = sweep["edge"] > sweep["buy_and_hold"]
    assert ahead.iloc[0] and not ahead[sweep.index > bps].any()
    assert (np.diff(sweep["edge"]) < 0).all()


def test_gross_net_turnover_and_what_costs_take(judged):
    m = judged.metrics
    for name in ("edge", "buy_and_hold"):
        gross = m.value("strategy", name, "gross_return")
        assert gross > m.value("strategy", name, "total_return")
        assert m.value("strategy", name, "gross_sharpe") > m.value("strategy", name, "sharpe")
        assert m.value("strategy", name, "cost_drag") > 0
    days = m.span.test_days
    assert m.value("strategy", "buy_and_hold", "turnover") == pytest.approx(252 / days)
    flips = np.abs(np.diff(np.concatenate([[0.0], judged.positions["edge"].to_numpy()[:-1]])))
    assert m.value("strategy", "edge", "turnover") == pytest.approx(flips.sum() * 252 / days)
    assert m.value("strategy", "same", "cost_share") is None  # no edge over buy-and-hold
    # "edge" beats buy-and-hold before costs: costs eat (gross edge - net edge) / gross edge
    gross_edge = m.value("strategy", "edge", "gross_sharpe") - m.value(
        "strategy", "buy_and_hold", "gross_sharpe"
    )
    net_edge = m.value("strategy", "edge", "sharpe") - m.value("strategy", "buy_and_hold", "sharpe")
    assert gross_edge > 0 > net_edge
    share = m.value("strategy", "edge", "cost_share")
    assert share == pytest.approx((gross_edge - net_edge) / gross_edge) and share > 1
    page = (judged.run_dir / "index.html").read_text()
    assert (judged.run_dir / "figures" / "cost_sweep.png").is_file()
    assert "costs model a fund tracking it" in page and "excess returns over" in page


def test_the_costs_survive_metrics_json(judged):
    doc = json.loads((judged.run_dir / "metrics.json").read_text())
    assert doc["format"] == 3
    assert doc["strategy_tests"]["edge"]["breakeven"]["sharpe"] == "crosses"
    back = type(judged.metrics).from_json(doc)
    pd.testing.assert_frame_equal(back.cost_sweep, judged.metrics.cost_sweep, check_names=False)
    assert back.comparison().equals(judged.metrics.comparison())


def test_break_even_approximation_and_daily_turnover(sp500):
    px = adjusted_ohlcv(sp500)
    index = px.index[3000:3400]
    pos = pd.DataFrame(
        {"flip": np.tile([1.0, 1.0, 0.0, -1.0], 100), "buy_and_hold": 1.0}, index=index
    )
    tau = daily_turnover(pos)
    assert list(tau["flip"].iloc[:5]) == [1.0, 0.0, 1.0, 1.0, 2.0]  # held: 0, 1, 1, 0, -1, 1
    assert tau["buy_and_hold"].sum() == 1.0
    rf = pd.Series(0.0, index=index[1:])
    net = vectorised_returns(px, pos, Costs()).iloc[1:]
    out = analyse_costs(px, pos, net, rf, None, Costs(), "buy_and_hold", reps=50)
    assert out.sweep.index[0] == 0 and out.sweep.index[-1] == 50
    assert out.breakeven.at["flip", "breakeven"] in ("trails", "crosses", "beyond")


# --- resume and the recorded rate -------------------------------------------------------------


def test_the_rate_is_recorded_and_resume_refuses_new_rates(tiny, monkeypatch, capsys):
    run = run_study(tiny(cash_rate="risk-free", run_id="rf"), write=True)
    doc = json.loads((run.run_dir / "config.json").read_text())
    assert doc["config"]["cash_rate"] == "risk-free"
    assert "Fama-French" in doc["cash_rate"]["source"]
    assert len(doc["cash_rate"]["fingerprint"]) == 16
    real = rates_mod.risk_free_monthly
    monkeypatch.setattr(rates_mod, "risk_free_monthly", lambda: real() + 0.001)
    with pytest.raises(ValueError, match="cash rates .* differ from those the run started with"):
        resume_study(run.run_dir)
    monkeypatch.undo()
    assert main(["run", "--resume", str(run.run_dir), "--cash-rate", "0.05"]) == 2
    assert "--cash-rate (the run's: risk-free) would change them" in capsys.readouterr().err


def test_a_run_from_before_the_cost_options_is_the_same_trial_as_its_rerun_now():
    """An earlier run's config.json lacks --cash-rate and friends; it used their defaults, so
    rerunning its settings today is not a new trial for the deflated Sharpe ratio."""
    from lstmbt.runs import _trial_key

    now = RunConfig(seeds=2).to_dict()
    before = {k: v for k, v in now.items() if k not in ("half_spread", "cash_rate", "min_fee")}
    assert _trial_key(before) == _trial_key(now)
    assert _trial_key(before) != _trial_key(RunConfig(seeds=2, cash_rate="0.02").to_dict())
