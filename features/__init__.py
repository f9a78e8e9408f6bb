"""Feature layer: OHLCV frames in, causal scale-free feature matrices and windows out.

Pure functions on pandas objects; nothing here imports `lstmbt`, `models` or `strategies`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public names, for type checkers and the API docs
    from lstmbt.features.build import FeatureMatrix, build_features
    from lstmbt.features.cross_asset import align_companion
    from lstmbt.features.indicators import GROUPS, compute_group, list_groups
    from lstmbt.features.returns import adjusted_ohlcv, forward_returns, simple_returns
    from lstmbt.features.windows import make_windows

# each public name's module, imported when the name is first used (PEP 562)
_EXPORTS = {
    "lstmbt.features.build": ("FeatureMatrix", "build_features"),
    "lstmbt.features.cross_asset": ("align_companion",),
    "lstmbt.features.indicators": ("GROUPS", "compute_group", "list_groups"),
    "lstmbt.features.returns": ("adjusted_ohlcv", "forward_returns", "simple_returns"),
    "lstmbt.features.windows": ("make_windows",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "GROUPS",
    "FeatureMatrix",
    "adjusted_ohlcv",
    "align_companion",
    "build_features",
    "compute_group",
    "forward_returns",
    "list_groups",
    "make_windows",
    "simple_returns",
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
