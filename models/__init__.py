"""Forecasters: LSTM variants and honest baselines with one contract, fit(X, y) -> self, predict(X).

X is (samples, lookback, features) of raw (unscaled) features, y is (samples, horizon) of
next-day simple returns. Each forecaster fits its own scaling on the training data it is given,
so nothing from validation or test periods can leak into it. Nothing here imports `lstmbt`.
"""

from lstmbt.models.baselines import (
    MeanForecaster,
    PersistenceForecaster,
    RidgeForecaster,
    ZeroForecaster,
)
from lstmbt.models.device import resolve_device
from lstmbt.models.io import load_forecaster, save_forecaster
from lstmbt.models.lstm import LSTMForecaster, LSTMNet
from lstmbt.models.seeds import fit_seeds
from lstmbt.models.split import Split, chronological_split

__all__ = [
    "LSTMForecaster",
    "LSTMNet",
    "MeanForecaster",
    "PersistenceForecaster",
    "RidgeForecaster",
    "Split",
    "ZeroForecaster",
    "chronological_split",
    "fit_seeds",
    "load_forecaster",
    "resolve_device",
    "save_forecaster",
]
