"""Run folders: creation (never reusing one), status, config.json for reproduce/resume, listing."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from lstmbt.config import OLD_RUN_DEFAULTS, RunConfig, config_from_mapping, ticker_label
from lstmbt.data import fingerprint
from lstmbt.data.rates import CashRate
from lstmbt.data.universe import ticker_folder
from lstmbt.errors import ConfigError, LstmbtError
from lstmbt.metrics import FORMAT, Metrics
from lstmbt.models import Split, model_label, resolve_device

# options that change where or how fast a run goes, never what it computes
_NOT_A_TRIAL = (
    "out",
    "run_id",
    "jobs",
    "threads",
    "tearsheets",
    "cache_dir",
    "device",
    "backend",
    "ray_address",
    "top_k",
    "portfolio",
)


@dataclass(frozen=True)
class EarlierTrials:
    """Trials of earlier complete runs on the same data (see `earlier_trials`)."""

    sharpes: tuple[float, ...] = ()
    runs: int = 0


def earlier_trials(
    cfg: RunConfig, prices: dict[str, pd.DataFrame], judged: str | None = None
) -> EarlierTrials:
    """The distinct configurations tried by earlier complete runs in cfg.out on the same target
    data (same fingerprint) with other settings. A rerun of the same configuration is not a new
    trial (and leaves this run's numbers byte-identical), and two earlier runs of one
    configuration count once; a run written before trials were recorded adds nothing; an
    unreadable run is skipped. `judged`: the fingerprint of what `lstmbt judge` is judging
    (`lstmbt.judge.submission_fingerprint`), part of its configuration: judging another file
    is another trial, judging the same file again is not. A trial Sharpe ratio equal to one
    already counted (a baseline that every run on this data has) counts once.

    Each earlier run is read once: what this needs of it is kept in the folder's index,
    TRIALS_INDEX (see `_trials_index`)."""
    out = Path(cfg.out)
    if not out.is_dir():
        return EarlierTrials()
    target = fingerprint(next(iter(prices.values())))  # the traded series comes first
    seen = {_trial_key(cfg.to_dict(), judged)}
    sharpes: list[float] = []
    runs = 0
    for entry in _trials_index(out, target):
        key = _trial_key(entry["config"], entry["judged"])
        if key in seen:
            continue
        new = entry["sharpes"]
        if new:
            seen.add(key)
            sharpes += [s for s in new if not any(abs(s - t) <= SAME_SHARPE for t in sharpes)]
            runs += 1
    return EarlierTrials(tuple(sharpes), runs)


TRIALS_INDEX = ".trials.json"  # in a runs folder: what earlier_trials needs of each run
_INDEX_FORMAT = 1
_STAMPED = ("config.json", "metrics.json", "run.json")


def _index_run(run_dir: Path) -> None:
    """A run that just completed, entered in its folder's TRIALS_INDEX with its trials, so the
    next run's lookup need not read it (best effort: a lookup reads what the index lacks)."""
    path = run_dir.parent / TRIALS_INDEX
    kept = _read_index(path)
    facts = _trial_facts(run_dir)
    entry = {"stamp": _stamp(run_dir), **facts}
    if facts["ok"]:
        entry["sharpes"] = _trial_sharpes(run_dir)
    _write_index(path, {**kept, run_dir.name: entry})


def _read_index(path: Path) -> dict:
    """TRIALS_INDEX's entries ({} when missing, corrupt or of another lstmbt format)."""
    try:
        doc = json.loads(path.read_text())
        runs = doc["runs"] if doc.get("format") == [_INDEX_FORMAT, FORMAT] else {}
        return runs if isinstance(runs, dict) else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_index(path: Path, entries: dict) -> None:
    """TRIALS_INDEX rewritten atomically (its own temporary name per process); a folder that
    cannot be written to keeps no index."""
    doc = {"format": [_INDEX_FORMAT, FORMAT], "runs": entries}
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(doc, separators=(",", ":")))
        os.replace(tmp, path)


def _trials_index(out: Path, target: str) -> list[dict]:
    """The complete runs in `out` on the data `target` whose trials could be read, by folder
    name: each {"config", "judged", "sharpes"}.

    The folder's TRIALS_INDEX keeps, per run folder, what was read of it and a stamp of the
    files it came from (inode, size and modification time of config.json, metrics.json and
    run.json); an entry whose stamp still matches is not read again, a run added, rewritten
    or removed since is read again or dropped, and an index that is missing, corrupt or from
    another lstmbt format is rebuilt. A run enters it when it completes (`write_status`); the
    index is rewritten atomically when it changed (a folder that cannot be written to is
    simply read each time)."""
    kept = _read_index(out / TRIALS_INDEX)
    entries: dict[str, dict] = {}
    changed = False
    for run_dir in sorted(p for p in out.iterdir() if (p / "metrics.json").is_file()):
        stamp = _stamp(run_dir)
        entry = kept.get(run_dir.name)
        if not isinstance(entry, dict) or entry.get("stamp") != stamp:
            entry, changed = {"stamp": stamp, **_trial_facts(run_dir)}, True
        if entry["ok"] and entry["target"] == target and entry.get("sharpes") is None:
            entry["sharpes"], changed = _trial_sharpes(run_dir), True
        entries[run_dir.name] = entry
    if changed or set(entries) != set(kept):
        _write_index(out / TRIALS_INDEX, entries)
    return [
        e
        for e in entries.values()
        if e["ok"] and e["target"] == target and isinstance(e.get("sharpes"), list)
    ]


def _stamp(run_dir: Path) -> list:
    out = []
    for name in _STAMPED:
        try:
            st = (run_dir / name).stat()
            out.append([st.st_ino, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append(None)
    return out


def _trial_facts(run_dir: Path) -> dict:
    """What earlier_trials needs of a run's config.json and run.json: ok (complete and
    readable), its settings, what it judged and the fingerprint of its traded series."""
    try:
        doc = read_config_doc(run_dir)
        facts = {
            "config": doc["config"],
            "judged": _judged_of(doc, run_dir),
            "target": next(iter(doc["data"].values()), {}).get("fingerprint"),
        }
        _trial_key(facts["config"], facts["judged"])  # a config it cannot key is unreadable
        if read_status(run_dir) != "complete":
            return {"ok": False}
        return {"ok": True, **facts}
    except (LstmbtError, KeyError, TypeError, ValueError, OSError, AttributeError):
        return {"ok": False}


def _trial_sharpes(run_dir: Path) -> list[float] | bool:
    """The trial Sharpe ratios a run recorded (metrics.json), False when they cannot be read."""
    try:
        trials = json.loads((run_dir / "metrics.json").read_text()).get("trials", {})
        return [float(s) for s in trials.get("this_run", [])]
    except (KeyError, TypeError, ValueError, OSError, AttributeError):
        return False


SAME_SHARPE = 1e-12  # trial Sharpe ratios closer than this are one configuration's


def _judged_of(doc: dict, run_dir: Path) -> str | None:
    """What a run judged (its submission's fingerprint), None for a study; a judged run from
    before fingerprints were recorded judged something unknown: a trial of its own."""
    if "judge" not in doc:
        return None
    return doc["judge"].get("fingerprint") or f"unknown:{run_dir.name}"


def _trial_key(config: dict, judged: str | None = None) -> str:
    """The settings that make a configuration, and for a judged run what it judged; an option
    a run's lstmbt did not have yet takes its default (which is what that run used: no cash
    rate, no half-spread...)."""
    full = {**RunConfig().to_dict(), **OLD_RUN_DEFAULTS, **config}
    key = {k: v for k, v in full.items() if k not in _NOT_A_TRIAL}
    if judged is not None:
        key["judged"] = judged
    return json.dumps(key, sort_keys=True)


def slug(text: str) -> str:
    """Text safe in a file name ('^GSPC' -> 'GSPC')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "", text.replace("^", "")).lstrip(".") or "run"


def new_run_dir(config: RunConfig, label: str | None = None, subject: str | None = None) -> Path:
    """Create out/<run-id>/; an existing run folder is never reused or overwritten. The default
    run id is the time, `subject` (default: the ticker) and `label` (default: the presets)."""
    out = Path(config.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the output folder {str(out)!r}: {exc.strerror}."
        ) from None
    if config.run_id:
        run_dir = out / config.run_id
        if run_dir.exists():
            raise ConfigError(
                f"{str(run_dir)!r} already exists; choose another --run-id (earlier runs are kept)."
            )
        run_dir.mkdir()
        return run_dir
    what = slug(label) if label else "+".join(config.presets)
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{slug(subject or config.label)}-{what}"
    for i in range(1000):
        run_dir = out / (stem if i == 0 else f"{stem}-{i + 1}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise ConfigError(f"could not create a new run folder under {str(out)!r}.")


STATUSES = ("running", "interrupted", "failed", "complete")  # run.json; "stale" is derived
STALE_AFTER = timedelta(hours=6)  # a heartbeat this old, from another host, means stale
_LOCK = ".lock"
_RESULTS = ("metrics.json", "predictions.csv", "returns.csv", "models", "index.html")


def write_status(run_dir: Path, status: str, **extra: str) -> None:
    """run.json: the status (`STATUSES`), who writes it (pid, host) and a heartbeat, plus
    `extra` (a failed run's error and hint; `kind`: study, judge or universe, kept from the
    earlier run.json when not given). A "running" run whose process is gone is stale."""
    now = datetime.now().isoformat(timespec="seconds")
    if "kind" not in extra:
        with contextlib.suppress(LstmbtError, OSError):
            extra["kind"] = read_run(run_dir).get("kind", "study")
    doc = {
        "status": status,
        "updated": now,
        "heartbeat": now,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        **extra,
    }
    write_json(Path(run_dir) / "run.json", doc)
    if status == "complete" and (Path(run_dir) / "metrics.json").is_file():
        _index_run(Path(run_dir))


def heartbeat(run_dir: Path) -> None:
    """Say the run's process is still at work (each stage and finished fold). Best effort: a
    full disk stops the run elsewhere, never here."""
    with contextlib.suppress(OSError, ValueError):
        doc = read_run(run_dir)
        doc["heartbeat"] = datetime.now().isoformat(timespec="seconds")
        write_json(Path(run_dir) / "run.json", doc)


def read_run(run_dir: Path) -> dict:
    """run.json as saved ({} when there is none)."""
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmbtError(f"{str(path)!r} is corrupt ({exc}).") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
        raise LstmbtError(f"{str(path)!r} has no status.")
    return doc


def read_status(run_dir: Path) -> str:
    """running | interrupted | failed | complete, or "stale" for a "running" run whose process
    is gone (pid dead on this host, or no heartbeat for STALE_AFTER from another host);
    "unknown" without run.json."""
    doc = read_run(run_dir)
    if not doc:
        return "unknown"
    return "stale" if _stale(doc) else doc["status"]


def _stale(doc: dict) -> bool:
    if doc.get("status") != "running":
        return False
    if doc.get("host") == socket.gethostname() and isinstance(doc.get("pid"), int):
        return not _alive(doc["pid"])
    try:
        beat = datetime.fromisoformat(doc.get("heartbeat") or doc["updated"])
    except (KeyError, TypeError, ValueError):
        return True
    return datetime.now() - beat > STALE_AFTER


def _alive(pid: int) -> bool:
    """Is process `pid` running (a zombie, killed but not yet reaped, is not)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class RunInUse(LstmbtError):
    """Another process holds the run folder (a run or resume in progress)."""


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's exclusive lock (fcntl.flock on `.lock`) or raise RunInUse: two
    processes never train, write or redraw one run at once. The lock dies with its process;
    its file is removed when the block ends (a finished run keeps no `.lock`)."""
    run_dir = Path(run_dir)
    path = run_dir / _LOCK
    while True:
        try:
            handle = open(path, "a+")  # noqa: SIM115 - held until the block ends
        except FileNotFoundError:
            raise ConfigError(f"{str(run_dir)!r} does not exist.") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunInUse(
                f"{str(run_dir)!r} is in use by another lstmbt process{_holder(run_dir)}; wait "
                "for it to finish or stop it, then try again."
            ) from None
        if _same_file(handle, path):
            break
        handle.close()  # its holder removed that file as it finished: lock the new one
    with handle:
        handle.truncate(0)  # say who holds it, for the message above
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # removed first, then unlocked: see _same_file
                path.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _same_file(handle, path: Path) -> bool:
    """Is the locked file still the one at `path`? A holder removes `.lock` before it unlocks,
    so a process that opened the old file and locked it after must not count as holding the
    folder (another may have created and locked a new `.lock` meanwhile)."""
    try:
        mine, now = os.fstat(handle.fileno()), os.stat(path)
        return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)
    except FileNotFoundError:
        return False


def _holder(run_dir: Path) -> str:
    """' (pid N on HOST)': who holds the lock, as its holder wrote it."""
    try:
        pid, host = (Path(run_dir) / _LOCK).read_text().split()
    except (OSError, ValueError):
        return ""
    return f" (pid {pid} on {host})"


def saved_folds(run_dir: Path) -> int:
    """How many finished folds a run folder holds (what resume would reuse)."""
    return sum(1 for _ in (Path(run_dir) / "folds").rglob("predictions.npy"))


def holds_work(run_dir: Path) -> bool:
    """Does the folder hold anything beyond run.json and config.json (folds, results, a
    universe's tickers)?"""
    run_dir = Path(run_dir)
    if saved_folds(run_dir) > 0 or any((run_dir / n).exists() for n in _RESULTS):
        return True
    return any(p.is_dir() for p in (run_dir / "tickers").glob("*"))


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or the CLI's SIGTERM) during a run: finished work is kept and the message says
    how to go on (`lstmbt resume RUN_DIR`, or `way_on`). `run_dir` is None when nothing was
    saved (the folder was removed)."""

    def __init__(self, run_dir: Path | None, way_on: str | None = None) -> None:
        if run_dir is None:
            text = "interrupted before anything was saved; start the run again."
        elif way_on is not None:
            text = f"interrupted; {way_on}"
        else:
            text = f"interrupted; finished folds are saved. Continue with: lstmbt resume {run_dir}"
        super().__init__(text)
        self.run_dir = run_dir


def record_interrupt(run_dir: Path, fresh: bool, way_on: str | None = None) -> Interrupted:
    """A run stopped by Ctrl-C or SIGTERM: a fresh folder stopped before its configuration was
    saved is removed (nothing a resume could use), and so is one that is not resumed (`way_on`
    given: a judged run) holding no results; otherwise run.json says "interrupted" (with
    `way_on` when it is not `lstmbt resume`). Returns the exception to raise."""
    resumable = (run_dir / "config.json").is_file() and (way_on is None or holds_work(run_dir))
    if fresh and not resumable:
        shutil.rmtree(run_dir, ignore_errors=True)
        return Interrupted(None)
    with contextlib.suppress(OSError):
        write_status(run_dir, "interrupted", **({"hint": way_on} if way_on else {}))
    return Interrupted(run_dir, way_on)


def record_failure(run_dir: Path, exc: Exception, fresh: bool, way_on: str | None = None) -> None:
    """A run stopped by an error: a fresh folder holding nothing of value is removed; otherwise
    run.json says "failed", with the error and the way on (default: fix the cause and resume),
    and the exception carries that way as a note."""
    if fresh and not holds_work(run_dir):
        shutil.rmtree(run_dir, ignore_errors=True)
        return
    error = " ".join(str(exc).split())[:500] or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        error = exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    if not isinstance(exc, (LstmbtError, OSError)):
        error = f"{type(exc).__name__}: {error}"
    if way_on is None:
        folds = saved_folds(run_dir)
        way_on = f"fix the cause, then continue with: lstmbt resume {run_dir}"
        if folds:
            way_on += f" ({folds} finished folds are reused)"
    with contextlib.suppress(OSError):  # a full disk may refuse even this; then it reads stale
        write_status(run_dir, "failed", error=error, hint=way_on)
    exc.add_note(f"run marked failed; {way_on}")


JUDGE_AGAIN = "judge the forecasts again (a judged run is not resumed)"


@contextlib.contextmanager
def recorded(run_dir: Path, way_on: str) -> Iterator[None]:
    """A fresh run folder whose run.json says what became of it, whatever happens in the block:
    stopped (Ctrl-C, SIGTERM) or failed, it is removed when it holds nothing, else marked
    interrupted or failed with `way_on`."""
    try:
        yield
    except KeyboardInterrupt:
        raise record_interrupt(run_dir, True, way_on) from None
    except Exception as exc:
        record_failure(run_dir, exc, True, way_on)
        raise


# --- fingerprints: what a run relies on, so an edited input is refused, never used ----------
FINGERPRINTS = "fingerprints.json"
# the result files a report, a forecast, a universe or a resume read back (and models/**)
_READ_BACK = ("metrics.json", "predictions.csv", "positions.csv", "returns.csv", "orders.csv")
# settings that change only what is computed from the forecasts (positions, costs, tests,
# where and how fast a run goes), never a fit: editing them keeps the saved folds under --force
AFTER_TRAINING = (
    "threshold",
    "long_short",
    "commission",
    "slippage",
    "half_spread",
    "min_fee",
    "capital",
    "borrow_fee",
    "cash_rate",
    "sizing",
    "vol_target",
    "leverage",
    "rebalance_band",
    "signal_horizon",
    "bootstrap_reps",
    "block_size",
    "tearsheets",
    "jobs",
    "backend",
    "ray_address",
    "top_k",
    "portfolio",
    "cache_dir",
)
# where the run and its inputs are, not what it computes: the prices a source or a universe
# file names are checked by their own fingerprints, so a run moved with its files still resumes
_WHERE = ("run_id", "out", "source", "universe", "cache_dir")


RETRAIN = "train that fold again"


class InputChanged(LstmbtError):
    """An input a run relies on differs from what the run recorded (an edited config.json, fold
    or result file, other prices or rates); the message names it and the way on."""


class RunComplete(LstmbtError):
    """`resume` of a complete run whose inputs are unchanged: there is nothing to do."""


def file_digest(data: bytes | Path) -> str:
    """The fingerprint of a file (or of the bytes about to be written to one)."""
    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    return hashlib.sha256(raw).hexdigest()[:32]


def _manifest(run_dir: Path) -> dict:
    path = Path(run_dir) / FINGERPRINTS
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmbtError(
            f"{str(path)!r} is corrupt ({exc}); the run's inputs cannot be checked. Start a new "
            "run."
        ) from None
    if not isinstance(doc, dict):
        raise LstmbtError(f"{str(path)!r} is not a fingerprint record; start a new run.")
    return doc


def _update_manifest(run_dir: Path, **parts: Any) -> None:
    doc = {**_manifest(run_dir), "format": 1, **parts}
    write_json(Path(run_dir) / FINGERPRINTS, doc)


def _settings(values: dict) -> dict:
    """Settings as config.json holds them (JSON types), every option present (a key a run's
    lstmbt did not have yet takes its default)."""
    full = {**RunConfig().to_dict(), **values}
    return json.loads(json.dumps({k: v for k, v in full.items() if k not in _WHERE}, default=str))


def record_settings(run_dir: Path, settings: dict) -> None:
    """Record the settings a run computes with (config.json's "config"), so an edit of them
    is seen by `settings_changes`."""
    _update_manifest(run_dir, config=_settings(settings))


def settings_changes(run_dir: Path, settings: dict) -> dict[str, tuple[Any, Any]]:
    """The settings that differ from those the run recorded: name -> (recorded, now). Empty
    for a run made before settings were recorded."""
    recorded = _manifest(run_dir).get("config")
    if not isinstance(recorded, dict):
        return {}
    recorded, now = _settings(recorded), _settings(settings)
    return {k: (recorded.get(k), now.get(k)) for k in now if recorded.get(k) != now.get(k)}


def _results(run_dir: Path) -> list[str]:
    """The files of a run's results that are read back, relative to the folder."""
    run_dir = Path(run_dir)
    names = [n for n in _READ_BACK if (run_dir / n).is_file()]
    models = sorted(p for p in (run_dir / "models").rglob("*") if p.is_file())
    return names + [p.relative_to(run_dir).as_posix() for p in models if p.suffix != ".tmp"]


def record_results(run_dir: Path) -> None:
    """Record the fingerprint of every result file read back (after the run wrote them)."""
    run_dir = Path(run_dir)
    _update_manifest(run_dir, files={n: file_digest(run_dir / n) for n in _results(run_dir)})


def forget_results(run_dir: Path) -> None:
    """The results are about to be recomputed: remove them and their record (--force after a
    changed input; they belong to the inputs before)."""
    run_dir = Path(run_dir)
    for name in (*_READ_BACK, "index.html"):
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "models", ignore_errors=True)
    _update_manifest(run_dir, files={})


def edited_results(run_dir: Path) -> list[str]:
    """Result files that differ from what the run wrote (or are missing), each as a phrase:
    "'run/predictions.csv' was changed after the run wrote it"."""
    run_dir = Path(run_dir)
    out = []
    for name, want in (_manifest(run_dir).get("files") or {}).items():
        path = run_dir / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            out.append(f"{str(run_dir / FINGERPRINTS)!r} names {name!r}, not a file of the run")
        elif not path.is_file():
            out.append(f"{str(path)!r} is missing (the run wrote it)")
        elif file_digest(path) != want:
            out.append(f"{str(path)!r} was changed after the run wrote it")
    return out


def refusal(problem: str, run_dir: Path, fix: str) -> InputChanged:
    """The one line for a changed input: what changed, and the two ways on."""
    return InputChanged(
        f"{problem}; start a new run, or `lstmbt resume {run_dir} --force` to {fix}."
    )


SETTINGS_FIX = "recompute the run with the edited settings"
RESULTS_FIX = "recompute the results from the saved folds"


def settings_problem(run_dir: Path, changes: dict[str, tuple[Any, Any]]) -> str:
    shown = ", ".join(f"{k} {_short(a)} -> {_short(b)}" for k, (a, b) in changes.items())
    return (
        f"{str(Path(run_dir) / 'config.json')!r} was edited after the run started ({shown}); "
        "resuming would mix two configurations"
    )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def check_unchanged(run_dir: str | Path, *, folds: bool = False) -> None:
    """Refuse to read a run whose settings or result files (and, with `folds`, saved folds)
    were changed after the run wrote them: what `lstmbt report` and `forecast` rely on."""
    run_dir = Path(run_dir)
    changes = settings_changes(run_dir, read_config_doc(run_dir).get("config", {}))
    if changes:
        raise refusal(settings_problem(run_dir, changes), run_dir, SETTINGS_FIX)
    edited = edited_results(run_dir)
    if edited:
        raise refusal(edited[0], run_dir, RESULTS_FIX)
    if folds:
        for path in edited_folds(run_dir / "folds"):
            raise refusal(f"{str(path)!r} was changed after the run saved it", run_dir, RETRAIN)


def folder_fingerprints(folder: Path, to_write: dict[str, bytes]) -> str:
    """The fingerprints.json text of a saved fold: every file in `folder` (its model) and the
    files `to_write` (name -> bytes: predictions.npy, written after this record, last)."""
    skip = (FINGERPRINTS, *to_write)
    files = [p for p in Path(folder).iterdir() if p.is_file() and p.name not in skip]
    digests = {p.name: file_digest(p) for p in files if p.suffix != ".tmp"}
    digests.update({name: file_digest(data) for name, data in to_write.items()})
    return json.dumps(digests, indent=1, sort_keys=True)


def edited_file(folder: Path) -> Path | None:
    """The first file of a saved fold that differs from its recorded fingerprint (or is
    missing, or the record itself unreadable); None when all match or none were recorded (a
    fold saved before fingerprints were kept)."""
    record = Path(folder) / FINGERPRINTS
    if not record.is_file():
        return None
    try:
        items = sorted(json.loads(record.read_text()).items())
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
        return record
    if any(not isinstance(n, str) or Path(n).name != n or n in (".", "..") for n, _ in items):
        return record  # a name that is not a file of this folder
    for name, want in items:
        path = Path(folder) / name
        if not path.is_file() or file_digest(path) != want:
            return path
    return None


def edited_folds(root: Path) -> list[Path]:
    """Of every finished fold under `root` (a run's folds/), the first file that differs from
    its fingerprint (edited or damaged after the run saved it, or missing)."""
    done = sorted(Path(root).rglob("predictions.npy"))
    return [path for path in (edited_file(p.parent) for p in done) if path is not None]


def data_doc(prices: dict[str, pd.DataFrame]) -> dict:
    """Span, source and fingerprint of each price frame a run read."""
    return {
        t: {
            "rows": len(f),
            "first": f"{f.index[0]:%Y-%m-%d}",
            "last": f"{f.index[-1]:%Y-%m-%d}",
            "source": f.attrs.get("source", ""),
            "fingerprint": fingerprint(f),
        }
        for t, f in prices.items()
    }


def write_config(
    run_dir: Path,
    cfg: RunConfig,
    prices: dict[str, pd.DataFrame],
    dates: pd.DatetimeIndex | None = None,
    folds: dict[str, list[Split]] | None = None,
    extra: dict | None = None,
    cash: CashRate | None = None,
) -> None:
    """config.json: everything needed to reproduce or resume the run (`extra`: more sections;
    `cash`: the interest on cash, whose source and fingerprint `resume` checks)."""
    doc = {
        "format": FORMAT,
        "config": cfg.to_dict(),
        "presets": [p.__dict__ for p in cfg.model_presets()],
        "created": datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "training": _training_doc(cfg),
        "data": data_doc(prices),
        **(extra or {}),
    }
    if cash is not None:
        doc["cash_rate"] = cash.to_dict()
    record_settings(run_dir, doc["config"])
    if folds is not None and dates is not None:
        doc["splits"] = {
            name: [
                {
                    "train": _block(dates, s.train),
                    "val": _block(dates, s.val),
                    "test": _block(dates, s.test),
                    "embargo_rows": s.embargo,
                }
                for s in splits
            ]
            for name, splits in folds.items()
        }
    write_json(run_dir / "config.json", doc)


def _block(dates: pd.DatetimeIndex, rows) -> list:
    """[first date, last date, rows] of one block (an empty block: [None, None, 0])."""
    if len(rows) == 0:
        return [None, None, 0]
    return [f"{dates[rows[0]]:%Y-%m-%d}", f"{dates[rows[-1]]:%Y-%m-%d}", len(rows)]


def _training_doc(cfg: RunConfig) -> dict:
    """Where the models train and which presets pack their seeds (both follow the machine
    under `auto`, and both change numbers within float tolerance)."""
    device = resolve_device(cfg.device).type
    lstm = "lstm" in cfg.models  # only the LSTM packs its seeds
    packed = [p.name for p in cfg.model_presets() if lstm and cfg.seeds_together(p, device)]
    return {"device": device, "seeds_packed": packed}


def read_config_doc(run_dir: str | Path) -> dict:
    """A run's config.json, of this format or an earlier one."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{str(run_dir)!r} is not an lstmbt run folder (no config.json).")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmbtError(f"{str(path)!r} is corrupt ({exc}); the run cannot be read.") from None
    _check_format(doc, path)
    return doc


def _check_format(doc: dict, path: Path) -> None:
    version = doc.get("format", 1)
    if not isinstance(version, int) or version > FORMAT:
        raise LstmbtError(
            f"{str(path)!r} is format {version}, newer than this lstmbt reads (format {FORMAT}); "
            "upgrade lstmbt to read it."
        )


def read_config(run_dir: str | Path, **overrides: Any) -> RunConfig:
    """The RunConfig a run was started with (for resume), with `overrides` applied. A user's
    class it names is not imported (see config.named_classes)."""
    values = {**OLD_RUN_DEFAULTS, **read_config_doc(run_dir)["config"]}
    values.update(run_id=None, **overrides)
    return config_from_mapping(values, import_models=False)


def read_metrics(run_dir: str | Path) -> Metrics:
    """A finished run's Metrics (metrics.json of this format or an earlier one)."""
    path = Path(run_dir) / "metrics.json"
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmbtError(f"{str(path)!r} is corrupt ({exc}); rerun the study.") from None
    return Metrics.from_json(doc, str(path))


@dataclass(frozen=True)
class Change:
    """An input of a resume that differs from what the run recorded: what changed, what --force
    would do about it, and whether the saved folds depend on it (--force then trains them
    again)."""

    problem: str
    fix: str
    retrain: bool = False

    def error(self, run_dir: Path) -> InputChanged:
        """The refusal, with `lstmbt resume RUN_DIR --force` as the way on."""
        return refusal(self.problem, run_dir, self.fix)


def resume_changes(
    run_dir: Path,
    settings: dict,
    prices: dict[str, pd.DataFrame],
    cash: CashRate | None = None,
) -> list[Change]:
    """What differs from what the run started with: its settings (an edited config.json), the
    prices, the cash rates, and its result files (edited after the run wrote them)."""
    run_dir = Path(run_dir)
    doc = read_config_doc(run_dir)
    out = []
    edited = settings_changes(run_dir, settings)
    if edited:
        retrain = any(k not in AFTER_TRAINING for k in edited)
        out.append(Change(settings_problem(run_dir, edited), SETTINGS_FIX, retrain))
    saved = doc.get("data", {})
    for ticker, frame_doc in data_doc(prices).items():
        if saved.get(ticker, {}).get("fingerprint") != frame_doc["fingerprint"]:
            where = frame_doc["source"].removeprefix("csv:")
            problem = (
                f"the prices of {ticker}{f' ({where})' if where else ''} differ from those the "
                "run started with; resuming would mix two data sets"
            )
            out.append(Change(problem, "recompute the run on the new prices", True))
    rate = doc.get("cash_rate")
    if rate is not None and cash is not None and rate.get("fingerprint") != cash.fingerprint():
        problem = (
            f"the cash rates ({cash.source}) differ from those the run started with "
            f"({rate.get('source')}); resuming would mix two"
        )
        out.append(Change(problem, "recompute the results with the new rates"))
    out += [Change(p, RESULTS_FIX) for p in edited_results(run_dir)]
    return out


def versions() -> dict[str, str]:
    """Library versions saved with each run (results depend on them), read from the installed
    distributions' metadata: importing QuantStats just to ask would change matplotlib's state."""
    out = {"python": platform.python_version()}
    dists = ("numpy", "pandas", "torch", "lightgbm", "backtrader", "ta", "quantstats", "arch")
    for dist in (*dists, "yfinance"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # a missing optional package is just not listed
            continue
    return out


def read_bytes(path: Path) -> bytes | None:
    """A file's bytes, or None when there is none (see `write_bytes`)."""
    return Path(path).read_bytes() if Path(path).is_file() else None


def write_bytes(path: Path, data: bytes | None) -> None:
    """Put a file back as `read_bytes` read it (None: remove it)."""
    if data is None:
        Path(path).unlink(missing_ok=True)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json(path: Path, doc: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def list_runs(out: str | Path) -> list[dict]:
    """Headline numbers of every run folder under `out`, newest first, with its status: an
    unfinished run (interrupted, failed, stale) says what happened and what to do instead of a
    span. A folder whose files cannot be read is listed with the reason instead of failing the
    whole listing."""
    rows = []
    runs = [p for p in Path(out).glob("*/") if _marker(p) is not None]
    for run_dir in sorted(runs, key=lambda p: _marker(p).stat().st_mtime, reverse=True):
        try:
            rows.append(_run_row(run_dir))
        except (LstmbtError, KeyError, TypeError, ValueError) as exc:
            rows.append(
                {
                    "run": run_dir.name,
                    "status": "unreadable",
                    "ticker": "-",
                    "presets": "-",
                    "walk_forward": False,
                    "note": str(exc),
                }
            )
    return rows


def _marker(run_dir: Path) -> Path | None:
    """config.json (or, for a run stopped before writing it, run.json); None: not a run."""
    for name in ("config.json", "run.json"):
        if (run_dir / name).is_file():
            return run_dir / name
    return None


def _run_row(run_dir: Path) -> dict:
    status = read_status(run_dir)
    row = {"run": run_dir.name, "status": status}
    if not (run_dir / "config.json").is_file():
        note = "stopped before its configuration was saved; nothing to resume, delete it"
        if status == "failed":
            note = _status_note(run_dir, status, {}, None)
        return {**row, "ticker": "-", "presets": "-", "walk_forward": False, "note": note}
    doc = read_config_doc(run_dir)
    cfg = doc["config"]
    row["ticker"] = ticker_label(cfg.get("ticker"), cfg.get("source", "sample"))
    row["presets"] = "+".join(cfg["presets"])
    labels = [model_label(name) for name in cfg.get("models", ["lstm"])]
    if labels != ["lstm"]:
        row["presets"] += f" × {'+'.join(labels)}"
    row["walk_forward"] = cfg.get("walk_forward", False)
    universe = _universe_state(run_dir, doc) if "universe" in doc else None
    if universe is not None:
        row["ticker"] = universe.text
    if status not in ("complete", "unknown"):
        row["note"] = _status_note(run_dir, status, doc, universe)
    if universe is not None and universe.span:
        row["span"] = universe.span
    elif status in ("complete", "unknown") and (run_dir / "metrics.json").is_file():
        m = read_metrics(run_dir)
        row["span"] = f"{m.span.test_start} .. {m.span.test_end}"
        row["bh_sharpe"] = m.value("strategy", m.benchmark, "sharpe")
        sharpes = {n: m.value("strategy", n, "sharpe") for n in m.forecasters}
        best = max(sharpes, key=lambda n: -1e9 if sharpes[n] is None else sharpes[n], default=None)
        row["best"] = best
        row["best_sharpe"] = sharpes[best] if best else None
        # the verdict's answer, not the best's raw p: picking the best of k after the fact is
        # what the answer's Holm adjustment over the run's strategies allows for
        row["best_answer"] = (m.verdict.answers.get(best) or None) if best else None
    return row


@dataclass(frozen=True)
class _UniverseState:
    text: str  # "universe sample: 5/6 tickers" (", 1 skipped" once finished)
    done: int
    total: int
    span: str | None  # the tickers' test spans, first start .. last end, once finished


def _universe_state(run_dir: Path, doc: dict) -> _UniverseState:
    """How far a universe got: its tickers whose own run is complete, of all its members."""
    members = [m for m in doc.get("universe", []) if isinstance(m, dict)]
    done = 0
    for m in members:
        folder = m.get("folder") or ticker_folder(str(m.get("label", "")))
        with contextlib.suppress(LstmbtError, OSError):
            done += read_status(run_dir / "tickers" / folder) == "complete"
    name = doc.get("universe_name") or Path(str(doc["config"].get("universe"))).stem
    text = f"universe {name}: {done}/{len(members)} tickers"
    span = None
    if (run_dir / "universe.json").is_file():
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
            summary = json.loads((run_dir / "universe.json").read_text())
            if summary.get("skipped"):
                text += f", {len(summary['skipped'])} skipped"
            rows = summary.get("table") or []
            starts = [r["test_start"] for r in rows if r.get("test_start")]
            ends = [r["test_end"] for r in rows if r.get("test_end")]
            span = f"{min(starts)} .. {max(ends)}" if starts and ends else None
    return _UniverseState(text, done, len(members), span)


def _status_note(run_dir: Path, status: str, doc: dict, universe: _UniverseState | None) -> str:
    """What an unfinished run's row says: what happened and how to go on (a judged run is not
    resumed: it is judged again)."""
    run = read_run(run_dir)
    judged = "judge" in doc or run.get("kind") == "judge"
    way_on = JUDGE_AGAIN if judged else f"lstmbt resume {run_dir}"
    if universe is not None:
        saved = f"{universe.done} of {universe.total} tickers finished"
    else:
        saved = "" if judged else f"{saved_folds(run_dir)} folds saved"
    said = f"{saved}: {way_on}" if saved else way_on
    if status == "failed":
        return f"{run.get('error', 'failed')} ({run.get('hint', way_on)})"
    if status == "stale":
        who = f"pid {run.get('pid', '?')} on {run.get('host', '?')}"
        return f"its process ({who}) stopped without a word (killed?); {said}"
    if status == "interrupted":
        return said
    if status == "running":
        return f"in progress (pid {run.get('pid', '?')} on {run.get('host', '?')})"
    return status
