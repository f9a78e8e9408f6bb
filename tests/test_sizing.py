"""Sized positions: volatility predicted at the close, weights from the forecast's strength,
the scale fit on training rows only; known answers and causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.strategies.signals import ewma_volatility, fit_vol_scale, vol_target_weights
from tests.conftest import TINY
from tests.test_features import perturb_after


def test_ewma_volatility_is_known_at_the_close_and_ignores_the_future(sp500):
    close = adjusted_ohlcv(sp500)["close"]
    vol = ewma_volatility(close)
    t = 3000
    moved = ewma_volatility(adjusted_ohlcv(perturb_after(sp500, t))["close"])
    pd.testing.assert_series_equal(vol.iloc[: t + 1], moved.iloc[: t + 1])
    assert not np.allclose(vol.iloc[t + 1 :], moved.iloc[t + 1 :])
    assert vol.iloc[:20].isna().all() and vol.iloc[20:].gt(0).all()
    # a constant daily move of 1% has a volatility of 1%
    steady = pd.Series(100 * 1.01 ** np.arange(200))
    assert ewma_volatility(steady).iloc[-1] == pytest.approx(0.01)


def test_the_scale_hits_the_volatility_target_on_the_rows_it_is_fit_on():
    rng = np.random.default_rng(0)
    realised = rng.normal(0, 0.01, 1000)
    forecast = np.full(1000, 0.0005)
    vol = np.full(1000, 0.01)
    k = fit_vol_scale(forecast, vol, realised, 0.10)
    pnl = k * forecast / vol * realised
    assert np.std(pnl, ddof=1) * np.sqrt(252) == pytest.approx(0.10)
    assert fit_vol_scale(np.zeros(1000), vol, realised, 0.10) == 0.0  # nothing to scale
    with pytest.raises(ValueError, match="volatility target must be > 0"):
        fit_vol_scale(forecast, vol, realised, 0.0)


def test_weights_are_forecast_over_volatility_capped_and_long_only_unless_shorting():
    index = pd.bdate_range("2020-01-01", periods=4)
    forecast = pd.Series([0.002, -0.001, 0.02, 0.0], index=index)
    vol = pd.Series(0.01, index=index)
    w = vol_target_weights(forecast, vol, scale=2.0, leverage=1.5)
    assert list(w) == [0.4, 0.0, 1.5, 0.0]
    w = vol_target_weights(forecast, vol, scale=2.0, leverage=1.5, allow_short=True)
    assert list(w) == [0.4, -0.2, 1.5, 0.0]
    with pytest.raises(ValueError, match="known and > 0"):
        vol_target_weights(forecast, vol.iloc[:2], scale=1.0)
    with pytest.raises(ValueError, match="leverage must be > 0"):
        vol_target_weights(forecast, vol, scale=1.0, leverage=0.0)


# --- the study: sized rows beside the sign rule --------------------------------------------

SIZED_RUN = dict(
    TINY,
    epochs=1,
    hidden_size=4,
    patience=1,
    start="2012-01-01",
    presets=("baseline",),
    walk_forward=True,
    refit_every=252,
    eval_frac=0.3,
    bootstrap_reps=100,
    cash_rate="risk-free",
)


@pytest.fixture(scope="module")
def sign_and_sized():
    """One small walk-forward study with the sign rule only, and the same with sizing."""
    from lstmbt import run_study
    from lstmbt.config import RunConfig

    sign = run_study(RunConfig(**SIZED_RUN), write=False)
    sized = run_study(RunConfig(**SIZED_RUN, sizing="vol-target", rebalance_band=0.02), write=False)
    return sign, sized


@pytest.mark.slow
def test_a_constant_forecast_sized_is_volatility_targeting_fit_on_each_training_block(
    sign_and_sized,
):
    """train_mean forecasts its training block's mean return, a constant c > 0 per fold (up
    markets here), in and out of sample; sized, its weight is then k c / vol_t with k fit on
    the training block, which is vol_target / (sqrt(252) sd_train(r / vol)) / vol_t whatever c
    is: a known answer computed here from the prices alone."""
    from lstmbt.study.sizing import predicted_volatility

    _, result = sign_and_sized
    data = result.data
    vol = predicted_volatility(data.ohlcv["close"], data.dates).to_numpy()
    realised = data.targets.loc[data.dates].to_numpy()[:, 0]
    weights = result.positions["train_mean@sized"]
    folds = result.folds["_baselines"]
    assert len(folds) >= 2
    for f in folds:
        assert realised[f.train].mean() > 0  # the sign the known answer needs
        ok = np.isfinite(vol[f.train])
        sd = np.std(realised[f.train][ok] / vol[f.train][ok], ddof=1) * np.sqrt(252)
        expected = np.minimum(0.10 / sd / vol[f.test], 1.0)
        got = weights.loc[data.dates[f.test]].to_numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9)
    assert 0.3 < weights.mean() < 1.0 and weights.min() > 0  # scaled, not all in


@pytest.mark.slow
def test_sized_rules_are_more_strategies_trials_and_spa_columns(sign_and_sized):
    sign, sized = sign_and_sized
    rows = [n for n in sized.metrics.strategy.index if n.endswith("@sized")]
    # every forecast that moves is sized (the random walk's zeros have nothing to size)
    assert set(rows) == {
        "baseline:lstm@sized",
        "baseline:ridge@sized",
        "train_mean@sized",
        "persistence@sized",
    }
    assert (sized.metrics.models.loc[rows, "role"] == "strategy").all()
    # the sign rule's numbers are untouched by the sized rows beside them
    pd.testing.assert_frame_equal(
        sized.returns[sign.returns.columns], sign.returns, check_exact=True
    )
    # each sized rule is a trial in the deflated Sharpe and a column of SPA
    assert len(sized.metrics.trials.this_run) == len(sign.metrics.trials.this_run) + len(rows)
    assert sized.metrics.spa.n_strategies == sign.metrics.spa.n_strategies + len(rows)
    dsr_trials = sized.metrics.strategy_tests["dsr_n_trials"]
    assert (dsr_trials > sign.metrics.strategy_tests["dsr_n_trials"].max()).all()
    # weights stay in [0, leverage] (long-only), and the verdict speaks of the sized rule
    w = sized.positions[rows]
    assert (w >= 0).all().all() and (w <= 1).all().all() and (w.nunique() > 10).all()
    assert "Sized by its strength" in sized.metrics.verdict[0]
    # costs are measured on what the engine trades: the band leaves fewer trades than days
    turnover = sized.metrics.value("strategy", "train_mean@sized", "turnover")
    assert 0 < turnover < 252 * 0.1
    assert sized.metrics.value("strategy", "train_mean@sized", "trades") < len(sized.returns)


def test_the_sized_turnover_is_what_the_engine_trades(sp500):
    """Alternating between half invested and flat every day with no band trades about half
    the equity each day; a band of 0.6 never trades at all."""
    from lstmbt.strategies import Costs, rebalanced_turnover, run_backtrader

    px = adjusted_ohlcv(sp500)
    index = px.index[3000:3100]
    w = pd.Series(np.tile([0.5, 0.0], 50), index=index)
    turn = rebalanced_turnover(px, w, Costs(), 0.0, 0.0)
    assert turn.iloc[0] == 0 and turn.iloc[1:].between(0.45, 0.55).all()
    assert rebalanced_turnover(px, w, Costs(), 0.0, 0.6).eq(0).all()
    assert run_backtrader(px, w, Costs(), band=0.0).n_trades == 99


def test_judge_refuses_sizing_with_one_line(sp500):
    from lstmbt.config import RunConfig
    from lstmbt.errors import ConfigError
    from lstmbt.judge import judge

    forecast = pd.Series(0.001, index=sp500.index[-300:-1], name="mine")
    with pytest.raises(ConfigError, match="judge trades submitted forecasts by their sign"):
        judge(forecast, sp500, config=RunConfig(sizing="vol-target"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--sizing", "kelly"], "unknown sizing 'kelly'. Choose from: sign, vol-target."),
        (["--vol-target", "0"], "--vol-target is an annual volatility (0.10 = 10% a year), got 0"),
        (["--vol-target", "nan"], "--vol-target must be a number, got nan."),
        (["--leverage", "2"], "--leverage is the largest weight, a fraction of equity, got 2"),
        (["--rebalance-band", "1"], "--rebalance-band is a difference of weights, got 1"),
        (["--rebalance-band", "-0.1"], "--rebalance-band is a difference of weights, got -0.1"),
    ],
    ids=["sizing", "vol-target", "vol-target-nan", "leverage", "band-1", "band-negative"],
)
def test_bad_sizing_values_are_one_line_before_any_work(capsys, args, message):
    from lstmbt.cli import main

    assert main(["run", "--sizing", "vol-target", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in " ".join(err.split()), err


@pytest.mark.slow
def test_forecast_of_a_sized_run_gives_the_weights_the_run_held(tiny):
    """`lstmbt forecast` of a vol-target run: the latest fold's scale, the same volatility, so
    on the last fold's dates its weights are the run's own (and metrics.json keeps each
    fold's scale)."""
    from lstmbt import run_study
    from lstmbt.forecast import forecast_from_run
    from lstmbt.metrics import Metrics

    result = run_study(
        tiny(presets=("lookback",), lookback=5, walk_forward=True, refit_every=252,
             eval_frac=0.3, sizing="vol-target", bootstrap_reps=50),
        write=True,
    )  # fmt: skip
    saved = Metrics.from_json(
        __import__("json").loads((result.run_dir / "metrics.json").read_text())
    )
    ks = saved.sizing_scales["lookback:lstm@sized"]
    assert len(ks) == len(result.folds["lookback"]) and all(k > 0 for k in ks)
    n = len(result.folds["lookback"][-1].test)
    end = f"{result.predictions.index[-1]:%Y-%m-%d}"
    again = forecast_from_run(result.run_dir, days=n, end=end)
    np.testing.assert_allclose(
        again["lookback:lstm:weight"],
        result.positions["lookback:lstm@sized"].iloc[-n:],
        rtol=1e-6,
        atol=1e-9,
    )
    # the report shows each fold's scale, as metrics.json keeps it
    page = (result.run_dir / "index.html").read_text()
    table = pd.read_html(__import__("io").StringIO(page), attrs={"id": "sizing"})[0]
    row = table.set_index("k").loc["lookback:lstm@sized"]
    np.testing.assert_allclose(row.to_numpy(dtype=float), ks, rtol=5e-3)


def test_prices_that_never_move_cannot_be_sized_and_say_so(sp500):
    """A halted stock's flat closes leave no volatility to scale by: one line, not a crash."""
    from lstmbt.errors import DataError
    from lstmbt.study.sizing import Sizing, sized_positions

    dates = sp500.index[100:160]
    close = pd.Series(100.0, index=sp500.index[:160])
    sizing = Sizing({"f": np.ones(60)}, {"f": (1.0,)}, (), 1.0, False, 0.05)
    with pytest.raises(DataError, match="volatility is zero or unknown at the close of"):
        sized_positions(sizing, {"f": np.full((60, 1), 0.001)}, close, dates)
