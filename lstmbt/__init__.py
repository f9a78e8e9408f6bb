"""lstmbt: does this LSTM forecast make money after costs, out of sample, against buy-and-hold?"""

from __future__ import annotations

__version__ = "0.1.0"

from lstmbt import _runtime

_runtime.start()

from lstmbt.config import PRESETS, RunConfig  # noqa: E402
from lstmbt.data import load_prices  # noqa: E402
from lstmbt.pipeline import run_study  # noqa: E402

__all__ = ["PRESETS", "RunConfig", "__version__", "load_prices", "run_study"]
