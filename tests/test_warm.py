"""Warm-started walk-forward folds: fold k starts from fold k-1's weights (same seed), fits its
own scaling, may keep its start, waits for its predecessor, and resumes byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import lstmbt.study.folds as folds_mod
from lstmbt import Interrupted, resume_study, run_study
from lstmbt.config import RunConfig
from lstmbt.models import LSTMForecaster, fit_seeds
from lstmbt.models.training import warm_budget
from lstmbt.runs import _trial_key, read_config

WF = dict(walk_forward=True, refit_every=252, eval_frac=0.4, start="2010-01-01", bootstrap_reps=50)


@pytest.fixture(scope="module")
def blocks():
    """Two consecutive blocks of AR(1) windows (lookback 5): the second is scaled differently,
    so a model that took its predecessor's scaling would show it."""
    rng = np.random.default_rng(7)
    r = np.zeros(1400)
    for t in range(1, len(r)):
        r[t] = 0.3 * r[t - 1] + rng.normal(scale=0.01)
    r[700:] *= 2.0
    X = np.lib.stride_tricks.sliding_window_view(r[:-1], 5)[:, :, None].copy()
    y = r[5:, None]
    a, b = slice(0, 600), slice(700, 1300)
    return (X[a], y[a], X[600:690], y[600:690]), (X[b], y[b], X[1300:], y[1300:])


def _weights(model) -> dict:
    return {k: v.detach().clone() for k, v in model.net_.state_dict().items()}


def test_a_warm_start_starts_from_the_given_weights_and_fits_its_own_scaling(blocks):
    first, second = blocks
    opts = dict(hidden_size=8, epochs=3, patience=3, device="cpu", seed=3)
    m0 = LSTMForecaster(**opts).fit(*first)
    barely = LSTMForecaster(**{**opts, "lr": 1e-9, "epochs": 1}).fit(*second, init_from=m0)
    for name, w in _weights(barely).items():  # one epoch at lr 1e-9: where it started
        torch.testing.assert_close(w, _weights(m0)[name], atol=1e-6, rtol=0)
    assert barely.x_mean_ == pytest.approx(second[0][:, -1, :].mean(axis=0))  # its own
    assert barely.x_std_ != pytest.approx(m0.x_std_, rel=0.1)
    warm = LSTMForecaster(**opts).fit(*second, init_from=m0)
    cold = LSTMForecaster(**opts).fit(*second)
    assert not np.allclose(warm.predict(second[2]), cold.predict(second[2]))
    with pytest.raises(ValueError, match="a warm start needs the same model and shapes"):
        LSTMForecaster(**{**opts, "hidden_size": 4}).fit(*second, init_from=m0)


def test_early_stopping_keeps_the_start_when_no_epoch_beats_it(blocks):
    first, second = blocks
    m0 = LSTMForecaster(hidden_size=8, epochs=3, device="cpu", seed=1).fit(*first)
    # a learning rate this large wrecks every epoch: the start stays best
    wrecked = LSTMForecaster(hidden_size=8, epochs=2, patience=2, lr=0.9, device="cpu", seed=1)
    wrecked.fit(*second, init_from=m0)
    h = wrecked.history_
    assert h.best_epoch == -1 and h.start_val_loss < min(h.val_loss)
    for name, w in _weights(wrecked).items():
        assert torch.equal(w, _weights(m0)[name]), name
    cold = LSTMForecaster(hidden_size=8, epochs=2, device="cpu", seed=1).fit(*second)
    assert cold.history_.start_val_loss is None and cold.history_.best_epoch >= 0


def test_packed_seeds_start_warm_as_they_would_one_by_one(blocks):
    first, second = blocks
    opts = dict(hidden_size=8, epochs=2, patience=2, device="cpu")
    starts = [LSTMForecaster(**opts, seed=s).fit(*first) for s in (5, 6)]
    packed = fit_seeds(LSTMForecaster(**opts), [5, 6], *second, init_from=starts)
    for model, start in zip(packed, starts, strict=True):
        alone = LSTMForecaster(**opts, seed=start.seed).fit(*second, init_from=start)
        assert model.history_.best_epoch == alone.history_.best_epoch
        np.testing.assert_allclose(
            model.predict(second[2]), alone.predict(second[2]), rtol=1e-4, atol=1e-9
        )


@pytest.mark.slow
def test_warm_folds_wait_for_their_predecessor_and_a_resume_is_byte_identical(tiny, monkeypatch):
    kw = dict(presets=("lookback",), lookback=5, seeds=2, warm_start=True, **WF)
    cold = run_study(tiny(warm_start=False, **{k: v for k, v in kw.items() if k != "warm_start"}))
    full = run_study(tiny(run_id="full", **kw), write=True)
    n = full.metrics.span.folds
    assert n >= 3
    first = len(full.folds["lookback"][0].test)
    name = "lookback:lstm"
    np.testing.assert_array_equal(  # fold 0 starts cold in both
        full.predictions[name].to_numpy()[:first], cold.predictions[name].to_numpy()[:first]
    )
    assert not np.allclose(full.predictions[name].to_numpy(), cold.predictions[name].to_numpy())
    budget = warm_budget(2, 2)  # TINY: 2 epochs, patience 2
    for k in range(n):
        doc = json.loads(
            (full.run_dir / f"folds/lookback/seed43/fold{k:03d}/model.json").read_text()
        )
        assert doc["params"]["epochs"] == (2 if k == 0 else budget["epochs"]), k
    # cut after three fits: the longest chain first (serial: seed 42's fold 0, then seed 43's,
    # whose chain is now longer, then seed 42's fold 1), each fold after its predecessor
    real_fit = folds_mod.fit_one
    calls = []

    def flaky(task, *a, **k):
        calls.append(task)
        if len(calls) == 4:
            raise KeyboardInterrupt
        assert (k.get("init_from") is not None) == (task.fold > 0), task
        return real_fit(task, *a, **k)

    monkeypatch.setattr(folds_mod, "fit_one", flaky)
    with pytest.raises(Interrupted):
        run_study(tiny(run_id="cut", **kw), write=True)
    assert [(t.seed, t.fold) for t in calls[:3]] == [(42, 0), (43, 0), (42, 1)]
    cut = full.run_dir.parent / "cut"
    monkeypatch.setattr(folds_mod, "fit_one", real_fit)
    loaded, real_load = [], folds_mod.FoldStore.load_model
    monkeypatch.setattr(
        folds_mod.FoldStore,
        "load_model",
        lambda self, task, *a: loaded.append(task) or real_load(self, task, *a),
    )
    resume_study(cut)
    # the first missing fold of each chain starts from its saved predecessor, read back
    assert sorted((t.seed, t.fold) for t in loaded if t.fold < n - 1) == [(42, 1), (43, 0)]
    for file in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (cut / file).read_bytes() == (full.run_dir / file).read_bytes(), file


@pytest.mark.slow
def test_a_run_saved_before_warm_starts_resumes_cold_and_is_a_cold_trial(tiny):
    run = run_study(tiny(presets=("baseline",), warm_start=False, run_id="old", **WF), write=True)
    path = run.run_dir / "config.json"
    doc = json.loads(path.read_text())
    del doc["config"]["warm_start"]  # as lstmbt wrote it before the option existed
    path.write_text(json.dumps(doc))
    assert read_config(run.run_dir).warm_start is False
    cold = RunConfig(**{**doc["config"], "warm_start": False}).to_dict()
    warm = RunConfig(**{**doc["config"], "warm_start": True}).to_dict()
    assert _trial_key(doc["config"]) == _trial_key(cold) != _trial_key(warm)
    assert RunConfig().warm_start is True  # new runs start warm
