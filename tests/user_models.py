"""Forecasters a user might write, for the tests of `--models package.module:Class`.

`MyForecaster` is what the README shows: subclass ForecasterBase, store the keyword arguments,
write fit and predict. `NoSave` has fit and predict only, so it breaks the contract.
"""

from __future__ import annotations

import numpy as np

from lstmbt.models import ForecasterBase


class MyForecaster(ForecasterBase):
    """Ridge on the window's last step, its coefficients nudged by a seeded draw (so two seeds
    are two models and one seed repeats itself)."""

    def __init__(self, *, alpha: float = 1.0, jitter: float = 0.05, seed: int = 0) -> None:
        self.alpha = alpha
        self.jitter = jitter
        self.seed = seed

    def fit(self, X, y, X_val=None, y_val=None):
        last = X[:, -1, :].astype(np.float64)
        self.mean_, self.std_ = last.mean(axis=0), last.std(axis=0) + 1e-12  # training only
        Z = (last - self.mean_) / self.std_
        self.intercept_ = y.mean(axis=0)
        gram = Z.T @ Z + self.alpha * np.eye(Z.shape[1])
        coef = np.linalg.solve(gram, Z.T @ (y - self.intercept_))
        noise = np.random.default_rng(self.seed).normal(size=coef.shape)
        self.coef_ = coef * (1 + self.jitter * noise)
        return self

    def predict(self, X):
        self.check_fitted()
        return (X[:, -1, :] - self.mean_) / self.std_ @ self.coef_ + self.intercept_


class NoSave:
    """Fits and predicts, but cannot be saved or reloaded: not a forecaster for a study."""

    def fit(self, X, y, X_val=None, y_val=None):
        return self

    def predict(self, X):
        return np.zeros((len(X), 1))


class Broken(MyForecaster):
    """Fails while fitting, as a user's model under development may."""

    def fit(self, X, y, X_val=None, y_val=None):
        raise ValueError("boom")


class FlatPredictions(MyForecaster):
    """Predicts (samples,) instead of (samples, horizon)."""

    def predict(self, X):
        return super().predict(X)[:, 0]
