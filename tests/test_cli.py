"""The command line: one red line and exit code 2 for bad input, a report for good input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lstmbt import runs
from lstmbt.cli import main
from tests.conftest import YAHOO_NAMES, yahoo_csv

TINY_FLAGS = ["--epochs", "1", "--hidden-size", "4", "--device", "cpu", "--start", "2014-01-01"]


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lstmbt.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.mark.slow
def test_compare_three_presets_from_the_cli(tmp_path):
    out = tmp_path / "reports"
    proc = run_cli("compare", *TINY_FLAGS, "--lookback", "5", "--out", str(out), "--run-id", "cmp")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr + proc.stdout
    assert "findfont" not in proc.stderr + proc.stdout
    run = out / "cmp"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"baseline:lstm", "lookback:lstm", "multifeature:lstm", "buy_and_hold"} <= set(
        metrics["strategy"]
    )
    for name in metrics["tearsheets"].values():
        assert (run / name).stat().st_size > 10_000
    assert "buy_and_hold" in proc.stdout and str(run / "index.html") in proc.stdout.replace(
        "\n", ""
    )


@pytest.mark.slow
def test_unknown_source_is_one_line_without_traceback():
    proc = run_cli("run", "--source", "yahooo")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown source 'yahooo'. Did you mean 'yahoo'? Use sample, yahoo, auto or a path "
        "to a .csv file."
    ]


def err(capsys) -> str:
    """The error line (progress lines may come before it)."""
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(lines), lines
    return errors[0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["run", "--ticker", "TSLA"], "not in the offline sample"),
        (["run", "--preset", "basline"], "Did you mean 'baseline'"),
        (["run", "--start", "2018-10-01"], "too few"),
        (["run", "--start", "2019-10-01", "--end", "2018-01-01"], "after --end"),
        (["run", "--start", "yesterdayish"], "is not a date"),
        (["run", "--features", "momentun", "--preset", "multifeature"], "Did you mean 'momentum'"),
        (["run", "--device", "tpu"], "unknown device"),
        (["run", "--commission", "5"], "fraction per side"),
        (["study", "--seed-batching", "maybe"], "unknown seed batching 'maybe'"),
        (["run", "--models", "lstm,gur"], "unknown model 'gur'. Did you mean 'gru'?"),
        (["run", "--models", "nosuchpkg.mod:Cls"], "cannot import 'nosuchpkg.mod'"),
        (["run", "--models", "tests.user_models:NoSave"], "does not follow the forecaster"),
    ],
)
def test_bad_input_errors(capsys, tmp_path, args, match):
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert match in err(capsys)


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--threshold", "nan"], "error: --threshold must be a number, got nan."),
        (["--threshold", "inf"], "error: --threshold must be a number >= 0, got inf."),
        (["--slippage", "nan"], "error: --slippage must be a number, got nan."),
        (["--lookback", "0"], "error: --lookback must be at least 1, got 0."),
        (["--lookback", "-5"], "error: --lookback must be at least 1, got -5."),
        (["--layers", "0"], "error: --layers must be at least 1, got 0."),
        (
            ["--preset", "lookback", "--set", "lookback.lookback=0"],
            "error: preset 'lookback': lookback must be at least 1, got 0.",
        ),
    ],
    ids=[
        "threshold-nan",
        "threshold-inf",
        "slippage-nan",
        "lookback-0",
        "lookback-negative",
        "layers-0",
        "preset-lookback-0",
    ],
)
def test_impossible_numbers_are_one_line_before_any_work(capsys, tmp_path, flags, line):
    """Regression: --threshold nan was accepted (the model never traded), --lookback 0 failed
    later than --lookback -5 with another message, --layers 0 surfaced torch's own error."""
    assert main(["run", *flags, "--out", str(tmp_path)]) == 2
    assert err(capsys) == line
    assert not any(tmp_path.iterdir()), "no run folder for a config error"


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--preset", ""], "no preset chosen; use --preset baseline (see `lstmbt presets`)."),
        (
            ["--set", "lookback.lookback=60"],
            "settings for preset 'lookback', which is not among the chosen presets (baseline); "
            "add it with --preset or drop its settings.",
        ),
        (
            ["--set", "baseline.lookbak=3"],
            "unknown setting 'lookbak' for preset 'baseline'. Did you mean 'lookback'? A preset "
            "takes: lookback, features, companions, companion_features, hidden_size, num_layers, "
            "dropout.",
        ),
        (
            ["--set", "lookback60"],
            "--set 'lookback60': write PRESET.KEY=VALUE or MODEL.KEY=VALUE, e.g. --set "
            "lookback.lookback=60 or --set lightgbm.num_leaves=63.",
        ),
        (["--lookback", "3000"], "--lookback 3000 is implausibly long; use <= 2000."),
        (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5."),
        (["--signal-horizon", "3"], "--signal-horizon must be 1 or h, got '3'."),
        (["--val-frac", "0.6"], "--val-frac and --test-frac must each be in (0, 0.5)."),
        (["--eval-frac", "0.95"], "--eval-frac must be in [0.05, 0.9], got 0.95."),
        (
            ["--walk-forward", "--window", "rolling"],
            "--window rolling needs --train-size DAYS (e.g. 1260 for 5 years).",
        ),
        (["--run-id", "a/b"], "--run-id 'a/b': use letters, digits, '.', '_' or '-'."),
        (
            ["--run-id", "."],
            "--run-id '.' names the output folder or its parent, not a new run folder; choose "
            "a name with a letter or digit (e.g. exp1).",
        ),
        (
            ["--run-id", ".."],
            "--run-id '..' names the output folder or its parent, not a new run folder; choose "
            "a name with a letter or digit (e.g. exp1).",
        ),
        (["--seeds", "0"], "--seeds must be at least 1, got 0."),
    ],
    ids=[
        "no-preset",
        "set-unchosen-preset",
        "set-unknown-key",
        "set-malformed",
        "lookback-3000",
        "dropout-1.5",
        "signal-horizon-3",
        "val-frac-0.6",
        "eval-frac-0.95",
        "rolling-without-train-size",
        "run-id-slash",
        "run-id-dot-regression",
        "run-id-dotdot-regression",
        "seeds-0",
    ],
)
def test_bad_options_are_one_line_before_any_work(capsys, tmp_path, flags, line):
    assert main(["run", *flags, "--out", str(tmp_path)]) == 2
    assert err(capsys) == f"error: {line}"
    assert not any(tmp_path.iterdir()), "no run folder for a config error"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('epochs = "3"\n', "--epochs must be a whole number, got '3'."),
        ("epochs = \n", "config file '{path}' is malformed: "),  # then the TOML parser's words
        (None, "config file '{path}' does not exist."),
    ],
    ids=["wrong-type", "malformed", "missing"],
)
def test_config_file_errors(capsys, tmp_path, text, line):
    cfg = tmp_path / "run.toml"
    if text is not None:
        cfg.write_text(text)
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert err(capsys).startswith(f"error: {line.format(path=cfg)}")


def test_resume_report_and_forecast_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    for command in ("resume", "forecast"):
        assert main([command, str(tmp_path)]) == 2
        assert err(capsys) == f"error: '{tmp_path}' is not an lstmbt run folder (no config.json)."
    assert main(["report", str(tmp_path)]) == 2
    assert err(capsys).startswith(f"error: '{tmp_path}' has no metrics.json; it is not a finished")
    assert not any(tmp_path.iterdir()), "nothing is written into a folder that is not a run"


def test_cuda_asked_for_without_a_gpu_fails_before_any_work(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["run", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA GPU is visible; use --device auto" in err(capsys)
    assert not any(tmp_path.iterdir()), "nothing is written for a config error"


def test_csv_errors_from_the_cli(capsys, tmp_path, sp500):
    missing = yahoo_csv(sp500.iloc[:500].drop(columns=["high"]), tmp_path / "missing.csv")
    assert main(["run", "--source", missing, "--out", str(tmp_path)]) == 2
    assert "lacks the columns ['high']" in err(capsys)
    bad_dates = tmp_path / "dates.csv"
    bad_dates.write_text("Date,Open,High,Low,Close,Volume\n2020-13-45,1,2,0.5,1.5,10\n")
    assert main(["run", "--source", str(bad_dates), "--out", str(tmp_path)]) == 2
    assert "unparseable" in err(capsys)


def test_config_file_with_a_typo_is_rejected(capsys, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('ticker = "^GSPC"\nepoch = 3\n')
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path)]) == 2
    assert "unknown config key 'epoch'. Did you mean 'epochs'?" in err(capsys)


@pytest.mark.slow
def test_csv_run_end_to_end(capsys, tmp_path, sp500):
    path = yahoo_csv(sp500.loc["2012":], tmp_path / "spx.csv")
    code = main(
        [
            "run",
            "--source",
            path,
            "--ticker",
            "SPX",
            *TINY_FLAGS,
            "--no-tearsheets",
            "--out",
            str(tmp_path / "r"),
            "--run-id",
            "csv",
        ]
    )
    assert code == 0, err(capsys)
    assert (tmp_path / "r" / "csv" / "metrics.json").is_file()


@pytest.mark.slow
def test_debug_flag_shows_the_traceback(tmp_path):
    proc = run_cli("run", "--ticker", "TSLA", "--debug", "--out", str(tmp_path))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_presets_lists_the_three_exercises(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("baseline", "lookback", "multifeature", "momentum", "^IXIC"):
        assert name in out


@pytest.mark.slow
def test_two_fresh_processes_write_byte_identical_results(tmp_path):
    flags = [*TINY_FLAGS, "--start", "2012-01-01", "--no-tearsheets", "--out", str(tmp_path)]
    for run_id in ("p1", "p2"):
        proc = run_cli(
            "run", "--preset", "lookback", "--lookback", "10", "--run-id", run_id, *flags
        )
        assert proc.returncode == 0, proc.stderr
    for name in ("predictions.csv", "positions.csv", "returns.csv", "orders.csv", "metrics.json"):
        assert (tmp_path / "p1" / name).read_bytes() == (tmp_path / "p2" / name).read_bytes(), name
    a = json.loads((tmp_path / "p1" / "config.json").read_text())
    assert a["data"]["^GSPC"]["fingerprint"] and a["versions"]["torch"]


# The CLI, run as `python -m lstmbt.cli` does, with one change: once two folds are saved, every
# process that saves a fold (the CLI itself, or each worker of `--jobs 2`) blocks right after it,
# until the test's signal arrives. The signal thus always lands mid-study with work left, however
# slow or loaded the machine (a timed signal raced the run's end). The hook sits at the top of a
# script file, so spawned pool workers, which import the parent's main script, run it too; each
# saving process writes its pid into the `ready` folder.
HOLD_AFTER_TWO_FOLDS = """
import os, signal, sys, time
from pathlib import Path
import lstmbt.study.folds

# Ctrl-C as a terminal delivers it: the foreground process has Python's own SIGINT handler.
# A test run started in the background by a non-interactive shell (`pytest &`, nohup) hands its
# children SIGINT ignored, and the signal below would then never arrive (it did once, in the
# 5-runs-under-load check).
signal.signal(signal.SIGINT, signal.default_int_handler)

ready, real_save = Path(sys.argv[1]), lstmbt.study.folds.FoldStore.save

def save(self, task, *args, **kwargs):
    real_save(self, task, *args, **kwargs)
    (ready / f"saved-{task.preset}-{task.seed}-{task.fold}").write_text(str(os.getpid()))
    if len(list(ready.glob("saved-*"))) >= 2:
        (ready / "go").touch()
        time.sleep(300)  # the signal lands here
        raise SystemExit("test hook: no signal came within 300 s")

lstmbt.study.folds.FoldStore.save = save

if __name__ == "__main__":
    from lstmbt.cli import main

    sys.exit(main(sys.argv[2:]))
"""

# a small study: 2 seeds, tiny networks, 100 bootstrap draws, no tear-sheets
SMALL_STUDY = [
    "study",
    *("--epochs", "1", "--hidden-size", "4", "--device", "cpu", "--start", "2008-01-01"),
    *("--lookback", "5", "--seeds", "2", "--bootstrap-reps", "100", "--no-tearsheets"),
]
# 3 folds x 2 seeds of one preset: at least 3 tasks are left when the signal comes
SIGNAL_STUDY = [*SMALL_STUDY, "--preset", "lookback", "--refit-every", "504"]


def start_held_at_two_folds(tmp_path, *args: str) -> tuple[subprocess.Popen, object, object]:
    """Start the CLI with HOLD_AFTER_TWO_FOLDS; return once two folds are saved and the saving
    process blocks: (process, the ready folder, its stderr file)."""
    import time

    ready, script, log = tmp_path / "ready", tmp_path / "held_cli.py", tmp_path / "stderr.txt"
    ready.mkdir()
    script.write_text(HOLD_AFTER_TWO_FOLDS)
    with log.open("w") as err_file:  # a file, not a pipe: output can never block the child
        proc = subprocess.Popen(
            [sys.executable, str(script), str(ready), *args],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
    deadline = time.monotonic() + 300
    while not (ready / "go").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # polls for the child's own signal; the child waits for ours
    if not (ready / "go").exists():
        proc.kill()
        proc.wait()
        pytest.fail(f"the study ended or stalled before two folds:\n{log.read_text()[-2000:]}")
    return proc, ready, log


def children_of(pid: int) -> dict[int, str]:
    """The live processes whose parent is `pid` (from /proc), with their command lines."""
    from pathlib import Path

    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_text().replace("\0", " ")
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(stat.parent.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    from pathlib import Path

    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until_gone(pids, seconds: float) -> set[int]:
    """Those of `pids` still alive after up to `seconds` (polled)."""
    import time

    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {p for p in pids if alive(p)}


@pytest.mark.slow
def test_ctrl_c_keeps_finished_folds_and_resume_finishes(tmp_path):
    """A real SIGINT to the CLI in the middle of a walk-forward study, then `--resume`."""
    import signal

    out = tmp_path / "runs"
    args = [*SIGNAL_STUDY, "--jobs", "1", "--out", str(out), "--run-id", "cut"]
    proc, ready, log = start_held_at_two_folds(tmp_path, *args)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr[-2000:]
    assert "lstmbt resume" in stderr and "Traceback" not in stderr
    assert json.loads((out / "cut" / "run.json").read_text())["status"] == "interrupted"
    folds = out / "cut" / "folds"
    done = {p: p.stat().st_mtime_ns for p in folds.rglob("predictions.npy")}
    assert len(done) == 2, sorted(done)
    resumed = run_cli("run", "--resume", str(out / "cut"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((out / "cut" / "run.json").read_text())["status"] == "complete"
    assert all(p.stat().st_mtime_ns == t for p, t in done.items()), "finished folds were redone"
    assert len(list(folds.rglob("predictions.npy"))) > len(done), "resume trained the rest"
    assert (out / "cut" / "index.html").is_file()


RESULT_FILES = ("predictions.csv", "returns.csv", "orders.csv", "metrics.json")


@pytest.mark.slow
def test_sigterm_with_two_jobs_stops_the_workers_and_resume_finishes(tmp_path, capsys):
    """Regression: SIGTERM (timeout, CI cancel, docker stop) killed the CLI without a word, left
    run.json "running" and orphaned the pool's workers, which kept writing fold files. Now it is
    handled like Ctrl-C: workers stopped, run interrupted, resume hint, exit 143; a second resume
    meanwhile is refused; resuming gives the files of an uninterrupted run."""
    import signal
    import socket

    out = tmp_path / "runs"
    cut = out / "cut"
    proc, ready, log = start_held_at_two_folds(
        tmp_path, *SIGNAL_STUDY, "--jobs", "2", "--out", str(out), "--run-id", "cut"
    )
    children = children_of(proc.pid)
    try:
        workers = {p for p, cmd in children.items() if "multiprocessing.spawn" in cmd}
        helpers = set(children) - workers  # multiprocessing's resource tracker
        savers = {int(p.read_text()) for p in ready.glob("saved-*")}
        assert len(workers) == 2 and savers <= workers, (savers, children)
        capsys.readouterr()
        assert main(["resume", str(cut)]) == 2  # this process, while the run holds its folder
        assert err(capsys) == (
            f"error: '{cut}' is in use by another lstmbt process (pid {proc.pid} on "
            f"{socket.gethostname()}); wait for it to finish or stop it, then try again."
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:  # a failed check leaves no held process behind either
        for pid in (proc.pid, *children):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    stderr = log.read_text()
    assert proc.returncode == 143, stderr[-2000:]
    assert f"Continue with: lstmbt resume {cut}" in stderr and "Traceback" not in stderr
    left = {pid for pid in workers if alive(pid)}  # stopped and joined before the CLI exits
    assert not left, f"workers still alive after the run ended: {left}"
    assert not wait_until_gone(helpers, 60), "the resource tracker outlived the run"
    assert json.loads((cut / "run.json").read_text())["status"] == "interrupted"
    saved = len(list((cut / "folds").rglob("predictions.npy")))
    assert 2 <= saved < 6, saved
    (row,) = runs.list_runs(out)  # what `lstmbt runs` shows
    assert (row["status"], row["note"]) == (
        "interrupted",
        f"{saved} folds saved: lstmbt resume {cut}",
    )
    assert main(["resume", str(cut)]) == 0
    assert json.loads((cut / "run.json").read_text())["status"] == "complete"
    whole = [*SIGNAL_STUDY, "--jobs", "1", "--out", str(out), "--run-id", "whole"]
    assert main(whole) == 0  # one process: --jobs never changes a number
    for name in RESULT_FILES:
        assert (cut / name).read_bytes() == (out / "whole" / name).read_bytes(), name


@pytest.mark.slow
def test_study_command_end_to_end(tmp_path):
    proc = run_cli(*SMALL_STUDY, "--out", str(tmp_path), "--run-id", "s")
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert metrics["span"]["walk_forward"] and metrics["span"]["seeds"] == 2
    assert len(metrics["verdict_models"]) == 3 and metrics["spa"]["n_strategies"] >= 3
    assert "Does it beat buy-and-hold after costs?" in proc.stdout


@pytest.mark.slow
def test_repairs_are_one_yellow_line_and_a_report_note(capsys, tmp_path, sp500):
    shuffled = sp500.loc["2012":].sample(frac=1.0, random_state=0)
    path = yahoo_csv(shuffled, tmp_path / "shuffled.csv")
    code = main(
        [
            "run",
            "--source",
            path,
            *TINY_FLAGS,
            "--no-tearsheets",
            "--out",
            str(tmp_path / "r"),
            "--run-id",
            "x",
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: shuffled.csv: rows were not in date order; sorted them" in err
    assert "UserWarning" not in err
    notes = json.loads((tmp_path / "r" / "x" / "metrics.json").read_text())["notes"]
    assert any("sorted them" in n for n in notes)


@pytest.mark.slow
def test_a_user_forecaster_runs_through_walk_forward_seeds_resume_and_forecast(tmp_path):
    """`lstmbt run --models lstm,tests.user_models:MyForecaster --walk-forward --seeds 2` from
    the repository root, as a user runs the installed command (which finds the module in the
    current folder); then `lstmbt resume` retrains only what was lost and `lstmbt forecast`
    uses the user's saved models."""
    import numpy as np
    import pandas as pd

    from lstmbt.forecast import forecast_from_run

    root = Path(__file__).resolve().parents[1]
    script = Path(sys.executable).parent / "lstmbt"
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "lstmbt.cli"]
    out, mine = tmp_path / "runs", "lookback:MyForecaster"
    flags = [*TINY_FLAGS, "--preset", "lookback", "--lookback", "5", "--refit-every", "252"]
    flags += ["--eval-frac", "0.4", "--bootstrap-reps", "100", "--no-tearsheets", "--jobs", "1"]
    proc = subprocess.run(
        [*command, "run", "--models", "lstm,tests.user_models:MyForecaster", "--walk-forward"]
        + ["--seeds", "2", *flags, "--out", str(out), "--run-id", "u"],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = out / "u"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["models"][mine] == {
        "preset": "lookback",
        "model": "MyForecaster",
        "role": "forecaster",
    }
    assert mine in metrics["strategy"] and mine in metrics["forecast"]
    assert metrics["seeds"][mine]["n_seeds"] == 2 and metrics["span"]["folds"] >= 2
    assert any(v["name"] == mine and v["answer"] for v in metrics["verdict_models"])
    spa = metrics["spa"]
    assert mine in {*spa["tested"], *spa["merged"], *spa["left_out"]}, "SPA weighs it too"
    user_folds = sorted((run / "folds" / "lookback" / "MyForecaster").rglob("predictions.npy"))
    assert len(user_folds) == 2 * metrics["span"]["folds"]
    assert len(list((run / "folds" / "lookback").glob("seed*/fold*/predictions.npy"))) == len(
        user_folds
    ), "the LSTM's folds keep their own place"
    first = [
        np.load(run / "folds" / "lookback" / "MyForecaster" / s / "fold000" / "predictions.npy")
        for s in ("seed42", "seed43")
    ]
    assert not np.array_equal(*first), "each seed is its own model"
    saved = json.loads((run / "models" / "lookback" / "MyForecaster" / "model.json").read_text())
    assert (saved["model"], saved["class"]) == ("user", "tests.user_models:MyForecaster")
    # as if interrupted after all but the user model's last fold of one seed
    before = (run / "metrics.json").read_bytes()
    user_folds[-1].unlink()
    kept = {p: p.stat().st_mtime_ns for p in (run / "folds").rglob("predictions.npy")}
    (run / "run.json").write_text(json.dumps({"status": "interrupted"}))
    # a run folder never names code to import: the user names the class again
    refused = run_cli("resume", str(run), cwd=root)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert f"lstmbt resume {run} --models tests.user_models:MyForecaster" in refused.stderr
    resumed = run_cli("resume", str(run), "--models", "tests.user_models:MyForecaster", cwd=root)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "finished folds were redone"
    assert user_folds[-1].is_file() and (run / "metrics.json").read_bytes() == before
    # the next-day forecast from the saved models is the run's seed ensemble
    preds = pd.read_csv(run / "predictions.csv", index_col=0, parse_dates=True)
    end = f"{preds.index[-1]:%Y-%m-%d}"
    again = forecast_from_run(run, days=5, end=end, models="tests.user_models:MyForecaster")
    np.testing.assert_allclose(again[mine], preds[mine].iloc[-5:], rtol=1e-9, atol=1e-15)
    shown = run_cli(
        "forecast", str(run), "--model", "MyForecaster", "--end", end,
        "--models", "tests.user_models:MyForecaster", cwd=root,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert f"{mine}:position" in shown.stdout.replace("\n", "")


def calendar_days_csv(frame, path) -> str:
    """Real prices put on the 1st..12th of each month, every calendar day (weekends too, as crypto
    trades), written day-first: dd/mm and mm/dd both parse, and neither gives weekdays in order."""
    days = pd.date_range("2012-01-01", periods=800)
    days = days[days.day <= 12][: len(frame)]
    out = frame.iloc[: len(days)].copy()
    out.index = days
    out = out.rename(columns=YAHOO_NAMES)
    out.index.name = "Date"
    out.to_csv(path, date_format="%d/%m/%Y")
    return str(path)


@pytest.mark.slow
def test_date_format_reads_every_csv_of_the_run(capsys, tmp_path, sp500, nasdaq):
    """--date-format settles dates that cannot be told apart, for the target and a companion."""
    target = calendar_days_csv(sp500.loc["2012":], tmp_path / "target.csv")
    other = calendar_days_csv(nasdaq.loc["2012":], tmp_path / "other.csv")
    flags = ["--source", target, "--with", other, "--epochs", "1", "--hidden-size", "4"]
    flags += ["--device", "cpu", "--no-tearsheets", "--out", str(tmp_path / "r")]
    assert main(["run", *flags]) == 2
    assert "Pass --date-format '%d/%m/%Y' (day-first)" in err(capsys)
    code = main(["run", *flags, "--date-format", "%d/%m/%Y", "--run-id", "dmy"])
    assert code == 0, err(capsys)
    run = tmp_path / "r" / "dmy"
    assert json.loads((run / "config.json").read_text())["config"]["date_format"] == "%d/%m/%Y"
    first = pd.read_csv(run / "predictions.csv", index_col=0, parse_dates=True).index
    assert (first.day <= 12).all() and first.is_monotonic_increasing
    assert main(["forecast", str(run)]) == 0, err(capsys)  # the run's format, from config.json


@pytest.mark.slow
def test_a_csv_run_is_labelled_by_its_file_stem(capsys, tmp_path, sp500):
    """Regression: a CSV source was reported as ^GSPC (the default ticker) everywhere."""
    from lstmbt.config import RunConfig

    path = yahoo_csv(sp500.loc["2012":], tmp_path / "spx_daily.csv")
    out = tmp_path / "r"
    assert main(["run", "--source", path, *TINY_FLAGS, "--no-tearsheets", "--out", str(out)]) == 0
    (run,) = (p for p in out.iterdir() if p.is_dir())  # beside it: the trials index
    assert run.name.endswith("-spx_daily-baseline"), run.name
    assert json.loads((run / "metrics.json").read_text())["span"]["ticker"] == "spx_daily"
    assert "<h1>spx_daily: baseline</h1>" in (run / "index.html").read_text()
    assert list(json.loads((run / "config.json").read_text())["data"]) == ["spx_daily"]
    capsys.readouterr()
    assert main(["runs", "--out", str(out)]) == 0
    listing = capsys.readouterr().out
    assert "spx_daily" in listing and "GSPC" not in listing
    assert RunConfig().label == "^GSPC" and RunConfig(source="yahoo").label == "^GSPC"
    assert RunConfig(source=path, ticker="SPX").label == "SPX"


def test_an_end_of_file_inside_a_command_is_an_error_not_an_abort(capsys, monkeypatch, tmp_path):
    """Regression: typer turns an EOFError (a truncated file) into 'Aborted!', as for Ctrl-D."""
    import importlib

    cli = importlib.import_module("lstmbt.cli.main")  # the module, not lstmbt.cli's main()

    def truncated(out):
        raise EOFError("Ran out of input")

    monkeypatch.setattr(cli, "list_runs", truncated)
    assert main(["runs", "--out", str(tmp_path)]) == 3
    assert capsys.readouterr().err.splitlines() == [
        "internal error (EOFError: Ran out of input). This is a bug in lstmbt, not in your input: "
        "rerun with --debug for the traceback and report it."
    ]


def test_the_sigterm_handler_is_the_clis_for_one_command_only(monkeypatch, tmp_path):
    """Installed by main() for the command it runs, then put back: importing lstmbt or calling
    run_study never changes how the caller's process answers SIGTERM."""
    import importlib
    import signal

    cli = importlib.import_module("lstmbt.cli.main")
    before = signal.getsignal(signal.SIGTERM)
    during = []
    monkeypatch.setattr(cli, "list_runs", lambda out: during.append(signal.getsignal(15)) or [])
    assert main(["runs", "--out", str(tmp_path)]) == 0
    assert during == [cli._on_sigterm] and signal.getsignal(signal.SIGTERM) is before


# --- SIGTERM cannot be swallowed ---------------------------------------------------------------


class _Thing:
    """An object whose death runs a weakref callback."""


def _kill_me_inside_a_callback(ref) -> None:
    """A weakref callback that sends this process SIGTERM and goes on: the handler runs inside
    the callback, where Python swallows any exception ("Exception ignored in ...")."""
    import signal

    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))  # the pending handler runs here


def _die_with_callback(callback) -> list:
    thing = _Thing()
    keep = [__import__("weakref").ref(thing, callback)]
    del thing  # the callback runs now
    return keep


def _cli():
    import importlib

    return importlib.import_module("lstmbt.cli.main")  # the module, not lstmbt.cli's main()


@pytest.mark.slow
def test_a_sigterm_landing_in_a_callback_is_raised_again():
    """Regression: the SIGTERM handler set SIGTERM to "ignore" and raised; raised inside a
    weakref callback, the exception was printed as "Exception ignored" and the command carried
    on, ignoring every later SIGTERM. First the hazard, then the CLI's handler, 30 times."""
    import signal
    import time

    cli = _cli()
    lost = []

    def naive(signum, frame):
        raise KeyboardInterrupt

    before, hook = signal.signal(signal.SIGTERM, naive), sys.unraisablehook
    sys.unraisablehook = lambda unraisable: lost.append(unraisable.exc_value)
    try:
        _die_with_callback(_kill_me_inside_a_callback)  # no exception comes out here
        sum(range(1000))
    finally:
        signal.signal(signal.SIGTERM, before)
        sys.unraisablehook = hook
    assert len(lost) == 1 and isinstance(lost[0], KeyboardInterrupt), "swallowed"
    for _ in range(30):
        with cli._sigterm_like_ctrl_c():
            with pytest.raises(KeyboardInterrupt):
                _die_with_callback(_kill_me_inside_a_callback)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # work goes on after the callback
                    time.sleep(0.001)
            assert cli._exit_code(130) == 143
        assert signal.getsignal(signal.SIGTERM) is before


def test_a_sigterm_at_any_moment_stops_the_command():
    """The race as it happens: SIGTERM at a random moment of work that spends much of its time
    in weakref callbacks (about half of the signals land in one). Every one stops the work."""
    import random
    import signal
    import threading
    import time

    cli = _cli()
    rng = random.Random(5)

    def busy(ref) -> None:
        sum(range(300))

    for _ in range(60):
        with cli._sigterm_like_ctrl_c():
            timer = threading.Timer(rng.uniform(0, 0.004), os.kill, (os.getpid(), signal.SIGTERM))
            with pytest.raises(KeyboardInterrupt):
                timer.start()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    _die_with_callback(busy)
                    sum(range(300))
            timer.join()


def test_a_stop_swallowed_by_careless_code_is_raised_at_the_next_stage():
    """A library that catches BaseException and goes on: the next stage or finished fold (a
    safe point of the CLI's progress) raises the stop again."""
    import signal
    import time

    from lstmbt.progress import RichProgress

    cli = _cli()
    with cli._sigterm_like_ctrl_c():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except BaseException:  # noqa: BLE001 - the careless code under test
            pass
        progress = RichProgress(cli._checkpoint)
        with pytest.raises(KeyboardInterrupt):
            progress.stage("the next stage")
        with pytest.raises(KeyboardInterrupt), progress.tasks(2, None) as (on_done, _):
            on_done(None, True)


SWALLOWED_SIGTERM = """
import importlib, os, signal, sys, time, weakref
cli = importlib.import_module("lstmbt.cli.main")

class Thing:
    pass

def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(1000))

def list_runs(out):
    thing = Thing()
    ref = weakref.ref(thing, callback)
    del thing
    time.sleep(60)  # the command goes on: only a stop that was not lost ends it now
    return []

cli.list_runs = list_runs
sys.exit(cli.main(["runs", "--out", sys.argv[1]]))
"""


def test_a_command_whose_sigterm_landed_in_a_callback_exits_143(tmp_path):
    script = tmp_path / "swallow.py"
    script.write_text(SWALLOWED_SIGTERM)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=50
    )
    assert proc.returncode == 143, proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr


def test_breakeven_point_estimate_regression_marked_not_significant_where_its_interval_reaches_0():
    """Regression: the compact table's Break-even read "1.3 bps" as a fact where the verdict
    calls that point estimate not significant (its 95% interval's lower end <= 0). Such a cost
    is marked "(n.s.)" in the terminal, the report and summary()'s text column; summary() keeps
    the number in breakeven_bps."""
    from rich.console import Console

    from lstmbt.cli.show import comparison_tables
    from lstmbt.report.html import _costs_table
    from lstmbt.results import StudyResult
    from tests.test_verdict import make_metrics

    interval = {"breakeven": "crosses", "breakeven_bps": 1.3, "breakeven_high": 4.0}
    m = make_metrics(
        {
            "weak:lstm": {**interval, "breakeven_low": -0.8},  # reaches 0: not significant
            "zero:lstm": {**interval, "breakeven_low": 0.0},
            "strong:lstm": {**interval, "breakeven_bps": 9.5, "breakeven_low": 2.1},
            "far:lstm": {"breakeven": "beyond", "breakeven_low": -1.0, "breakeven_high": 100.0},
            "behind:lstm": {"breakeven": "trails"},
        }
    )
    shown = m.comparison()["Break-even"]
    assert shown["weak:lstm"] == "1.3 bps (n.s.)" and shown["zero:lstm"] == "1.3 bps (n.s.)"
    assert shown["strong:lstm"] == "9.5 bps" and shown["far:lstm"] == "> 100 bps (n.s.)"
    assert shown["behind:lstm"] == "none"
    out = Console(width=100, record=True)
    for table in comparison_tables(m, 100):
        out.print(table)
    text = out.export_text()
    assert text.count("1.3 bps (n.s.)") == 2 and "9.5 bps (n.s.)" not in text
    m.strategy["turnover"] = 2.0  # the report's cost table needs its cost analysis
    page = _costs_table(m)
    assert "1.3 bps (n.s.) [-0.8, 4.0] bps" in page and "9.5 bps [2.1, 4.0] bps" in page
    empty = pd.DataFrame()
    frame = StudyResult(None, m, empty, empty, empty, empty).summary()
    assert frame.loc["weak:lstm", "breakeven"] == "1.3 bps (n.s.)"
    assert frame.loc["strong:lstm", "breakeven"] == "9.5 bps"
    assert frame.loc["weak:lstm", "breakeven_bps"] == 1.3  # the number, for sorting
    assert frame.loc["behind:lstm", "breakeven"] == "none"
