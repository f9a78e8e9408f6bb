"""Run configuration and the model presets named after the course's three exercises."""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstmbt.errors import ConfigError, did_you_mean, unknown_choice


@dataclass(frozen=True)
class ModelPreset:
    """A complete model configuration: inputs (features, companions, lookback) and LSTM size."""

    name: str
    description: str
    lookback: int
    features: tuple[str, ...]
    companions: tuple[str, ...] = ()
    companion_features: tuple[str, ...] = ("returns",)
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.0


PRESETS: dict[str, ModelPreset] = {
    "baseline": ModelPreset(
        "baseline",
        "exercise (a): tomorrow's close change from today's close change",
        lookback=1,
        features=("close_change",),
    ),
    "lookback": ModelPreset(
        "lookback",
        "exercise (b): tomorrow's close change from the last n close changes",
        lookback=30,
        features=("close_change",),
    ),
    "multifeature": ModelPreset(
        "multifeature",
        "exercise (c): n steps of TA feature groups plus another stock's returns",
        lookback=30,
        features=("returns", "momentum", "trend", "volatility", "volume"),
        companions=("^IXIC",),
        companion_features=("returns",),
        hidden_size=32,
        num_layers=2,
        dropout=0.1,
    ),
}


SEED_BATCHING = ("auto", "on", "off")


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; saved as config.json next to its results."""

    ticker: str = "^GSPC"
    source: str = "sample"
    start: str | None = None
    end: str | None = None
    presets: tuple[str, ...] = ("baseline",)
    lookback: int | None = None
    features: tuple[str, ...] | None = None
    companions: tuple[str, ...] | None = None
    companion_features: tuple[str, ...] | None = None
    horizon: int = 1
    signal_horizon: str = "1"
    epochs: int = 20
    batch_size: int = 256
    hidden_size: int | None = None
    num_layers: int | None = None
    dropout: float | None = None
    lr: float = 1e-3
    patience: int = 5
    seed: int = 42
    device: str = "auto"
    threshold: float = 0.0
    long_short: bool = False
    commission: float = 0.0005
    slippage: float = 0.0005
    val_frac: float = 0.15
    test_frac: float = 0.15
    out: str = "reports"
    run_id: str | None = None
    cache_dir: str | None = None
    tearsheets: bool = True
    walk_forward: bool = False
    refit_every: int = 252
    window: str = "expanding"
    train_size: int | None = None
    eval_frac: float = 0.5
    seeds: int = 1
    seed_batching: str = "auto"
    jobs: int | None = None
    threads: int | None = None
    bootstrap_reps: int = 1000
    block_size: int = 20

    def validate(self) -> RunConfig:
        """Reject impossible values with a message naming the option and the fix."""
        from features.indicators import GROUPS
        from lstmbt.data import resolve_source
        from models.device import DEVICES

        resolve_source(self.source)
        if not self.presets:
            raise ConfigError("no preset chosen; use --preset baseline (see `lstmbt presets`).")
        for name in self.presets:
            if name not in PRESETS:
                raise unknown_choice("preset", name, PRESETS)
        for group in (*(self.features or ()), *(self.companion_features or ())):
            if group not in GROUPS:
                raise unknown_choice("feature group", group, GROUPS)
        if self.device not in DEVICES:
            raise unknown_choice("device", self.device, DEVICES)
        if self.device == "cuda":  # say so before any data is read, not at the first fit
            from models.device import resolve_device

            try:
                resolve_device("cuda")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if self.signal_horizon not in ("1", "h"):
            raise ConfigError(f"--signal-horizon must be 1 or h, got {self.signal_horizon!r}.")
        positive = {
            "horizon": self.horizon,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "patience": self.patience,
            "lookback": self.lookback or 1,
            "hidden_size": self.hidden_size or 1,
            "num_layers": self.num_layers or 1,
            "refit_every": self.refit_every,
            "seeds": self.seeds,
            "jobs": self.jobs or 1,
            "threads": self.threads or 1,
            "bootstrap_reps": self.bootstrap_reps,
            "block_size": self.block_size,
        }
        for name, value in positive.items():
            if int(value) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}.")
        if self.lookback is not None and self.lookback > 2000:
            raise ConfigError(f"--lookback {self.lookback} is implausibly long; use <= 2000.")
        if not 0 < self.lr < 1:
            raise ConfigError(f"--lr must be in (0, 1), got {self.lr}.")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}.")
        for name in ("commission", "slippage"):
            value = getattr(self, name)
            if not 0 <= value < 0.1:
                raise ConfigError(
                    f"--{name} is a fraction per side (5 bps = 0.0005), got {value}; use [0, 0.1)."
                )
        if self.threshold < 0:
            raise ConfigError(f"--threshold must be >= 0, got {self.threshold}.")
        if not (0 < self.val_frac < 0.5 and 0 < self.test_frac < 0.5):
            raise ConfigError("--val-frac and --test-frac must each be in (0, 0.5).")
        if self.seed_batching not in SEED_BATCHING:
            raise unknown_choice("seed batching", self.seed_batching, SEED_BATCHING)
        if self.window not in ("expanding", "rolling"):
            raise unknown_choice("window", self.window, ("expanding", "rolling"))
        if self.window == "rolling" and not self.train_size:
            raise ConfigError("--window rolling needs --train-size DAYS (e.g. 1260 for 5 years).")
        if not 0.05 <= self.eval_frac <= 0.9:
            raise ConfigError(f"--eval-frac must be in [0.05, 0.9], got {self.eval_frac}.")
        if self.run_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", self.run_id):
            raise ConfigError(f"--run-id {self.run_id!r}: use letters, digits, '.', '_' or '-'.")
        return self

    def model_presets(self) -> list[ModelPreset]:
        """The chosen presets with command-line overrides applied."""
        out = []
        for name in self.presets:
            p = PRESETS[name]
            changes: dict[str, Any] = {}
            if self.lookback is not None:
                changes["lookback"] = self.lookback
            if self.features is not None:
                changes["features"] = tuple(self.features)
            if self.companions is not None:
                changes["companions"] = tuple(self.companions)
            if self.companion_features is not None:
                changes["companion_features"] = tuple(self.companion_features)
            for attr in ("hidden_size", "num_layers", "dropout"):
                if getattr(self, attr) is not None:
                    changes[attr] = getattr(self, attr)
            out.append(dataclasses.replace(p, **changes))
        return out

    def seeds_together(self, preset: ModelPreset, device_type: str) -> bool:
        """Train this preset's seeds packed into one network (models/seeds.py)? `auto` does
        where it was measured faster: on a GPU, and on CPU for one-step, one-layer LSTMs
        (1.2-1.7x); on CPU from a 3-day window on it is slower than one process per seed."""
        if self.seeds < 2 or self.seed_batching == "off":
            return False
        if self.seed_batching == "on":
            return True
        return device_type == "cuda" or (preset.lookback == 1 and preset.num_layers == 1)

    def resources(self, n_tasks: int) -> tuple[int, int]:
        """(processes, torch threads per fit). Threads never depend on --jobs (see folds.fit_one):
        one fit uses every core; many fits use one thread each, spread over all cores."""
        import os

        cores = os.cpu_count() or 1
        threads = self.threads or (cores if n_tasks == 1 else 1)
        jobs = self.jobs or min(cores, n_tasks)
        return max(1, min(jobs, n_tasks)), threads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_TUPLES = {"presets", "features", "companions", "companion_features"}
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(RunConfig)}


def config_from_mapping(values: dict[str, Any]) -> RunConfig:
    """A RunConfig from a dict (config file or CLI); unknown keys are errors, not ignored."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"unknown config key {key!r}.{did_you_mean(name, _FIELDS)}")
        if name in _TUPLES and value is not None:
            value = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
            value = tuple(v.strip() for v in value if str(v).strip())
        clean[name] = value
    for name, value in clean.items():
        _check_type(name, value)
    return RunConfig(**clean).validate()


def _check_type(name: str, value: Any) -> None:
    """Config files are untyped: a string where a number belongs is an error, not a crash later.
    The expected type is the field's annotation (e.g. 'int | None')."""
    if value is None:
        return
    kind = _TYPES[name]
    if kind.startswith("bool"):
        ok = isinstance(value, bool)
    elif kind.startswith("int"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind.startswith("float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind.startswith("tuple"):
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ConfigError(f"config key {name!r} has the wrong type: {value!r}.")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a dict (validated by config_from_mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(path.read_text())
        return tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is malformed: {exc}") from None
