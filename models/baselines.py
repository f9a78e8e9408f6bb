"""Honest forecast baselines on the same windows: random walk, training mean, persistence, ridge.

They follow the forecaster contract (models/contract.py) through ForecasterBase: deterministic
(no seed), their fitted state is numbers and arrays kept in model.json.
"""

from __future__ import annotations

import numpy as np

from lstmbt.models.contract import ForecasterBase, check_xy


class ZeroForecaster(ForecasterBase):
    """Random walk: tomorrow's change is zero."""

    kind = "zero"

    def fit(self, X: np.ndarray, y: np.ndarray, *_: object, **__: object) -> ZeroForecaster:
        check_xy(X, y)
        self.horizon_ = y.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return np.zeros((len(X), self.horizon_))


class MeanForecaster(ForecasterBase):
    """The training window's mean daily return (a drift forecast)."""

    kind = "mean"

    def fit(self, X: np.ndarray, y: np.ndarray, *_: object, **__: object) -> MeanForecaster:
        check_xy(X, y)
        self.mean_ = y.mean(axis=0)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.check_fitted()
        return np.tile(self.mean_, (len(X), 1))


class PersistenceForecaster(ForecasterBase):
    """Yesterday's change again: reads the 1-day return feature at the window's last step."""

    kind = "persistence"

    def __init__(self, *, feature_index: int = 0) -> None:
        self.feature_index = feature_index

    def fit(self, X: np.ndarray, y: np.ndarray, *_: object, **__: object) -> PersistenceForecaster:
        check_xy(X, y)
        self.horizon_ = y.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.check_fitted()
        last = X[:, -1, self.feature_index].astype(np.float64)
        return np.repeat(last[:, None], self.horizon_, axis=1)


class RidgeForecaster(ForecasterBase):
    """Linear model on the flattened, standardised window (closed-form ridge with intercept)."""

    kind = "ridge"

    def __init__(self, *, alpha: float = 0.1) -> None:
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray, *_: object, **__: object) -> RidgeForecaster:
        check_xy(X, y)
        flat = X.reshape(len(X), -1).astype(np.float64)
        self.mean_ = flat.mean(axis=0)
        std = flat.std(axis=0)
        self.std_ = np.where(std > 0, std, 1.0)
        Z = (flat - self.mean_) / self.std_
        self.intercept_ = y.mean(axis=0)
        gram = Z.T @ Z + self.alpha * len(Z) * np.eye(Z.shape[1])
        self.coef_ = np.linalg.solve(gram, Z.T @ (y - self.intercept_))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self.check_fitted()
        Z = (X.reshape(len(X), -1).astype(np.float64) - self.mean_) / self.std_
        return Z @ self.coef_ + self.intercept_
