"""Earlier trials come from an index of the runs folder: each earlier run is read once, and the
answer is the one reading every run folder gives."""

from __future__ import annotations

import json

import pytest

from lstmbt import runs
from lstmbt.config import RunConfig
from lstmbt.data import fingerprint
from lstmbt.metrics import FORMAT
from lstmbt.runs import TRIALS_INDEX, earlier_trials


def _run(out, name, *, target, status="complete", sharpes=(0.1, 0.2), judged=None, **config):
    folder = out / name
    folder.mkdir()
    doc = {
        "format": FORMAT,
        "config": RunConfig(**config).to_dict(),
        "data": {"^GSPC": {"fingerprint": target}},
    }
    if judged:
        doc["judge"] = {"fingerprint": judged}
    (folder / "config.json").write_text(json.dumps(doc))
    (folder / "run.json").write_text(json.dumps({"status": status}))
    trials = {} if sharpes is None else {"trials": {"this_run": list(sharpes)}}
    (folder / "metrics.json").write_text(json.dumps(trials))
    return folder


def _scan(cfg, prices, judged=None):
    """earlier_trials as it was: every run folder read on every call."""
    target = fingerprint(next(iter(prices.values())))
    seen = {runs._trial_key(cfg.to_dict(), judged)}
    sharpes, n = [], 0
    for run_dir in sorted(p for p in cfg_out(cfg).iterdir() if (p / "metrics.json").is_file()):
        try:
            doc = runs.read_config_doc(run_dir)
            key = runs._trial_key(doc["config"], runs._judged_of(doc, run_dir))
            if runs.read_status(run_dir) != "complete" or key in seen:
                continue
            if next(iter(doc["data"].values()), {}).get("fingerprint") != target:
                continue
            trials = json.loads((run_dir / "metrics.json").read_text()).get("trials", {})
            new = [float(s) for s in trials.get("this_run", [])]
        except Exception:  # noqa: BLE001 - as the old loop: an unreadable run is skipped
            continue
        if new:
            seen.add(key)
            sharpes += [s for s in new if not any(abs(s - t) <= 1e-12 for t in sharpes)]
            n += 1
    return runs.EarlierTrials(tuple(sharpes), n)


def cfg_out(cfg):
    from pathlib import Path

    return Path(cfg.out)


@pytest.fixture
def folder(tmp_path, sp500):
    """A runs folder with every kind of run earlier_trials meets."""
    out = tmp_path / "reports"
    out.mkdir()
    mine = fingerprint(sp500)
    _run(out, "a", target=mine, threshold=0.001)
    _run(out, "b", target=mine, threshold=0.002, sharpes=(0.2, 0.3))  # 0.2 counted once
    _run(out, "c", target=mine, threshold=0.001)  # a's configuration again: counts once
    _run(out, "d", target="other", threshold=0.003)  # other data
    _run(out, "e", target=mine, threshold=0.004, status="failed")
    _run(out, "f", target=mine, threshold=0.005, sharpes=None)  # before trials were recorded
    _run(out, "g", target=mine, threshold=0.006, judged="abc")
    _run(out, "h", target=mine, threshold=0.007)
    (out / "h" / "config.json").write_text("{ not json")
    _run(out, "i", target=mine, threshold=0.008)
    (out / "i" / "metrics.json").write_text("[1, 2]")
    _run(out, "j", target=mine)  # this run's own configuration: no new trial
    (out / "loose-file.txt").write_text("not a run")
    return out


def test_the_index_answers_as_reading_every_run_and_reads_each_run_once(folder, sp500, monkeypatch):
    cfg = RunConfig(out=str(folder))
    prices = {"^GSPC": sp500}
    expected = _scan(cfg, prices)
    assert expected.runs == 3 and expected.sharpes == (0.1, 0.2, 0.3)  # a, b, g
    reads = []
    real = runs.read_config_doc
    monkeypatch.setattr(runs, "read_config_doc", lambda d: reads.append(d.name) or real(d))
    assert earlier_trials(cfg, prices) == expected
    assert sorted(reads) == list("abcdefghij")  # every run once ...
    assert (folder / TRIALS_INDEX).is_file()
    other = RunConfig(out=str(folder), threshold=0.001)
    other_expected = _scan(other, prices)
    reads.clear()
    assert earlier_trials(cfg, prices) == expected
    assert earlier_trials(other, prices) == other_expected
    assert reads == []  # ... and then never again
    # a run rewritten since is read again; a new run is read; a removed one is forgotten
    (folder / "e" / "run.json").write_text(json.dumps({"status": "complete"}))
    _run(folder, "k", target=fingerprint(sp500), threshold=0.009, sharpes=(0.9,))
    import shutil

    shutil.rmtree(folder / "b")
    reads.clear()
    now = earlier_trials(cfg, prices)
    assert sorted(reads) == ["e", "k"]
    assert now == _scan(cfg, prices) and now.runs == 4

    # a missing, corrupt or other-format index is rebuilt from the runs
    def other_format(path):
        doc = json.loads(path.read_text())
        doc["format"][1] += 1  # written by another lstmbt: its entries are not trusted
        doc["runs"]["a"]["sharpes"] = [5.0]
        path.write_text(json.dumps(doc))

    for damage in (lambda p: p.unlink(), lambda p: p.write_text("{ half"), other_format):
        damage(folder / TRIALS_INDEX)
        reads.clear()
        assert earlier_trials(cfg, prices) == now
        assert len(reads) == 10
    # a read-only runs folder still answers (the index cannot be written: read each time)
    monkeypatch.setattr(runs.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("ro")))
    (folder / TRIALS_INDEX).unlink()
    assert earlier_trials(cfg, prices) == now


def test_a_run_enters_the_index_when_it_completes(tmp_path, sp500, monkeypatch):
    out = tmp_path / "reports"
    out.mkdir()
    run = _run(out, "a", target=fingerprint(sp500), status="running", threshold=0.001)
    runs.write_status(run, "complete")
    entry = json.loads((out / TRIALS_INDEX).read_text())["runs"]["a"]
    assert entry["ok"] and entry["sharpes"] == [0.1, 0.2]
    reads = []
    real = runs.read_config_doc
    monkeypatch.setattr(runs, "read_config_doc", lambda d: reads.append(d) or real(d))
    found = earlier_trials(RunConfig(out=str(out)), {"^GSPC": sp500})
    assert found.runs == 1 and reads == []
