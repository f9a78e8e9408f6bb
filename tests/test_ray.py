"""A universe on a real two-node Ray cluster (two nodes of one CPU each, on this machine) gives
the process pool's files byte for byte; a universe cut midway resumes to the same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstmbt import RunConfig
from lstmbt.api import resume_universe, run_universe
from lstmbt.progress import Progress
from tests.conftest import yahoo_csv
from tests.test_universe import UNIVERSE, _bars


@pytest.fixture(scope="module")
def two_node_cluster():
    """A head and a worker node, one CPU each: a unit runs on whichever has a CPU free, so two
    units in flight use both nodes."""
    cluster_utils = pytest.importorskip("ray.cluster_utils")
    cluster = cluster_utils.Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def small_universe(sp500, tmp_path_factory):
    """A resampled random walk and a series with planted next-day mean reversion."""
    folder = tmp_path_factory.mktemp("small-universe")
    real = sp500["adj_close"].pct_change().dropna().to_numpy()
    real = real - real.mean()
    n = 1500
    yahoo_csv(_bars(sp500, np.random.default_rng(10).choice(real, n)), folder / "rw0.csv")
    shocks = np.random.default_rng(20).choice(real, n)
    planted = np.zeros(n)
    for t in range(1, n):
        planted[t] = -0.5 * planted[t - 1] + shocks[t]
    yahoo_csv(_bars(sp500, planted), folder / "planted.csv")
    return folder


class _Notes(Progress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.mark.slow
def test_two_node_ray_cluster_gives_the_pools_files_and_a_resume_continues(
    two_node_cluster, small_universe, tmp_path
):
    # two seeds one by one: two chains of warm-started folds, so two units are in flight and
    # a fold's predecessor may have run on the other node
    kw = dict(UNIVERSE, epochs=2, universe=str(small_universe), walk_forward=True)
    kw.update(refit_every=252, seeds=2, seed_batching="off", warm_start=True)
    pool = run_universe(RunConfig(out=str(tmp_path / "p"), run_id="u", jobs=2, **kw), write=True)
    progress = _Notes()
    ray = run_universe(
        RunConfig(
            out=str(tmp_path / "r"),
            run_id="u",
            backend="ray",
            ray_address=two_node_cluster.address,
            **kw,
        ),
        write=True,
        progress=progress,
    )
    import ray as ray_module

    assert not ray_module.is_initialized(), "the driver disconnects from a cluster it joined"
    ran = [n for n in progress.notes if n.startswith("ray: ")]
    assert ran and all("on 2 nodes" in n for n in ran), progress.notes
    files = ["universe.json"] + [
        f"tickers/{t}/{f}"
        for t in ("rw0", "planted")
        for f in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json")
    ]
    for name in files:
        a, b = (Path(r.run_dir) / name for r in (pool, ray))
        assert a.read_bytes() == b.read_bytes(), name
    # a universe cut after its first ticker resumes to the same files
    cut = tmp_path / "p" / "u"
    (cut / "universe.json").unlink()
    shutil.rmtree(cut / "tickers" / "rw0")
    (cut / "tickers" / "planted" / "run.json").write_text('{"status": "interrupted"}')
    (cut / "run.json").write_text('{"status": "interrupted"}')
    again = resume_universe(cut)
    assert (
        json.loads((cut / "universe.json").read_text())["table"]
        == json.loads((Path(ray.run_dir) / "universe.json").read_text())["table"]
    )
    assert set(again.tickers) == {"rw0", "planted"}


@pytest.mark.slow
def test_without_an_address_ray_starts_a_private_instance_and_never_joins_a_stray_cluster(
    monkeypatch,
):
    """CI once ran on a host where another job's `ray start` cluster was up: Ray's default
    (address=None) joined it and then refused num_cpus. No address means a private local
    instance ("local"); $RAY_ADDRESS, when set, is joined as an address given on the line."""
    ray = pytest.importorskip("ray")
    from lstmbt.study.folds import start_ray

    seen: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.append(kw))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert start_ray(None, 3)
    assert seen[-1]["address"] == "local" and seen[-1]["num_cpus"] == 3
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")
    start_ray(None, 3)
    assert seen[-1]["address"] == "10.0.0.2:6379" and "num_cpus" not in seen[-1]
    start_ray("10.0.0.9:6379", 3)
    assert seen[-1]["address"] == "10.0.0.9:6379" and "num_cpus" not in seen[-1]
