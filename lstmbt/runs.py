"""Run folders: creation (never reusing one), status, config.json for reproduce/resume, listing."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from lstmbt.config import RunConfig, config_from_mapping, ticker_label
from lstmbt.data import fingerprint
from lstmbt.data.rates import CashRate
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
    already counted (a baseline that every run on this data has) counts once."""
    out = Path(cfg.out)
    if not out.is_dir():
        return EarlierTrials()
    target = fingerprint(next(iter(prices.values())))  # the traded series comes first
    seen = {_trial_key(cfg.to_dict(), judged)}
    sharpes: list[float] = []
    runs = 0
    for run_dir in sorted(p for p in out.iterdir() if (p / "metrics.json").is_file()):
        try:
            doc = read_config_doc(run_dir)
            key = _trial_key(doc["config"], _judged_of(doc, run_dir))
            if read_status(run_dir) != "complete" or key in seen:
                continue
            if next(iter(doc["data"].values()), {}).get("fingerprint") != target:
                continue
            trials = json.loads((run_dir / "metrics.json").read_text()).get("trials", {})
            new = [float(s) for s in trials.get("this_run", [])]
        except (LstmbtError, KeyError, TypeError, ValueError, OSError, AttributeError):
            continue
        if new:
            seen.add(key)
            sharpes += [s for s in new if not any(abs(s - t) <= SAME_SHARPE for t in sharpes)]
            runs += 1
    return EarlierTrials(tuple(sharpes), runs)


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
    full = {**RunConfig().to_dict(), **config}
    key = {k: v for k, v in full.items() if k not in _NOT_A_TRIAL}
    if judged is not None:
        key["judged"] = judged
    return json.dumps(key, sort_keys=True)


def slug(text: str) -> str:
    """Text safe in a file name ('^GSPC' -> 'GSPC')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "", text.replace("^", "")) or "run"


def new_run_dir(config: RunConfig, label: str | None = None) -> Path:
    """Create out/<run-id>/; an existing run folder is never reused or overwritten. The default
    run id is the time, the ticker and `label` (default: the presets)."""
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
    what = label or "+".join(config.presets)
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{slug(config.label)}-{what}"
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
    `extra` (a failed run's error and hint). A "running" run whose process is gone is stale."""
    now = datetime.now().isoformat(timespec="seconds")
    doc = {
        "status": status,
        "updated": now,
        "heartbeat": now,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        **extra,
    }
    write_json(Path(run_dir) / "run.json", doc)


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
    processes never train, write or redraw one run at once. The lock dies with its process."""
    run_dir = Path(run_dir)
    try:
        handle = open(run_dir / _LOCK, "a+")  # noqa: SIM115 - held until the block ends
    except FileNotFoundError:
        raise ConfigError(f"{str(run_dir)!r} does not exist.") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUse(
                f"{str(run_dir)!r} is in use by another lstmbt process{_holder(run_dir)}; wait "
                "for it to finish or stop it, then try again."
            ) from None
        handle.truncate(0)  # say who holds it, for the message above
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
    """Does the folder hold anything beyond run.json and config.json (folds, results)?"""
    return saved_folds(run_dir) > 0 or any((Path(run_dir) / n).exists() for n in _RESULTS)


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
    """The RunConfig a run was started with (for resume), with `overrides` applied."""
    values = read_config_doc(run_dir)["config"]
    values.update(run_id=None, **overrides)
    return config_from_mapping(values)


def read_metrics(run_dir: str | Path) -> Metrics:
    """A finished run's Metrics (metrics.json of this format or an earlier one)."""
    path = Path(run_dir) / "metrics.json"
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LstmbtError(f"{str(path)!r} is corrupt ({exc}); rerun the study.") from None
    return Metrics.from_json(doc, str(path))


def check_resume_data(
    run_dir: Path, prices: dict[str, pd.DataFrame], cash: CashRate | None = None
) -> None:
    """Refuse to resume on data (prices, or the cash rates) that differ from what the run
    started with."""
    doc = read_config_doc(run_dir)
    saved = doc.get("data", {})
    for ticker, frame_doc in data_doc(prices).items():
        if saved.get(ticker, {}).get("fingerprint") != frame_doc["fingerprint"]:
            raise LstmbtError(
                f"the prices of {ticker} differ from those the run started with; resuming would "
                "mix two data sets. Start a new run instead."
            )
    rate = doc.get("cash_rate")
    if rate is not None and cash is not None and rate.get("fingerprint") != cash.fingerprint():
        raise LstmbtError(
            f"the cash rates ({cash.source}) differ from those the run started with "
            f"({rate.get('source')}); resuming would mix two. Start a new run instead."
        )


def versions() -> dict[str, str]:
    """Library versions saved with each run (results depend on them), read from the installed
    distributions' metadata: importing QuantStats just to ask would change matplotlib's state."""
    out = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "torch", "backtrader", "ta", "quantstats", "arch", "yfinance"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # a missing optional package is just not listed
            continue
    return out


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
        return {**row, "ticker": "-", "presets": "-", "walk_forward": False, "note": note}
    cfg = read_config_doc(run_dir)["config"]
    row["ticker"] = ticker_label(cfg.get("ticker"), cfg.get("source", "sample"))
    row["presets"] = "+".join(cfg["presets"])
    labels = [model_label(name) for name in cfg.get("models", ["lstm"])]
    if labels != ["lstm"]:
        row["presets"] += f" × {'+'.join(labels)}"
    row["walk_forward"] = cfg.get("walk_forward", False)
    if status not in ("complete", "unknown"):
        row["note"] = _status_note(run_dir, status)
    if status in ("complete", "unknown") and (run_dir / "metrics.json").is_file():
        m = read_metrics(run_dir)
        row["span"] = f"{m.span.test_start} .. {m.span.test_end}"
        row["bh_sharpe"] = m.value("strategy", m.benchmark, "sharpe")
        sharpes = {n: m.value("strategy", n, "sharpe") for n in m.forecasters}
        best = max(sharpes, key=lambda n: -1e9 if sharpes[n] is None else sharpes[n], default=None)
        row["best"] = best
        row["best_sharpe"] = sharpes[best] if best else None
        row["best_p"] = m.value("strategy_tests", best, "diff_p_value") if best else None
    return row


def _status_note(run_dir: Path, status: str) -> str:
    """What an unfinished run's row says: what happened and how to go on."""
    doc = read_run(run_dir)
    resume = f"lstmbt resume {run_dir}"
    if status == "failed":
        return f"{doc.get('error', 'failed')} ({doc.get('hint', resume)})"
    if status == "stale":
        who = f"pid {doc.get('pid', '?')} on {doc.get('host', '?')}"
        return (
            f"its process ({who}) stopped without a word (killed?); "
            f"{saved_folds(run_dir)} folds saved: {resume}"
        )
    if status == "interrupted":
        return f"{saved_folds(run_dir)} folds saved: {resume}"
    if status == "running":
        return f"in progress (pid {doc.get('pid', '?')} on {doc.get('host', '?')})"
    return status
