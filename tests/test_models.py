"""Forecasters: known answers, seeds, the fit/predict contract, save/load across processes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from lstmbt.models import (
    LSTMForecaster,
    MeanForecaster,
    PersistenceForecaster,
    RidgeForecaster,
    ZeroForecaster,
    load_forecaster,
    resolve_device,
    save_forecaster,
)
from tests.conftest import DEVICES
from tests.user_models import MyForecaster


def ar_data(n=2000, lookback=10, seed=0):
    """y = 0.8 * last input + small noise: an LSTM must find this."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, lookback, 2)).astype(np.float32)
    y = 0.8 * X[:, -1, :1].astype(np.float64) + 0.05 * rng.normal(size=(n, 1))
    return X, y


def tiny_lstm(**kw):
    return LSTMForecaster(
        **{
            **dict(hidden_size=16, epochs=15, lr=5e-3, batch_size=128, patience=5, device="cpu"),
            **kw,
        }
    )


def test_lstm_learns_a_known_relation():
    X, y = ar_data()
    model = tiny_lstm().fit(X[:1500], y[:1500], X[1500:1750], y[1500:1750])
    pred = model.predict(X[1750:])
    assert pred.shape == (250, 1)
    assert np.corrcoef(pred[:, 0], y[1750:, 0])[0, 1] > 0.95
    assert model.history_.best_epoch >= 0


def test_same_seed_same_predictions_other_seed_differs():
    X, y = ar_data(800)
    a = tiny_lstm(epochs=3, seed=7).fit(X[:600], y[:600], X[600:700], y[600:700]).predict(X[700:])
    b = tiny_lstm(epochs=3, seed=7).fit(X[:600], y[:600], X[600:700], y[600:700]).predict(X[700:])
    c = tiny_lstm(epochs=3, seed=8).fit(X[:600], y[:600], X[600:700], y[600:700]).predict(X[700:])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_multi_horizon_head():
    X, y1 = ar_data(600)
    y = np.hstack([y1, -y1, 0.5 * y1])
    pred = tiny_lstm(epochs=8).fit(X[:500], y[:500], X[500:550], y[500:550]).predict(X[550:])
    assert pred.shape == (50, 3)
    assert np.corrcoef(pred[:, 0], pred[:, 1])[0, 1] < -0.9


def test_scaler_is_fit_on_training_windows_only():
    X, y = ar_data(600)
    X_test_shifted = X.copy()
    X_test_shifted[500:] += 100.0
    m1 = tiny_lstm(epochs=1).fit(X[:500], y[:500])
    m2 = tiny_lstm(epochs=1).fit(X_test_shifted[:500], y[:500])
    np.testing.assert_array_equal(m1.x_mean_, m2.x_mean_)
    np.testing.assert_array_equal(m1.predict(X[:500]), m2.predict(X[:500]))


def test_predict_before_fit_and_bad_shapes():
    with pytest.raises(RuntimeError, match="call fit"):
        LSTMForecaster().predict(np.zeros((2, 3, 1), np.float32))
    X, y = ar_data(200)
    with pytest.raises(ValueError, match="NaN"):
        tiny_lstm(epochs=1).fit(np.where(X > 2, np.nan, X), y)
    m = tiny_lstm(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="was fit on"):
        m.predict(X[:, :5])
    with pytest.raises(ValueError, match="dropout"):
        tiny_lstm(dropout=1.5).fit(X, y)


def test_baselines_known_answers():
    X, y = ar_data(500)
    assert (ZeroForecaster().fit(X, y).predict(X[:5]) == 0).all()
    np.testing.assert_allclose(
        MeanForecaster().fit(X, y).predict(X[:3]), np.tile(y.mean(0), (3, 1))
    )
    np.testing.assert_array_equal(
        PersistenceForecaster(feature_index=1).fit(X, y).predict(X[:4])[:, 0], X[:4, -1, 1]
    )
    ridge = RidgeForecaster(alpha=1e-6).fit(X[:400], y[:400])
    assert np.corrcoef(ridge.predict(X[400:])[:, 0], y[400:, 0])[0, 1] > 0.99


def test_device_resolution_on_cpu_machines():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


@pytest.mark.slow
def test_saved_model_gives_identical_predictions_in_a_new_process(tmp_path):
    X, y = ar_data(600)
    model = tiny_lstm(epochs=3, num_layers=2, dropout=0.1).fit(X[:500], y[:500], X[500:], y[500:])
    expected = model.predict(X[500:])
    save_forecaster(model, tmp_path / "m", {"feature_names": ["a", "b"]})
    np.save(tmp_path / "X.npy", X[500:])
    code = (
        "import numpy as np, sys; from lstmbt.models import load_forecaster;"
        f"m, meta = load_forecaster({str(tmp_path / 'm')!r});"
        f"np.save({str(tmp_path / 'p.npy')!r}, m.predict(np.load({str(tmp_path / 'X.npy')!r})));"
        "print(meta['feature_names'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "['a', 'b']" in out.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["model"] == "lstm" and doc["state"]["lookback"] == 10
    assert doc["params"]["num_layers"] == 2
    loaded, _ = load_forecaster(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X[500:]), expected)


def test_weights_pt_pickle_regression_weights_are_npz_by_key_with_their_dtype(tmp_path):
    """Regression: the networks' weights were torch.save's weights.pt, a zip holding data.pkl
    (a pickle, though read with weights_only=True). They are an .npz now: one array per
    state-dict key, its dtype kept, read with allow_pickle=False, the same bytes on every save
    (fixed zip dates); a folder with the old weights.pt is refused in one line, never read."""
    X, y = ar_data(300)
    model = tiny_lstm(epochs=1, num_layers=2).fit(X, y)
    save_forecaster(model, tmp_path / "a", {})
    save_forecaster(model, tmp_path / "b", {})
    first = (tmp_path / "a" / "weights.npz").read_bytes()
    assert first == (tmp_path / "b" / "weights.npz").read_bytes()
    assert not any((tmp_path / "a").glob("*.pt"))
    state = model.net_.state_dict()
    with np.load(tmp_path / "a" / "weights.npz", allow_pickle=False) as saved:
        assert sorted(saved.files) == sorted(state)
        for key, tensor in state.items():
            assert saved[key].dtype == np.float32 and tensor.dtype == torch.float32
            np.testing.assert_array_equal(saved[key], tensor.numpy())
    loaded, _ = load_forecaster(tmp_path / "a")
    for key, tensor in loaded.net_.state_dict().items():
        torch.testing.assert_close(tensor, state[key], rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.predict(X[:20]), model.predict(X[:20]))
    # a folder written before: weights.pt is refused (reading it means unpickling)
    (tmp_path / "a" / "weights.npz").unlink()
    torch.save(state, tmp_path / "a" / "weights.pt")
    with pytest.raises(ValueError) as caught:
        load_forecaster(tmp_path / "a")
    assert str(caught.value) == (
        f"{str(tmp_path / 'a' / 'weights.pt')!r} is a torch file written by an older lstmbt (it "
        "holds a pickle, and lstmbt no longer unpickles files from run folders); re-run the "
        "study to refit it."
    )


def test_load_rejects_a_non_model_folder(tmp_path):
    with pytest.raises(ValueError, match="not a saved lstmbt model"):
        load_forecaster(tmp_path)


def test_load_rejects_a_model_saved_in_another_format(tmp_path):
    X, y = ar_data(300)
    save_forecaster(tiny_lstm(epochs=1).fit(X, y), tmp_path / "m", {})
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    doc["format"] = 1  # one stacked nn.LSTM: the layout before per-layer dropout masks
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="re-run the study to refit it"):
        load_forecaster(tmp_path / "m")


@pytest.mark.slow
def test_forecast_from_a_saved_run_reproduces_its_predictions(tiny):
    from lstmbt import run_study
    from lstmbt.forecast import forecast_from_run

    result = run_study(tiny(presets=("baseline", "multifeature"), lookback=5), write=True)
    preds = result.predictions
    n = len(preds)
    again = forecast_from_run(result.run_dir, days=n, end=f"{preds.index[-1]:%Y-%m-%d}")
    assert list(again.index) == list(preds.index)
    for name in ("baseline:lstm", "multifeature:lstm"):
        np.testing.assert_allclose(again[name], preds[name], rtol=1e-6, atol=1e-12)
        positions = result.positions[name].to_numpy()
        np.testing.assert_array_equal(again[f"{name}:position"], positions)
    latest = forecast_from_run(result.run_dir, "baseline")
    assert len(latest) == 1 and latest.index[0] == pd.Timestamp("2018-12-31")


@pytest.mark.slow
def test_forecast_rebuilds_a_csv_companion_under_its_run_label(tiny, nasdaq, tmp_path):
    """A companion read from a CSV file is named by the file's stem in the features; forecast
    must name it the same way (it once used the path, and the feature lists differed)."""
    from lstmbt import run_study
    from lstmbt.forecast import forecast_from_run
    from tests.conftest import yahoo_csv

    csv = yahoo_csv(nasdaq, tmp_path / "ndx.csv")
    result = run_study(tiny(presets=("multifeature",), lookback=5, companions=(csv,)), write=True)
    preds = result.predictions
    again = forecast_from_run(result.run_dir, days=5, end=f"{preds.index[-1]:%Y-%m-%d}")
    np.testing.assert_allclose(
        again["multifeature:lstm"], preds["multifeature:lstm"].iloc[-5:], rtol=1e-6, atol=1e-12
    )


def test_auto_device_picks_a_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("device", DEVICES)
def test_fit_predict_save_load_on_each_device(device, tmp_path):
    """Weights and inputs live on the model's device, predictions and saved weights come back on
    the CPU, and a model loads onto the CPU whatever device trained it. The cuda case runs only
    where a GPU is visible; elsewhere it shows as skipped."""
    X, y = ar_data(300)
    model = tiny_lstm(epochs=1, device=device).fit(X, y)
    assert next(model.net_.parameters()).device.type == device
    pred = model.predict(X[:5])
    assert isinstance(pred, np.ndarray) and pred.shape == (5, 1)
    save_forecaster(model, tmp_path / "m", {})
    with np.load(tmp_path / "m" / "weights.npz", allow_pickle=False) as saved:
        assert saved.files  # numpy arrays: CPU memory whatever the device
    loaded, _ = load_forecaster(tmp_path / "m", device="cpu")  # map_location: any device -> here
    assert next(loaded.net_.parameters()).device.type == "cpu"
    if device == "cpu":
        np.testing.assert_array_equal(loaded.predict(X[:5]), pred)
    else:  # other kernels, same weights
        np.testing.assert_allclose(loaded.predict(X[:5]), pred, rtol=1e-4, atol=1e-6)


def sp500_windows(sp500, lookback: int, n: int = 1400):
    """Windows of real S&P 500 close changes (and their 5-day mean) with next-day targets."""
    change = sp500["close"].pct_change().dropna().to_numpy()[-n - lookback :]
    smooth = pd.Series(change).rolling(5, min_periods=1).mean().to_numpy()
    feats = np.stack([change, smooth], axis=1) * 100
    X = np.stack([feats[i : i + lookback] for i in range(len(feats) - lookback)])
    y = change[lookback:, None]
    return X.astype(np.float32), y


@pytest.mark.parametrize(
    "shape",
    [
        dict(lookback=1, hidden_size=16, num_layers=1, dropout=0.0),
        dict(lookback=8, hidden_size=12, num_layers=2, dropout=0.2),
    ],
    ids=["one-step", "two-layers-dropout"],
)
def test_seeds_trained_together_equal_seeds_trained_one_by_one(sp500, shape):
    """Same initial weights, batch order, dropout masks and early stopping per seed: the packed
    network only changes float summation order."""
    from lstmbt.models import fit_seeds

    shape = dict(shape)
    X, y = sp500_windows(sp500, shape.pop("lookback"))
    tr, va, te = slice(0, 1000), slice(1000, 1200), slice(1200, None)
    template = tiny_lstm(epochs=6, patience=2, batch_size=64, **shape)
    seeds = [3, 4, 5]
    together = fit_seeds(template, seeds, X[tr], y[tr], X[va], y[va])
    for seed, packed in zip(seeds, together, strict=True):
        alone = tiny_lstm(epochs=6, patience=2, batch_size=64, seed=seed, **shape)
        alone.fit(X[tr], y[tr], X[va], y[va])
        assert packed.seed == seed
        assert packed.history_.best_epoch == alone.history_.best_epoch
        np.testing.assert_allclose(packed.history_.val_loss, alone.history_.val_loss, rtol=1e-5)
        a, b = packed.predict(X[te]), alone.predict(X[te])
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 * np.abs(b).max())
        for name, w in packed.net_.state_dict().items():
            np.testing.assert_allclose(w, alone.net_.state_dict()[name], atol=1e-5, err_msg=name)
    # different seeds really are different models
    assert not np.allclose(together[0].predict(X[te]), together[1].predict(X[te]))


def test_packed_network_is_block_diagonal_and_stays_so():
    from lstmbt.models import LSTMNet
    from lstmbt.models.seeds import pack, unpack
    from lstmbt.models.training import train_group

    torch.manual_seed(0)
    nets = [LSTMNet(3, 5, 2, 0.0, 2) for _ in range(3)]
    big, masks = pack(nets)
    for s, net in enumerate(nets):
        for name, w in unpack(net, big.state_dict(), s, 3).items():
            assert torch.equal(w, net.state_dict()[name]), name
    x = torch.randn(7, 4, 3 * 3)
    with torch.no_grad():
        out = big(x).view(7, 3, 2)
        for s, net in enumerate(nets):
            torch.testing.assert_close(out[:, s], net(x[..., 3 * s : 3 * s + 3]))
    X, y = ar_data(200, lookback=4, seed=1)
    X = np.concatenate([X, X[..., :1]], axis=2)  # 3 features
    train_group(
        big, X, np.repeat(y, 2, axis=1), None, None, seeds=[1, 2, 3], epochs=2, batch_size=50,
        lr=1e-2, patience=5, device=torch.device("cpu"), grad_masks=masks,
    )  # fmt: skip
    for p, m in zip(big.parameters(), masks, strict=True):
        assert torch.all(p[m == 0] == 0), "weights between seeds must stay exactly zero"


def test_fit_seeds_rejects_repeated_seeds():
    from lstmbt.models import fit_seeds

    X, y = ar_data(100, lookback=3)
    with pytest.raises(ValueError, match="distinct"):
        fit_seeds(tiny_lstm(epochs=1), [1, 1], X, y)


# --- models with their own settings --------------------------------------------------------------
def test_model_settings_from_the_cli_a_config_file_and_python_are_one_config(tmp_path):
    """`--set lightgbm.num_leaves=15`, a `[models.lightgbm]` table and LightGBMForecaster(
    num_leaves=15) say the same; the settings survive config.json and count in the trial key."""
    from lstmbt.config import RunConfig, config_from_mapping, load_config_file
    from lstmbt.models import LightGBMForecaster, LSTMForecaster
    from lstmbt.runs import _trial_key

    cli = config_from_mapping(
        {"models": "lstm,lightgbm", "set": ["lightgbm.num_leaves=15", "lstm.hidden_size=6"]}
    )
    toml = tmp_path / "run.toml"
    toml.write_text("[models.lstm]\nhidden_size = 6\n[models.lightgbm]\nnum_leaves = 15\n")
    from_file = config_from_mapping(load_config_file(toml))
    python = RunConfig(models=[LSTMForecaster(hidden_size=6), LightGBMForecaster(num_leaves=15)])
    assert cli == from_file == python.validate()
    assert cli.models == ("lstm", "lightgbm")
    assert cli.model_options == {"lightgbm": {"num_leaves": 15}, "lstm": {"hidden_size": 6}}
    saved = json.loads(json.dumps(cli.to_dict()))  # as config.json holds it
    assert saved["model_options"]["lightgbm"] == {"num_leaves": 15}
    assert config_from_mapping(saved) == cli
    other = config_from_mapping({**saved, "model_options": {"lightgbm": {"num_leaves": 16}}})
    assert _trial_key(other.to_dict()) != _trial_key(saved), "another setting, another trial"
    # the flags win over the file's table, setting by setting
    both = config_from_mapping({**load_config_file(toml), "set": ["lightgbm.max_depth=3"]})
    assert both.model_options["lightgbm"] == {"num_leaves": 15, "max_depth": 3}


def test_each_model_starts_from_its_own_defaults_the_presets_size_only_for_the_networks():
    """Regression: every built-in got the LSTM's arguments (TypeError: 'hidden_size' for
    LightGBM). The preset's size and the training options are the neural models' defaults;
    a model's own settings win over them; LightGBM takes none of them."""
    from lstmbt.config import RunConfig
    from lstmbt.models import TRAINED

    config = RunConfig(
        models="lstm,mlp,lightgbm,tests.user_models:MyForecaster",
        hidden_size=9,
        epochs=3,
        model_options={"mlp": {"hidden_size": 5, "epochs": 7}, "MyForecaster": {"alpha": 2.0}},
    ).validate()
    p = config.model_presets()[0]
    assert config.model_params(p, "lstm") | {} == {
        "hidden_size": 9, "num_layers": 1, "dropout": 0.0, "lr": 1e-3, "batch_size": 256,
        "epochs": 3, "patience": 5, "device": "auto",
    }  # fmt: skip
    mlp = config.model_params(p, "mlp")
    assert (mlp["hidden_size"], mlp["epochs"], mlp["lr"]) == (5, 7, 1e-3)
    assert config.model_params(p, "lightgbm") == {}
    assert config.model_params(p, "MyForecaster") == {"alpha": 2.0}
    for label, name in config.model_names().items():  # each can be made with them
        cls = TRAINED.get(name) or MyForecaster
        cls(**config.model_params(p, label))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (
            {"models": "lstm,lightgbm", "set": ["lightgbm.num_leaf=63"]},
            "unknown setting 'num_leaf' for model 'lightgbm'. Did you mean 'num_leaves'? "
            "It takes: num_leaves, learning_rate,",
        ),
        (
            {"set": ["lightgbm.num_leaves=63"]},
            "settings for model 'lightgbm', which is not among the chosen models (lstm); add "
            "it with --models lightgbm or drop its settings.",
        ),
        (
            {"models": "lightgbm", "set": ["lightgbm.num_leaves=many"]},
            "--set lightgbm.num_leaves must be a whole number, got 'many'.",
        ),
        (
            {"models": "lightgbm", "set": ["lightgbm.num_leaves=1"]},
            "model 'lightgbm': num_leaves must be a whole number >= 2, got 1.",
        ),
        ({"set": ["lstm.dropout=1.5"]}, "model 'lstm': dropout must be in [0, 1), got 1.5"),
        (
            {"models": "lightgbm", "set": ["lightgbm.seed=7"]},
            "--set lightgbm.seed: the study sets seed (--seed); drop the setting.",
        ),
        (
            {"models": "lightgbm", "set": ["lightgbm.num_threads=4"]},
            "the study sets num_threads (--threads)",
        ),
        ({"set": ["lstm.device='cpu'"]}, "the study sets device (--device)"),
        (
            {"models": "lstm,lightgbm", "set": ["lightgmb.num_leaves=7"]},
            "--set 'lightgmb.num_leaves=7': 'lightgmb' is neither a preset (baseline, lookback, "
            "multifeature) nor a model (gru, lightgbm, lstm, mlp). Did you mean 'lightgbm'?",
        ),
        (
            {
                "presets": "baseline,lookback",
                "models": "lstm,tests.user_models:lookback",
                "set": ["lookback.alpha=2"],
            },
            "--set 'lookback.alpha=2': 'lookback' is both a preset and a model; write "
            "presets.lookback.alpha=2 or models.lookback.alpha=2.",
        ),
        (
            {"models": "tests.user_models:MyForecaster", "set": ["MyForecaster.alpah=2"]},
            "unknown setting 'alpah' for model 'MyForecaster'. Did you mean 'alpha'?",
        ),
        ({"set": ["lstm=3"]}, "write PRESET.KEY=VALUE or MODEL.KEY=VALUE"),
    ],
)
def test_a_bad_model_setting_is_one_clear_error(values, match):
    from lstmbt.config import config_from_mapping
    from lstmbt.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        config_from_mapping(values)
    assert match in str(info.value) and "\n" not in str(info.value)


def test_a_name_that_is_both_a_preset_and_a_model_is_settled_by_its_scope():
    from lstmbt.config import RunConfig, config_from_mapping

    config = config_from_mapping(
        {
            "presets": "baseline,lookback",
            "models": "lstm,tests.user_models:lookback",
            "set": ["models.lookback.alpha=2", "presets.lookback.lookback=7", "lstm.lr=0.01"],
        }
    )
    assert config.model_options == {"lookback": {"alpha": 2}, "lstm": {"lr": 0.01}}
    assert config.preset_options == {"lookback": {"lookback": 7}}
    with pytest.raises(Exception, match="must be a number, text, true/false or a list"):
        RunConfig(models="lightgbm", model_options={"lightgbm": {"objective": object()}}).validate()
    with pytest.raises(Exception, match=r"LightGBMForecaster\(seed=...\): the study sets seed"):
        from lstmbt.models import LightGBMForecaster

        RunConfig(models=[LightGBMForecaster(seed=3)])


@pytest.mark.slow
def test_a_study_trains_each_model_with_its_own_settings_and_records_them(tiny):
    """What a user sets reaches the model that is trained, saved and reloaded: LightGBM's
    tree size, an MLP's width (beside the LSTM's from the preset) and a user class's alpha."""
    from lstmbt import run_study

    options = {
        "lightgbm": {"num_leaves": 4, "n_estimators": 6},
        "mlp": {"hidden_size": 3},
        "MyForecaster": {"alpha": 123.0},
    }
    models = ("lstm", "mlp", "lightgbm", "tests.user_models:MyForecaster")
    result = run_study(tiny(models=models, model_options=options, threads=1), write=True)
    run = result.run_dir
    doc = json.loads((run / "config.json").read_text())
    assert doc["config"]["model_options"] == options
    params = {
        m: json.loads((run / "models" / "baseline" / m / "model.json").read_text())["params"]
        for m in ("mlp", "lightgbm", "MyForecaster")
    }
    lstm = json.loads((run / "models" / "baseline" / "model.json").read_text())["params"]
    assert (lstm["hidden_size"], params["mlp"]["hidden_size"]) == (8, 3)
    assert params["lightgbm"]["num_leaves"] == 4 and params["lightgbm"]["n_estimators"] == 6
    assert (params["lightgbm"]["seed"], params["lightgbm"]["num_threads"]) == (42, 1)
    assert params["MyForecaster"]["alpha"] == 123.0
    gbm = result.models["baseline/lightgbm"]
    assert all(b.num_trees() <= 6 for b in gbm.boosters_)
    assert "baseline:lightgbm" in result.metrics.forecasters


# --- LightGBM ------------------------------------------------------------------------------------
def test_lightgbm_learns_a_nonlinear_relation_and_stops_early_on_validation():
    from lstmbt.models import LightGBMForecaster

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 4, 2)).astype(np.float32)
    y = (np.abs(X[:, -1, 0]) - 0.8 + 0.5 * (X[:, 0, 1] > 0))[:, None] * 0.01
    y = y + 0.001 * rng.normal(size=y.shape)
    tr, va, te = slice(0, 2000), slice(2000, 2500), slice(2500, None)
    model = LightGBMForecaster(n_estimators=400).fit(X[tr], y[tr], X[va], y[va])
    assert np.corrcoef(model.predict(X[te])[:, 0], y[te, 0])[0, 1] > 0.95
    # early stopping on a noise target: few trees kept; without validation, every round
    noise = rng.normal(size=y.shape)
    stopped = LightGBMForecaster(n_estimators=200).fit(X[tr], noise[tr], X[va], noise[va])
    assert stopped.boosters_[0].num_trees() < 100
    full = LightGBMForecaster(n_estimators=60).fit(X[tr], noise[tr])
    assert full.boosters_[0].num_trees() == 60


LGBM_SCRIPT = """
import hashlib, sys
import numpy as np
from lstmbt.models import LightGBMForecaster, load_forecaster, save_forecaster
rng = np.random.default_rng(1)
X = rng.normal(size=(1200, 5, 3)).astype(np.float32)
y = np.stack([0.3 * X[:, -1, 0] + rng.normal(size=1200), X[:, 0, 2] ** 2], axis=1) * 0.01
m = LightGBMForecaster(seed=7, num_threads=2).fit(X[:800], y[:800], X[800:1000], y[800:1000])
p = m.predict(X[1000:])
save_forecaster(m, sys.argv[1], {})
again = load_forecaster(sys.argv[1])[0].predict(X[1000:])
assert again.tobytes() == p.tobytes()
print(hashlib.sha256(p.tobytes()).hexdigest())
"""


def test_lightgbm_is_byte_identical_in_two_fresh_processes_and_after_reloading(tmp_path):
    """deterministic=True, force_col_wise and the seed: the same trees and forecasts, byte for
    byte, in any process; saved as LightGBM's text model (no pickle) and read back equal."""
    out = [
        subprocess.run(
            [sys.executable, "-c", LGBM_SCRIPT, str(tmp_path / f"m{k}")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for k in range(2)
    ]
    assert out[0] == out[1] and len(out[0]) == 64
    files = sorted(p.name for p in (tmp_path / "m0").iterdir())
    assert files == ["lightgbm_0.txt", "lightgbm_1.txt", "model.json"]
    for name in files:
        assert (tmp_path / "m0" / name).read_bytes() == (tmp_path / "m1" / name).read_bytes()


def test_a_damaged_lightgbm_file_is_one_clear_error(tmp_path):
    from lstmbt.models import LightGBMForecaster

    X, y = ar_data(300, lookback=3)
    save_forecaster(LightGBMForecaster(n_estimators=5).fit(X, y), tmp_path / "m", {})
    (tmp_path / "m" / "lightgbm_0.txt").write_text("tree\nnot a model")
    with pytest.raises(ValueError, match="is not a LightGBM model .*; re-run the study"):
        load_forecaster(tmp_path / "m")
    (tmp_path / "m" / "lightgbm_0.txt").unlink()
    with pytest.raises(ValueError, match="has no lightgbm_0.txt; re-run the study"):
        load_forecaster(tmp_path / "m")


@pytest.mark.slow
def test_forecast_of_a_universe_run_gives_each_tickers_forecast(tmp_path, sp500, nasdaq, capsys):
    """Regression: `lstmbt forecast` on a universe run said "the run has no saved model
    'baseline:lstm'; it has presets []"."""
    from lstmbt.api import run_universe
    from lstmbt.cli import main
    from lstmbt.config import RunConfig
    from lstmbt.forecast import forecast_from_run
    from tests.conftest import TINY, yahoo_csv

    folder = tmp_path / "csvs"
    folder.mkdir()
    yahoo_csv(sp500.loc["2014":], folder / "spx.csv")
    yahoo_csv(nasdaq.loc["2014":], folder / "ndx.csv")
    config = RunConfig(
        **{**TINY, "epochs": 1, "hidden_size": 4},
        universe=str(folder),
        models=("lstm", "lightgbm"),
        bootstrap_reps=50,
        out=str(tmp_path / "out"),
        run_id="u",
    )
    result = run_universe(config, write=True)
    run = result.run_dir
    end = min(f"{r.predictions.index[-1]:%Y-%m-%d}" for r in result.tickers.values())
    frame = forecast_from_run(run, days=4, end=end)
    assert frame.index.names == ["ticker", "date"]
    assert list(frame.index.get_level_values("ticker").unique()) == list(result.tickers)
    for ticker, study in result.tickers.items():
        for row in ("baseline:lstm", "baseline:lightgbm"):
            np.testing.assert_allclose(
                frame.loc[ticker, row].to_numpy(),
                study.predictions.loc[:end, row].iloc[-4:].to_numpy(),
                rtol=1e-6,
                atol=1e-12,
            )
    assert main(["forecast", str(run), "--model", "lightgbm"]) == 0
    shown = capsys.readouterr().out
    assert "Ticker" in shown and "spx" in shown and "ndx" in shown and "baseline:lightgbm" in shown


@pytest.mark.slow
def test_lightgbm_and_a_user_model_give_the_same_files_serially_in_a_pool_and_on_ray(tmp_path):
    """The generic training path carries LightGBM (seeded, a fixed thread count per fit) and a
    user's class through the process pool and Ray: identical forecasts and identical saved
    files (LightGBM's text trees, the user's JSON/npz state) whichever way the units run."""
    pytest.importorskip("ray")
    import ray

    from lstmbt.models import ModelSpec
    from lstmbt.models.walkforward import walk_forward_folds
    from lstmbt.study.folds import FoldStore, Task, TrainingPlan, run_tasks

    rng = np.random.default_rng(3)
    X = rng.normal(size=(900, 4, 2)).astype(np.float32)
    y = (0.4 * X[:, -1, :1] + rng.normal(size=(900, 1))) * 0.01
    folds = walk_forward_folds(len(X), first_test=600, step=150, lookback=4)
    specs = {
        ("p", "lightgbm"): ModelSpec("lightgbm", {"num_leaves": 7, "n_estimators": 40}),
        ("p", "RichState"): ModelSpec("tests.user_models:RichState", {"alpha": 0.5}),
    }
    tasks = tuple(
        Task("p", s, k, m) for m in ("lightgbm", "RichState") for s in (1, 2) for k in range(2)
    )

    def run(name: str, **how) -> dict:
        plan = TrainingPlan(tasks, {"p": X}, y, {"p": folds}, specs, {"p": {}}, **how)
        done = run_tasks(plan, store=FoldStore(tmp_path / name), keep=frozenset(tasks))
        assert set(done.models) == set(tasks)
        return done.predictions

    serial = run("serial", jobs=1, threads=1)
    pool = run("pool", jobs=2, threads=1)
    try:
        on_ray = run("ray", jobs=2, threads=1, backend="ray")
    finally:
        ray.shutdown()
    for task in tasks:
        assert serial[task].tobytes() == pool[task].tobytes() == on_ray[task].tobytes(), task
    files = sorted(p.relative_to(tmp_path / "serial") for p in (tmp_path / "serial").rglob("*.*"))
    assert any(p.name == "lightgbm_0.txt" for p in files)
    assert any(p.name == "fitted.npz" for p in files)
    for rel in files:
        data = (tmp_path / "serial" / rel).read_bytes()
        for other in ("pool", "ray"):
            assert (tmp_path / other / rel).read_bytes() == data, (other, rel)


@pytest.mark.slow
def test_study_with_lightgbm_from_the_cli_records_its_settings_resumes_and_forecasts(
    tmp_path, capsys
):
    """`lstmbt study --models lstm,lightgbm --set lightgbm.num_leaves=15` (one preset, two
    seeds, small): the setting reaches config.json and every LightGBM fold; a resume after a
    lost fold retrains only it and gives byte-identical results; forecast repeats the run."""
    import pandas as pd

    from lstmbt.cli import main
    from lstmbt.forecast import forecast_from_run

    out = tmp_path / "r"
    flags = ["--preset", "baseline", "--seeds", "2", "--epochs", "1", "--hidden-size", "4"]
    flags += ["--device", "cpu", "--start", "2014-01-01", "--bootstrap-reps", "50"]
    flags += ["--no-tearsheets", "--out", str(out), "--run-id", "s"]
    code = main(["study", "--models", "lstm,lightgbm", "--set", "lightgbm.num_leaves=15", *flags])
    assert code == 0, capsys.readouterr().err
    run = out / "s"
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["models"] == ["lstm", "lightgbm"]
    assert config["model_options"] == {"lightgbm": {"num_leaves": 15}}
    folds = sorted((run / "folds" / "baseline" / "lightgbm").glob("seed*/fold*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(folds) == 2 * metrics["span"]["folds"] >= 4
    for fold in folds:
        params = json.loads((fold / "model.json").read_text())["params"]
        assert params["num_leaves"] == 15 and (fold / "lightgbm_0.txt").is_file()
    assert metrics["seeds"]["baseline:lightgbm"]["n_seeds"] == 2
    before = (run / "metrics.json").read_bytes(), (run / "predictions.csv").read_bytes()
    (folds[-1] / "predictions.npy").unlink()
    kept = {p: p.stat().st_mtime_ns for p in (run / "folds").rglob("predictions.npy")}
    (run / "run.json").write_text(json.dumps({"status": "interrupted"}))
    assert main(["resume", str(run)]) == 0, capsys.readouterr().err
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "finished folds were redone"
    assert ((run / "metrics.json").read_bytes(), (run / "predictions.csv").read_bytes()) == before
    preds = pd.read_csv(run / "predictions.csv", index_col=0, parse_dates=True)
    end = f"{preds.index[-1]:%Y-%m-%d}"
    again = forecast_from_run(run, days=3, end=end, model="lightgbm")
    np.testing.assert_allclose(
        again["baseline:lightgbm"], preds["baseline:lightgbm"].iloc[-3:], rtol=1e-9, atol=1e-15
    )


def test_every_built_in_models_settings_are_documented():
    """docs/models.md has a row for each setting of each model `--models` offers (and says which
    the study sets), so a new setting cannot ship undocumented."""
    from pathlib import Path

    from lstmbt.models import TRAINED
    from lstmbt.models.registry import STUDY_OWNED, default_params

    page = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    for name, cls in TRAINED.items():
        assert f"`{name}`" in page, name
        for key in default_params(cls):
            if key not in STUDY_OWNED:
                assert f"| `{key}` |" in page, (name, key)


def test_lightgbm_forecasts_do_not_depend_on_the_thread_count():
    """Column-wise histograms in deterministic mode: 1, 2 or 4 threads give the same bytes (so
    --threads, which the study sets per fit, never changes a LightGBM result)."""
    from lstmbt.models import LightGBMForecaster

    X, y = ar_data(1500, lookback=6)
    fits = [
        LightGBMForecaster(num_threads=t, seed=3, n_estimators=80)
        .fit(X[:1000], y[:1000], X[1000:1200], y[1000:1200])
        .predict(X[1200:])
        for t in (1, 2, 4)
    ]
    assert fits[0].tobytes() == fits[1].tobytes() == fits[2].tobytes()
