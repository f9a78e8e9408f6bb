"""lstmbt: does this LSTM forecast make money after costs, out of sample, against buy-and-hold?

The Python API::

    from lstmbt import RunConfig, run_study
    result = run_study(RunConfig(presets=("baseline", "lookback")))
    result.verdict, result.summary(), result.figures(), result.write("reports/mine")

Importing lstmbt changes nothing in the process (no warning filters, logger levels, matplotlib
backend or rcParams); the CLI applies its own settings (see `lstmbt._runtime`). Each name is
imported when first used: `import lstmbt` loads no torch, scipy or quantstats (PEP 562).
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public names, for type checkers and the API docs
    from lstmbt.api import Interrupted, resume_study, run_study
    from lstmbt.config import PRESETS, ModelPreset, RunConfig
    from lstmbt.data import load_prices
    from lstmbt.errors import ConfigError, DataError, LstmbtError
    from lstmbt.metrics import Metrics
    from lstmbt.results import StudyData, StudyResult

# each public name's module, imported when the name is first used (PEP 562)
_EXPORTS = {
    "lstmbt.api": ("Interrupted", "resume_study", "run_study"),
    "lstmbt.config": ("PRESETS", "ModelPreset", "RunConfig"),
    "lstmbt.data": ("load_prices",),
    "lstmbt.errors": ("ConfigError", "DataError", "LstmbtError"),
    "lstmbt.metrics": ("Metrics",),
    "lstmbt.results": ("StudyData", "StudyResult"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "PRESETS",
    "ConfigError",
    "DataError",
    "Interrupted",
    "LstmbtError",
    "Metrics",
    "ModelPreset",
    "RunConfig",
    "StudyData",
    "StudyResult",
    "__version__",
    "load_prices",
    "resume_study",
    "run_study",
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
