"""Forecasters by name: the built-in ones, and a user's class named `package.module:Class`.

The name is what a study's `--models` takes, what `model.json` records as the model's type,
and (for a user's class, its class name) the `<model>` in a row name `<preset>:<model>`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lstmbt.models.baselines import (
    MeanForecaster,
    PersistenceForecaster,
    RidgeForecaster,
    ZeroForecaster,
)
from lstmbt.models.contract import Forecaster
from lstmbt.models.lstm import GRUForecaster, LSTMForecaster
from lstmbt.models.mlp import MLPForecaster

# what a study trains (`--models`), each with the study's training options
TRAINED = {"lstm": LSTMForecaster, "gru": GRUForecaster, "mlp": MLPForecaster}
# every built-in type a saved model.json may name
BUILTIN: dict[str, type] = {
    **TRAINED,
    "ridge": RidgeForecaster,
    "zero": ZeroForecaster,
    "mean": MeanForecaster,
    "persistence": PersistenceForecaster,
}
METHODS = ("fit", "predict", "get_params", "set_params", "save", "load")


def is_dotted_path(name: str) -> bool:
    return ":" in name


def model_label(name: str) -> str:
    """The `<model>` of a row name: a built-in's name, or a user class's name."""
    return name.rsplit(":", 1)[1] if is_dotted_path(name) else name


def forecaster_class(name: str) -> type:
    """The class a name means: a built-in name or `package.module:Class` (imported here).
    Errors are one line saying what failed and what to do."""
    if not is_dotted_path(name):
        if name not in BUILTIN:
            raise ValueError(
                f"unknown model {name!r}; choose {', '.join(TRAINED)} or name your own class "
                "as package.module:ClassName."
            )
        return BUILTIN[name]
    module_name, _, class_name = name.rpartition(":")
    if not module_name or not class_name:
        raise ValueError(f"model {name!r}: write package.module:ClassName.")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way while importing
        raise ValueError(
            f"model {name!r}: cannot import {module_name!r} ({_one_line(exc)}); run from the "
            "folder that holds it or install its package."
        ) from None
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise ValueError(f"model {name!r}: module {module_name!r} has no class {class_name!r}.")
    return cls


def check_forecaster_class(name: str) -> type:
    """The class of `name`, checked against the contract (models/contract.py): it has the
    methods and can be made with its defaults."""
    cls = forecaster_class(name)
    missing = [m for m in METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise ValueError(
            f"model {name!r} does not follow the forecaster contract: it has no "
            f"{', '.join(missing)} (subclass lstmbt.models.ForecasterBase for get_params, "
            "set_params, save and load)."
        )
    try:
        model = cls()
        params = model.get_params()
    except Exception as exc:
        raise ValueError(
            f"model {name!r}: {cls.__name__}() with its defaults failed ({_one_line(exc)}); "
            "give every __init__ argument a default."
        ) from None
    if not isinstance(params, Mapping):
        raise ValueError(f"model {name!r}: get_params() must return a dict, got {params!r}.")
    return cls


def model_type(model: Forecaster) -> str:
    """The name that reloads `model`'s class: a built-in name or `module:Class`."""
    cls = type(model)
    kind = getattr(cls, "kind", None)
    if isinstance(kind, str) and BUILTIN.get(kind) is cls:
        return kind
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class ModelSpec:
    """How to make one forecaster: its name (built-in or `package.module:Class`) and options."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def make(self, seed: int) -> Forecaster:
        """A new, unfitted model with this seed (a model without a `seed` is deterministic)."""
        model = forecaster_class(self.name)(**self.params)
        if "seed" in model.get_params():
            model.set_params(seed=seed)
        return model


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
