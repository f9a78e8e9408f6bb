"""`lstmbt judge`: anyone's forecasts get the study's backtest, baselines, tests and leak
checks; known answers for a leak, an echo, a one-day misalignment and noise."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from lstmbt import RunConfig, run_study
from lstmbt.cli import main
from lstmbt.errors import DataError
from lstmbt.judge import judge

FAST = dict(bootstrap_reps=200, tearsheets=False)


@pytest.fixture(scope="module")
def judged(sp500):
    """Known forecasts of the S&P 500's next-day return, 2010-2018 (about 2,260 days), judged
    once: leaks of two strengths, a forecast dated a day early, honest ones that read today's
    return, and noise."""
    r_next = sp500["adj_close"].pct_change().shift(-1)
    r_today = sp500["adj_close"].pct_change()
    days = sp500.index[(sp500.index >= "2010-01-01")][:-2]
    rng = np.random.default_rng(7)
    sd = float(r_next.loc[days].std())  # noise scaled on the judged span: correlations as named

    def noise(scale: float) -> pd.Series:
        return pd.Series(rng.normal(0, scale * sd, len(r_next)), index=r_next.index)

    today_plus_noise = r_today + noise(1.0)  # honest: correlation about 0.71 with today's return
    table = pd.DataFrame(
        {
            "leak": r_next + noise(1.0),  # correlation about 0.7 with tomorrow's return
            "weak_leak": r_next + noise(math.sqrt(1 / 0.18**2 - 1)),  # correlation 0.18
            "early": today_plus_noise.shift(-1),  # made at t+1's close, dated t
            "noise": noise(0.1),
            "honest": today_plus_noise,
            "late": (0.3 * r_next + noise(1.0)).shift(1),  # dated a day late: stale, no leak
            "echo": r_today,  # the persistence forecast
        }
    ).loc[days]
    return judge(table, sp500, config=RunConfig(**FAST))


def flags(result, name):
    m = result.metrics
    return {k for k in ("leak", "implausible", "echo") if m.value("forecast_tests", name, k)}


@pytest.mark.slow
def test_known_answers_of_the_leak_checks(judged):
    """Leaks are flagged (0.18 too: issue 21), honest forecasts that read today's return are
    not, whatever their correlation with it; the echo note is a description."""
    assert flags(judged, "leak") == {"leak", "implausible"}
    assert flags(judged, "weak_leak") == {"leak", "implausible"}
    assert flags(judged, "early") == {"leak", "implausible"}
    for honest in ("noise", "honest", "late"):
        assert flags(judged, honest) == set(), honest
    assert flags(judged, "echo") == {"echo"}
    m = judged.metrics
    assert m.value("forecast_tests", "weak_leak", "corr_beyond") == pytest.approx(0.18, abs=0.05)
    assert m.value("forecast_tests", "honest", "corr_same") == pytest.approx(0.71, abs=0.05)
    assert m.value("forecast_tests", "echo", "corr_beyond") == 0.0  # today's return itself
    verdict = {n: str(judged.verdict.of(n)) for n in m.names(role="forecaster")}
    assert "likely look-ahead leak" in verdict["weak_leak"]
    assert "mostly follows today's change" in verdict["echo"]
    for honest in ("noise", "honest", "late"):
        assert "leak" not in verdict[honest] and "caution" not in verdict[honest], honest


@pytest.mark.slow
def test_pure_noise_gets_no_significant_edge(judged):
    m = judged.metrics
    assert m.value("strategy_tests", "noise", "diff") < 0 or (
        m.value("strategy_tests", "noise", "diff_p_value") >= 0.05
    )
    dm_stat, dm_p = (
        m.value("forecast_tests", "noise", "dm_stat"),
        m.value("forecast_tests", "noise", "dm_p"),
    )
    assert not (dm_stat < 0 and dm_p < 0.05), "noise must not beat the random walk"
    assert m.value("forecast_tests", "noise", "pt_p") >= 0.01


def test_baselines_on_the_same_span_and_the_same_costs(judged):
    m = judged.metrics
    assert {"buy_and_hold", "random_walk", "persistence", "ridge", "ma_crossover"} <= set(
        m.strategy.index
    )
    assert judged.returns.index[0] > pd.Timestamp("2010-01-04")  # first return day after t0
    assert m.span.kind == "judge" and m.value("strategy", "random_walk", "trades") == 0
    # the persistence baseline and the submitted echo are one trial for the deflated Sharpe
    assert m.spa.merged


@pytest.mark.slow
def test_judging_a_runs_predictions_reproduces_its_strategy_numbers(tiny, tmp_path):
    run = run_study(
        tiny(presets=("lookback",), lookback=5, threshold=0.0002, commission=0.001), write=True
    )
    again = judge(run.run_dir / "predictions.csv", config=RunConfig(out=str(tmp_path), **FAST))
    assert again.config.threshold == 0.0002 and again.config.commission == 0.001
    for col in ("total_return", "sharpe", "trades", "max_drawdown"):
        a = run.metrics.value("strategy", "lookback:lstm", col)
        b = again.metrics.value("strategy", "lookback:lstm", col)
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), col
    pd.testing.assert_series_equal(
        run.returns["lookback:lstm"], again.returns["lookback:lstm"], rtol=1e-12
    )


def test_missing_dates_hold_the_position_and_tests_use_common_dates(sp500):
    days = sp500.index[(sp500.index >= "2015-01-01")][:300]
    r_today = sp500["adj_close"].pct_change().loc[days]
    table = pd.DataFrame({"a": -r_today, "b": r_today.rolling(5).mean()})
    table.iloc[100:110, 0] = np.nan
    result = judge(table, sp500, config=RunConfig(**FAST))
    pos = result.positions["a"]
    assert (pos.iloc[100:110] == pos.iloc[99]).all(), "the previous position is held"
    n = result.metrics.value("forecast", "a", "n")
    assert n == 300 - 10 - 4, "forecast tests use the dates where every column has one"


@pytest.mark.slow
def test_cli_judges_a_csv_and_writes_the_report(sp500, tmp_path, capsys):
    days = sp500.index[(sp500.index >= "2016-01-01")][:-1]
    path = tmp_path / "mine.csv"
    sp500["adj_close"].pct_change().loc[days].rename("mine").rename_axis("Date").to_csv(path)
    out = tmp_path / "reports"
    args = ["judge", str(path), "--out", str(out), "--run-id", "j", "--no-tearsheets"]
    assert main([*args, "--trials", "9", "--bootstrap-reps", "100"]) == 0
    text = capsys.readouterr().out
    assert "mine" in text and "buy_and_hold" in text and "you tried before" in text
    doc = json.loads((out / "j" / "metrics.json").read_text())
    assert doc["span"]["kind"] == "judge" and doc["trials"]["declared"] == 9
    assert "judged forecasts: mine" in (out / "j" / "index.html").read_text()


@pytest.mark.slow
def test_cli_judges_sized_weights_with_the_band(sp500, tmp_path):
    """`lstmbt judge FILE --weights --rebalance-band B`: fractions of equity, traded with the
    band the command line gives (a wider band trades less), recorded as weights."""
    days = sp500.index[(sp500.index >= "2016-01-01")][:-1]
    vol = sp500["adj_close"].pct_change().rolling(20).std().loc[days]
    path = tmp_path / "w.csv"
    (0.004 / vol).clip(0.0, 1.0).dropna().rename("w").rename_axis("Date").to_csv(path)
    out = tmp_path / "reports"
    trades = {}
    for band in ("0.01", "0.2"):
        args = ["judge", str(path), "--weights", "--rebalance-band", band, "--out", str(out)]
        assert main([*args, "--run-id", band, "--no-tearsheets", "--bootstrap-reps", "50"]) == 0
        doc = json.loads((out / band / "metrics.json").read_text())
        trades[band] = doc["strategy"]["w"]["trades"]
        assert json.loads((out / band / "config.json").read_text())["judge"]["weights"] is True
    assert 0 < trades["0.2"] < trades["0.01"]
    assert main(["judge", str(path), "--positions", "--out", str(out)]) == 2  # not -1/0/1


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("Date,f\n1990-01-02,0.1\n1990-01-03,0.2\n", "not trading days of the price history"),
        ("Date,f\n2016-01-04,0.1\n2016-01-04,0.2\n", "conflicting rows"),
        ("Date,f\n2016-01-04,0.1\n2016-01-05,abc\n", "non-numeric"),
        ("Date,f,g\n2016-01-04,0.1,\n2016-01-05,0.2,\n", "hold no number"),
        ("Date,f\n2016-01-09,0.1\n", "not trading days"),
    ],
)
def test_bad_forecast_files_give_one_clear_line(tmp_path, capsys, rows, match):
    path = tmp_path / "f.csv"
    path.write_text(rows)
    assert main(["judge", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_positions_must_be_tradeable(sp500):
    days = sp500.index[(sp500.index >= "2016-01-01")][:100]
    with pytest.raises(DataError, match="positions must be 0 or 1 .add --long-short for -1."):
        judge(pd.Series(-1.0, index=days), sp500, positions=True)
    with pytest.raises(DataError, match="found 0.5. For fractions of equity .* use --weights"):
        judge(pd.Series(0.5, index=days), sp500, positions=True)
    with pytest.raises(DataError, match=r"weights are fractions of equity in \[-1, 1\]; found 1.5"):
        judge(pd.Series(1.5, index=days), sp500, weights=True, config=RunConfig(long_short=True))
    result = judge(
        pd.Series(np.where(np.arange(100) % 7 < 3, 1.0, 0.0), index=days, name="p"),
        sp500,
        positions=True,
        config=RunConfig(**FAST),
    )
    assert result.metrics.value("strategy", "p", "trades") > 10


@pytest.mark.slow
def test_no_look_ahead_changing_prices_after_t_changes_nothing_up_to_t(sp500):
    from tests.test_features import perturb_after

    days = sp500.index[(sp500.index >= "2012-01-01")][:700]
    forecasts = -sp500["adj_close"].pct_change().loc[days].rename("contrarian")
    t = days[252 + 2]  # just inside the ridge's second block: its refit must not see past t
    pos = sp500.index.get_loc(t)
    config = RunConfig(**FAST)
    base = judge(forecasts, sp500, config=config)
    moved = judge(forecasts, perturb_after(sp500, pos, 3), config=config)
    cols = [c for c in base.predictions.columns if c != "realised"]
    pd.testing.assert_frame_equal(moved.predictions.loc[:t, cols], base.predictions.loc[:t, cols])
    pd.testing.assert_frame_equal(moved.positions.loc[:t], base.positions.loc[:t])
    pd.testing.assert_frame_equal(moved.returns.loc[:t], base.returns.loc[:t])
    assert not moved.returns.loc[t:].iloc[2:].equals(base.returns.loc[t:].iloc[2:])


@pytest.mark.slow
def test_fractional_positions_are_weights_traded_with_the_band(sp500):
    """Sized positions from elsewhere (`weights=True`): every column trades as the study's
    sized rows do (Backtrader and the twin agree on every run), a wider band trades less, and
    the judge path with weights is causal too."""
    from tests.test_features import perturb_after

    days = sp500.index[(sp500.index >= "2012-01-01")][:600]
    vol = sp500["adj_close"].pct_change().rolling(20).std().loc[days]
    weights = (0.005 / vol).clip(0.0, 1.0).rename("sized")  # a vol-target weight, at t
    whole = pd.Series(np.where(np.arange(600) % 9 < 4, 1.0, 0.0), index=days, name="whole")
    table = pd.concat([weights, whole], axis=1)
    config = RunConfig(**FAST, rebalance_band=0.02)
    result = judge(table, sp500, weights=True, config=config)
    held = result.positions["sized"]
    assert held.between(0.0, 1.0).all() and held.nunique() > 100
    wide = judge(table, sp500, weights=True, config=RunConfig(**FAST, rebalance_band=0.2))
    trades = lambda r: r.metrics.value("strategy", "sized", "trades")  # noqa: E731
    assert 0 < trades(wide) < trades(result) and trades(result) > 20
    assert result.metrics.value("strategy", "whole", "trades") == wide.metrics.value(
        "strategy", "whole", "trades"
    )  # a 0/1 column's full weight barely drifts: it trades on its changes, whatever the band
    t = days[300]
    moved = judge(table, perturb_after(sp500, sp500.index.get_loc(t), 4), weights=True,
                  config=config)  # fmt: skip
    pd.testing.assert_frame_equal(moved.returns.loc[:t], result.returns.loc[:t])
    assert not moved.returns.loc[t:].iloc[2:].equals(result.returns.loc[t:].iloc[2:])


# --- reading forecast files like prices: row order, magnitudes --------------------------------


def _forecast_csv(table: pd.DataFrame, path) -> str:
    table.rename_axis("Date").to_csv(path, date_format="%Y-%m-%d")
    return str(path)


@pytest.mark.slow
def test_shuffled_and_newest_first_forecast_files_give_the_sorted_files_numbers(sp500, tmp_path):
    """Regression: 754 shuffled rows were judged over 37 days (the first and last rows taken as
    the span) and a newest-first file had 'only 0 dates' with a forecast. Rows are sorted by
    date with a note, and both give exactly the sorted file's numbers."""
    days = sp500.index[sp500.index >= "2014-06-01"][:320]
    r = sp500["adj_close"].pct_change()
    noise = np.random.default_rng(3).normal(0, 0.01, len(days))
    table = pd.DataFrame({"f": 0.2 * r.shift(-1).loc[days].to_numpy() + noise}, index=days)
    table["g"] = -r.loc[days]
    files = {
        "sorted": table,
        "shuffled": table.sample(frac=1.0, random_state=5),
        "newest_first": table.iloc[::-1],
    }
    config = RunConfig(bootstrap_reps=50, tearsheets=False)
    results = {}
    for name, rows in files.items():
        path = _forecast_csv(rows, tmp_path / f"{name}.csv")
        if name == "sorted":
            results[name] = judge(path, sp500, config=config)
        else:
            with pytest.warns(UserWarning, match=f"{name}.csv: rows were not in date order"):
                results[name] = judge(path, sp500, config=config)
            assert f"{name}.csv: rows were not in date order; sorted them" in (
                results[name].metrics.notes
            )
    base = results["sorted"]
    assert base.returns.index[0] == days[1] and base.returns.index[-1] == days[-1]
    for name in ("shuffled", "newest_first"):
        pd.testing.assert_frame_equal(results[name].returns, base.returns)
        pd.testing.assert_frame_equal(results[name].metrics.strategy, base.metrics.strategy)
        pd.testing.assert_frame_equal(results[name].metrics.forecast, base.metrics.forecast)
    # a DataFrame given in Python is sorted the same way, with the same note
    with pytest.warns(UserWarning, match="forecasts: rows were not in date order"):
        again = judge(files["newest_first"], sp500, config=config)
    pd.testing.assert_frame_equal(again.returns, base.returns)
    # and the span never depends on the row order, even of a table built by hand
    from lstmbt.progress import Progress
    from lstmbt.study.judged import Submission, span_of

    span = span_of(Submission(table.iloc[::-1]), base.data, Progress())
    pd.testing.assert_index_equal(span, span_of(Submission(table), base.data, Progress()))


@pytest.mark.parametrize(
    ("value", "shown"),
    [("1e300", "1e+300"), ("-1.5", "-1.5"), ("2.5", "2.5"), ("1", "1")],
    ids=["1e300", "minus-150-percent", "percent-units", "a-position"],
)
def test_absurd_forecast_magnitudes_are_one_line(sp500, tmp_path, capsys, value, shown):
    """Regression: forecasts of 1e300 ended in an internal error (a histogram of an infinite
    range). A next-day simple return lies in (-1, 1); anything else is refused in one line
    that names the column, the value and the date, before any backtest."""
    days = sp500.index[sp500.index >= "2016-01-01"][:60]
    table = pd.DataFrame({"f": 0.001}, index=days)
    table.iloc[7, 0] = float(value)
    path = _forecast_csv(table, tmp_path / "big.csv")
    assert main(["judge", path, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"forecast column 'f' holds {shown} on {days[7]:%Y-%m-%d}" in err
    assert "If the file is in percent, divide by 100" in err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    ok = table.copy()
    ok.iloc[7, 0] = 0.999  # just inside: judged
    result = judge(ok, sp500, config=RunConfig(bootstrap_reps=50, tearsheets=False))
    assert result.metrics.value("forecast", "f", "n") == 60


@pytest.mark.slow
def test_judged_forecasts_count_by_what_was_judged(sp500, tmp_path):
    """Issue 21: different forecast files judged in one reports folder count the earlier ones
    (each adds its forecast; the baselines, the same in every run, count once); judging a file
    again (here under another column name) is no new trial, and a file judged twice counts
    once for the next."""
    prices = sp500.loc["2014":"2016"]
    days = prices.index[prices.index >= "2016-01-01"][:-1]
    rng = np.random.default_rng(5)
    paths = []
    for k in range(3):
        path = tmp_path / f"forecasts{k}.csv"
        pd.DataFrame({"date": days, "f": rng.normal(0, 0.01, len(days))}).to_csv(path, index=False)
        paths.append(path)
    again = tmp_path / "renamed.csv"
    pd.read_csv(paths[0]).rename(columns={"f": "my_model"}).to_csv(again, index=False)
    config = RunConfig(out=str(tmp_path / "reports"), bootstrap_reps=100, tearsheets=False)

    def trials(path):
        return judge(path, prices, config=config, write=True).metrics.trials

    first, second, repeat, third = (trials(p) for p in (paths[0], paths[1], again, paths[2]))
    assert (first.earlier_runs, len(first.earlier)) == (0, 0)
    assert (second.earlier_runs, len(second.earlier)) == (1, 1)
    assert second.earlier[0] in first.this_run and second.earlier[0] not in second.this_run
    assert (repeat.earlier_runs, len(repeat.earlier)) == (1, 1), "not a trial of its own"
    assert sorted(repeat.this_run) == sorted(first.this_run)
    assert (third.earlier_runs, len(third.earlier)) == (2, 2), "file 0 judged twice: once"


@pytest.mark.slow
def test_step_named_columns_regression_a_users_mine_at_t2_is_judged_not_dropped(sp500, tmp_path):
    """Regression: read_forecasts dropped every column named `*@t+K` (a multi-step run's later
    days), so a file holding only `mine@t+2` got "no forecast column". Later days are dropped
    only from a run's predictions.csv (it has a `realised` column); elsewhere the column is
    judged, with a note saying so."""
    from lstmbt.judge import read_forecasts

    days = sp500.index[sp500.index >= "2016-01-01"][:120]
    r = sp500["adj_close"].pct_change()
    noise = np.random.default_rng(4).normal(0, 0.01, len(days))
    table = pd.DataFrame({"mine@t+2": 0.2 * r.shift(-1).loc[days].to_numpy() + noise}, index=days)
    path = _forecast_csv(table, tmp_path / "mine.csv")
    read = read_forecasts(path)
    assert list(read.columns) == ["mine@t+2"]
    assert any("mine@t+2 are judged as forecasts of the next day" in n for n in read.attrs["notes"])
    result = judge(path, sp500, config=RunConfig(**{**FAST, "bootstrap_reps": 50}))
    assert "mine@t+2" in result.metrics.strategy.index
    # a multi-step run's predictions.csv: its later days (beside their bare columns) go
    run_like = table.assign(
        **{"realised": r.shift(-1).loc[days], "a": 0.001, "realised@t+2": 0.0, "a@t+2": 0.002}
    )[["realised", "a", "realised@t+2", "a@t+2"]]
    again = read_forecasts(_forecast_csv(run_like, tmp_path / "predictions.csv"))
    assert list(again.columns) == ["a"] and not again.attrs["notes"]
    # the predictions.csv of the judged mine@t+2: realised beside it, but no bare 'mine'
    assert main(["judge", path, "--bootstrap-reps", "50", "--no-tearsheets", "--out",
                 str(tmp_path / "out")]) == 0  # fmt: skip
    written = next((tmp_path / "out").glob("*/predictions.csv"))
    assert "mine@t+2" in read_forecasts(written).columns
