"""Run configuration and the model presets named after the course's three exercises.

Every option is documented once, in its field's metadata (`help`, and the command-line flag
where it differs from the field name): the CLI's help and the API docs are generated from it.
Values are normalised and type-checked the same way whether they come from Python, the CLI or
a TOML/JSON config file.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lstmbt.data import csv_label, is_csv_path, resolve_source
from lstmbt.data.rates import check_rate_unit, parse_cash_rate
from lstmbt.errors import ConfigError, did_you_mean, unknown_choice
from lstmbt.features.indicators import GROUPS
from lstmbt.models.device import DEVICES, resolve_device
from lstmbt.models.registry import (
    STUDY_OWNED,
    TRAINED,
    check_dotted_path,
    check_forecaster_class,
    default_params,
    forecaster_class,
    is_dotted_path,
    model_label,
    model_type,
)


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
_PRESET_ALIASES = {
    "layers": "num_layers",
    "with": "companions",
    "with_features": "companion_features",
}
WINDOWS = ("expanding", "rolling")
BACKENDS = ("pool", "ray")
PORTFOLIOS = ("long", "long-short")
SIZINGS = ("sign", "vol-target")
DEFAULT_TICKER = "^GSPC"
# the options a preset can be given on its own ([presets.NAME] in a config file, --set NAME.KEY=V)
PRESET_KEYS = (
    "lookback",
    "features",
    "companions",
    "companion_features",
    "hidden_size",
    "num_layers",
    "dropout",
)
# settings a run's predictions.csv brings along from its config.json when `judge` reads it (the
# rest are the caller's)
FROM_RUN = (
    "ticker",
    "source",
    "start",
    "end",
    "threshold",
    "long_short",
    "commission",
    "slippage",
    "half_spread",
    "min_fee",
    "capital",
    "borrow_fee",
    "cash_rate",
    "cash_rate_unit",
)


def option(
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    group: str = "run",
    default_text: str | None = None,
) -> Any:
    """A RunConfig field carrying its one description (and CLI flag where it is not the name;
    `default_text` says what a None default means)."""
    meta = {"help": help, "flag": flag, "group": group, "default_text": default_text}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on; saved as config.json next to its results.

    Every field is an option of `lstmbt run` (see `lstmbt run --help` or the docs' option
    table); the field's metadata holds its description. Strings are accepted where a tuple is
    expected (`presets="baseline,lookback"`).
    """

    ticker: str | None = option(
        None,
        "Ticker to trade, e.g. ^GSPC, ^IXIC, AAPL; with a CSV source, the name it is reported by.",
        group="data",
        default_text=f"{DEFAULT_TICKER}; a CSV source: its file name",
    )
    source: str = option("sample", "Price source: sample | yahoo | auto | PATH.csv.", group="data")
    date_format: str | None = option(
        None,
        "strftime format of CSV date columns, e.g. %d/%m/%Y; needed only when dd/mm and mm/dd "
        "cannot be told apart.",
        group="data",
    )
    start: str | None = option(None, "First date, YYYY-MM-DD.", group="data")
    end: str | None = option(None, "Last date, YYYY-MM-DD.", group="data")
    presets: tuple[str, ...] = option(
        ("baseline",),
        "Model presets, comma-separated: baseline | lookback | multifeature.",
        flag="preset",
        group="model",
    )
    models: tuple[str, ...] = option(
        ("lstm",),
        "Forecasters, comma-separated, each trained on every preset: "
        + " | ".join(TRAINED)
        + " | package.module:Class (your own class; see the README). Rows are <preset>:<model>. "
        "Each has its own settings (--set MODEL.KEY=VALUE); in Python also forecaster "
        "instances, e.g. LightGBMForecaster(num_leaves=63).",
        group="model",
    )
    preset_options: dict[str, dict[str, Any]] = option(
        {},
        "Per-preset settings, PRESET.KEY=VALUE (repeatable), e.g. lookback.lookback=60; keys: "
        + ", ".join(PRESET_KEYS)
        + ". They win over the global flags for that preset only. MODEL.KEY=VALUE sets one "
        "model's own setting instead, e.g. lightgbm.num_leaves=63 (each model's settings: "
        "docs/models.md); write presets.NAME.KEY or models.NAME.KEY where a name is both.",
        flag="set",
        group="model",
    )
    model_options: dict[str, dict[str, Any]] = option(
        {},
        "Per-model settings, MODEL.KEY=VALUE through --set (repeatable), e.g. "
        "lightgbm.num_leaves=63 or lstm.hidden_size=64, [models.NAME] tables in a config "
        "file, or forecaster instances in Python. Each model starts from its own defaults (the "
        "neural ones from the preset's size and the training options) and its settings win; "
        "the seed, --threads and --device are the study's. Saved in config.json: other "
        "settings are another trial.",
        flag="set",
        group="model",
    )
    lookback: int | None = option(None, "Days of history per sample (every preset).", group="model")
    features: tuple[str, ...] | None = option(
        None, "Feature groups, comma-separated (see `lstmbt presets`).", group="model"
    )
    companions: tuple[str, ...] | None = option(
        None, "Other tickers as inputs, comma-separated.", flag="with", group="model"
    )
    companion_features: tuple[str, ...] | None = option(
        None,
        "Feature groups computed on the companions.",
        flag="with-features",
        group="model",
        default_text="each preset's own; returns in the built-in presets",
    )
    horizon: int = option(1, "Days ahead the model predicts (multi-horizon head).", group="model")
    signal_horizon: str = option(
        "1", "Trade on the 1-day or the summed h-day forecast: 1 | h.", group="strategy"
    )
    epochs: int = option(
        20, "Maximum training epochs (early stopping on validation).", group="training"
    )
    batch_size: int = option(256, "Training batch size.", group="training")
    hidden_size: int | None = option(None, "LSTM hidden units (every preset).", group="model")
    num_layers: int | None = option(
        None, "LSTM layers (every preset).", flag="layers", group="model"
    )
    dropout: float | None = option(None, "Dropout between LSTM layers.", group="model")
    lr: float = option(1e-3, "Adam learning rate.", group="training")
    patience: int = option(5, "Early-stopping patience in epochs.", group="training")
    seed: int = option(
        42, "Seed for splits, initialisation, batch order and the bootstrap.", group="training"
    )
    device: str = option("auto", "Training device: auto | cpu | cuda.", group="training")
    threshold: float = option(
        0.0, "Go long when the forecast exceeds this (short below -threshold).", group="strategy"
    )
    long_short: bool = option(
        False, "Allow shorts.", flag="long-short/--long-only", group="strategy"
    )
    commission: float = option(
        0.0005, "Commission per side, a fraction (0.0005 = 5 bps).", group="strategy"
    )
    slippage: float = option(0.0005, "Slippage per side, a fraction.", group="strategy")
    half_spread: float = option(
        0.0, "Half the bid-ask spread, paid per side as a fraction of the price.", group="strategy"
    )
    min_fee: float = option(
        0.0,
        "Minimum commission per order (each part of a reversal), in the currency of --capital.",
        group="strategy",
    )
    capital: float = option(
        100_000.0, "Starting capital, in the currency of --min-fee.", group="strategy"
    )
    borrow_fee: float = option(
        0.0,
        "Borrowing fee of short positions, an annual fraction of their value (0.01 = 1% a "
        "year), accrued per trading day at /252.",
        group="strategy",
    )
    cash_rate: str = option(
        "0",
        "Interest on cash: 0, a constant annual fraction (0.02 = 2% a year), a CSV file of "
        "dated annual rates, or risk-free (offline: the monthly one-month T-bill rate of the "
        "Fama-French data in arch, 1926-07 to 2018-11, carried forward at most 2 months; with "
        "--source yahoo or auto: Yahoo's ^IRX); accrued per trading day at /252. Sharpe ratios "
        "are measured over it.",
        group="strategy",
    )
    cash_rate_unit: str | None = option(
        None,
        "The unit of a --cash-rate file's rates: fraction (0.02 = 2% a year) or percent (2 = 2% "
        "a year). Needed when the rate column's name does not say it (rate, cash_rate, "
        "annual_rate: fractions; rate_pct, cash_rate_pct, annual_rate_pct: percent), or to "
        "accept rates above 20% a year.",
        group="strategy",
        default_text="from the rate column's name",
    )
    sizing: str = option(
        "sign",
        "Position rule: sign (all in, out or short on the forecast's sign) | vol-target (also "
        "trade every forecast sized by its strength: weight = k x forecast / EWMA volatility, "
        "k fit on each fold's training block to hit --vol-target, capped at --leverage; each "
        "sized rule is one more strategy in the tables, SPA and the deflated Sharpe).",
        group="strategy",
    )
    vol_target: float = option(
        0.10,
        "Sizing vol-target: the annual volatility the weights are scaled to on each fold's "
        "training block (0.10 = 10% a year).",
        group="strategy",
    )
    leverage: float = option(
        1.0,
        "Sizing vol-target: the largest weight, a fraction of equity in (0, 1] (longs are "
        "never bought on margin).",
        group="strategy",
    )
    rebalance_band: float = option(
        0.05,
        "Sizing vol-target: trade only when the target weight differs from the drifted held "
        "weight by more than this, in [0, 1).",
        group="strategy",
    )
    val_frac: float = option(0.15, "Validation fraction of the calendar.", group="evaluation")
    test_frac: float = option(
        0.15, "Test (out-of-sample) fraction of one chronological split.", group="evaluation"
    )
    out: str = option("reports", "Folder for run reports.", group="output")
    run_id: str | None = option(
        None, "Name of the run folder (must not exist yet).", group="output"
    )
    cache_dir: str | None = option(
        None,
        "Yahoo price cache folder.",
        group="data",
        default_text="$LSTMBT_CACHE, else ~/.cache/lstmbt",
    )
    tearsheets: bool = option(
        True, "Write QuantStats tear-sheets.", flag="tearsheets/--no-tearsheets", group="output"
    )
    walk_forward: bool = option(
        False,
        "Retrain every --refit-every days over the evaluation span.",
        flag="walk-forward/--single-split",
        group="evaluation",
    )
    refit_every: int = option(252, "Walk-forward: trading days between refits.", group="evaluation")
    window: str = option(
        "expanding", "Walk-forward training window: expanding | rolling.", group="evaluation"
    )
    train_size: int | None = option(
        None, "Rolling window length in trading days.", group="evaluation"
    )
    eval_frac: float = option(
        0.5, "Walk-forward: evaluated fraction of the calendar.", group="evaluation"
    )
    seeds: int = option(
        1,
        "Seeds per model; the report shows mean, spread and the ensemble.",
        group="training",
    )
    seed_batching: str = option(
        "auto", "Train a preset's seeds packed in one network: auto | on | off.", group="training"
    )
    warm_start: bool = option(
        True,
        "Walk-forward: start each fold's LSTM, GRU or MLP from the previous fold's weights "
        "(same seed; a third of --epochs and half the --patience, its own early stopping, its "
        "scaling refit on its own training block; no look-ahead: the previous fold saw only "
        "older data). About 3x fewer epochs; measured no worse out of sample (benchmarks/).",
        flag="warm-start/--no-warm-start",
        group="training",
    )
    jobs: int | None = option(
        None,
        "Training processes.",
        group="training",
        default_text="all cores when there are several fits",
    )
    threads: int | None = option(
        None,
        "Torch threads per fit.",
        group="training",
        default_text="all cores for one fit, else 1",
    )
    bootstrap_reps: int = option(
        1000, "Bootstrap repetitions for Sharpe intervals and SPA.", group="evaluation"
    )
    block_size: int = option(
        20, "Mean block length (days) of the stationary bootstrap.", group="evaluation"
    )
    universe: str | None = option(
        None,
        "Study a universe instead of one ticker: a built-in name (sample), a text file of "
        "tickers or a folder of CSV files.",
        group="universe",
    )
    backend: str = option(
        "pool", "Where the training units run: pool (local processes) | ray.", group="universe"
    )
    top_k: int = option(
        2,
        "Universe ranking portfolio: hold the k tickers with the highest forecast each day.",
        group="universe",
    )
    portfolio: str = option(
        "long",
        "Universe ranking portfolio: long (top k) | long-short (top k long, bottom k short).",
        group="universe",
    )
    ray_address: str | None = option(
        None,
        "Ray cluster to use with --backend ray.",
        group="universe",
        default_text="$RAY_ADDRESS, else a private local one",
    )

    def __post_init__(self) -> None:
        given: dict[str, dict[str, Any]] = {}  # settings of forecaster instances in `models`
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("preset_options", "model_options"):
                continue  # below, once the presets and models are known
            if f.name == "models" and value is not None:
                value = _as_tuple(value)
                if isinstance(value, tuple):
                    value, given = _models_given(value)
            elif f.name in _TUPLES and value is not None:
                value = _as_tuple(value)
            elif f.name == "cash_rate" and isinstance(value, (int, float)):
                value = "0" if value == 0 else repr(float(value))  # a number given in Python
            object.__setattr__(self, f.name, value)
        presets, models = _settings(
            self.preset_options, self.model_options, self.presets, self.models
        )
        for label, values in given.items():  # an instance's settings, then the explicit ones
            models[label] = {**values, **models.get(label, {})}
        object.__setattr__(self, "preset_options", presets)
        object.__setattr__(self, "model_options", models)

    def validate(self, *, import_models: bool = True) -> RunConfig:
        """Reject wrong types and impossible values with a message naming the option and fix.

        `import_models=False` checks a user's `package.module:Class` by its spelling only,
        importing nothing: for a config read from a run folder, whose classes are loaded only
        when the user names them again (`named_classes`)."""
        for f in dataclasses.fields(self):
            if f.name not in ("preset_options", "model_options"):
                _check_type(f.name, getattr(self, f.name))
        resolve_source(self.source)
        if not self.presets:
            raise ConfigError("no preset chosen; use --preset baseline (see `lstmbt presets`).")
        for name in self.presets:
            if name not in PRESETS:
                raise unknown_choice("preset", name, PRESETS)
        _check_models(self.models, import_models)
        for name, values in self.preset_options.items():
            if name not in self.presets:
                raise ConfigError(
                    f"settings for preset {name!r}, which is not among the chosen presets "
                    f"({', '.join(self.presets)}); add it with --preset or drop its settings."
                )
            for key, value in values.items():
                _check_type(key, value, where=f"{name}.{key}")
        if self.device not in DEVICES:
            raise unknown_choice("device", self.device, DEVICES)
        if self.device == "cuda":  # say so before any data is read, not at the first fit
            try:
                resolve_device("cuda")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if self.signal_horizon not in ("1", "h"):
            raise ConfigError(f"--signal-horizon must be 1 or h, got {self.signal_horizon!r}.")
        for name in (
            "horizon",
            "epochs",
            "batch_size",
            "patience",
            "refit_every",
            "seeds",
            "jobs",
            "threads",
            "bootstrap_reps",
            "block_size",
            "train_size",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{_flag(name)} must be at least 1, got {value}.")
        for name in ("lookback", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{_flag(name)} must be at least 1, got {value}.")
        if self.lookback is not None and self.lookback > 2000:
            raise ConfigError(f"--lookback {self.lookback} is implausibly long; use <= 2000.")
        if self.dropout is not None and not (math.isfinite(self.dropout) and 0 <= self.dropout < 1):
            raise ConfigError(f"--dropout must be in [0, 1), got {self.dropout}.")
        for p in self.model_presets():
            _check_preset(p)
        self._check_model_options(import_models)
        _check_range("lr", self.lr, 0, 1, "(0, 1)", low_open=True, high_open=True)
        self._check_costs()
        self._check_sizing()
        if not (math.isfinite(self.threshold) and self.threshold >= 0):
            raise ConfigError(f"--threshold must be a number >= 0, got {self.threshold}.")
        if not (0 < self.val_frac < 0.5 and 0 < self.test_frac < 0.5):
            raise ConfigError("--val-frac and --test-frac must each be in (0, 0.5).")
        if self.seed_batching not in SEED_BATCHING:
            raise unknown_choice("seed batching", self.seed_batching, SEED_BATCHING)
        if self.window not in WINDOWS:
            raise unknown_choice("window", self.window, WINDOWS)
        if self.window == "rolling" and not self.train_size:
            raise ConfigError("--window rolling needs --train-size DAYS (e.g. 1260 for 5 years).")
        if not 0.05 <= self.eval_frac <= 0.9:
            raise ConfigError(f"--eval-frac must be in [0.05, 0.9], got {self.eval_frac}.")
        if self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, got {self.top_k}.")
        if self.portfolio not in PORTFOLIOS:
            raise unknown_choice("portfolio", self.portfolio, PORTFOLIOS)
        if self.backend not in BACKENDS:
            raise unknown_choice("backend", self.backend, BACKENDS)
        if self.backend == "ray" and importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "--backend ray needs Ray: pip install 'lstmbt[ray]' (or use --backend pool)."
            )
        if self.run_id is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", self.run_id):
            raise ConfigError(f"--run-id {self.run_id!r}: use letters, digits, '.', '_' or '-'.")
        if self.run_id in (".", ".."):  # the output folder itself, or the folder above it
            raise ConfigError(
                f"--run-id {self.run_id!r} names the output folder or its parent, not a new run "
                "folder; choose a name with a letter or digit (e.g. exp1)."
            )
        return self

    @property
    def label(self) -> str:
        """The traded ticker's name in folder names, reports and metrics (see `ticker_label`)."""
        return ticker_label(self.ticker, self.source)

    def _check_costs(self) -> None:
        for name in ("commission", "slippage", "half_spread"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value < 0.1):
                raise ConfigError(
                    f"--{_flag(name)} is a fraction per side (5 bps = 0.0005), got {value}; "
                    "use [0, 0.1)."
                )
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ConfigError(f"--capital must be a positive amount, got {self.capital}.")
        if not (math.isfinite(self.min_fee) and 0 <= self.min_fee < 0.01 * self.capital):
            raise ConfigError(
                f"--min-fee must be >= 0 and below 1% of --capital ({self.capital:g}), got "
                f"{self.min_fee}."
            )
        if not (math.isfinite(self.borrow_fee) and 0 <= self.borrow_fee < 1):
            raise ConfigError(
                f"--borrow-fee is an annual fraction (0.01 = 1% a year), got {self.borrow_fee}; "
                "use [0, 1)."
            )
        try:
            parse_cash_rate(self.cash_rate)
            check_rate_unit(self.cash_rate, self.cash_rate_unit)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def _check_sizing(self) -> None:
        if self.sizing not in SIZINGS:
            raise unknown_choice("sizing", self.sizing, SIZINGS)
        if not (math.isfinite(self.vol_target) and 0 < self.vol_target <= 2):
            raise ConfigError(
                f"--vol-target is an annual volatility (0.10 = 10% a year), got "
                f"{self.vol_target}; use (0, 2]."
            )
        if not (math.isfinite(self.leverage) and 0 < self.leverage <= 1):
            raise ConfigError(
                f"--leverage is the largest weight, a fraction of equity, got {self.leverage}; "
                "use (0, 1] (the engines never buy on margin)."
            )
        if not (math.isfinite(self.rebalance_band) and 0 <= self.rebalance_band < 1):
            raise ConfigError(
                f"--rebalance-band is a difference of weights, got {self.rebalance_band}; "
                "use [0, 1)."
            )

    def model_presets(self) -> list[ModelPreset]:
        """The chosen presets: preset defaults, then the global options, then the preset's own."""
        out = []
        for name in self.presets:
            changes: dict[str, Any] = {}
            for key in PRESET_KEYS:
                if getattr(self, key) is not None:
                    changes[key] = getattr(self, key)
            changes.update(self.preset_options.get(name, {}))
            out.append(dataclasses.replace(PRESETS[name], **changes))
        return out

    def seeds_together(self, preset: ModelPreset, device_type: str, model: str = "lstm") -> bool:
        """Train this preset's seeds packed into one network (models/seeds.py)? `auto` does
        where it was measured faster: on a GPU, and on CPU for one-step, one-layer LSTMs
        (1.2-1.7x); on CPU from a 3-day window on it is slower than one process per seed.
        Only the LSTM packs; every other model trains its seeds one by one."""
        if model != "lstm" or self.seeds < 2 or self.seed_batching == "off":
            return False
        if self.seed_batching == "on":
            return True
        layers = self.model_options.get("lstm", {}).get("num_layers", preset.num_layers)
        return device_type == "cuda" or (preset.lookback == 1 and layers == 1)

    def model_names(self) -> dict[str, str]:
        """The chosen models: their row label (`<preset>:<label>`) -> the name given."""
        return {model_label(name): name for name in self.models}

    def model_params(self, preset: ModelPreset, label: str) -> dict[str, Any]:
        """One model's settings on one preset: the study options its class takes as defaults
        (`study_settings`: the neural models take the preset's hidden_size, num_layers and
        dropout, and --lr, --batch-size, --epochs, --patience, --device), then its own
        (`model_options`), which win. Imports a user's class: call it for a checked config."""
        cls = forecaster_class(self.model_names()[label])
        offered = {
            "hidden_size": preset.hidden_size,
            "num_layers": preset.num_layers,
            "dropout": preset.dropout,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "patience": self.patience,
            "device": self.device,
        }
        takes = getattr(cls, "study_settings", ())
        params = {k: v for k, v in offered.items() if k in takes}
        params.update(self.model_options.get(label, {}))
        return params

    def _check_model_options(self, import_models: bool) -> None:
        """Each model's settings: a chosen model, a parameter it has (not one the study sets),
        a JSON value of the parameter's type, and a model its own checks accept on every
        preset. A user's class is checked by its parameters only when it may be imported."""
        names = self.model_names()
        for label, values in self.model_options.items():
            if label not in names:
                raise ConfigError(
                    f"settings for model {label!r}, which is not among the chosen models "
                    f"({', '.join(names)}); add it with --models {label} or drop its settings."
                )
            for key, value in values.items():
                if key in STUDY_OWNED:
                    raise ConfigError(
                        f"--set {label}.{key}: the study sets {key} ({STUDY_OWNED[key]}); "
                        "drop the setting."
                    )
                _check_json_value(f"{label}.{key}", value)
            if is_dotted_path(names[label]) and not import_models:
                continue
            defaults = default_params(forecaster_class(names[label]))
            takes = [k for k in defaults if k not in STUDY_OWNED]
            for key, value in values.items():
                if key not in defaults:
                    raise ConfigError(
                        f"unknown setting {key!r} for model {label!r}."
                        f"{did_you_mean(key, takes)} It takes: {', '.join(takes) or 'none'}."
                    )
                _check_like_default(f"{label}.{key}", value, defaults[key])
        for label in names:
            if is_dotted_path(names[label]) and not import_models:
                continue
            for p in self.model_presets():
                _check_model_params(self, p, label)

    def resources(self, n_tasks: int) -> tuple[int, int]:
        """(processes, torch threads per fit). Threads never depend on --jobs (see folds.fit_one):
        one fit uses every core; many fits use one thread each, spread over all cores."""
        cores = os.cpu_count() or 1
        threads = self.threads or (cores if n_tasks == 1 else 1)
        jobs = self.jobs or min(cores, n_tasks)
        return max(1, min(jobs, n_tasks)), threads

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (config.json); `config_from_mapping` reads it back."""
        return dataclasses.asdict(self)


def ticker_label(ticker: str | None, source: str) -> str:
    """--ticker when given; else a CSV source's file name ('spx.csv' -> 'spx'), else ^GSPC.
    The one place a run's target gets its name (config.json keeps --ticker as given)."""
    if ticker:
        return ticker
    return csv_label(source) if is_csv_path(source) else DEFAULT_TICKER


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# what an option missing from an older run's config.json meant: that lstmbt did not have it
# yet, and ran without it (an option added with a default that changes results belongs here)
OLD_RUN_DEFAULTS: dict[str, Any] = {"warm_start": False}
_HINTS = typing.get_type_hints(RunConfig)
_TUPLES = {name for name, hint in _HINTS.items() if "tuple" in str(hint)}


def _flag(name: str) -> str:
    """The CLI flag of a field or preset key ('num_layers' -> 'layers')."""
    f = FIELDS.get(name)
    flag = f.metadata.get("flag") if f is not None else None
    return (flag or name.replace("_", "-")).split("/")[0]


def _as_tuple(value: Any) -> Any:
    """'a,b' or ['a', 'b'] -> ('a', 'b'); anything else is left for the type check to refuse."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        return tuple(v.strip() if isinstance(v, str) else v for v in value if str(v).strip())
    return value


def _preset_options(value: Any) -> dict[str, dict[str, Any]]:
    """{preset: {key: value}} from a mapping or 'preset.key=value' strings (the CLI's --set)."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        parsed: dict[str, dict[str, Any]] = {}
        for item in value:
            _, name, key, raw = _parse_set(item)
            parsed.setdefault(name, {})[key] = raw
        value = parsed
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"preset_options must map a preset to its settings, e.g. "
            f"{{'lookback': {{'lookback': 60}}}}; got {value!r}."
        )
    out: dict[str, dict[str, Any]] = {}
    for name, values in value.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"settings of preset {name!r} must be a table of KEY = VALUE.")
        clean = {}
        for key, raw in values.items():
            k = str(key).replace("-", "_")
            k = _PRESET_ALIASES.get(k, k)
            if k not in PRESET_KEYS:
                raise ConfigError(
                    f"unknown setting {key!r} for preset {name!r}.{did_you_mean(k, PRESET_KEYS)} "
                    f"A preset takes: {', '.join(PRESET_KEYS)}."
                )
            clean[k] = _as_tuple(raw) if k in _TUPLES else raw
        out[str(name)] = clean
    return out


_SCOPES = {"presets": "presets", "models": "models"}  # --set presets.NAME.KEY / models.NAME.KEY


def _parse_set(item: Any) -> tuple[str | None, str, str, Any]:
    """'lookback.lookback=60' -> (None, 'lookback', 'lookback', 60); 'models.lstm.lr=0.01' ->
    ('models', 'lstm', 'lr', 0.01); a user's class may be named by its path
    ('pkg.mod:Cls.alpha=1'). Values are read as TOML (a bare word is text)."""
    text = str(item)
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(
            f"--set {text!r}: write PRESET.KEY=VALUE or MODEL.KEY=VALUE, e.g. --set "
            "lookback.lookback=60 or --set lightgbm.num_leaves=63."
        )
    target, raw = (part.strip() for part in text.split("=", 1))
    scope, rest = None, target
    head, _, tail = target.partition(".")
    if head in _SCOPES and "." in tail:
        scope, rest = _SCOPES[head], tail
    # a class path holds dots before its ':'; a key never holds one
    name, key = rest.rsplit(".", 1) if ":" in rest else rest.split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word (a feature group name) is a string
    return scope, name.strip(), key.strip().replace("-", "_"), value


def _settings(
    preset_options: Any, model_options: Any, presets: Any, models: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The presets' and the models' own settings from every form they come in: mappings
    ({name: {key: value}}), 'NAME.KEY=VALUE' strings (--set, routed by NAME: a chosen or
    built-in preset, or a chosen or built-in model; one that is both must say
    presets.NAME or models.NAME) and lists mixing both (a config file's tables, then the
    flags). Later settings win; empty tables are dropped."""
    preset_names = set(PRESETS) | set(presets if isinstance(presets, tuple) else ())
    chosen = [m for m in (models if isinstance(models, tuple) else ()) if isinstance(m, str)]
    model_names = set(TRAINED) | set(chosen) | {model_label(m) for m in chosen}
    preset_parts: list[Any] = []
    model_parts: dict[str, dict[str, Any]] = {}

    def add_model(name: str, values: Any) -> None:
        if not isinstance(values, Mapping):
            raise ConfigError(f"settings of model {name!r} must be a table of KEY = VALUE.")
        label = model_label(str(name))
        for key, value in values.items():
            model_parts.setdefault(label, {})[str(key).replace("-", "_")] = value

    def items(value: Any) -> list[Any]:
        if value is None:
            return []
        return list(value) if isinstance(value, (list, tuple)) else [value]

    for item in items(preset_options):
        if isinstance(item, Mapping):
            preset_parts.append(item)
            continue
        if not isinstance(item, str):
            raise ConfigError(
                f"preset_options must map a preset to its settings, e.g. "
                f"{{'lookback': {{'lookback': 60}}}}; got {item!r}."
            )
        scope, name, key, value = _parse_set(item)
        scope = scope or _scope_of(item, name, preset_names, model_names)
        if scope == "models":
            add_model(name, {key: value})
        else:
            preset_parts.append({name: {key: value}})
    for item in items(model_options):
        if isinstance(item, Mapping):
            for name, values in item.items():
                add_model(name, values)
        elif isinstance(item, str):
            _, name, key, value = _parse_set(item)
            add_model(name, {key: value})
        else:
            raise ConfigError(
                f"model_options must map a model to its settings, e.g. "
                f"{{'lightgbm': {{'num_leaves': 63}}}}; got {item!r}."
            )
    merged: dict[str, dict[str, Any]] = {}
    for part in preset_parts:
        for name, values in _preset_options(part).items():
            merged.setdefault(name, {}).update(values)
    drop_empty = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
    return drop_empty(merged), drop_empty(model_parts)


def _scope_of(item: str, name: str, presets: set[str], models: set[str]) -> str:
    """Whether --set NAME.KEY=VALUE is a preset's or a model's setting."""
    if name in presets and name in models:
        raise ConfigError(
            f"--set {item!r}: {name!r} is both a preset and a model; write "
            f"presets.{item} or models.{item}."
        )
    if name in models:
        return "models"
    if name in presets:
        return "presets"
    raise ConfigError(
        f"--set {item!r}: {name!r} is neither a preset ({', '.join(sorted(presets))}) nor a "
        f"model ({', '.join(sorted(models))}).{did_you_mean(name, presets | models)}"
    )


def _models_given(value: tuple) -> tuple[tuple, dict[str, dict[str, Any]]]:
    """`models` as names, and the settings of those given as forecaster instances (those
    that differ from the class's defaults). A class stands for itself with its defaults."""
    names, settings = [], {}
    for item in value:
        if isinstance(item, str):
            names.append(item)
            continue
        if not callable(getattr(item, "get_params", None)):
            names.append(item)  # left for validate to refuse with the option's name
            continue
        name = model_type(item)
        names.append(name)
        if inspect.isclass(item):
            continue
        try:
            defaults = default_params(type(item))
            params = dict(item.get_params())
        except Exception as exc:  # a user's class may fail in any way
            raise ConfigError(
                f"models: {type(item).__name__}: get_params() or making it with its defaults "
                f"failed ({type(exc).__name__}: {exc}); give every __init__ argument a default."
            ) from None
        changed = {k: _plain(v) for k, v in params.items() if not _same(v, defaults.get(k))}
        for key in changed:
            if key in STUDY_OWNED:
                raise ConfigError(
                    f"models: {type(item).__name__}({key}=...): the study sets {key} "
                    f"(RunConfig {STUDY_OWNED[key].lstrip('-')}); leave it out."
                )
        if changed:
            settings[model_label(name)] = changed
    return tuple(names), settings


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # an array's == is not a bool
        return False


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (config.json holds JSON)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict)) else value


def _check_type(name: str, value: Any, where: str | None = None) -> None:
    """A string where a number belongs is an error naming the option, not a crash later.
    The expected type is the field's annotation (e.g. 'int | None')."""
    if value is None:
        if _allows_none(name):
            return
        raise ConfigError(f"{_label(name, where)} needs a value, got None.")
    kind = base_type(name)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and not (isinstance(value, float) and math.isnan(value))
    elif kind is tuple:
        ok = isinstance(value, tuple) and all(isinstance(v, str) for v in value)
    else:
        ok = isinstance(value, str)
    if not ok:
        expected = {
            tuple: "a comma-separated list of names",
            int: "a whole number",
            float: "a number",
            bool: "true or false",
            str: "text",
        }[kind]
        raise ConfigError(f"{_label(name, where)} must be {expected}, got {value!r}.")


def _label(name: str, where: str | None) -> str:
    return f"--set {where}" if where else f"--{_flag(name)}"


def _allows_none(name: str) -> bool:
    hint = _HINTS[name]
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def base_type(name: str) -> type:
    hint = _HINTS[name]
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _check_range(name, value, lo, hi, text, *, low_open=False, high_open=False) -> None:
    above = value > lo if low_open else value >= lo
    below = value < hi if high_open else value <= hi
    if not (math.isfinite(value) and above and below):
        raise ConfigError(f"--{_flag(name)} must be in {text}, got {value}.")


def _check_models(names: tuple[str, ...], import_models: bool = True) -> None:
    """Built-in names or classes that follow the forecaster contract (imported only with
    `import_models`; else checked by their spelling), whose row labels differ from each other
    and from the ridge baseline's."""
    if not names:
        raise ConfigError(
            "no model chosen; use --models lstm (or gru, mlp, lightgbm, package.module:Class)."
        )
    labels: dict[str, str] = {}
    for name in names:
        if not is_dotted_path(name) and name not in TRAINED:
            raise ConfigError(
                f"unknown model {name!r}.{did_you_mean(name, TRAINED)} Choose from: "
                f"{', '.join(TRAINED)}, or name your own class as package.module:ClassName."
            )
        try:
            if is_dotted_path(name):
                check_dotted_path(name)
            if import_models:
                check_forecaster_class(name)
        except ValueError as exc:
            raise ConfigError(f"--models: {exc}") from None
        label = model_label(name)
        if label in labels or label == "ridge":
            other = repr(labels[label]) if label in labels else "the ridge baseline"
            raise ConfigError(
                f"--models: {name!r} and {other} would both be named '<preset>:{label}'; "
                "give the class another name."
            )
        labels[label] = name


def _check_json_value(where: str, value: Any, depth: int = 0) -> None:
    """A model setting is saved in config.json: numbers, text, true/false, lists and tables."""
    ok = value is None or isinstance(value, (bool, int, str))
    ok = ok or (isinstance(value, float) and math.isfinite(value))
    if isinstance(value, (list, tuple)) and depth < 8:
        for v in value:
            _check_json_value(where, v, depth + 1)
        return
    if isinstance(value, Mapping) and depth < 8 and all(isinstance(k, str) for k in value):
        for v in value.values():
            _check_json_value(where, v, depth + 1)
        return
    if not ok:
        raise ConfigError(
            f"--set {where}: a model's setting must be a number, text, true/false or a list of "
            f"them (it is saved in config.json), got {value!r}."
        )


def _check_like_default(where: str, value: Any, default: Any) -> None:
    """A setting of the type its default has (a whole number where the default is one...)."""
    if isinstance(default, bool):
        ok, expected = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
        expected = "a whole number"
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        expected = "a number"
    elif isinstance(default, str):
        ok, expected = isinstance(value, str), "text"
    else:
        return
    if not ok:
        raise ConfigError(f"--set {where} must be {expected}, got {value!r}.")


def _check_model_params(config: RunConfig, preset: ModelPreset, label: str) -> None:
    """The model made with its settings on this preset passes its own checks (check_params)."""
    params = config.model_params(preset, label)
    try:
        model = forecaster_class(config.model_names()[label])(**params)
        check = getattr(model, "check_params", None)
        if callable(check):
            check()
    except (TypeError, ValueError) as exc:
        on = f" on preset {preset.name!r}" if len(config.presets) > 1 else ""
        raise ConfigError(f"model {label!r}{on}: {' '.join(str(exc).split())}") from None


def named_classes(
    recorded: tuple[str, ...] | list[str],
    named: Any,
    command: str,
    required: list[str] | None = None,
) -> dict[str, type]:
    """The user's classes a run recorded, imported because the user named them again for
    this command (`named`: `package.module:Class` names, comma-separated text, or classes).
    A run folder never names code to import: a `required` class (default: every user class
    recorded) not named, or a named one the run did not use, is one line saying what to type
    (`command`, e.g. 'lstmbt resume RUN'). Returns path -> class, for load_forecaster."""
    if named is None:
        named = ()
    elif isinstance(named, str) or inspect.isclass(named):
        named = [named]
    paths: list[str] = []
    for item in named:
        if inspect.isclass(item):
            paths.append(model_type(item))
        elif isinstance(item, str):
            paths += [part.strip() for part in item.split(",") if part.strip()]
        else:
            raise ConfigError(
                f"models: name your classes as package.module:Class or give the classes, "
                f"got {item!r}."
            )
    users = [m for m in recorded if isinstance(m, str) and is_dotted_path(m)]
    required = users if required is None else required
    for path in paths:
        if path not in recorded:
            raise ConfigError(
                f"--models {path}: the run did not use {path!r}; it used "
                f"{', '.join(map(str, recorded)) or 'no model'}."
            )
    missing = [m for m in required if m not in paths]
    if missing:
        raise ConfigError(
            f"the run used your class{'es' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; lstmbt imports a class only when you name it, "
            f"never because a run folder says so: {command} --models {','.join(required)}"
        )
    out = {}
    for path in [m for m in users if m in paths]:
        try:
            out[path] = check_forecaster_class(path)
        except ValueError as exc:
            raise ConfigError(f"--models: {exc}") from None
    return out


def _check_preset(p: ModelPreset) -> None:
    """The resolved preset (defaults + global + own settings) is a model that can be built."""
    if p.lookback < 1 or p.hidden_size < 1 or p.num_layers < 1:
        bad = next(k for k in ("lookback", "hidden_size", "num_layers") if getattr(p, k) < 1)
        raise ConfigError(f"preset {p.name!r}: {bad} must be at least 1, got {getattr(p, bad)}.")
    if p.lookback > 2000:
        raise ConfigError(
            f"preset {p.name!r}: lookback {p.lookback} is implausibly long; use <= 2000."
        )
    if not (math.isfinite(p.dropout) and 0 <= p.dropout < 1):
        raise ConfigError(f"preset {p.name!r}: dropout must be in [0, 1), got {p.dropout}.")
    if not p.features:
        raise ConfigError(f"preset {p.name!r} has no feature groups; give --features.")
    for group in (*p.features, *p.companion_features):
        if group not in GROUPS:
            raise unknown_choice("feature group", group, GROUPS)


def config_from_mapping(values: Mapping[str, Any], *, import_models: bool = True) -> RunConfig:
    """A RunConfig from a dict (config file or CLI); unknown keys are errors, not ignored.

    In a config file, `presets` may be a table of tables (`[presets.lookback]` with that
    preset's own settings): its keys choose the presets, in order; `models` likewise
    (`[models.lightgbm]` with num_leaves = 63). `import_models=False` for a config read from
    a run folder: a user's class is then checked by its spelling only (RunConfig.validate).
    """
    clean: dict[str, Any] = {}
    presets_set: list[Any] = []  # tables and --set strings, in the order given
    models_set: list[Any] = []
    aliases = {"preset": "presets", "set": "preset_options", "with": "companions"}
    for key, value in values.items():
        name = aliases.get(key, key).replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(f"unknown config key {key!r}.{did_you_mean(name, FIELDS)}")
        if name == "presets" and isinstance(value, Mapping):
            presets_set.append(dict(value))
            value = tuple(value)
        elif name == "models" and isinstance(value, Mapping):
            models_set.append(dict(value))
            value = tuple(value)
        elif name in ("preset_options", "model_options"):
            target = presets_set if name == "preset_options" else models_set
            target += value if isinstance(value, (list, tuple)) else [value]
            continue
        clean[name] = value
    if presets_set:
        clean["preset_options"] = presets_set
    if models_set:
        clean["model_options"] = models_set
    return RunConfig(**clean).validate(import_models=import_models)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or JSON config file into a dict (validated by config_from_mapping)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist.")
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(path.read_text())
        else:
            values = tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is malformed: {exc}") from None
    if not isinstance(values, dict):  # JSON may hold a bare number, list or string
        raise ConfigError(
            f"config file {str(path)!r} holds {type(values).__name__} {values!r:.40}, not a "
            'table of options; write e.g. {"epochs": 3} (JSON) or epochs = 3 (TOML).'
        )
    return values
