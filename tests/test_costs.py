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
    return str(result.verdict.of(name))


@pytest.mark.slow
def test_a_strategy_identical_to_buy_and_hold_has_no_break_even_and_the_report_says_so(judged):
    m = judged.metrics
    assert m.value("strategy_tests", "same", "breakeven") == "identical"
    assert m.value("strategy_tests", "same", "breakeven_bps") is None
    assert "no break-even cost" in _verdict(judged, "same")
    assert m.comparison().at["same", "Break-even"] == "none (= B&H)"
    page = (judged.run_dir / "index.html").read_text()
    costs = pd.read_html(io.StringIO(page), attrs={"id": "costs"})[0].set_index("Strategy")
    assert costs.at["same", "Break-even (Sharpe) [95% CI]"] == "none (= B&H)"


@pytest.mark.slow
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
    said = _verdict(judged, "edge")  # a break-even cost is claimed only where supported
    assert f"{bps:.1f} bps per side" in said
    assert ("Break-even cost" in said) == (low > 0) and ("not significant" in said) == (low == 0)
    cell = m.comparison().at["edge", "Break-even"]  # marked when its interval reaches 0
    assert cell == f"{bps:.1f} bps" + (" (n.s.)" if not low > 0 else "")
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


@pytest.mark.slow
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


# --- a cash-rate file, and Yahoo's ^IRX -------------------------------------------------------


def _rate_file(path, rates: pd.Series, column: str = "rate") -> str:
    frame = pd.DataFrame({column: rates.to_numpy()}, index=rates.index)
    frame.index.name = "Date"
    frame.to_csv(path, date_format="%Y-%m-%d")
    return str(path)


def test_a_rate_file_of_month_starts_gives_the_risk_free_rate_exactly(sp500, tmp_path):
    """The Fama-French months written as a file dated on each month's first day: every trading
    day takes its month's rate, as `risk-free` gives it."""
    monthly = risk_free_monthly()
    monthly.index = monthly.index.to_timestamp()  # the month's first calendar day
    path = _rate_file(tmp_path / "rf.csv", monthly.loc["1995":])
    days = sp500.index[sp500.index <= "2018-11-30"]
    from_file = cash_rate(path, days)
    pd.testing.assert_series_equal(from_file.annual, cash_rate("risk-free", days).annual)
    assert "rf.csv" in from_file.source  # its last row, 2018-11-01, serves to the month's end:
    assert from_file.notes == (
        "cash rate: rf.csv ends 2018-11-01; its last rate (2.16% a year) is carried forward to "
        "2018-11-30",
    )
    # the file is read as of each day: rows after t change nothing up to t
    t = days[3000]
    changed = monthly.loc["1995":].copy()
    changed.loc[changed.index > t] = 0.15
    moved = cash_rate(_rate_file(tmp_path / "rf2.csv", changed), days).annual
    pd.testing.assert_series_equal(moved.loc[:t], from_file.annual.loc[:t])
    assert not moved.loc[t:].iloc[40:].equals(from_file.annual.loc[t:].iloc[40:])


@pytest.mark.parametrize(
    "rows, match",
    [
        ({"2000-01-03": 2.5}, "is not an annual fraction in \\[0, 1\\)"),
        ({"2000-01-03": -0.01}, "is not an annual fraction in \\[0, 1\\)"),
        ({"2005-01-03": 0.02}, "starts 2005-01-03, after the prices' first day"),
        ({"1999-01-04": 0.02, "2003-01-02": 0.01}, "ends 2003-01-02 \\(carried forward to"),
    ],
    ids=["percent", "negative", "starts-late", "ends-early"],
)
def test_a_rate_file_that_cannot_serve_the_span_is_one_line(sp500, tmp_path, rows, match):
    rates = pd.Series(rows, dtype=float)
    rates.index = pd.to_datetime(rates.index)
    path = _rate_file(tmp_path / "r.csv", rates)
    with pytest.raises(DataError, match=match):
        cash_rate(path, sp500.loc["2000":"2004"].index)


def test_a_rate_file_from_the_command_line(tmp_path, capsys):
    assert main(["run", "--cash-rate", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cash-rate file" in err and "does not exist" in err
    two = pd.DataFrame({"a": [0.01], "b": [0.02]}, index=pd.to_datetime(["2000-01-03"]))
    two.index.name = "Date"
    two.to_csv(tmp_path / "two.csv")
    with pytest.raises(DataError, match="one rate column"):
        cash_rate(str(tmp_path / "two.csv"), pd.to_datetime(["2000-01-04"]))


class _Treasury:
    """Stands in for `load_yahoo` (our boundary to Yahoo, tested in test_yahoo.py with a faked
    yfinance): serves ^IRX closes (percent a year) from `quotes`, or fails as it does when
    Yahoo cannot be reached and nothing is cached. No test ever calls yfinance itself."""

    def __init__(self, quotes: pd.Series, offline: bool = False) -> None:
        self.quotes, self.offline, self.asked = quotes, offline, []

    def __call__(self, ticker, start, end, *, cache, offline_ok):
        from lstmbt.data.yahoo import YahooUnavailable

        self.asked.append((ticker, offline_ok))
        if self.offline:
            raise YahooUnavailable(f"could not reach Yahoo Finance for {ticker!r} (DNSError).")
        return self.quotes.loc[start:end].to_frame("close")


def test_risk_free_from_yahoo_is_irx_as_of_each_day(sp500, monkeypatch):
    """With a Yahoo source the rate is ^IRX / 100. A quote is a close's yield, so day t's
    interest (close t-1 to close t) takes the latest quote before t, never t's own (a bond
    market holiday carries the one before); a gap is refused; with `auto` and no network, the
    offline rate with a note."""
    quoted = sp500.loc["2009-12-01":"2010-12-31"].index
    days = quoted[quoted >= "2010-01-01"]
    quotes = pd.Series(np.linspace(0.05, 0.2, len(quoted)), index=quoted)  # percent a year
    quotes = quotes.drop(days[[10, 11]])  # two days without a quote
    fake = _Treasury(quotes)
    monkeypatch.setattr(rates_mod, "load_yahoo", fake)
    rate = cash_rate("risk-free", days, source="yahoo")
    assert fake.asked == [("^IRX", False)] and "^IRX" in rate.source
    expected = (quotes / 100).reindex(quoted).ffill().shift(1).reindex(days)
    np.testing.assert_allclose(rate.annual.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert rate.annual.iloc[10] == rate.annual.iloc[11] == rate.annual.iloc[12]
    assert rate.annual.iloc[12] == quotes.loc[days[9]] / 100  # the last quote before day 12
    # day t's rate does not depend on t's quote (or any later one)
    t = days[100]
    moved = quotes.copy()
    moved.loc[t:] = 9.0
    monkeypatch.setattr(rates_mod, "load_yahoo", _Treasury(moved))
    later = cash_rate("risk-free", days, source="yahoo").annual
    pd.testing.assert_series_equal(later.loc[:t], rate.annual.loc[:t])
    # a month without quotes is refused, not bridged
    gap = quotes.drop(quotes.loc["2010-06-01":"2010-06-30"].index)
    monkeypatch.setattr(rates_mod, "load_yahoo", _Treasury(gap))
    with pytest.raises(DataError, match="has no quote within 10 days before 2010-06-"):
        cash_rate("risk-free", days, source="yahoo")
    # offline: yahoo fails in one line, auto falls back to the offline rate and says so
    monkeypatch.setattr(rates_mod, "load_yahoo", _Treasury(quotes, offline=True))
    with pytest.raises(DataError, match="could not reach Yahoo"):
        cash_rate("risk-free", days, source="yahoo")
    fallback = cash_rate("risk-free", days, source="auto")
    pd.testing.assert_series_equal(fallback.annual, cash_rate("risk-free", days).annual)
    assert "^IRX could not be read" in fallback.notes[0] and "Fama-French" in fallback.source


@pytest.mark.slow
def test_a_run_with_a_rate_file_records_it_and_resume_refuses_an_edited_file(tiny, tmp_path):
    """A relative --cash-rate file is recorded as given, its rates by fingerprint: editing the
    file between a run and its resume is refused, not mixed in."""
    rates = pd.Series(0.03, index=pd.to_datetime(["2011-12-01", "2018-12-01"]))
    path = _rate_file(tmp_path / "tbill.csv", rates)
    run = run_study(tiny(cash_rate=path, run_id="file"), write=True)
    doc = json.loads((run.run_dir / "config.json").read_text())
    assert doc["cash_rate"]["source"].startswith("the file tbill.csv (2011-12-01 to 2018-12-01)")
    assert doc["cash_rate"]["mean_annual"] == pytest.approx(0.03)
    _rate_file(tmp_path / "tbill.csv", rates.replace(0.03, 0.04))
    with pytest.raises(ValueError, match="cash rates .* differ from those the run started with"):
        resume_study(run.run_dir)


# --- a minimum fee that ruins a small capital -------------------------------------------------


@pytest.mark.slow
def test_a_minimum_fee_that_ruins_a_small_capital_is_one_line_naming_the_strategy(
    sp500, tmp_path, capsys
):
    """Regression: `--min-fee` that ate a small `--capital` ended in 'internal error
    (BacktestError ...)', exit 3. It is the user's to fix: one line, exit 2, naming the
    strategy, the day and both options; the twin and the weights engine say the same."""
    from lstmbt.strategies import StrategyRuined

    days = sp500.index[sp500.index >= "2015-01-01"][:300]
    flips = pd.Series(np.where(np.arange(300) % 2 == 0, 0.001, -0.001), index=days, name="flip")
    path = tmp_path / "flip.csv"
    flips.rename_axis("Date").to_csv(path)
    args = ["judge", str(path), "--no-tearsheets", "--out", str(tmp_path / "r")]
    assert main([*args, "--capital", "100", "--min-fee", "0.99"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith(">")]
    assert len(lines) == 1 and "internal error" not in err and "Traceback" not in err
    assert "error: flip: equity of " in err and "cannot pay the minimum fee of 0.99" in err
    assert "(--capital 100, --min-fee 0.99)." in err
    # the same fee on a capital that can carry it is judged
    assert main([*args, "--capital", "100000", "--min-fee", "0.99", "--bootstrap-reps", "50"]) == 0
    capsys.readouterr()
    ohlcv = adjusted_ohlcv(sp500)
    pos = pd.DataFrame({"flip": np.where(np.arange(300) % 2 == 0, 1.0, 0.0)}, index=days)
    costs = Costs(capital=100.0, min_fee=0.99)
    with pytest.raises(StrategyRuined, match="cannot pay the minimum fee of 0.99"):
        vectorised_returns(ohlcv, pos, costs)
    with pytest.raises(StrategyRuined, match="ruined the strategy"):
        vectorised_returns(ohlcv, pos * 0.5, costs, band=0.0)
    with pytest.raises(DataError, match="weights are fractions"):  # unchanged: a bad weight
        judge(flips * 1000, sp500, weights=True)


# --- a rate file's unit is declared, never guessed; gaps are named ------------------------------


def test_a_rate_file_s_unit_comes_from_its_column_name_or_the_option(sp500, tmp_path):
    """`rate` (annual fractions) and `rate_pct` (percent a year) read the same rates; any other
    column name needs --cash-rate-unit; a name and an option that disagree are refused."""
    monthly = risk_free_monthly().loc["1998-12":"2018-11"]
    monthly.index = monthly.index.to_timestamp()
    days = sp500.index[sp500.index <= "2018-11-30"]
    fraction = cash_rate(_rate_file(tmp_path / "f.csv", monthly), days)
    percent = cash_rate(_rate_file(tmp_path / "p.csv", monthly * 100, "rate_pct"), days)
    pd.testing.assert_series_equal(percent.annual, fraction.annual)
    assert "column 'rate_pct' in percent a year" in percent.source
    assert "column 'rate' in annual fractions" in fraction.source
    other = _rate_file(tmp_path / "dtb3.csv", monthly * 100, "DTB3")  # FRED's name, percent
    with pytest.raises(DataError, match="the column 'DTB3' does not say its unit; its values"):
        cash_rate(other, days)
    by_option = cash_rate(other, days, unit="percent")
    pd.testing.assert_series_equal(by_option.annual, fraction.annual)
    rf = _rate_file(tmp_path / "rf.csv", monthly, "RF")
    with pytest.raises(DataError, match="Fama-French's monthly RF use --cash-rate risk-free"):
        cash_rate(rf, days)
    with pytest.raises(DataError, match="'rate_pct' says percent, --cash-rate-unit says fraction"):
        cash_rate(str(tmp_path / "p.csv"), days, unit="fraction")


def test_percent_values_below_one_in_a_rate_column_are_refused_not_read_as_fractions(
    sp500, tmp_path
):
    """Regression: a file of 0.05 .. 0.9 meant as percent was read as 5-90% a year (buy-and-
    hold Sharpe -5.87). Above 20% a year a column's name is not enough to declare the unit:
    the file is refused with both ways out; the option reads it either way."""
    days = sp500.loc["2000":"2004"].index
    months = pd.date_range("1999-12-01", "2004-12-01", freq="MS")
    values = pd.Series(np.linspace(0.05, 0.9, len(months)), index=months)
    path = _rate_file(tmp_path / "r.csv", values)
    with pytest.raises(DataError) as caught:
        cash_rate(path, days)
    text = str(caught.value)
    assert "in the column 'rate' (fraction) is 21% a year" in text
    assert "name the column rate_pct or pass --cash-rate-unit percent" in text
    assert "if the rate is right, pass --cash-rate-unit fraction" in text
    as_percent = cash_rate(path, days, unit="percent").annual
    assert as_percent.max() == pytest.approx(0.009) and as_percent.min() >= 0.0005
    assert cash_rate(path, days, unit="fraction").annual.max() == pytest.approx(0.9, abs=0.02)
    with pytest.raises(DataError, match=r"is not an annual rate in percent in \[0, 100\)"):
        cash_rate(_rate_file(tmp_path / "bp.csv", values * 1e4, "rate_pct"), days)


def test_a_gap_inside_a_rate_file_longer_than_the_carry_limit_is_named(sp500, tmp_path):
    """Regression: a 20-year gap inside a rate file paid the old rate the whole way without a
    word. Rows further apart than the carry-forward limit, with trading days between them,
    are named in a note (the longest, and how many); a file of month starts gives none."""
    rates = pd.Series(
        [0.05, 0.01, 0.02, 0.02],
        index=pd.to_datetime(["1998-12-01", "2008-12-01", "2009-01-01", "2018-12-01"]),
    )
    days = sp500.index
    rate = cash_rate(_rate_file(tmp_path / "steps.csv", rates), days)
    assert rate.notes[0] == (
        "cash rate: steps.csv has no row from 1998-12-01 to 2008-12-01 (10.0 years, longer "
        "than the 2 months a rate is carried at the file's end) (2 such gaps in all); its 5.00% "
        "a year of 1998-12-01 is paid throughout. Add rows if the rate changed in between."
    )
    assert rate.notes[1].startswith("cash rate: steps.csv ends 2018-12-01")
    assert rate.annual.loc["2018-11-30"] == 0.02 and rate.annual.loc["2008-11-28"] == 0.05
    later = days[days >= "2009-01-02"]  # only the second gap falls on these days
    assert (
        cash_rate(str(tmp_path / "steps.csv"), later)
        .notes[0]
        .startswith(
            "cash rate: steps.csv has no row from 2009-01-01 to 2018-12-01 (9.9 years, longer "
            "than the 2 months a rate is carried at the file's end); its 2.00% a year"
        )
    )
    monthly = risk_free_monthly().loc["1998-12":"2018-11"]
    monthly.index = monthly.index.to_timestamp()
    assert not any(
        "has no row" in n for n in cash_rate(_rate_file(tmp_path / "m.csv", monthly), days).notes
    )


@pytest.mark.slow
def test_cash_rate_unit_on_the_command_line(sp500, tmp_path, capsys):
    """--cash-rate-unit reaches the rate file from `run` and `judge`; it is refused where no
    file is read, and for units other than fraction and percent."""
    with pytest.raises(ConfigError, match="is not a file"):  # before any data is read
        RunConfig(cash_rate="0.02", cash_rate_unit="percent").validate()
    for args, said in [
        (["--cash-rate", "0.02", "--cash-rate-unit", "percent"], "is not a file"),
        (["--cash-rate-unit", "pct"], "--cash-rate-unit must be fraction"),
    ]:
        assert main(["run", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err
    months = pd.date_range("2015-12-01", "2017-12-01", freq="MS")
    path = _rate_file(tmp_path / "tb.csv", pd.Series(0.5, index=months), "value")
    days = sp500.index[(sp500.index >= "2016-03-01") & (sp500.index <= "2017-10-31")]
    forecasts = tmp_path / "f.csv"
    sp500["adj_close"].pct_change().loc[days].rename("f").rename_axis("Date").to_csv(forecasts)
    judged = ["judge", str(forecasts), "--cash-rate", path, "--no-tearsheets"]
    judged += ["--bootstrap-reps", "50", "--out", str(tmp_path / "r"), "--start", "2015-12-01"]
    judged += ["--end", "2017-12-29"]
    assert main(judged) == 2
    assert "the column 'value' does not say its unit" in capsys.readouterr().err
    assert main([*judged, "--cash-rate-unit", "percent", "--run-id", "pct"]) == 0
    doc = json.loads((tmp_path / "r" / "pct" / "config.json").read_text())
    assert doc["cash_rate"]["mean_annual"] == pytest.approx(0.005)
    assert doc["config"]["cash_rate_unit"] == "percent"
