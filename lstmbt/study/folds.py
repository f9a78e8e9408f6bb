"""Training tasks (preset x model x seed x fold): run serially or in a process pool, saved for
resume.

Each task fits one model (an LSTM, GRU, MLP or a user's forecaster) on its fold's training
block (its own scaler inside) and predicts that fold's test block. Where an LSTM's seeds are
trained together (models/seeds.py), the seeds of one preset and fold form one unit of work,
always run whole, so its numbers never depend on what was already saved. A finished task is
written to `folds/<preset>/seed<k>/fold<i>/` (the LSTM; other models under
`folds/<preset>/<model>/seed<k>/fold<i>/`) before it counts as done, so an interrupted study
resumes where it stopped and gives the same numbers: every task is seeded on its own and
depends on nothing else, except that a warm-started fold (--warm-start) starts from the
previous fold's model of the same seed, so it runs only once that one is trained or read back
from its saved files (the weights reload bit for bit). Parallelism then runs across the chains
of folds (presets, models, seeds), longest chain first.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import heapq
import inspect
import io
import multiprocessing as mp
import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lstmbt import _runtime
from lstmbt.errors import LstmbtError
from lstmbt.models import (
    TRAINED,
    Forecaster,
    ModelSpec,
    Split,
    UnsavableState,
    fit_seeds,
    load_forecaster,
    save_forecaster,
)
from lstmbt.models.io import ModelFileError, sync_folder, write_durably
from lstmbt.models.registry import forecaster_class, is_dotted_path
from lstmbt.models.training import warm_budget
from lstmbt.runs import (
    FINGERPRINTS,
    RETRAIN,
    edited_file,
    edited_folds,
    folder_fingerprints,
    refusal,
)

DEFAULT_MODEL = "lstm"  # its folders keep the layout of runs made before --models


@dataclass(frozen=True, order=True)
class Task:
    """One model fit: which preset, which seed, which walk-forward fold, which model (its row
    label: lstm, gru, mlp or a user class's name)."""

    preset: str
    seed: int
    fold: int
    model: str = DEFAULT_MODEL


def model_dir(preset: str, model: str) -> str:
    """A (preset, model)'s folder under a run's folds/ and models/: the preset for the LSTM
    (as before --models existed, so older runs resume), `<preset>/<model>` for the others."""
    return preset if model == DEFAULT_MODEL else f"{preset}/{model}"


class UnusableFold(Exception):
    """A saved fold file that cannot be reused; the message names it and says why."""


class FoldStore:
    """Finished tasks on disk: predictions.npy beside the saved model, written last.

    Every file is written durably (fsynced, renamed into place, folder fsynced; models/io.py), so
    predictions.npy is never on disk before the model it came from, nor before fingerprints.json,
    which holds the fingerprint of every file of the fold. Before a saved task is reused, `load`
    checks its files (a crash, a full disk or a copy can still leave them short) and their
    fingerprints (a file edited after the run saved it is not a forecast of this run's).
    """

    def __init__(self, root: Path, force: bool = False) -> None:
        self.root = Path(root)
        self.force = force  # a fold edited after it was saved is trained again, not refused

    def folder(self, task: Task) -> Path:
        folder = self.root / model_dir(task.preset, task.model)
        return folder / f"seed{task.seed}" / f"fold{task.fold:03d}"

    def load(
        self,
        task: Task,
        shape: tuple[int, ...],
        inputs: tuple[int, int],
        user_classes: Mapping[str, type] | None = None,
    ) -> np.ndarray | None:
        """The saved test-block predictions of a finished task (None when not finished).

        `shape` is the fold's (test days, horizon); `inputs` the (lookback, features) its model
        must read. Raises UnusableFold naming the file when any of its files cannot be reused
        (damaged: trained again), and InputChanged when they are intact but differ from their
        fingerprints (edited: refused; with `force`, UnusableFold).
        """
        folder = self.folder(task)
        path = folder / "predictions.npy"
        if not path.is_file():
            return None
        preds = _read_predictions(path)
        if preds.shape != shape or preds.dtype != np.float64:
            raise UnusableFold(
                f"{str(path)!r} holds {preds.dtype} {preds.shape}, not the fold's float64 {shape}"
            )
        if not np.isfinite(preds).all():
            raise UnusableFold(f"{str(path)!r} holds non-finite forecasts")
        try:
            model = load_forecaster(folder, user_classes=user_classes)[0]
        except ModelFileError as exc:
            raise UnusableFold(f"{str(exc.path)!r} {exc.problem}") from None
        except (KeyError, TypeError, ValueError) as exc:  # model.json lacks or mistypes a field
            why = f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
            raise UnusableFold(f"{str(folder / 'model.json')!r} is incomplete ({why})") from None
        shape = (getattr(model, "lookback_", None), getattr(model, "n_features_", None))
        if None not in shape and shape != inputs:  # a user's model need not say its inputs
            raise UnusableFold(
                f"{str(folder / 'model.json')!r} reads {shape[0]} days x "
                f"{shape[1]} features, not this run's {inputs[0]} x {inputs[1]}"
            )
        edited = edited_file(folder)
        if edited is not None:  # intact, but not what the run saved: refused, or with --force
            problem = f"{str(edited)!r} was changed after the run saved it"
            if self.force:
                raise UnusableFold(f"{problem} (--force)")
            raise refusal(problem, self.root.parent, RETRAIN)
        return preds

    def save(self, task: Task, model: Forecaster, preds: np.ndarray, meta: dict) -> None:
        folder = self.folder(task)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.tmp"):  # left by a writer that was stopped mid-file
            stale.unlink(missing_ok=True)
        (folder / "predictions.npy").unlink(missing_ok=True)  # a fold trained again: not done
        save_forecaster(model, folder, meta)  # durable: fsynced files and folder
        buffer = io.BytesIO()
        np.save(buffer, preds)
        data = buffer.getvalue()
        text = folder_fingerprints(folder, {"predictions.npy": data})
        write_durably(folder / FINGERPRINTS, lambda handle: handle.write(text.encode()))
        write_durably(folder / "predictions.npy", lambda handle: handle.write(data))
        sync_folder(folder)  # the task counts as done only now

    def load_model(self, task: Task, user_classes: Mapping[str, type] | None = None) -> Forecaster:
        return load_forecaster(self.folder(task), user_classes=user_classes)[0]

    def edited(self) -> list[Path]:
        """Of every finished fold, the first file that differs from its fingerprint (edited or
        damaged after the run saved it, or missing); folds saved before fingerprints were kept
        have none to compare."""
        return edited_folds(self.root)


def _read_predictions(path: Path) -> np.ndarray:
    size = path.stat().st_size
    if size == 0:
        raise UnusableFold(f"{str(path)!r} is empty (0 bytes)")
    try:
        return np.load(path, allow_pickle=False)
    except (EOFError, ValueError, OSError) as exc:
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise UnusableFold(
            f"{str(path)!r} is truncated or not a .npy file ({size} bytes: {why})"
        ) from None


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op thread count set for one fit, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_one(
    task: Task,
    X: np.ndarray,
    y: np.ndarray,
    split: Split,
    spec: ModelSpec,
    on_epoch: Callable | None = None,
    threads: int = 1,
    init_from: Forecaster | None = None,
) -> tuple[Forecaster, np.ndarray]:
    """Fit on the fold's train block (early stopping on its validation block), predict its test.

    `threads` is the torch thread count of this fit: float reductions depend on it, so it is fixed
    per task (never derived from --jobs) to keep results identical in serial and parallel runs.
    `init_from`: a warm start, the previous fold's fitted model of this seed (built-in networks
    only; the plan gives it only to them).
    """
    with _torch_threads(threads):
        model = spec.make(task.seed, threads)
        extra = {}  # epoch progress, for the models whose fit reports it; a warm start
        if on_epoch is not None and "on_epoch" in inspect.signature(model.fit).parameters:
            extra["on_epoch"] = on_epoch
        if init_from is not None:
            extra["init_from"] = init_from
        if spec.name in TRAINED:
            model.fit(X[split.train], y[split.train], X[split.val], y[split.val], **extra)
            return model, model.predict(X[split.test])
        return model, _user_fit_predict(model, task, spec, X, y, split, extra)


def training_predictions(plan: TrainingPlan, task: Task, model: Forecaster) -> np.ndarray:
    """A fitted model's forecasts of its own fold's training block (in-sample; what a sized
    rule's scale is fit on, never the test block). Same torch threads as the fit."""
    split = plan.split(task)
    expected = (len(split.train), plan.y.shape[1])
    where = f"model {task.model!r} on preset {task.preset!r}, seed {task.seed}, fold {task.fold}"
    try:
        with _torch_threads(plan.threads):
            preds = np.asarray(model.predict(plan.X[task.preset][split.train]), dtype=np.float64)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - a user's predict, reported as theirs
        raise LstmbtError(
            f"{where} failed to forecast its training block (for --sizing vol-target): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if preds.shape != expected or not np.isfinite(preds).all():
        raise LstmbtError(
            f"{where}: its forecasts of the training block are {preds.shape}"
            f"{'' if np.isfinite(preds).all() else ' with non-finite values'}, expected "
            f"finite {expected} (for --sizing vol-target)."
        )
    return preds


def _where(task: Task, spec: ModelSpec) -> str:
    return f"model {spec.name!r} on preset {task.preset!r}, seed {task.seed}, fold {task.fold}"


def _what(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _user_fit_predict(
    model, task: Task, spec: ModelSpec, X, y, split: Split, progress
) -> np.ndarray:
    """A user's model fit and asked for the test block: its failures, wrong shapes and
    non-finite forecasts are the user's to fix (one line; --debug shows the traceback), not a
    bug of lstmbt. SystemExit and other BaseExceptions raised by the model are failures too
    (they would end the run silently); Ctrl-C and SIGTERM still stop it."""
    where = _where(task, spec)
    try:
        model.fit(X[split.train], y[split.train], X[split.val], y[split.val], **progress)
        preds = np.asarray(model.predict(X[split.test]), dtype=np.float64)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's code, reported as theirs
        raise LstmbtError(f"{where} failed: {_what(exc)}") from exc
    expected = (len(split.test), y.shape[1])
    if preds.shape != expected:
        raise LstmbtError(
            f"{where}: predict returned shape {preds.shape}, expected {expected} "
            "(samples, horizon)."
        )
    bad = ~np.isfinite(preds)
    if bad.any():
        kinds = " and ".join(
            k for k, b in (("NaN", np.isnan(preds).any()), ("inf", np.isinf(preds).any())) if b
        )
        raise LstmbtError(
            f"{where}: predict returned {int(bad.sum())} non-finite forecast(s) ({kinds}) of "
            f"{preds.size}; a forecast must be a finite return."
        )
    return preds


def _save_task(
    store: FoldStore, task: Task, model: Forecaster, preds: np.ndarray, meta: dict, spec
) -> None:
    """Save a finished task; a user's model whose state cannot be saved (lstmbt stores JSON
    and .npz only) is one line naming it, the preset, seed and fold."""
    if spec is None or spec.name in TRAINED:
        store.save(task, model, preds, meta)
        return
    try:
        store.save(task, model, preds, meta)
    except KeyboardInterrupt:
        raise
    except OSError:
        raise  # the machine's answer (disk full, permission): reported as such
    except BaseException as exc:  # noqa: BLE001 - the user's save, reported as theirs
        what = str(exc) if isinstance(exc, UnsavableState) else _what(exc)
        raise LstmbtError(f"{_where(task, spec)} could not be saved: {what}") from exc


def _model_bytes(task: Task, spec: ModelSpec, model: Forecaster, how: str) -> bytes:
    """A fitted model as pickle bytes, to pass it back from a worker process (never written to
    disk); a model that cannot be pickled is one line naming it and what to do."""
    try:
        return pickle.dumps(model)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - the user's object, reported as theirs
        raise LstmbtError(
            f"{_where(task, spec)} cannot be sent back from a {how} process: {_what(exc)}; keep "
            "only picklable objects (numbers, arrays, plain classes) in its attributes, or run "
            "with --jobs 1."
        ) from None


def fit_group(
    tasks: list[Task],
    X: np.ndarray,
    y: np.ndarray,
    split: Split,
    spec: ModelSpec,
    threads: int = 1,
    init_from: list[Forecaster] | None = None,
) -> list[tuple[Forecaster, np.ndarray]]:
    """The seeds of one preset and fold trained together (LSTM only); per task, its model and
    predictions. `init_from`: a warm start, the previous fold's model of each seed."""
    with _torch_threads(threads):
        models = fit_seeds(
            spec.make(tasks[0].seed),
            [t.seed for t in tasks],
            X[split.train],
            y[split.train],
            X[split.val],
            y[split.val],
            init_from=init_from,
        )
        return [(m, m.predict(X[split.test])) for m in models]


def work_units(tasks: list[Task], together: set[str]) -> list[list[Task]]:
    """Tasks grouped into units of work: all seeds of a (preset, model, fold) for the
    (preset, model) pairs in `together`, else one task each. Order follows `tasks`."""
    units: dict[tuple, list[Task]] = {}
    for task in tasks:
        packed = (task.preset, task.model) in together
        key = (task.preset, task.model, task.fold) if packed else task
        units.setdefault(key, []).append(task)
    return list(units.values())


def can_start_warm(name: str) -> bool:
    """Whether a model can start a fold from the previous fold's model: the built-in networks
    (their `fit` takes `init_from`), not LightGBM, the baselines or a user's class."""
    if name not in TRAINED:
        return False
    return "init_from" in inspect.signature(forecaster_class(name).fit).parameters


def chains(units: list[list[Task]], warm: set[tuple[str, str]]) -> int:
    """How many units can train at once at most: every unit, or with warm-started folds (the
    (preset, model)s in `warm`), one per chain of folds (fold k waits for fold k-1)."""
    return sum(1 for u in units if u[0].fold == 0 or (u[0].preset, u[0].model) not in warm)


def _fit_unit(
    unit: list[Task],
    X,
    y,
    split: Split,
    spec: ModelSpec,
    threads: int,
    on_epoch=None,
    init_from: list[Forecaster] | None = None,
) -> list[tuple[Forecaster, np.ndarray]]:
    if len(unit) == 1:
        start = None if init_from is None else init_from[0]
        return [fit_one(unit[0], X, y, split, spec, on_epoch, threads=threads, init_from=start)]
    return fit_group(unit, X, y, split, spec, threads=threads, init_from=init_from)


# --- process pool: arrays are shared through .npy files memory-mapped by each worker ---------
_WORKER: dict = {}


def _init_worker(array_dir: str, parent: int) -> None:
    _follow_the_parent(parent)
    _runtime.tune_malloc()
    _WORKER["dir"] = Path(array_dir)
    _WORKER["arrays"] = {}


def _follow_the_parent(parent: int) -> None:
    """A worker stops when the study does, never on its own: Ctrl-C reaches the study's process,
    which ends its workers (_stop_workers), and on Linux a worker is killed when that process dies,
    even by SIGKILL, so no orphan keeps writing fold files into a run folder."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux only)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def _worker_array(name: str) -> np.ndarray:
    """An array of the study being trained, memory-mapped once; a universe's worker moves from
    ticker to ticker (`<ticker>/<name>`) and keeps only the current ticker's arrays open."""
    arrays = _WORKER["arrays"]
    if name not in arrays:
        folder = name.rpartition("/")[0]
        for other in [k for k in arrays if k.rpartition("/")[0] != folder]:
            del arrays[other]
        arrays[name] = np.load(_WORKER["dir"] / f"{name}.npy", mmap_mode="r")
    return arrays[name]


def _run_in_worker(
    unit: list[Task],
    split: Split,
    spec: ModelSpec,
    store_root: str | None,
    meta: dict,
    threads: int,
    missing: list[Task],
    keep: frozenset[Task] = frozenset(),
    init_blobs: list[bytes] | None = None,
) -> list[tuple[Task, np.ndarray, bytes | None]]:
    """Fit one unit in a worker (from the pickled models `init_blobs` when it starts warm);
    save its unsaved tasks; return each task's predictions and, for the tasks in `keep`, the
    fitted model as plain pickle bytes (the pool's own pickler would pass torch tensors as
    shared-memory handles over a socket)."""
    X = np.asarray(_worker_array(f"X_{unit[0].preset}"))
    y = np.asarray(_worker_array("y"))
    init = None if init_blobs is None else [pickle.loads(b) for b in init_blobs]
    fitted = _fit_unit(unit, X, y, split, spec, threads, init_from=init)
    if store_root is not None:
        for task, (model, preds) in zip(unit, fitted, strict=True):
            if task in missing:
                _save_task(FoldStore(Path(store_root)), task, model, preds, meta, spec)
    return [
        (task, preds, _model_bytes(task, spec, model, "worker") if task in keep else None)
        for task, (model, preds) in zip(unit, fitted, strict=True)
    ]


@dataclass(frozen=True)
class TrainingPlan:
    """Everything the fits need: the tasks, each preset's windows, the targets, the folds, how
    to make each (preset, model)'s forecaster, each preset's saved-model metadata, and how to
    spread the work. The (preset, model)s in `warm` start each fold after the first from the
    previous fold's model of the same seed, with fewer epochs and less patience
    (models.training.warm_budget)."""

    tasks: tuple[Task, ...]
    X: Mapping[str, np.ndarray]  # preset -> (dates, lookback, features)
    y: np.ndarray  # (dates, horizon)
    folds: Mapping[str, list[Split]]
    specs: Mapping[tuple[str, str], ModelSpec]  # (preset, model) -> what to make
    meta: Mapping[str, dict]
    together: frozenset[tuple[str, str]] = frozenset()  # (preset, model)s whose seeds pack
    jobs: int = 1
    threads: int = 1
    backend: str = "pool"  # pool | ray
    ray_address: str | None = None
    warm: frozenset[tuple[str, str]] = frozenset()  # (preset, model)s with warm-started folds

    def units(self) -> list[list[Task]]:
        return work_units(list(self.tasks), set(self.together))

    def split(self, task: Task) -> Split:
        return self.folds[task.preset][task.fold]

    def starts_warm(self, task: Task) -> bool:
        return task.fold > 0 and (task.preset, task.model) in self.warm

    def spec(self, task: Task) -> ModelSpec:
        spec = self.specs[(task.preset, task.model)]
        if not self.starts_warm(task):
            return spec
        own = spec.make(task.seed).get_params()  # its epochs and patience, given or default
        return ModelSpec(spec.name, {**spec.params, **warm_budget(own["epochs"], own["patience"])})

    def predecessor(self, unit: list[Task]) -> list[Task] | None:
        """The unit a warm-started unit starts from (the same seeds' previous fold)."""
        if not self.starts_warm(unit[0]):
            return None
        return [dataclasses.replace(t, fold=t.fold - 1) for t in unit]

    def cost(self, unit: list[Task]) -> float:
        """A rough size of a unit's training (to start the longest work first): rows x
        window x the LSTM's multiply-adds per step x seeds x epochs at most."""
        params = self.spec(unit[0]).params
        X = self.X[unit[0].preset]
        hidden = params.get("hidden_size", 32)
        per_step = (X.shape[2] + hidden) * hidden * params.get("num_layers", 1)
        rows = len(self.split(unit[0]).train)
        return float(rows * X.shape[1] * per_step * len(unit) * params.get("epochs", 1))

    def user_classes(self) -> dict[str, type]:
        """The user's classes this run names (path -> class): the only ones a saved fold's
        model.json may be loaded as."""
        return {
            s.name: forecaster_class(s.name) for s in self.specs.values() if is_dotted_path(s.name)
        }


@dataclass
class TaskResults:
    """Each task's test-block predictions, and the models of the `keep` tasks trained here."""

    predictions: dict[Task, np.ndarray]
    models: dict[Task, Forecaster]


OnDone = Callable[[Task, bool], None]


Note = Callable[[str], None]


def run_tasks(
    plan: TrainingPlan,
    *,
    store: FoldStore | None = None,
    on_done: OnDone | None = None,
    on_epoch_for: Callable[[Task], Callable | None] | None = None,
    keep: frozenset[Task] = frozenset(),
    note: Note | None = None,
    trainer: TrainerSlot | None = None,
) -> TaskResults:
    """Predictions of every task; finished ones are read from `store`, the rest trained.

    Every saved task is checked before any training starts; one whose files cannot be reused
    is trained again, with a `note` naming the file. With plan.jobs > 1 the units run in a
    process pool (or on Ray). Results do not depend on `jobs` nor on the order units run in: a
    unit's numbers depend only on its data, fold, seeds, `threads` and, when it starts warm,
    its predecessor's models, which it waits for (saved earlier: read back from `store`).
    With `trainer` (a universe's shared workers), the units come from there, most of them
    queued before this study started.
    """
    done = on_done or (lambda task, from_disk: None)
    note = note or (lambda text: None)
    results = TaskResults({}, {})
    todo = _reuse_saved(plan, store, results, done, note)
    if not todo:
        return results
    if trainer is not None:
        missing = {tuple(unit): m for unit, m in todo}
        for key, fitted in trainer.collect(plan, todo, store):
            for task, preds, model in fitted:
                if task in missing[key]:
                    meta = plan.meta[task.preset]
                    _record(task, preds, model, results, done, keep, store, meta, plan.spec(task))
        return results
    if plan.backend == "ray":
        runner: _Runner = _RayRunner(plan, note)
    elif plan.jobs <= 1 or len(todo) <= 1:
        runner = _SerialRunner(plan, on_epoch_for)
    else:
        runner = _PoolRunner(plan, store)
    with runner:
        _schedule(plan, todo, store, results, done, keep, runner)
    return results


def _reuse_saved(
    plan: TrainingPlan, store: FoldStore | None, results: TaskResults, done: OnDone, note: Note
) -> list[tuple[list[Task], list[Task]]]:
    """Take the saved predictions; return the units still to run with their unsaved tasks."""
    todo = []
    for unit in plan.units():
        saved = {t: _load_saved(plan, store, t, note) for t in unit} if store is not None else {}
        missing = [t for t in unit if saved.get(t) is None]
        for task in unit:
            if task not in missing:
                results.predictions[task] = saved[task]
                done(task, True)
        if missing:
            todo.append((unit, missing))
    return todo


def _load_saved(plan: TrainingPlan, store: FoldStore, task: Task, note: Note) -> np.ndarray | None:
    shape = (len(plan.split(task).test), plan.y.shape[1])
    try:
        return store.load(task, shape, plan.X[task.preset].shape[1:], plan.user_classes())
    except UnusableFold as exc:
        note(f"{exc}; that fold is trained again.")
        return None


Fitted = list[tuple[Task, np.ndarray, Forecaster | None]]


def _schedule(plan, todo, store, results: TaskResults, done: OnDone, keep, runner) -> None:
    """Run every unit of `todo`, a warm-started one only once its predecessor is done (trained
    here, or saved earlier and read back), at most `runner.slots` at a time, the units heading
    the most remaining work first (a chain of warm folds counts whole), so no core waits at
    the end for one long chain."""
    units = {tuple(unit): (unit, missing) for unit, missing in todo}
    after: dict[tuple, tuple] = {}  # a unit -> the unit in todo that starts from its models
    for key, (unit, _) in units.items():
        before = plan.predecessor(unit)
        if before is not None and tuple(before) in units:
            after[tuple(before)] = key
    waiting = set(after.values())
    rank: dict[tuple, float] = {}
    for key in reversed(list(units)):  # a chain's later folds come later in `todo`
        rank[key] = plan.cost(units[key][0]) + rank.get(after.get(key), 0.0)
    need = frozenset(keep) | {t for key in after for t in key}  # models the driver must see
    order = {key: i for i, key in enumerate(units)}
    ready = [(-rank[key], order[key], key) for key in units if key not in waiting]
    heapq.heapify(ready)
    starts: dict[tuple, list[Forecaster]] = {}  # a ready warm unit's models to start from
    running = 0
    while ready or running:
        while ready and running < runner.slots:
            key = heapq.heappop(ready)[2]
            unit, missing = units[key]
            init = starts.pop(key, None)
            before = plan.predecessor(unit)
            if init is None and before is not None:  # saved by an earlier run: read back
                init = [store.load_model(task, plan.user_classes()) for task in before]
            runner.submit(unit, missing, init, need.intersection(unit))
            running += 1
        key, fitted = runner.next()
        running -= 1
        unit, missing = units[key]
        saver = store if runner.driver_saves else None
        for task, preds, model in fitted:
            if task in missing:
                meta = plan.meta[task.preset]
                _record(task, preds, model, results, done, keep, saver, meta, plan.spec(task))
        if key in after:
            starts[after[key]] = [model for _, _, model in fitted]
            heapq.heappush(ready, (-rank[after[key]], order[after[key]], after[key]))


def _record(
    task: Task,
    preds: np.ndarray,
    model: Forecaster | None,
    results: TaskResults,
    done: OnDone,
    keep: frozenset[Task],
    store: FoldStore | None = None,
    meta: dict | None = None,
    spec: ModelSpec | None = None,
) -> None:
    """A finished task, whichever way it ran: saved (when `store`; a pool worker saves its
    own), its model kept when asked for, then counted as done."""
    if store is not None:
        _save_task(store, task, model, preds, meta, spec)
    if task in keep and model is not None:
        results.models[task] = model
    results.predictions[task] = preds
    done(task, False)


class _Runner:
    """Where units run: `submit` one (with its warm start's models, and the tasks whose fitted
    models must come back), `next` waits for one to finish: (its key, per task (task,
    predictions, model or None)). `driver_saves`: the fold files are written here (else by
    the workers)."""

    slots: int = 1
    driver_saves: bool = True

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, unit, missing, init, need) -> None:
        raise NotImplementedError

    def next(self) -> tuple[tuple, Fitted]:
        raise NotImplementedError


class _SerialRunner(_Runner):
    """In this process, one unit at a time (epoch progress for a unit of one fit)."""

    def __init__(self, plan: TrainingPlan, on_epoch_for) -> None:
        self.plan, self.on_epoch_for, self.queue = plan, on_epoch_for, []

    def submit(self, unit, missing, init, need) -> None:
        self.queue.append((unit, init))

    def next(self) -> tuple[tuple, Fitted]:
        unit, init = self.queue.pop(0)
        plan, first = self.plan, unit[0]
        on_epoch = self.on_epoch_for(first) if self.on_epoch_for and len(unit) == 1 else None
        fitted = _fit_unit(
            unit,
            plan.X[first.preset],
            plan.y,
            plan.split(first),
            plan.spec(first),
            plan.threads,
            on_epoch,
            init_from=init,
        )
        return tuple(unit), [(t, p, m) for t, (m, p) in zip(unit, fitted, strict=True)]


class _PoolRunner(_Runner):
    """`plan.jobs` spawned processes; arrays reach them as memory-mapped files, models (warm
    starts, kept ones) as plain pickle bytes; each worker saves its own fold files."""

    driver_saves = False

    def __init__(self, plan: TrainingPlan, store: FoldStore | None) -> None:
        self.plan, self.store, self.slots = plan, store, plan.jobs
        self.futures: dict = {}

    def __enter__(self) -> _PoolRunner:
        self.tmp = tempfile.TemporaryDirectory(prefix="lstmbt-arrays-")
        for name, arr in self.plan.X.items():
            np.save(Path(self.tmp.name) / f"X_{name}.npy", arr)
        np.save(Path(self.tmp.name) / "y.npy", self.plan.y)
        ctx = mp.get_context("spawn")  # fork after torch's OpenMP start-up can hang
        self.pool = ProcessPoolExecutor(
            self.plan.jobs,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.tmp.name, os.getpid()),
        )
        return self

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is not None:
                _stop_workers(self.pool)
            self.pool.shutdown(wait=True)
        finally:
            self.tmp.cleanup()

    def submit(self, unit, missing, init, need) -> None:
        plan, first = self.plan, unit[0]
        fut = self.pool.submit(
            _run_in_worker,
            unit,
            plan.split(first),
            plan.spec(first),
            str(self.store.root) if self.store else None,
            plan.meta[first.preset],
            plan.threads,
            missing,
            frozenset(need),
            None if init is None else [pickle.dumps(m) for m in init],
        )
        self.futures[fut] = tuple(unit)

    def next(self) -> tuple[tuple, Fitted]:
        finished, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        fut = next(f for f in self.futures if f in finished)  # the earliest submitted
        key = self.futures.pop(fut)
        return key, [
            (task, preds, None if blob is None else pickle.loads(blob))
            for task, preds, blob in fut.result()
        ]


# --- Ray: arrays reach the workers through the object store; only the driver writes files ----
def _fit_remote(
    unit: list[Task],
    X: np.ndarray,
    y: np.ndarray,
    split: Split,
    spec: ModelSpec,
    threads: int,
    init_blobs: list[bytes] | None = None,
) -> tuple[str, list[tuple[Task, np.ndarray, bytes]]]:
    """One unit on a Ray worker: the node it ran on, and the predictions and fitted models
    (plain pickle bytes)."""
    import ray

    _runtime.tune_malloc()
    init = None if init_blobs is None else [pickle.loads(b) for b in init_blobs]
    fitted = _fit_unit(unit, X, y, split, spec, threads, init_from=init)
    return ray.get_runtime_context().get_node_id(), [
        (task, preds, _model_bytes(task, spec, model, "Ray worker"))
        for task, (model, preds) in zip(unit, fitted, strict=True)
    ]


def start_ray(address: str | None, cpus: int) -> bool:
    """Connect to `address` (or to $RAY_ADDRESS when it is set), else start a private local Ray
    instance with `cpus` CPUs; True if this call started or joined one.

    Without an address, Ray's own default joins whatever cluster `ray start` last left on this
    machine (another user's, another job's) and then refuses `num_cpus`; "local" never does."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    kwargs = {"address": address} if address else {"address": "local", "num_cpus": cpus}
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False, **kwargs)
    return True


class _RayRunner(_Runner):
    """Units as Ray tasks of one CPU each, as many in flight as the cluster has CPUs; the
    driver writes every file. At the end, a note says on how many nodes the units ran."""

    def __init__(self, plan: TrainingPlan, note: Note) -> None:
        self.plan, self.note, self.pending = plan, note, {}
        self.nodes: list[str] = []

    def __enter__(self) -> _RayRunner:
        import ray

        start_ray(self.plan.ray_address, self.plan.jobs)
        self.fit = ray.remote(num_cpus=1)(_fit_remote)
        self.arrays = {n: ray.put(np.ascontiguousarray(a)) for n, a in self.plan.X.items()}
        self.y = ray.put(self.plan.y)
        self.slots = max(1, int(ray.cluster_resources().get("CPU", self.plan.jobs)))
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None:
            import ray

            for ref in self.pending:
                ray.cancel(ref, force=True)
            return
        nodes = len(set(self.nodes))
        self.note(f"ray: {len(self.nodes)} units on {nodes} node{'s' * (nodes != 1)}")

    def submit(self, unit, missing, init, need) -> None:
        plan, first = self.plan, unit[0]
        ref = self.fit.remote(
            unit,
            self.arrays[first.preset],
            self.y,
            plan.split(first),
            plan.spec(first),
            plan.threads,
            None if init is None else [pickle.dumps(m) for m in init],
        )
        self.pending[ref] = tuple(unit)

    def next(self) -> tuple[tuple, Fitted]:
        import ray

        [ref], _ = ray.wait(list(self.pending), num_returns=1)
        key = self.pending.pop(ref)
        node, fitted = ray.get(ref)
        self.nodes.append(node)
        return key, [(t, p, pickle.loads(b)) for t, p, b in fitted]


# --- one set of workers for a universe: chains of units queued ahead, collected in turn --------
def _chains_of(plan: TrainingPlan, todo: list[tuple[list[Task], list[Task]]]) -> list[list]:
    """The units of `todo` as chains (a warm unit follows its predecessor in the same chain;
    every other unit is a chain of its own), the ones with the most work first."""
    units = {tuple(unit): unit for unit, _ in todo}
    heads, after = [], {}
    for key, unit in units.items():
        before = plan.predecessor(unit)
        if before is not None and tuple(before) in units:
            after[tuple(before)] = key
        else:
            heads.append(key)
    chains = []
    for head in heads:
        chain, key = [], head
        while key is not None:
            chain.append(units[key])
            key = after.get(key)
        chains.append(chain)
    order = {key: i for i, key in enumerate(units)}
    chains.sort(key=lambda c: (-sum(plan.cost(u) for u in c), order[tuple(c[0])]))
    return chains


def _run_chain(
    folder: str,
    chain: list[list[Task]],
    splits: list[Split],
    specs: list[ModelSpec],
    threads: int,
    init_blobs: list[bytes] | None,
) -> list[tuple[Task, np.ndarray, bytes]]:
    """A chain of units in a universe's worker, each warm unit from the one before it: every
    task's predictions and fitted model (pickle bytes; the driver saves the files)."""
    y = np.asarray(_worker_array(f"{folder}/y"))
    X = np.asarray(_worker_array(f"{folder}/X_{chain[0][0].preset}"))
    return _fit_chain(chain, X, y, splits, specs, threads, init_blobs, "worker")


def _fit_chain(chain, X, y, splits, specs, threads, init_blobs, how: str):
    init = None if init_blobs is None else [pickle.loads(b) for b in init_blobs]
    out = []
    for unit, split, spec in zip(chain, splits, specs, strict=True):
        fitted = _fit_unit(unit, X, y, split, spec, threads, init_from=init)
        out += [
            (task, preds, _model_bytes(task, spec, model, how))
            for task, (model, preds) in zip(unit, fitted, strict=True)
        ]
        init = [model for model, _ in fitted]
    return out


def _fit_chain_remote(chain, X, y, splits, specs, threads, init_blobs):
    """A chain of units on a Ray worker: the node it ran on, and `_fit_chain`'s results."""
    import ray

    _runtime.tune_malloc()
    node = ray.get_runtime_context().get_node_id()
    return node, _fit_chain(chain, X, y, splits, specs, threads, init_blobs, "Ray worker")


class Trainer:
    """One set of training workers for many studies (a universe's tickers), kept from the first
    ticker to the last: `queue` a study's units ahead of time (as chains, a warm fold after its
    predecessor in the same job, so the workers never wait for this process), `slot` hands a
    study the units queued for it (and queues what it needs beyond them). While this process
    evaluates one ticker and draws its report, the workers train the next ones.

    Only this process writes files: a unit's fold files are saved when the study collects it.
    Results equal a study trained alone: each unit's numbers depend only on its data, fold,
    seeds, threads and predecessor."""

    def __init__(self, jobs: int, backend: str = "pool", ray_address: str | None = None) -> None:
        self.jobs, self.backend, self.ray_address = jobs, backend, ray_address
        self.queued: dict[str, list[tuple[list[list[Task]], Any]]] = {}
        self.nodes: list[str] = []
        self._n = 0

    def __enter__(self) -> Trainer:
        if self.backend == "ray":
            import ray

            start_ray(self.ray_address, self.jobs)
            self._remote = ray.remote(num_cpus=1)(_fit_chain_remote)
            return self
        self.tmp = tempfile.TemporaryDirectory(prefix="lstmbt-arrays-")
        self.pool = ProcessPoolExecutor(
            self.jobs,
            mp_context=mp.get_context("spawn"),  # fork after torch's OpenMP start-up can hang
            initializer=_init_worker,
            initargs=(self.tmp.name, os.getpid()),
        )
        return self

    def __exit__(self, kind, value, tb) -> None:
        if self.backend == "ray":
            if kind is not None:
                import ray

                for _, refs in self.queued.items():
                    for _, ref in refs:
                        ray.cancel(ref, force=True)
            return
        try:
            if kind is not None:
                _stop_workers(self.pool)
            self.pool.shutdown(wait=True, cancel_futures=kind is not None)
        finally:
            self.tmp.cleanup()

    def queue(
        self,
        key: str,
        plan: TrainingPlan,
        todo: list[tuple[list[Task], list[Task]]] | None = None,
        store: FoldStore | None = None,
    ) -> None:
        """Queue the units of `todo` (default: all of the plan's) for the study `key`, its
        longest chains first, after everything queued before; a chain whose first unit starts
        warm from a saved fold gets that fold's models from `store`."""
        todo = [(u, u) for u in plan.units()] if todo is None else todo
        if not todo:
            return
        arrays = self._arrays(plan)
        for chain in _chains_of(plan, todo):
            before = plan.predecessor(chain[0])
            init = None
            if before is not None:  # saved by an earlier run: read back here
                models = [store.load_model(t, plan.user_classes()) for t in before]
                init = [pickle.dumps(m) for m in models]
            splits = [plan.split(u[0]) for u in chain]
            specs = [plan.spec(u[0]) for u in chain]
            if self.backend == "ray":
                X, y = arrays[chain[0][0].preset], arrays["y"]
                job = self._remote.remote(chain, X, y, splits, specs, plan.threads, init)
            else:
                job = self.pool.submit(_run_chain, arrays, chain, splits, specs, plan.threads, init)
            self.queued.setdefault(key, []).append((chain, job))

    def _arrays(self, plan: TrainingPlan):
        """The plan's arrays where the workers read them: a folder of .npy files (the pool;
        its name is what `queue` passes) or object-store references (Ray)."""
        if self.backend == "ray":
            import ray

            refs = {p: ray.put(np.ascontiguousarray(a)) for p, a in plan.X.items()}
            return {**refs, "y": ray.put(plan.y)}
        self._n += 1
        folder = Path(self.tmp.name) / f"s{self._n}"
        folder.mkdir()
        for name, arr in plan.X.items():
            np.save(folder / f"X_{name}.npy", arr)
        np.save(folder / "y.npy", plan.y)
        return folder.name

    def collect(self, key: str, plan: TrainingPlan, todo, store: FoldStore | None):
        """Each unit of `todo` with its fitted tasks, (unit key, [(task, predictions,
        model)]): from the chains queued for `key`, after queuing those not queued yet."""
        wanted = {tuple(unit) for unit, _ in todo}
        queued = {tuple(u) for chain, _ in self.queued.get(key, []) for u in chain}
        self.queue(key, plan, [(u, m) for u, m in todo if tuple(u) not in queued], store)
        for chain, job in self.queued.pop(key, []):
            if self.backend == "ray":
                import ray

                node, fitted = ray.get(job)
                self.nodes.append(node)
            else:
                fitted = job.result()
            by_task = {task: (preds, blob) for task, preds, blob in fitted}
            for unit in chain:
                if tuple(unit) in wanted:
                    yield (
                        tuple(unit),
                        [(t, by_task[t][0], pickle.loads(by_task[t][1])) for t in unit],
                    )

    def drop(self, key: str) -> None:
        """Forget what is still queued for `key` (a study that stopped on bad input): what
        has not started is not run."""
        for _, job in self.queued.pop(key, []):
            if self.backend != "ray":
                job.cancel()

    def slot(self, key: str) -> TrainerSlot:
        return TrainerSlot(self, key)

    def summary(self) -> str | None:
        """On Ray, on how many nodes the chains ran (None for the pool)."""
        if self.backend != "ray":
            return None
        nodes = len(set(self.nodes))
        return f"ray: {len(self.nodes)} chains of units on {nodes} node{'s' * (nodes != 1)}"


@dataclass(frozen=True)
class TrainerSlot:
    """One study's place in a shared `Trainer` (what `run_tasks` collects from)."""

    trainer: Trainer
    key: str

    def collect(self, plan: TrainingPlan, todo, store: FoldStore | None):
        return self.trainer.collect(self.key, plan, todo, store)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool's workers now (Ctrl-C, SIGTERM, an error): a stopped study leaves no process
    behind that still writes fold files. The pool then fails the units not run (their futures
    are not cancelled first: Python 3.11's pool raises on a cancelled future when it breaks). A
    fold a worker was writing stays unfinished (predictions.npy is written last) and is trained
    again on resume."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    workers = list((getattr(pool, "_processes", None) or {}).values())  # CPython 3.11-3.13
    for proc in workers:
        proc.terminate()
    for proc in workers:
        proc.join(10)
        if proc.is_alive():  # SIGTERM ignored: SIGKILL
            proc.kill()
            proc.join()
