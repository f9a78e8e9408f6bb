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
    saved = torch.load(tmp_path / "m" / "weights.pt", weights_only=True)  # no map_location
    assert saved and all(t.device.type == "cpu" for t in saved.values())
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
