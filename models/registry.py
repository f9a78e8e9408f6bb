"""Forecasters by name: the built-in ones, and a user's class named `package.module:Class`.

The name is what a study's `--models` takes and what a run's config.json records; a saved
model.json names only a built-in kind (or "user", with the class's path kept for
information). A user's class is imported only when the user names it for the run at hand
(the command line, a config file they pass, or Python): never because a file says so.
Adding a built-in forecaster is one file under models/ and one line in BUILTIN.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lstmbt.models.contract import Forecaster


class _Classes(Mapping[str, type]):
    """Built-in forecaster classes by name, each written `module:Class` and imported when it is
    first looked up: the names (the CLI's help, a config's checks) never load torch."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self.paths = dict(paths)

    def __getitem__(self, name: str) -> type:
        module, _, qualname = self.paths[name].partition(":")
        return getattr(importlib.import_module(module), qualname)

    def __contains__(self, name: object) -> bool:  # a name, without importing its class
        return name in self.paths

    def __iter__(self):
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.paths!r})"


# what a study trains (`--models`); each takes its own settings (--set MODEL.KEY=VALUE)
TRAINED = _Classes(
    {
        "lstm": "lstmbt.models.lstm:LSTMForecaster",
        "gru": "lstmbt.models.lstm:GRUForecaster",
        "mlp": "lstmbt.models.mlp:MLPForecaster",
        "lightgbm": "lstmbt.models.gbm:LightGBMForecaster",
    }
)
# every built-in type a saved model.json may name
BUILTIN = _Classes(
    {
        **TRAINED.paths,
        "ridge": "lstmbt.models.baselines:RidgeForecaster",
        "zero": "lstmbt.models.baselines:ZeroForecaster",
        "mean": "lstmbt.models.baselines:MeanForecaster",
        "persistence": "lstmbt.models.baselines:PersistenceForecaster",
    }
)
USER = "user"  # model.json's kind for a user's class (its path is kept beside, not imported)
METHODS = ("fit", "predict", "get_params", "set_params", "save", "load")
# settings the study sets on every model that has them, from its own options
STUDY_OWNED = {"seed": "--seed", "num_threads": "--threads", "device": "--device"}
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")


def is_dotted_path(name: str) -> bool:
    return ":" in name


def model_label(name: str) -> str:
    """The `<model>` of a row name: a built-in's name, or a user class's name."""
    return name.rsplit(":", 1)[1] if is_dotted_path(name) else name


def check_dotted_path(name: str) -> None:
    """`package.module:Class` written with identifiers only (what a row and a folder are named
    after), checked without importing anything."""
    if not _DOTTED.fullmatch(name):
        raise ValueError(
            f"model {name!r}: write package.module:ClassName (letters, digits and _ only)."
        )


def class_path(cls: type) -> str:
    """`module:Class`, the name a user's class is given by."""
    return f"{cls.__module__}:{cls.__qualname__}"


def forecaster_class(name: str) -> type:
    """The class a name means: a built-in name or `package.module:Class` (imported here: call it
    only for names the user gave for this run, never for a name read from a file).
    Errors are one line saying what failed and what to do."""
    if not is_dotted_path(name):
        if name not in BUILTIN:
            raise ValueError(
                f"unknown model {name!r}; choose {', '.join(TRAINED)} or name your own class "
                "as package.module:ClassName."
            )
        return BUILTIN[name]
    check_dotted_path(name)
    module_name, _, qualname = name.rpartition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may fail in any way while importing
        raise ValueError(
            f"model {name!r}: cannot import {module_name!r} ({_one_line(exc)}); run from the "
            "folder that holds it or install its package."
        ) from None
    cls: Any = module
    for part in qualname.split("."):
        cls = getattr(cls, part, None)
    if not inspect.isclass(cls):
        raise ValueError(f"model {name!r}: module {module_name!r} has no class {qualname!r}.")
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


def model_type(model: Forecaster | type) -> str:
    """The name of `model`'s class (or of a class): a built-in name or `module:Class`."""
    cls = model if inspect.isclass(model) else type(model)
    kind = getattr(cls, "kind", None)
    if isinstance(kind, str) and BUILTIN.get(kind) is cls:
        return kind
    return class_path(cls)


def default_params(cls: type) -> dict[str, Any]:
    """A class's hyper-parameters as its defaults set them."""
    return dict(cls().get_params())


@dataclass(frozen=True)
class ModelSpec:
    """How to make one forecaster: its name (built-in or `package.module:Class`) and options."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def make(self, seed: int, threads: int | None = None) -> Forecaster:
        """A new, unfitted model with this seed (a model without a `seed` is deterministic)
        and, for a model that takes `num_threads` (LightGBM), this fit's thread count."""
        model = forecaster_class(self.name)(**self.params)
        params = model.get_params()
        if "seed" in params:
            model.set_params(seed=seed)
        if threads is not None and "num_threads" in params:
            model.set_params(num_threads=threads)
        return model


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
