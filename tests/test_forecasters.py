"""The forecaster contract: every built-in (and a user's class) fits, predicts, repeats itself for
a seed, saves and reloads as itself; the GRU and the MLP learn a known relation; a user's class
named by dotted path is checked when the config is."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from lstmbt.config import RunConfig
from lstmbt.errors import ConfigError
from lstmbt.models import (
    Forecaster,
    forecaster_class,
    load_forecaster,
    model_type,
    save_forecaster,
)
from tests.conftest import DEVICES
from tests.user_models import MyForecaster

NEURAL = dict(hidden_size=4, epochs=2, batch_size=64, device="cpu")
BUILT_IN = ["lstm", "gru", "mlp", "lightgbm", "ridge", "zero", "mean", "persistence"]
USER = "tests.user_models:MyForecaster"


def make(name: str, seed: int = 0) -> Forecaster:
    """A small, unfitted model of a built-in name or a dotted path."""
    model = forecaster_class(name)()
    params = model.get_params()
    model.set_params(**{k: v for k, v in NEURAL.items() if k in params})
    if "seed" in params:
        model.set_params(seed=seed)
    return model


def windows(n=300, lookback=6, features=2, horizon=2, seed=0):
    """y: a noisy linear function of the window (several steps, both features)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, lookback, features)).astype(np.float32)
    signal = 0.6 * X[:, -1, 0] - 0.4 * X[:, -3, 1] + 0.3 * X[:, 0, 0]
    y = np.stack([signal, -0.5 * signal][:horizon], axis=1).astype(np.float64)
    return X, y + 0.05 * rng.normal(size=y.shape)


@pytest.mark.parametrize("name", [*BUILT_IN, USER])
def test_every_forecaster_follows_the_contract(name, tmp_path):
    X, y = windows()
    tr, va, te = slice(0, 200), slice(200, 250), slice(250, None)
    with pytest.raises(RuntimeError, match="not fitted yet; call fit"):
        make(name).predict(X[te])
    model = make(name, seed=3)
    assert isinstance(model, Forecaster)
    assert model.fit(X[tr], y[tr], X[va], y[va]) is model
    pred = model.predict(X[te])
    assert pred.shape == (50, 2) and np.isfinite(pred).all()
    # one seed, one model: a fresh one with the same seed predicts the same, bit for bit
    again = make(name, seed=3).fit(X[tr], y[tr], X[va], y[va]).predict(X[te])
    np.testing.assert_array_equal(again, pred)
    if "seed" in model.get_params():
        other = make(name, seed=4).fit(X[tr], y[tr], X[va], y[va]).predict(X[te])
        assert not np.array_equal(other, pred), "another seed must be another model"
    # params come back as given, and an unknown one is refused by name
    params = model.get_params()
    assert make(name).set_params(**params).get_params() == params
    with pytest.raises(ValueError, match="has no parameter 'nope'"):
        model.set_params(nope=1)
    # saved and reloaded as the same type, with identical predictions; model.json names a
    # built-in kind, or "user" with the class's path (for information: loaded only when named)
    save_forecaster(model, tmp_path / "m", {"feature_names": ["a", "b"]})
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert model_type(model) == name
    kind = (name, None) if name in BUILT_IN else ("user", name)
    assert (doc["model"], doc.get("class")) == kind
    classes = {} if name in BUILT_IN else {name: type(model)}
    loaded, meta = load_forecaster(tmp_path / "m", user_classes=classes)
    assert type(loaded) is type(model) and meta == {"feature_names": ["a", "b"]}
    np.testing.assert_array_equal(loaded.predict(X[te]), pred)


def test_saving_an_unfitted_model_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(RuntimeError, match="call fit"):
        save_forecaster(make("gru"), tmp_path / "m", {})
    assert not (tmp_path / "m").exists()


def test_a_model_saved_before_the_type_was_recorded_loads_as_an_lstm(tmp_path):
    """Format 2 (runs made before --models): no type field, the LSTM's state at the top."""
    X, y = windows()
    model = make("lstm").fit(X[:200], y[:200])
    save_forecaster(model, tmp_path / "m", {"k": 1})
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    old = {"format": 2, "params": doc["params"], **doc["state"], "meta": doc["meta"]}
    (tmp_path / "m" / "model.json").write_text(json.dumps(old))
    loaded, meta = load_forecaster(tmp_path / "m")
    assert type(loaded).__name__ == "LSTMForecaster" and meta == {"k": 1}
    np.testing.assert_array_equal(loaded.predict(X[200:]), model.predict(X[200:]))


@pytest.mark.parametrize("name", ["gru", "mlp"])
def test_gru_and_mlp_learn_a_noisy_linear_function_of_the_window(name):
    X, y = windows(n=1500, horizon=1, seed=1)
    model = make(name).set_params(hidden_size=8, epochs=8, lr=2e-2, patience=8)
    model.fit(X[:1000], y[:1000], X[1000:1200], y[1000:1200])
    pred = model.predict(X[1200:])[:, 0]
    assert np.corrcoef(pred, y[1200:, 0])[0, 1] > 0.95


@pytest.mark.parametrize("name", ["lstm", "gru", "mlp"])
def test_the_seed_sets_the_initial_weights(name):
    X, y = windows()
    nets = {}
    for key, seed in (("a", 3), ("b", 3), ("c", 4)):
        model = make(name, seed=seed)
        model.prepare(X, y)  # scaling and the seeded initial net, before any training
        nets[key] = [p.detach().clone() for p in model.net_.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(nets["a"], nets["b"], strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(nets["a"], nets["c"], strict=True))


def test_gru_and_mlp_are_other_networks_than_the_lstm():
    X, y = windows()
    preds = {n: make(n).fit(X[:200], y[:200]).predict(X[200:]) for n in ("lstm", "gru", "mlp")}
    assert not np.allclose(preds["lstm"], preds["gru"])
    assert not np.allclose(preds["lstm"], preds["mlp"])
    nets = {n: type(make(n).fit(X[:50], y[:50]).net_.layers[0]).__name__ for n in preds}
    assert nets == {"lstm": "LSTM", "gru": "GRU", "mlp": "Linear"}


def test_only_the_lstm_packs_its_seeds(tiny):
    from lstmbt.config import PRESETS

    config = tiny(seeds=3, seed_batching="on", models=("lstm", "gru", "mlp"))
    assert config.seeds_together(PRESETS["baseline"], "cpu", "lstm")
    assert not config.seeds_together(PRESETS["baseline"], "cpu", "gru")
    assert not config.seeds_together(PRESETS["baseline"], "cpu", "mlp")


def test_models_are_chosen_by_name_or_dotted_path():
    config = RunConfig(models="lstm,gru,mlp," + USER).validate()
    assert config.models == ("lstm", "gru", "mlp", USER)
    assert list(config.model_names()) == ["lstm", "gru", "mlp", "MyForecaster"]
    assert config.model_names()["MyForecaster"] == USER
    assert RunConfig().models == ("lstm",)
    assert MyForecaster is forecaster_class(USER)


@pytest.mark.parametrize(
    ("models", "match"),
    [
        ("lsmt", "unknown model 'lsmt'. Did you mean 'lstm'?"),
        ("nosuchpkg.mod:Cls", "cannot import 'nosuchpkg.mod' (ModuleNotFoundError"),
        ("tests.user_models:Missing", "module 'tests.user_models' has no class 'Missing'"),
        ("tests.user_models:NoSave", "does not follow the forecaster contract: it has no "),
        ("lstm,lstm", "would both be named '<preset>:lstm'"),
        ("", "no model chosen"),
        ("pkg.mod:../../x", "write package.module:ClassName (letters, digits and _ only)"),
    ],
)
def test_a_bad_model_name_is_one_clear_error(models, match):
    with pytest.raises(ConfigError, match=re.escape(match)) as info:
        RunConfig(models=models).validate()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("cls", "match"),
    [
        ("Broken", "failed: ValueError: boom"),
        ("FlatPredictions", r"predict returned shape \(\d+,\), expected \(\d+, 1\)"),
        ("NaNPredictions", r"predict returned \d+ non-finite forecast\(s\) \(NaN\) of \d+"),
        ("InfPredictions", r"predict returned 1 non-finite forecast\(s\) \(inf\) of \d+"),
        ("ExitsInFit", "failed: SystemExit: 0"),
        ("StopsInFit", "failed: Stop: halt"),
    ],
)
def test_a_user_model_that_fails_in_the_study_is_one_line_naming_it(tiny, cls, match):
    from lstmbt import run_study
    from lstmbt.errors import LstmbtError

    with pytest.raises(LstmbtError, match=match) as info:
        run_study(tiny(models=f"tests.user_models:{cls}"), write=False)
    assert f"model 'tests.user_models:{cls}' on preset 'baseline', seed 42, fold 0" in str(
        info.value
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["gru", "mlp"])
def test_gru_and_mlp_train_on_the_device_and_load_on_the_cpu(name, device, tmp_path):
    X, y = windows()
    model = make(name).set_params(device=device, num_layers=2, dropout=0.2)
    model.fit(X[:200], y[:200], X[200:250], y[200:250])
    assert next(model.net_.parameters()).device.type == device
    pred = model.predict(X[250:])
    save_forecaster(model, tmp_path / "m", {})
    loaded, _ = load_forecaster(tmp_path / "m", device="cpu")
    assert next(loaded.net_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.predict(X[250:]), pred, rtol=1e-4, atol=1e-6)


MISBEHAVING = {
    "Broken": ([], "failed: ValueError: boom"),
    "NaNPredictions": ([], "non-finite forecast(s) (NaN)"),
    "InfPredictions": ([], "non-finite forecast(s) (inf)"),
    "ExitsInFit": ([], "failed: SystemExit: 0"),
    "StopsInFit": ([], "failed: Stop: halt"),
    "UnsavableState": (
        [],
        "could not be saved: cannot save UnsavableState: its fitted attribute "
        "'transform_' holds a function, which lstmbt cannot store as JSON or .npz",
    ),
    "Unpicklable": (
        ["--jobs", "2", "--seeds", "2"],
        "cannot be sent back from a worker process",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("cls", list(MISBEHAVING))
def test_a_misbehaving_user_model_is_one_line_and_exit_2_from_the_cli(cls, tmp_path, capsys):
    """NaN or inf forecasts, sys.exit or another BaseException in fit, state lstmbt cannot store
    (no pickle in run folders) and an instance the process pool cannot send back: each is the
    user's to fix, so one line naming the model, preset, seed and fold, and exit code 2 (not
    0, and not 3, which says "a bug in lstmbt")."""
    from lstmbt.cli import main

    extra, says = MISBEHAVING[cls]
    flags = ["--device", "cpu", "--start", "2014-01-01", "--no-tearsheets", "--out", str(tmp_path)]
    code = main(["run", "--models", f"tests.user_models:{cls}", *flags, *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error")]  # after progress
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert f"model 'tests.user_models:{cls}' on preset 'baseline', seed " in lines[0]
    assert says in lines[0] and ", fold " in lines[0]
