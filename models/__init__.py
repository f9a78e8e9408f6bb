"""Forecasters: LSTM, GRU, MLP, LightGBM and honest baselines with one contract
(models/contract.py): fit(X, y, X_val, y_val) -> self, predict(X), get/set_params, save/load.

X is (samples, lookback, features) of raw (unscaled) features, y is (samples, horizon) of
next-day simple returns. Each forecaster fits its own scaling on the training data it is given,
so nothing from validation or test periods can leak into it. Nothing here imports `lstmbt`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public names, for type checkers and the API docs
    from lstmbt.models.baselines import (
        MeanForecaster,
        PersistenceForecaster,
        RidgeForecaster,
        ZeroForecaster,
    )
    from lstmbt.models.contract import Forecaster, ForecasterBase, UnsavableState, check_xy
    from lstmbt.models.device import resolve_device
    from lstmbt.models.gbm import LightGBMForecaster
    from lstmbt.models.io import ClassNotNamed, load_forecaster, save_forecaster
    from lstmbt.models.lstm import GRUForecaster, LSTMForecaster, LSTMNet
    from lstmbt.models.mlp import MLPForecaster, MLPNet
    from lstmbt.models.neural import TorchForecaster
    from lstmbt.models.registry import (
        BUILTIN,
        TRAINED,
        ModelSpec,
        check_forecaster_class,
        class_path,
        forecaster_class,
        model_label,
        model_type,
    )
    from lstmbt.models.seeds import fit_seeds
    from lstmbt.models.split import Split, chronological_split

# each public name's module, imported when the name is first used (PEP 562)
_EXPORTS = {
    "lstmbt.models.baselines": (
        "MeanForecaster",
        "PersistenceForecaster",
        "RidgeForecaster",
        "ZeroForecaster",
    ),
    "lstmbt.models.contract": ("Forecaster", "ForecasterBase", "UnsavableState", "check_xy"),
    "lstmbt.models.device": ("resolve_device",),
    "lstmbt.models.gbm": ("LightGBMForecaster",),
    "lstmbt.models.io": ("ClassNotNamed", "load_forecaster", "save_forecaster"),
    "lstmbt.models.lstm": ("GRUForecaster", "LSTMForecaster", "LSTMNet"),
    "lstmbt.models.mlp": ("MLPForecaster", "MLPNet"),
    "lstmbt.models.neural": ("TorchForecaster",),
    "lstmbt.models.registry": (
        "BUILTIN",
        "TRAINED",
        "ModelSpec",
        "check_forecaster_class",
        "class_path",
        "forecaster_class",
        "model_label",
        "model_type",
    ),
    "lstmbt.models.seeds": ("fit_seeds",),
    "lstmbt.models.split": ("Split", "chronological_split"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "BUILTIN",
    "TRAINED",
    "ClassNotNamed",
    "Forecaster",
    "ForecasterBase",
    "GRUForecaster",
    "LightGBMForecaster",
    "LSTMForecaster",
    "LSTMNet",
    "MLPForecaster",
    "MLPNet",
    "MeanForecaster",
    "ModelSpec",
    "PersistenceForecaster",
    "RidgeForecaster",
    "Split",
    "TorchForecaster",
    "UnsavableState",
    "ZeroForecaster",
    "check_forecaster_class",
    "check_xy",
    "class_path",
    "chronological_split",
    "fit_seeds",
    "forecaster_class",
    "load_forecaster",
    "model_label",
    "model_type",
    "resolve_device",
    "save_forecaster",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
