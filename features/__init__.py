"""Feature layer: OHLCV frames in, causal scale-free feature matrices and windows out.

Pure functions on pandas objects; nothing here imports `lstmbt`, `models` or `strategies`.
"""

from features.build import FeatureMatrix, build_features
from features.cross_asset import align_companion
from features.indicators import GROUPS, compute_group, list_groups
from features.returns import adjusted_ohlcv, forward_returns, simple_returns
from features.windows import make_windows

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
