"""Multi-step forecasts (--horizon h > 1) shown step by step: predictions get a column per model
and later day, metrics a per-step table (and the h-day path), the report a section; one-step runs
are unchanged."""

from __future__ import annotations

import io
import json
import types

import numpy as np
import pandas as pd
import pytest

from lstmbt import RunConfig, run_study
from lstmbt.judge import read_forecasts
from lstmbt.metrics import Metrics, is_step_column, step_name
from lstmbt.report.figures import report_figures
from lstmbt.report.html import steps_html
from lstmbt.study.horizons import step_labels, step_metrics
from lstmbt.study.pipeline import prediction_table
from lstmbt.study.significance import diebold_mariano
from tests.conftest import TINY
from tests.test_features import perturb_after

H = 3
MULTI = dict(TINY, start="2012-01-01", horizon=H, signal_horizon="h", lookback=5)
MULTI.update(presets=("lookback",), bootstrap_reps=50)


@pytest.fixture(scope="module")
def multi(tmp_path_factory, sp500):
    """One small 3-day-horizon study, written to disk."""
    out = tmp_path_factory.mktemp("multi")
    return run_study(RunConfig(**MULTI, out=str(out)), prices={"^GSPC": sp500}, write=True)


def test_step_names_and_columns():
    assert step_name("lookback:lstm", 1) == "lookback:lstm"
    assert step_name("lookback:lstm", 3) == "lookback:lstm@t+3"
    assert is_step_column("lookback:lstm@t+3") and is_step_column("realised@t+12")
    for bare in ("realised", "lookback:lstm", "lookback:lstm@sized", "x@t+1", "@t+2", "a@t+x"):
        assert not is_step_column(bare), bare
    assert step_labels(3) == ["t+1", "t+2", "t+3", "path"]


def test_prediction_table_one_step_is_as_before_and_steps_are_aligned():
    dates = pd.bdate_range("2020-01-01", periods=6)
    targets = pd.DataFrame(np.arange(18.0).reshape(6, 3), index=dates)
    data = types.SimpleNamespace(targets=targets)
    one = prediction_table(data, dates, {"a": np.ones(6), "b": np.zeros(6)})
    assert list(one.columns) == ["realised", "a", "b"] and one.index.name == "date"
    assert one["realised"].tolist() == targets[0].tolist()
    f = np.arange(18.0).reshape(6, 3) + 100  # step k of row t is 100 + 3t + k - 1
    multi = prediction_table(data, dates, {"a": f})
    steps = ["realised@t+2", "a@t+2", "realised@t+3", "a@t+3"]
    assert list(multi.columns) == ["realised", "a", *steps]
    for k in (1, 2, 3):
        assert multi[step_name("a", k)].tolist() == f[:, k - 1].tolist()
        assert multi[step_name("realised", k)].tolist() == targets[k - 1].tolist()


def test_step_metrics_known_answers():
    rng = np.random.default_rng(0)
    realised = rng.normal(0, 0.01, size=(500, 3))
    exact = realised.copy()  # knows every step
    fading = np.c_[realised[:, 0], rng.normal(0, 0.01, size=(500, 2))]  # knows only tomorrow
    table = step_metrics({"exact": exact, "fading": fading, "zero": np.zeros((500, 3))}, realised)
    assert list(table.index.get_level_values("step")[:4]) == ["t+1", "t+2", "t+3", "path"]
    ex, fa, zero = table.loc["exact"], table.loc["fading"], table.loc["zero"]
    assert (ex["rmse"] == 0).all() and (ex["hit_rate"] == 1).all() and (ex["ic"] > 0.999).all()
    assert fa.at["t+1", "ic"] > 0.999 and abs(fa.at["t+2", "ic"]) < 0.15
    # better than the random walk tomorrow, worse (pure noise) later
    assert fa.at["t+1", "dm_stat"] < 0 and fa.at["t+2", "dm_stat"] > 0
    # the path: the sum of the forecasts against the sum of the realised returns
    path_err = fading.sum(axis=1) - realised.sum(axis=1)
    assert fa.at["path", "rmse"] == pytest.approx(np.sqrt(np.mean(path_err**2)))
    # a k-day forecast's DM test spans k-1 lags; the path's h-1
    e2, rw2 = fading[:, 1] - realised[:, 1], -realised[:, 1]
    assert fa.at["t+2", "dm_p"] == diebold_mariano(e2, rw2, "squared", 2)["p_value"]
    dm_path = diebold_mariano(path_err, -realised.sum(axis=1), "squared", 3)
    assert fa.at["path", "dm_stat"] == dm_path["stat"]
    assert (zero["dm_p"] == 1).all() and zero["hit_rate"].isna().all()
    assert (table["n"] == 500).all()


def test_dm_p_two_sided_regression_noise_far_worse_than_the_random_walk_is_not_significant():
    """Regression: the per-step table showed the two-sided DM p, so pure noise far worse than the
    random walk read "DM p vs RW 0.00". It shows the one-sided p (H1: the forecast's loss is
    lower, the forecast tests' dm_p_better) and the MSE ratio, p formatted as everywhere."""
    rng = np.random.default_rng(1)
    realised = rng.normal(0, 0.01, size=(600, 2))
    noise = rng.normal(0, 0.03, size=(600, 2))  # about 10 times the random walk's MSE
    good = realised + rng.normal(0, 0.002, size=(600, 2))
    table = step_metrics({"noise": noise, "good": good}, realised)
    bad, ok = table.loc["noise"], table.loc["good"]
    assert (bad["dm_p"] < 1e-6).all()  # two-sided: "significant", in the wrong direction
    assert (bad["dm_p_better"] > 0.999).all() and (bad["loss_ratio"] > 5).all()
    assert (ok["dm_p_better"] < 1e-6).all() and (ok["loss_ratio"] < 0.1).all()
    for k, step in ((0, "t+1"), (1, "t+2")):  # the same numbers as the forecast tests' columns
        dm = diebold_mariano(noise[:, k] - realised[:, k], -realised[:, k], "squared", k + 1)
        assert bad.at[step, "dm_p_better"] == dm["p_better"]
        assert bad.at[step, "loss_ratio"] == dm["loss_ratio"]
    mse = np.mean((noise[:, 1] - realised[:, 1]) ** 2) / np.mean(realised[:, 1] ** 2)
    assert bad.at["t+2", "loss_ratio"] == pytest.approx(mse)
    page = steps_html(types.SimpleNamespace(steps=table))
    shown = pd.read_html(io.StringIO(page), attrs={"id": "steps"})[0]
    titles = shown["Forecast"].tolist()
    assert "DM p vs RW" not in titles

    def group(title):  # the rows under one group title, by forecast
        start = titles.index(title) + 1
        return shown.iloc[start : start + 2].set_index("Forecast")

    assert group("DM p (better than RW)").loc["noise"].tolist() == ["1.00"] * 3
    assert group("DM p (better than RW)").loc["good"].tolist() == ["< 0.001"] * 3
    assert "<td>&lt; 0.001</td>" in page and "<td>< 0.001" not in page  # valid HTML
    ratio = group("MSE / RW MSE").loc["noise", "t+2"]
    assert ratio == f"{bad.at['t+2', 'loss_ratio']:.3f}" and float(ratio) > 5
    assert "one-sided" in page


@pytest.mark.slow
def test_a_multi_step_study_shows_every_step(multi):
    m, preds = multi.metrics, multi.predictions
    names = list(m.forecast.index)
    expected = ["realised", *names]
    for k in range(2, H + 1):
        expected += [step_name("realised", k), *(step_name(n, k) for n in names)]
    assert list(preds.columns) == expected
    # realised@t+k is the next day's return k-1 rows later (the same calendar, shifted)
    assert preds["realised@t+2"].iloc[:-1].tolist() == preds["realised"].iloc[1:].tolist()
    # every forecaster and baseline at every step and over the path
    assert list(m.steps.index) == [(n, s) for n in names for s in step_labels(H)]
    # step 1 is the comparison table's forecast, scored the same way
    first = m.steps.xs("t+1", level="step")
    cols = ["rmse", "hit_rate", "ic", "r2_vs_zero", "n"]
    pd.testing.assert_frame_equal(
        first[cols], m.forecast.loc[names, cols], check_dtype=False, check_names=False
    )
    for k in (2, 3):
        lstm, realised = preds[step_name("lookback:lstm", k)], preds[step_name("realised", k)]
        rmse = float(np.sqrt(np.mean((lstm - realised) ** 2)))
        assert m.steps.at[("lookback:lstm", f"t+{k}"), "rmse"] == pytest.approx(rmse)


@pytest.mark.slow
def test_multi_step_files_round_trip_and_report(multi):
    run = multi.run_dir
    doc = json.loads((run / "metrics.json").read_text())
    assert set(doc["steps"]["lookback:lstm"]) == {"t+1", "t+2", "t+3", "path"}
    back = Metrics.from_json(doc)
    pd.testing.assert_frame_equal(back.steps, multi.metrics.steps, check_dtype=False)
    on_disk = pd.read_csv(run / "predictions.csv", index_col=0, parse_dates=True)
    assert list(on_disk.columns) == list(multi.predictions.columns)
    # the report's per-step table, formatted as the other forecast tables
    page = (run / "index.html").read_text()
    table = pd.read_html(io.StringIO(page), attrs={"id": "steps"})[0]
    assert list(table.columns) == ["Forecast", "t+1", "t+2", "t+3", "path"]
    rows = table.set_index("Forecast")
    rmse = multi.metrics.steps.at[("lookback:lstm", "t+2"), "rmse"]
    assert f"{rmse:.5f}" in rows.loc["lookback:lstm", "t+2"].tolist()
    assert "Forecasts step by step (3 days ahead)" in page
    # judging the run's predictions.csv judges the next-day forecasts only, as before
    judged = read_forecasts(run / "predictions.csv")
    assert list(judged.columns) == list(multi.metrics.forecast.index)
    # the figures draw the next-day forecasts only (a later step is no forecast of tomorrow)
    figs = report_figures(multi.returns, on_disk, "buy_and_hold", ["lookback:lstm"], {})
    labels = set(figs["rolling"].axes[0].get_legend_handles_labels()[1])
    assert labels == set(multi.metrics.forecast.index) - {"random_walk"}


def test_one_step_runs_write_no_steps(tiny):
    result = run_study(tiny(presets=("baseline",), bootstrap_reps=50), write=False)
    assert result.metrics.steps.empty
    assert "steps" not in result.metrics.to_json()
    assert not any(is_step_column(c) for c in result.predictions.columns)


def test_no_look_ahead_at_any_step(multi, sp500):
    """Changing prices after t changes no forecast made up to t, at any step (the realised
    columns are returns after t by definition)."""
    t = multi.returns.index[len(multi.returns) // 2]
    moved = run_study(
        RunConfig(**MULTI), prices={"^GSPC": perturb_after(sp500, sp500.index.get_loc(t))}
    )
    forecasts = [c for c in multi.predictions.columns if not c.startswith("realised")]
    assert any(is_step_column(c) for c in forecasts)
    pd.testing.assert_frame_equal(
        moved.predictions.loc[:t, forecasts],
        multi.predictions.loc[:t, forecasts],
        check_exact=True,
    )
    pd.testing.assert_frame_equal(moved.positions.loc[:t], multi.positions.loc[:t])
    later = moved.predictions.loc[t:].iloc[1:]["lookback:lstm@t+3"]
    assert not later.equals(multi.predictions.loc[t:].iloc[1:]["lookback:lstm@t+3"])


def test_forecast_of_a_summed_horizon_run_shows_the_sum_its_position_is_decided_on(multi):
    """With --signal-horizon h the position follows the h-day sum, not the 1-day forecast:
    `lstmbt forecast` printed only the latter beside it, so a row could read "+0.02% ... flat".
    The sum is shown as `<name>:path`, and every position agrees with it."""
    from lstmbt.cli.show import forecast_tables
    from lstmbt.forecast import forecast_from_run

    frame = forecast_from_run(multi.run_dir, days=40)
    name = "lookback:lstm"
    path = frame[f"{name}:path"]
    assert (path != frame[name]).all()
    assert ((path > 0).astype(float) == frame[f"{name}:position"]).all()  # long-only, threshold 0
    title = forecast_tables(frame, 200)[0].title
    assert ":path, the forecast return over the next h days, decides the position" in str(title)
