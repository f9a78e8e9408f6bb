"""One set of training workers for many studies (a universe): kept across studies, training
queued studies while this process does other work, with the numbers of a study trained alone."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lstmbt import RunConfig
from lstmbt.study.folds import FoldStore, Trainer, _chains_of, run_tasks
from lstmbt.study.forecasters import study_plan
from lstmbt.study.inputs import prepare_data
from tests.conftest import TINY

WF = dict(walk_forward=True, refit_every=252, eval_frac=0.4, start="2010-01-01")


@pytest.fixture(scope="module")
def plans(sp500, nasdaq):
    """Two small studies: warm chains of lookback folds (two seeds one by one) and packed
    baseline seeds."""
    out = {}
    for name, ticker in (("a", "^GSPC"), ("b", "^IXIC")):
        cfg = RunConfig(
            **{**TINY, **WF},
            ticker=ticker,
            presets=("baseline", "lookback"),
            preset_options={"lookback": {"lookback": 5}},
            seeds=2,
        )
        data = prepare_data(cfg, {"^GSPC": sp500, "^IXIC": nasdaq})
        out[name] = study_plan(cfg, data)
    return out


def test_chains_put_each_warm_fold_after_its_predecessor_longest_first(plans):
    plan = plans["a"]
    chains = _chains_of(plan, [(u, u) for u in plan.units()])
    n = len(plan.folds["lookback"])
    assert sorted(len(c) for c in chains) == [n, n, len(plan.folds["baseline"])]
    for chain in chains:
        assert [u[0].fold for u in chain] == list(range(len(chain)))
        assert len({(t.preset, t.model, t.seed) for u in chain for t in u}) == len(chain[0])
    assert chains[0][0][0].preset == "lookback"  # 5-day windows: more work than 1-day ones


@pytest.mark.slow
def test_shared_workers_train_queued_studies_ahead_with_the_numbers_of_one_alone(plans, tmp_path):
    alone = {k: run_tasks(p) for k, p in plans.items()}
    with Trainer(2) as trainer:
        trainer.queue("a", plans["a"])
        trainer.queue("b", plans["b"])
        store = FoldStore(tmp_path / "folds")
        got_a = run_tasks(plans["a"], store=store, trainer=trainer.slot("a"))
        workers = set(trainer.pool._processes)
        assert len(workers) == 2
        # b trains on while nobody asks for it
        deadline = time.monotonic() + 120
        while not all(job.done() for _, job in trainer.queued["b"]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        got_b = run_tasks(plans["b"], trainer=trainer.slot("b"))
        assert set(trainer.pool._processes) == workers, "the same workers for both studies"
    for key, got in (("a", got_a), ("b", got_b)):
        assert set(got.predictions) == set(alone[key].predictions)
        for task, preds in alone[key].predictions.items():
            np.testing.assert_array_equal(got.predictions[task], preds, err_msg=str(task))
    # only this process wrote, and what it wrote reloads as a resume reads it
    saved = sorted(p.parent.name for p in (tmp_path / "folds").rglob("predictions.npy"))
    assert len(saved) == len(plans["a"].tasks)
    again = run_tasks(plans["a"], store=store)
    for task, preds in got_a.predictions.items():
        np.testing.assert_array_equal(again.predictions[task], preds)
