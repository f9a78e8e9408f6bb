"""The whole experiment on real data: artifacts, no look-ahead, reproducibility, comparisons."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lstmbt import run_study
from lstmbt.errors import ConfigError, DataError
from lstmbt.metrics import Metrics
from tests.test_features import perturb_after


@pytest.mark.slow
def test_baseline_run_writes_every_artifact(tiny):
    result = run_study(tiny(tearsheets=True), write=True)
    run = result.run_dir
    for name in (
        "config.json",
        "metrics.json",
        "predictions.csv",
        "positions.csv",
        "returns.csv",
        "orders.csv",
        "index.html",
        "tearsheet_baseline_lstm.html",
        "models/baseline/model.json",
        "models/baseline/weights.npz",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    strat = metrics["strategy"]
    assert {
        "baseline:lstm",
        "baseline:ridge",
        "random_walk",
        "train_mean",
        "persistence",
        "buy_and_hold",
        "ma_crossover",
    } <= set(strat)
    for m in strat.values():
        assert {"total_return", "cagr", "sharpe", "max_drawdown", "trades", "exposure"} <= set(m)
    for m in metrics["forecast"].values():
        assert {"rmse", "mae", "hit_rate"} <= set(m)
    # the random walk never trades; buy-and-hold trades once and is always invested
    assert strat["random_walk"]["trades"] == 0 and strat["random_walk"]["total_return"] == 0
    assert strat["buy_and_hold"]["trades"] == 1 and strat["buy_and_hold"]["exposure"] == 1.0
    # every strategy is scored on the same out-of-sample days
    returns = pd.read_csv(run / "returns.csv", index_col=0, parse_dates=True)
    assert returns.notna().all().all() and len(returns) == metrics["span"]["test_days"]
    preds = pd.read_csv(run / "predictions.csv", index_col=0, parse_dates=True)
    assert preds.index[0] < returns.index[0] and preds.index[-1] == returns.index[-1]
    cfg = json.loads((run / "config.json").read_text())
    (split,) = cfg["splits"]["baseline"]
    assert split["train"][1] < split["val"][0] and split["val"][1] < split["test"][0]
    assert split["test"][0] == metrics["span"]["first_decision"]
    assert len(cfg["data"]["^GSPC"]["fingerprint"]) == 16
    # the tear-sheet compares with buy-and-hold, given as a series (no download)
    sheet = (run / "tearsheet_baseline_lstm.html").read_text()
    assert "BUY &AMP; HOLD" in sheet.upper() or "BUY & HOLD" in sheet.upper()
    assert "baseline:lstm" in sheet
    # the landing page shows the same numbers as metrics.json
    page = (run / "index.html").read_text()
    table = pd.read_html(__import__("io").StringIO(page), attrs={"id": "comparison"})[0]
    assert list(table.iloc[:, 0]) == list(Metrics.from_json(metrics).comparison().index)
    bh = table.set_index(table.columns[0]).loc["buy_and_hold"]
    assert bh["Total return"] == f"{strat['buy_and_hold']['total_return']:+.1%}"


@pytest.mark.slow
@pytest.mark.parametrize("walk_forward", [False, True], ids=["one_split", "walk_forward"])
def test_no_look_ahead_changing_prices_after_t_changes_nothing_up_to_t(
    tiny, sp500, nasdaq, walk_forward
):
    config = tiny(
        presets=("baseline", "multifeature"),
        models=("lstm", "gru", "mlp", "lightgbm"),
        model_options={"lightgbm": {"n_estimators": 50}},
        epochs=1,
        hidden_size=4,
        walk_forward=walk_forward,
        refit_every=126,
        eval_frac=0.4,
        lookback=5,
        bootstrap_reps=50,
        # every cost on: interest and fees accrue from what is known at each close (shorts in
        # one design only: the scrambled future can ruin a short, and ruin stops a run that
        # pays a minimum fee)
        long_short=not walk_forward,
        cash_rate="risk-free",
        half_spread=0.0002,
        min_fee=5.0,
        borrow_fee=0.02,
        # sized positions too: weights from the EWMA volatility at each close, scales fit on
        # each fold's training block, traded with a rebalance band
        sizing="vol-target",
        rebalance_band=0.02,
        # walk-forward folds after the first start from the previous fold's weights
        warm_start=True,
    )
    base = run_study(config, prices={"^GSPC": sp500, "^IXIC": nasdaq}, write=False)
    assert {"baseline:lstm@sized", "multifeature:mlp@sized"} <= set(base.positions.columns)
    test_days = base.returns.index
    t = test_days[len(test_days) // 2]
    pos = sp500.index.get_loc(t)
    moved = run_study(
        config,
        prices={"^GSPC": perturb_after(sp500, pos, 1), "^IXIC": perturb_after(nasdaq, pos, 2)},
        write=False,
    )
    # predictions' realised column is the return of t+1: compare forecasts only
    forecasts = [c for c in base.predictions.columns if c != "realised"]
    for preset in ("baseline", "multifeature"):
        assert {f"{preset}:{m}" for m in ("lstm", "gru", "mlp", "lightgbm")} <= set(forecasts)
    pd.testing.assert_frame_equal(
        moved.predictions.loc[:t, forecasts], base.predictions.loc[:t, forecasts], check_exact=True
    )
    pd.testing.assert_frame_equal(moved.positions.loc[:t], base.positions.loc[:t], check_exact=True)
    pd.testing.assert_frame_equal(moved.returns.loc[:t], base.returns.loc[:t], check_exact=True)
    early = lambda o: o[pd.to_datetime(o["date"]) <= t].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(early(moved.orders), early(base.orders), check_exact=True)
    # ...and the perturbation did change every trained model's forecasts after t, so the test
    # can fail for each of them
    after = lambda r, name: r.predictions.loc[t:].iloc[1:][name]  # noqa: E731
    for name in base.metrics.names(role="forecaster"):
        assert not after(moved, name).equals(after(base, name)), name


@pytest.mark.slow
def test_same_seed_same_files(tiny):
    a = run_study(tiny(run_id="a"), write=True)
    b = run_study(tiny(run_id="b"), write=True)
    for name in ("predictions.csv", "positions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (a.run_dir / name).read_bytes() == (b.run_dir / name).read_bytes(), name


@pytest.mark.slow
def test_compare_three_presets_on_one_split(tiny):
    result = run_study(
        tiny(presets=("baseline", "lookback", "multifeature"), lookback=10), write=True
    )
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    for preset in ("baseline", "lookback", "multifeature"):
        assert f"{preset}:lstm" in metrics["strategy"] and f"{preset}:ridge" in metrics["forecast"]
        assert (result.run_dir / "models" / preset / "weights.npz").is_file()
    tests = {
        json.dumps([f["test"] for f in v])
        for k, v in json.loads((result.run_dir / "config.json").read_text())["splits"].items()
    }
    assert len(tests) == 1, "every model is tested on the same span"
    assert result.models["multifeature"].n_features_ == 29
    assert len(metrics["verdict_models"]) == 3


def test_multi_horizon_and_h_day_signal(tiny):
    result = run_study(
        tiny(horizon=3, signal_horizon="h", lookback=5, presets=("lookback",)), write=False
    )
    assert result.models["lookback"].horizon_ == 3
    assert result.folds["lookback"][0].embargo == 5 + 3 - 1


@pytest.mark.slow
def test_earlier_reports_are_never_overwritten(tiny):
    first = run_study(tiny(run_id="keep"), write=True)
    stamp = (first.run_dir / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        run_study(tiny(run_id="keep"), write=True)
    assert (first.run_dir / "metrics.json").read_bytes() == stamp


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        (dict(start="2018-09-01"), DataError, "too few"),
        (dict(lookback=3000), ConfigError, "implausibly long"),
        (
            dict(start="2018-01-01", lookback=300, presets=("lookback",)),
            DataError,
            "fewer than the lookback",
        ),
        (
            dict(start="2017-06-01", horizon=60, presets=("lookback",)),
            DataError,
            "too few.*smaller horizon",
        ),
        (
            dict(presets=("multifeature",), features=("momentun",)),
            ConfigError,
            "Did you mean 'momentum'",
        ),
        (dict(presets=("nope",)), ConfigError, "unknown preset"),
        (dict(source="yahooo"), ConfigError, "Did you mean 'yahoo'"),
        (dict(commission=5.0), ConfigError, "fraction per side"),
        (dict(cash_rate="-0.01"), ConfigError, "--cash-rate must be >= 0"),
        (dict(borrow_fee=-0.01), ConfigError, "--borrow-fee is an annual fraction"),
        (dict(half_spread=0.5), ConfigError, "--half-spread is a fraction per side"),
    ],
)
def test_bad_runs_fail_before_training_with_a_clear_error(tiny, changes, error, match):
    with pytest.raises(error, match=match):
        run_study(tiny(**changes), write=False)


def test_companion_without_overlap(tiny, sp500, nasdaq):
    with pytest.raises(DataError, match="no dates overlapping"):
        run_study(
            tiny(presets=("multifeature",)),
            prices={"^GSPC": sp500.loc["2012":], "^IXIC": nasdaq.loc[:"2005"]},
            write=False,
        )


def test_companion_feature_groups_can_be_chosen(tiny):
    result = run_study(
        tiny(
            presets=("multifeature",),
            features=("returns",),
            companion_features=("momentum",),
            lookback=5,
        ),
        write=False,
    )
    names = result.data.features["multifeature"].names
    assert names[:3] == ["ret_1", "ret_5", "ret_20"]
    assert names[3:] == [
        f"^IXIC:{n}" for n in ("rsi_14", "stoch_k", "stoch_d", "williams_r", "roc_10")
    ]
    assert result.models["multifeature"].n_features_ == 8
