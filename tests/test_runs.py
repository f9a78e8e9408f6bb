"""Run folders say what became of them: failed (with the error and the way on), interrupted,
stale (killed), complete; one process at a time works on a folder; `lstmbt runs` lists them all."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lstmbt import Interrupted, run_study, runs
from lstmbt.cli import main
from tests.conftest import yahoo_csv
from tests.test_cli import (
    SIGNAL_STUDY,
    alive,
    children_of,
    err,
    start_held_at_two_folds,
    wait_until_gone,
)

WF = dict(walk_forward=True, refit_every=252, eval_frac=0.4, start="2010-01-01", bootstrap_reps=200)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 4-fold walk-forward run, copied by each test that changes it."""
    from lstmbt.config import RunConfig
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("finished")
    cfg = RunConfig(**{**TINY, **WF}, presets=("baseline",), out=str(out), run_id="full")
    return run_study(cfg, write=True).run_dir


@pytest.fixture
def copy(finished, tmp_path):
    target = tmp_path / "runs" / "copy"
    shutil.copytree(finished, target)
    return target


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("cause", ["bad-csv", "yahoo-unreachable"])
def test_a_run_stopped_before_any_work_leaves_no_folder(
    capsys, tmp_path, sp500, monkeypatch, cause
):
    """Regression: a bad CSV (read after the run folder is made) or an unreachable Yahoo left a
    folder whose run.json said "running" forever."""
    from lstmbt.data import prices
    from lstmbt.data.yahoo import YahooUnavailable

    out = tmp_path / "r"
    if cause == "bad-csv":  # a row repeated with another price: found once the file is read
        source = yahoo_csv(sp500.loc["2012"], tmp_path / "twice.csv")
        lines = open(source).read().splitlines()
        date, prices_ = lines[11].split(",", 1)
        open(source, "a").write(f"{date},{prices_.replace('.', '9.', 1)}\n")
        expected = "conflicting rows for 1 date(s)"
    else:

        def offline(*args, **kwargs):
            raise YahooUnavailable("could not reach Yahoo Finance for '^GSPC' (DNSError).")

        monkeypatch.setattr(prices, "load_yahoo", offline)
        source, expected = "yahoo", "could not reach Yahoo Finance"
    assert main(["run", "--source", source, "--out", str(out)]) == 2
    assert expected in err(capsys)
    assert list(out.iterdir()) == [], "the empty run folder is removed"


@pytest.mark.slow
def test_a_run_that_fails_after_saving_folds_is_marked_failed_and_resumes(
    capsys, tiny, monkeypatch
):
    """A full disk after training: run.json says failed, with the error and how to go on (the
    CLI's one line says it too), `lstmbt runs` shows it, and resume completes it."""
    import lstmbt.api

    def disk_full(result, run_dir, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "predictions.csv"))

    cfg = tiny(presets=("baseline",), run_id="full-disk", **WF)
    run_dir = cfg.out + "/full-disk"
    monkeypatch.setattr(lstmbt.api, "write_run", disk_full)
    flags = ["--preset", "baseline", "--epochs", "2", "--hidden-size", "8", "--device", "cpu"]
    flags += ["--walk-forward", "--refit-every", "252", "--eval-frac", "0.4"]
    flags += ["--start", "2010-01-01", "--bootstrap-reps", "200", "--no-tearsheets", "--jobs", "1"]
    assert main(["run", *flags, "--out", cfg.out, "--run-id", "full-disk"]) == 2
    hint = (
        f"fix the cause, then continue with: lstmbt resume {run_dir} (4 finished folds are reused)"
    )
    assert err(capsys) == (
        f"error: No space left on device ({run_dir}/predictions.csv); run marked failed; {hint}"
    )
    doc = json.loads(open(f"{run_dir}/run.json").read())
    assert doc["status"] == "failed" and doc["hint"] == hint
    assert doc["error"] == f"No space left on device ({run_dir}/predictions.csv)"
    (row,) = runs.list_runs(cfg.out)
    assert row["status"] == "failed" and row["note"] == f"{doc['error']} ({hint})"
    monkeypatch.undo()
    assert main(["resume", run_dir]) == 0
    assert runs.read_status(run_dir) == "complete"


@pytest.mark.slow
def test_a_killed_run_is_stale_its_workers_die_with_it_and_it_says_how_to_resume(tmp_path):
    """SIGKILL leaves run.json "running"; its pid, host and heartbeat show it is stale. Its pool
    workers die with it (they used to go on writing fold files into the folder)."""
    out = tmp_path / "runs"
    proc, _, _ = start_held_at_two_folds(
        tmp_path, *SIGNAL_STUDY, "--jobs", "2", "--out", str(out), "--run-id", "killed"
    )
    workers = set(children_of(proc.pid))
    try:
        doc = json.loads((out / "killed" / "run.json").read_text())
        assert doc["status"] == "running" and doc["pid"] == proc.pid
        assert doc["host"] == socket.gethostname() and doc["heartbeat"]
        assert runs.read_status(out / "killed") == "running"  # alive: not stale
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not wait_until_gone(workers, 60), "orphans outlived the killed run"
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    (row,) = runs.list_runs(out)
    assert row["status"] == "stale"
    folds = runs.saved_folds(out / "killed")
    assert row["note"] == (
        f"its process (pid {proc.pid} on {socket.gethostname()}) stopped without a word "
        f"(killed?); {folds} folds saved: lstmbt resume {out / 'killed'}"
    )


@pytest.mark.parametrize(
    ("host", "pid", "age_hours", "status"),
    [
        ("this", "dead", 0, "stale"),
        ("this", "alive", 100, "running"),  # its pid is alive here: a long fold, not stale
        ("other", 1, 1, "running"),
        ("other", 1, 7, "stale"),  # no heartbeat for longer than STALE_AFTER
    ],
)
@pytest.mark.slow
def test_stale_means_pid_gone_here_or_heartbeat_old_elsewhere(copy, host, pid, age_hours, status):
    beat = (datetime.now() - timedelta(hours=age_hours)).isoformat(timespec="seconds")
    doc = {
        "status": "running",
        "updated": beat,
        "heartbeat": beat,
        "pid": {"dead": dead_pid(), "alive": os.getpid()}.get(pid, pid),
        "host": socket.gethostname() if host == "this" else "elsewhere",
    }
    (copy / "run.json").write_text(json.dumps(doc))
    assert runs.read_status(copy) == status


@pytest.mark.slow
def test_the_heartbeat_follows_every_stage_and_finished_fold(tiny, monkeypatch):
    seen = []
    real = runs.heartbeat

    def beat(run_dir):
        seen.append(runs.saved_folds(run_dir))
        real(run_dir)

    monkeypatch.setattr(runs, "heartbeat", beat)
    result = run_study(tiny(presets=("lookback",), lookback=5, seeds=2, **WF), write=True)
    assert set(range(1, 9)) <= set(seen), seen  # after each of the 8 folds
    assert seen.count(8) >= 4, "and each stage after training (backtests, significance, ...)"
    assert runs.read_status(result.run_dir) == "complete"


@pytest.mark.slow
def test_one_process_at_a_time_works_on_a_run_folder(copy, capsys):
    """Regression: two concurrent `lstmbt resume` of one run both redid all the work."""
    with runs.locked(copy):
        for command in (["resume", str(copy)], ["report", str(copy), "--no-tearsheets"]):
            assert main(command) == 2
            assert err(capsys) == (
                f"error: '{copy}' is in use by another lstmbt process (pid {os.getpid()} on "
                f"{socket.gethostname()}); wait for it to finish or stop it, then try again."
            )
    assert main(["report", str(copy), "--no-tearsheets"]) == 0  # free again


@pytest.mark.slow
@pytest.mark.parametrize("before", ["running", "interrupted", "failed"])
def test_report_leaves_a_finished_run_complete(copy, before):
    """Regression: `lstmbt report` left a run "running". Its results are all written once
    metrics.json is (after every fold), so a report drawn from them completes the run."""
    runs.write_status(copy, before, error="x", hint="y")
    doc = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**doc, "pid": dead_pid()}))
    assert main(["report", str(copy), "--no-tearsheets"]) == 0
    assert runs.read_status(copy) == "complete"


@pytest.mark.slow
def test_a_refused_resume_leaves_the_status_as_it_was(copy, capsys):
    """A resume refused before it starts (changed data) must not mark a complete run failed."""
    cfg = copy / "config.json"
    doc = json.loads(cfg.read_text())
    doc["data"]["^GSPC"]["fingerprint"] = "0" * 16
    cfg.write_text(json.dumps(doc))
    status = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**status, "heartbeat": "2000-01-01T00:00:00"}))
    before = (copy / "run.json").read_bytes()  # not even the heartbeat may change
    assert main(["resume", str(copy)]) == 2
    assert "differ from those the run started with" in err(capsys)
    assert (copy / "run.json").read_bytes() == before


def test_ctrl_c_before_the_config_is_saved_removes_the_empty_folder(tiny, monkeypatch):
    import lstmbt.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstmbt.api, "prepare_data", interrupted)
    cfg = tiny(run_id="early")
    with pytest.raises(Interrupted, match="interrupted before anything was saved") as caught:
        run_study(cfg, write=True)
    assert caught.value.run_dir is None
    assert not (Path(cfg.out) / "early").exists()


def test_runs_lists_every_state_and_survives_one_corrupt_run(finished, tmp_path, capsys):
    out = tmp_path / "runs"
    for name in ("ok", "cut", "broken", "bad-status"):
        shutil.copytree(finished, out / name)
    runs.write_status(out / "cut", "interrupted")
    (out / "broken" / "config.json").write_text('{"format": 2, "config": {"tick')
    (out / "bad-status" / "run.json").write_text("{")
    rows = {r["run"]: r for r in runs.list_runs(out)}
    assert rows["ok"]["status"] == "complete" and rows["ok"]["bh_sharpe"] is not None
    # the best model's answer (Holm over the run's strategies), not its raw, selected p-value
    best = rows["ok"]["best"]
    assert rows["ok"]["best_answer"] == runs.read_metrics(out / "ok").verdict.answers[best]
    assert rows["ok"]["best_answer"] in ("Yes", "No", "Inconclusive")
    assert rows["cut"]["status"] == "interrupted"
    assert rows["cut"]["note"] == f"4 folds saved: lstmbt resume {out / 'cut'}"
    for name in ("broken", "bad-status"):
        assert rows[name]["status"] == "unreadable"
    assert "config.json' is corrupt" in rows["broken"]["note"]
    assert "run.json' is corrupt" in rows["bad-status"]["note"]
    assert main(["runs", "--out", str(out)]) == 0
    listing = capsys.readouterr().out
    # the note column wraps between words where the (temporary) path is long: a word each
    for word in ("complete", "interrupted", "unreadable", "corrupt"):
        assert word in listing


def test_forecast_names_a_truncated_model_file(copy, capsys):
    """Of a run written before fingerprints were kept (edits are refused before: see below)."""
    (copy / runs.FINGERPRINTS).unlink()
    weights = copy / "models" / "baseline" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["forecast", str(copy)]) == 2
    line = err(capsys)
    assert line.startswith(f"error: '{weights}' is unreadable or does not fit model.json (")
    assert line.endswith("); re-run the study to refit it.")


# --- fingerprints: a resume, report or forecast never uses an edited input ------------------


def files_of(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run folder (run.json aside) with its bytes."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != "run.json"
    }


def test_resume_of_a_complete_run_says_so_and_rewrites_nothing(finished, copy, capsys):
    """Regression (issue 23): `lstmbt resume` of a complete run silently recomputed and rewrote
    it; a complete run kept its `.lock` file."""
    assert not (finished / ".lock").exists(), "a finished run keeps no lock file"
    before, status = files_of(copy), (copy / "run.json").read_bytes()
    assert main(["resume", str(copy)]) == 0
    out = capsys.readouterr()
    assert out.err.count("\n") <= 1 and "error" not in out.err  # at most the loading stage
    assert " ".join(out.out.split()) == (
        f"'{copy}' is complete and its inputs are unchanged; nothing to resume "
        f"(`lstmbt report {copy}` redraws its report)."
    )
    assert files_of(copy) == before and (copy / "run.json").read_bytes() == status
    assert not (copy / ".lock").exists()


def edit_config(run_dir: Path, **changes) -> None:
    path = run_dir / "config.json"
    doc = json.loads(path.read_text())
    doc["config"].update(changes)
    path.write_text(json.dumps(doc, indent=2))


@pytest.mark.parametrize(
    ("edit", "shown"),
    [
        ({"commission": 0.002}, "commission 0.0005 -> 0.002"),
        ({"epochs": 3}, "epochs 2 -> 3"),
        ({"threshold": 0.001}, "threshold 0.0 -> 0.001"),
    ],
)
def test_an_edited_config_is_refused_in_one_line_by_resume_report_and_forecast(
    copy, capsys, edit, shown
):
    """Regression: an edited config.json (commission, epochs, threshold) was used silently by
    `resume`, and drawn or traded by `report` and `forecast`."""
    runs.write_status(copy, "interrupted")  # as if cut short: resume would otherwise go on
    edit_config(copy, **edit)
    status = (copy / "run.json").read_bytes()
    for command in (["resume", str(copy)], ["report", str(copy)], ["forecast", str(copy)]):
        assert main(command) == 2, command
        assert err(capsys) == (
            f"error: '{copy / 'config.json'}' was edited after the run started ({shown}); "
            f"resuming would mix two configurations; start a new run, or `lstmbt resume {copy} "
            "--force` to recompute the run with the edited settings."
        )
    assert (copy / "run.json").read_bytes() == status, "a refused resume changes nothing"


@pytest.mark.slow
def test_force_after_a_cost_edit_keeps_the_folds_and_recomputes_the_results(copy, finished):
    folds = {p: p.stat().st_mtime_ns for p in (copy / "folds").rglob("*") if p.is_file()}
    edit_config(copy, commission=0.002)
    assert main(["resume", str(copy), "--force"]) == 0
    assert runs.read_status(copy) == "complete"
    assert all(p.stat().st_mtime_ns == t for p, t in folds.items()), "no fit depends on costs"
    assert (copy / "predictions.csv").read_bytes() == (finished / "predictions.csv").read_bytes()
    assert (copy / "returns.csv").read_bytes() != (finished / "returns.csv").read_bytes()
    span = json.loads((copy / "metrics.json").read_text())["span"]
    assert span["costs_per_side"]["commission"] == 0.002
    assert main(["resume", str(copy)]) == 0, "the edit is now the run's: complete"


@pytest.mark.slow
def test_force_after_an_epochs_edit_retrains_and_equals_a_fresh_run(copy, tmp_path):
    from lstmbt.config import RunConfig
    from tests.conftest import TINY

    # each in a folder of its own (`out` says where a run is, not what it computes): no earlier
    # run counts as a trial of either
    edit_config(copy, epochs=3, out=str(tmp_path / "forced"))
    assert main(["resume", str(copy), "--force"]) == 0
    fresh = dict(TINY, **WF, epochs=3, out=str(tmp_path / "fresh"))
    fresh = run_study(RunConfig(**fresh, presets=("baseline",)), write=True).run_dir
    for name in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (copy / name).read_bytes() == (fresh / name).read_bytes(), name
    for name in ("predictions.npy", "weights.npz"):
        a, b = (r / "folds" / "baseline" / "seed42" / "fold003" / name for r in (copy, fresh))
        assert a.read_bytes() == b.read_bytes(), name


@pytest.mark.slow
def test_an_edited_fold_is_refused_and_force_trains_that_fold_again(copy, finished, capsys):
    """Regression: a fold's predictions.npy multiplied by -100 was used silently by resume."""
    import numpy as np

    fold = copy / "folds" / "baseline" / "seed42" / "fold001" / "predictions.npy"
    np.save(fold, np.load(fold) * -100)
    for state in ("complete", "interrupted"):  # checked up front, and as the fold is read
        runs.write_status(copy, state)
        status = (copy / "run.json").read_bytes()
        assert main(["resume", str(copy)]) == 2
        assert err(capsys).endswith(
            f"error: '{fold}' was changed after the run saved it; start a new run, or "
            f"`lstmbt resume {copy} --force` to train that fold again."
        )
        assert (copy / "run.json").read_bytes() == status
    assert main(["forecast", str(copy)]) == 2
    assert err(capsys).startswith(f"error: '{fold}' was changed after the run saved it;")
    others = {p: p.stat().st_mtime_ns for p in (copy / "folds").rglob("*.npy") if p != fold}
    assert main(["resume", str(copy), "--force"]) == 0
    assert all(p.stat().st_mtime_ns == t for p, t in others.items()), "only that fold"
    for name in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (copy / name).read_bytes() == (finished / name).read_bytes(), name
    assert main(["forecast", str(copy)]) == 0


@pytest.mark.slow
def test_edited_results_are_refused_by_report_forecast_and_resume_and_force_rewrites_them(
    copy, finished, capsys
):
    """A result file or saved model edited after the run wrote it (a truncated weights.npz
    too) is never drawn or traded; `resume --force` recomputes it from the saved folds."""
    weights = copy / "models" / "baseline" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:100])
    assert main(["forecast", str(copy)]) == 2
    assert err(capsys) == (
        f"error: '{weights}' was changed after the run wrote it; start a new run, or `lstmbt "
        f"resume {copy} --force` to recompute the results from the saved folds."
    )
    returns = copy / "returns.csv"
    returns.write_text(returns.read_text().replace("0.00", "0.01", 3))
    for command in (["report", str(copy), "--no-tearsheets"], ["resume", str(copy)]):
        assert main(command) == 2
        assert f"error: '{returns}' was changed after the run wrote it;" in err(capsys)
    assert main(["resume", str(copy), "--force"]) == 0
    for name in ("predictions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (copy / name).read_bytes() == (finished / name).read_bytes(), name
    assert main(["forecast", str(copy)]) == 0
    assert main(["report", str(copy), "--no-tearsheets"]) == 0


def test_the_lock_file_is_removed_and_a_stale_handle_never_counts_as_holding(copy):
    with runs.locked(copy):
        held = open(copy / ".lock")  # opened while held, as a racing process could
        with pytest.raises(runs.RunInUse):
            with runs.locked(copy):
                pass
    assert not (copy / ".lock").exists()
    with held:  # its file is gone: locking it would hold nothing
        assert not runs._same_file(held, copy / ".lock")
    with runs.locked(copy):
        assert (copy / ".lock").read_text().split()[0] == str(os.getpid())


# --- judged runs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        "Date,f\n1990-01-02,0.1\n1990-01-03,0.2\n",  # not trading days of the prices
        "Date,f\n2016-01-09,0.1\n",
        "Date,f\n2016-01-04,0.1\n",  # one day: nothing to judge
    ],
)
def test_a_judge_that_fails_before_writing_leaves_no_folder(tmp_path, capsys, rows):
    """Regression: judge made its folder before judging, and an error left it "stale"."""
    path = tmp_path / "f.csv"
    path.write_text(rows)
    out = tmp_path / "r"
    assert main(["judge", str(path), "--out", str(out), "--bootstrap-reps", "50"]) == 2
    err(capsys)
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_a_judged_run_says_what_became_of_it(tmp_path, sp500, monkeypatch, capsys):
    """A judged run stopped while writing is failed or interrupted (or removed when it holds
    nothing), killed is stale, and its row says to judge again: it is not resumed."""
    import numpy as np

    import lstmbt.judge

    days = sp500.index[(sp500.index >= "2016-01-01")][:300]
    path = tmp_path / "f.csv"
    pd_frame = sp500["adj_close"].pct_change().loc[days].rename("f").rename_axis("Date")
    (np.sign(pd_frame) * 0.001).to_csv(path)
    out = tmp_path / "r"
    args = ["judge", str(path), "--out", str(out), "--bootstrap-reps", "50", "--no-tearsheets"]
    real = lstmbt.judge.write_run

    def disk_full(result, run_dir, progress, tearsheets, extra):
        runs.write_config(run_dir, result.config, result.data.prices, extra=extra)  # as it does
        (run_dir / "predictions.csv").write_text("Date,f\n")  # something written, then
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "returns.csv"))

    monkeypatch.setattr(lstmbt.judge, "write_run", disk_full)
    assert main([*args, "--run-id", "full"]) == 2
    again = "judge the forecasts again (a judged run is not resumed)"
    assert err(capsys).endswith(f"run marked failed; {again}")
    (row,) = runs.list_runs(out)
    assert row["status"] == "failed"
    assert row["note"] == f"No space left on device ({out / 'full' / 'returns.csv'}) ({again})"
    assert main(["resume", str(out / "full")]) == 2
    assert err(capsys) == (
        f"error: '{out / 'full'}' is a judged forecast (lstmbt judge), which is not resumed; "
        "judge the forecasts again."
    )

    def stopped(result, run_dir, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstmbt.judge, "write_run", stopped)
    assert main([*args, "--run-id", "cut"]) == 130
    assert not (out / "cut").exists(), "stopped before writing anything: removed"
    monkeypatch.setattr(lstmbt.judge, "write_run", real)
    assert main([*args, "--run-id", "killed"]) == 0
    assert not (out / "killed" / ".lock").exists()
    doc = json.loads((out / "killed" / "run.json").read_text())
    assert doc["kind"] == "judge" and doc["status"] == "complete"
    (out / "killed" / "run.json").write_text(
        json.dumps({**doc, "status": "running", "pid": dead_pid()})
    )
    row = {r["run"]: r for r in runs.list_runs(out)}["killed"]
    assert row["status"] == "stale" and row["note"].endswith(f"(killed?); {again}")
