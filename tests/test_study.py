"""Walk-forward studies: seeds and ensembles, resume after an interruption, parallel == serial."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import lstmbt.study.folds as folds_mod
from lstmbt import Interrupted, resume_study, run_study
from lstmbt.runs import read_status

WF = dict(walk_forward=True, refit_every=252, eval_frac=0.4, start="2010-01-01", bootstrap_reps=200)


def interrupt_on_call(monkeypatch, name: str, n: int) -> None:
    """Make the n-th call of folds.<name> raise KeyboardInterrupt (a Ctrl-C mid-study)."""
    real = getattr(folds_mod, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(folds_mod, name, flaky)


@pytest.mark.slow
def test_walk_forward_with_seeds_reports_spread_ensemble_and_tests(tiny):
    result = run_study(tiny(presets=("lookback",), lookback=5, seeds=3, **WF), write=True)
    m = json.loads((result.run_dir / "metrics.json").read_text())
    assert m["span"]["walk_forward"] and m["span"]["folds"] == len(m["folds"]) >= 3
    seeds = m["seeds"]["lookback:lstm"]
    assert seeds["n_seeds"] == 3 and len(seeds["sharpe"]["values"]) == 3
    assert seeds["sharpe"]["std"] is not None
    # the reported LSTM is the average of the seeds' forecasts
    stitched = []
    for seed in (42, 43, 44):
        parts = [
            np.load(
                result.run_dir
                / "folds"
                / "lookback"
                / f"seed{seed}"
                / f"fold{k:03d}"
                / "predictions.npy"
            )
            for k in range(m["span"]["folds"])
        ]
        stitched.append(np.concatenate(parts)[:, 0])
    preds = pd.read_csv(result.run_dir / "predictions.csv", index_col=0)
    np.testing.assert_allclose(preds["lookback:lstm"], np.mean(stitched, axis=0), rtol=1e-9)
    for name in ("lookback:lstm", "lookback:ridge", "persistence", "ma_crossover"):
        assert m["strategy_tests"][name]["diff_p_value"] is not None
    spa = m["spa"]
    assert spa["n_strategies"] + len(spa["merged"]) + len(spa["left_out"]) >= 6
    assert 0 <= spa["p_consistent"] <= 1
    assert m["forecast_tests"]["persistence"]["lag"]["echo"] is True
    assert "lookback:lstm" in m["verdict"][0] and "seeds" in m["verdict"][0]
    # each fold's model and scaler is saved
    assert (result.run_dir / "folds" / "lookback" / "seed43" / "fold001" / "model.json").is_file()
    fold_tests = [
        f["test"]
        for f in json.loads((result.run_dir / "config.json").read_text())["splits"]["lookback"]
    ]
    assert all(a[1] < b[0] for a, b in zip(fold_tests, fold_tests[1:], strict=False))


@pytest.mark.slow
def test_interrupted_walk_forward_resumes_to_the_same_result(tiny, monkeypatch):
    # sized too: the resumed run sizes with the saved folds' models, the full one with the
    # models it trained, and the files must not tell them apart
    sized = dict(sizing="vol-target", rebalance_band=0.02)
    config = tiny(presets=("baseline", "lookback"), lookback=5, run_id="full", **WF, **sized)
    full = run_study(config, write=True)
    assert "lookback:lstm@sized" in full.returns.columns
    real_fit = folds_mod.fit_one
    interrupt_on_call(monkeypatch, "fit_one", 4)
    with pytest.raises(Interrupted, match="lstmbt resume"):
        run_study(
            tiny(presets=("baseline", "lookback"), lookback=5, run_id="cut", **WF, **sized),
            write=True,
        )
    cut_dir = full.run_dir.parent / "cut"
    assert read_status(cut_dir) == "interrupted"
    assert len(list((cut_dir / "folds").rglob("predictions.npy"))) == 3
    monkeypatch.setattr(folds_mod, "fit_one", real_fit)
    trained = []
    monkeypatch.setattr(
        folds_mod, "fit_one", lambda task, *a, **k: trained.append(task) or real_fit(task, *a, **k)
    )
    resumed = resume_study(cut_dir)
    assert read_status(cut_dir) == "complete"
    n_tasks = len(list((cut_dir / "folds").rglob("predictions.npy")))
    assert len(trained) == n_tasks - 3, "finished folds are not retrained"
    for name in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (cut_dir / name).read_bytes() == (full.run_dir / name).read_bytes(), name
    pd.testing.assert_frame_equal(resumed.metrics.strategy, full.metrics.strategy)


@pytest.mark.slow
def test_resume_refuses_changed_data(tiny, sp500, nasdaq, tmp_path):
    import shutil

    full = run_study(tiny(presets=("baseline",), run_id="r", **WF), write=True)
    cfg_path = full.run_dir / "config.json"
    doc = json.loads(cfg_path.read_text())
    doc["data"]["^GSPC"]["fingerprint"] = "0" * 16
    cfg_path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="differ from those the run started with"):
        resume_study(full.run_dir)
    shutil.rmtree(full.run_dir)


@pytest.mark.slow
def test_parallel_training_equals_serial(tiny):
    kw = dict(presets=("lookback",), lookback=5, seeds=2, **WF)
    serial = run_study(tiny(jobs=1, **kw), write=False)
    parallel = run_study(tiny(jobs=2, **kw), write=False)
    pd.testing.assert_frame_equal(parallel.predictions, serial.predictions, check_exact=True)
    pd.testing.assert_frame_equal(parallel.returns, serial.returns, check_exact=True)
    # the latest fold's model comes back from the worker too (write=False keeps no fold files)
    assert set(parallel.models) == set(serial.models) == {"lookback"}
    X = np.random.default_rng(0).normal(size=(4, 5, 1))
    np.testing.assert_array_equal(
        parallel.models["lookback"].predict(X), serial.models["lookback"].predict(X)
    )


@pytest.mark.slow
@pytest.mark.parametrize("packed", ["off", "on"])
def test_forecast_of_a_walk_forward_run_is_its_seed_ensemble(tiny, packed):
    """Also when the seeds were trained packed: each is saved as its own model."""
    from lstmbt.forecast import forecast_from_run

    result = run_study(
        tiny(presets=("lookback",), lookback=5, seeds=2, seed_batching=packed, **WF), write=True
    )
    preds = result.predictions
    last_fold = result.folds["lookback"][-1]
    n = len(last_fold.test)
    again = forecast_from_run(result.run_dir, days=n, end=f"{preds.index[-1]:%Y-%m-%d}")
    np.testing.assert_allclose(
        again["lookback:lstm"], preds["lookback:lstm"].iloc[-n:], rtol=1e-6, atol=1e-12
    )


@pytest.mark.slow
def test_study_with_seeds_packed_equals_seeds_one_by_one_and_parallel_equals_serial(tiny):
    kw = dict(presets=("baseline",), seeds=3, **WF)
    alone = run_study(tiny(seed_batching="off", **kw), write=False)
    packed = run_study(tiny(seed_batching="on", **kw), write=False)
    scale = alone.predictions["baseline:lstm"].abs().max()
    np.testing.assert_allclose(
        packed.predictions["baseline:lstm"], alone.predictions["baseline:lstm"], atol=1e-6 * scale
    )
    packed_2 = run_study(tiny(seed_batching="on", jobs=2, **kw), write=False)
    pd.testing.assert_frame_equal(packed_2.predictions, packed.predictions, check_exact=True)


@pytest.mark.slow
def test_resume_reruns_a_partly_saved_packed_unit_whole(tiny, monkeypatch):
    """A crash while a packed unit's seeds were being saved leaves some of them on disk: resume
    trains the whole unit again (its numbers depend on all its seeds) and ends identical."""
    kw = dict(presets=("baseline",), seeds=3, seed_batching="on", **WF)
    full = run_study(tiny(run_id="full", **kw), write=True)
    real_group = folds_mod.fit_group
    interrupt_on_call(monkeypatch, "fit_group", 2)
    with pytest.raises(Interrupted):
        run_study(tiny(run_id="cut", **kw), write=True)
    cut_dir = full.run_dir.parent / "cut"
    training = json.loads((cut_dir / "config.json").read_text())["training"]
    assert training == {"device": "cpu", "seeds_packed": ["baseline"]}
    saved = sorted((cut_dir / "folds").rglob("predictions.npy"))
    assert len(saved) == 3  # the first fold's three seeds
    saved[1].unlink()  # as if the crash hit between two seeds' files
    monkeypatch.setattr(folds_mod, "fit_group", real_group)
    resume_study(cut_dir)
    for name in ("predictions.csv", "returns.csv", "metrics.json"):
        assert (cut_dir / name).read_bytes() == (full.run_dir / name).read_bytes(), name


def test_auto_seed_batching_packs_where_it_was_measured_faster(tiny):
    from lstmbt.config import PRESETS

    auto = tiny(seeds=5)
    assert auto.seeds_together(PRESETS["baseline"], "cpu")  # one-step window: 1.2-1.7x
    assert not auto.seeds_together(PRESETS["lookback"], "cpu")  # 30-day window: ~0.5x
    assert not auto.seeds_together(PRESETS["multifeature"], "cpu")
    assert auto.seeds_together(PRESETS["multifeature"], "cuda")
    assert not tiny(seeds=1).seeds_together(PRESETS["baseline"], "cpu")
    assert not tiny(seeds=5, seed_batching="off").seeds_together(PRESETS["baseline"], "cuda")
    assert tiny(seeds=5, seed_batching="on").seeds_together(PRESETS["lookback"], "cpu")


@pytest.mark.slow
def test_deflated_sharpe_counts_earlier_runs_on_the_same_data_but_not_reruns(tiny):
    first = run_study(tiny(run_id="a", epochs=1, hidden_size=4), write=True)
    assert first.metrics.trials.earlier_runs == 0
    again = run_study(tiny(run_id="b", epochs=1, hidden_size=4), write=True)
    assert again.metrics.trials.earlier_runs == 0, "a rerun of one configuration is no new trial"
    other = run_study(tiny(run_id="c", epochs=1, hidden_size=4, threshold=0.001), write=True)
    t = other.metrics.trials
    assert t.earlier_runs == 1, "runs a and b are one configuration: one earlier trial"
    # what c also has (buy-and-hold, baselines its threshold leaves alone) is counted once
    assert set(t.earlier) == set(first.metrics.trials.this_run) - set(t.this_run)
    n = other.metrics.value("strategy_tests", "baseline:lstm", "dsr_n_trials")
    assert n == len(t.this_run) + len(t.earlier)
    assert f"and {len(t.earlier)} in 1 earlier run on this data" in other.verdict[0]
    elsewhere = run_study(tiny(run_id="d", epochs=1, hidden_size=4, start="2013-01-01"), write=True)
    assert elsewhere.metrics.trials.earlier_runs == 0, "other data: other trials"


@pytest.mark.slow
def test_several_models_per_preset_train_in_processes_as_in_one_and_keep_their_own_folds(tiny):
    """lstm, mlp and a user's class on one preset: every (model, seed, fold) is its own task
    with its own folder, and the process pool (which imports the user's module) changes
    nothing."""
    models = ("lstm", "mlp", "tests.user_models:MyForecaster")
    kw = dict(presets=("lookback",), lookback=5, seeds=2, models=models, **WF)
    serial = run_study(tiny(jobs=1, run_id="serial", **kw), write=True)
    parallel = run_study(tiny(jobs=2, **kw), write=False)
    pd.testing.assert_frame_equal(parallel.predictions, serial.predictions, check_exact=True)
    rows = ["lookback:lstm", "lookback:mlp", "lookback:MyForecaster"]
    assert serial.metrics.forecasters == rows
    assert set(serial.models) == set(parallel.models)
    assert set(serial.models) == {"lookback", "lookback/mlp", "lookback/MyForecaster"}
    folds = serial.run_dir / "folds" / "lookback"
    n_folds = serial.metrics.span.folds
    for where in (folds, folds / "mlp", folds / "MyForecaster"):
        assert len(list(where.glob("seed4[23]/fold*/predictions.npy"))) == 2 * n_folds, where
    scores = serial.metrics.seed_scores
    assert [scores.loc[r].shape[0] for r in rows] == [2, 2, 2], "every seed of every model"
    assert (serial.run_dir / "models" / "lookback" / "mlp" / "weights.npz").is_file()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 3-fold walk-forward run, copied by each test that damages it."""
    from lstmbt.config import RunConfig
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("finished")
    cfg = RunConfig(**{**TINY, **WF}, presets=("baseline",), out=str(out), run_id="full")
    return run_study(cfg, write=True).run_dir


def _half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


FOLD = "folds/baseline/seed42/fold001"


@pytest.mark.parametrize(
    ("name", "damage", "why"),
    [
        ("predictions.npy", lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        ("predictions.npy", _half, "is truncated or not a .npy file"),
        (
            "predictions.npy",
            lambda p: np.save(p, np.zeros((3, 1))),
            "holds float64 (3, 1), not the fold's float64 (252, 1)",
        ),
        ("weights.npz", _half, "is unreadable or does not fit model.json"),
        ("weights.npz", lambda p: p.write_bytes(b""), "is unreadable or does not fit model.json"),
        ("model.json", lambda p: p.write_text('{"format": 2, "par'), "is unreadable"),
    ],
    ids=["empty-npy", "truncated-npy", "wrong-shape-npy", "truncated-npz", "empty-npz", "bad-json"],
)
@pytest.mark.slow
def test_resume_retrains_a_fold_whose_files_cannot_be_reused(
    finished_run, tmp_path, capsys, monkeypatch, name, damage, why
):
    """Regression: a zero-length predictions.npy (what a crash could leave) made `resume` print
    only 'Aborted.'; a bad weights.pt surfaced without its path after the other folds ran. Every
    saved fold is now checked before any training; a bad one is named and trained again."""
    import shutil

    from lstmbt.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    (copy / "folds/baseline/seed42/fold000/predictions.npy").unlink()  # trained again anyway
    (copy / "run.json").write_text('{"status": "interrupted"}')  # as a crash leaves it
    damage(copy / FOLD / name)
    events = []
    real_fit = folds_mod.fit_one
    monkeypatch.setattr(
        folds_mod, "fit_one", lambda task, *a, **k: events.append(task) or real_fit(task, *a, **k)
    )
    real_note = folds_mod._load_saved

    def load_saved(plan, store, task, note):
        return real_note(plan, store, task, lambda text: events.append(text) or note(text))

    monkeypatch.setattr(folds_mod, "_load_saved", load_saved)
    assert main(["resume", str(copy)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "trained again" in line]
    assert len(notes) == 1 and notes[0].startswith(f"  note: '{copy / FOLD / name}' {why}"), notes
    assert notes[0].endswith("; that fold is trained again.")
    assert isinstance(events[0], str) and [e.fold for e in events[1:]] == [0, 1], events
    for file in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (copy / file).read_bytes() == (finished_run / file).read_bytes(), file


def test_fold_files_are_fsynced_before_the_fold_counts_as_done(tmp_path, monkeypatch):
    """Regression: fold files were renamed into place without an fsync, so a crash could leave a
    zero-length predictions.npy beside a model that never reached the disk. Each file must be
    fsynced before its rename, and the folder (the model's renames) before predictions.npy's."""
    import os

    from lstmbt.models import LSTMForecaster
    from lstmbt.study.folds import FoldStore, Task

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3, 1)), rng.normal(size=(64, 1))
    model = LSTMForecaster(hidden_size=4, epochs=1, device="cpu").fit(X, y, X, y)
    events, real_fsync, real_replace = [], os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = FoldStore(tmp_path / "folds")
    store.save(Task("p", 42, 0), model, model.predict(X[:5]), {})
    folder = str(store.folder(Task("p", 42, 0)).resolve())
    order = [e[0] + ":" + e[1].replace(folder, "") for e in events]
    assert order == [
        "fsync:/weights.npz.tmp",
        "replace:/weights.npz",
        "fsync:/model.json.tmp",
        "replace:/model.json",
        "fsync:",  # the model's renames are on disk ...
        "fsync:/fingerprints.json.tmp",  # (each file's fingerprint, for resume to check)
        "replace:/fingerprints.json",
        "fsync:/predictions.npy.tmp",
        "replace:/predictions.npy",  # ... before the task counts as done
        "fsync:",
    ], order
