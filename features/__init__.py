"""Feature layer: OHLCV frames in, causal scale-free feature matrices and windows out.

Pure functions on pandas objects; nothing here imports `lstmbt`, `models` or `strategies`.
"""

from lstmbt.features.build import FeatureMatrix, build_features
from lstmbt.features.cross_asset import align_companion
from lstmbt.features.indicators import GROUPS, compute_group, list_groups
from lstmbt.features.returns import adjusted_ohlcv, forward_returns, simple_returns
from lstmbt.features.windows import make_windows

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
