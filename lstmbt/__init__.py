"""lstmbt: does this LSTM forecast make money after costs, out of sample, against buy-and-hold?

The Python API::

    from lstmbt import RunConfig, run_study
    result = run_study(RunConfig(presets=("baseline", "lookback")))
    result.verdict, result.summary(), result.figures(), result.write("reports/mine")

Importing lstmbt changes nothing in the process (no warning filters, logger levels, matplotlib
backend or rcParams); the CLI applies its own settings (see `lstmbt._runtime`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from lstmbt.api import Interrupted, resume_study, run_study
from lstmbt.config import PRESETS, ModelPreset, RunConfig
from lstmbt.data import load_prices
from lstmbt.errors import ConfigError, DataError, LstmbtError
from lstmbt.metrics import Metrics
from lstmbt.results import StudyData, StudyResult

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
