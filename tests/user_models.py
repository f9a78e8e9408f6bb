"""Forecasters a user might write, for the tests of `--models package.module:Class`.

`MyForecaster` is what the README shows: subclass ForecasterBase, store the keyword arguments,
write fit and predict. `NoSave` has fit and predict only, so it breaks the contract. The rest
fail in the ways a model under development does (an error, NaN or inf forecasts, sys.exit,
state that cannot be saved or sent between processes).
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


class RichState(MyForecaster):
    """Fitted state beyond numbers and arrays (text, a list, a dict of arrays, a tuple, a numpy
    scalar): stored as JSON and .npz, never pickled, and read back equal."""

    def fit(self, X, y, X_val=None, y_val=None):
        super().fit(X, y, X_val, y_val)
        self.names_ = [f"f{i}" for i in range(X.shape[2])]
        self.table_ = {"mean": self.mean_, "std": self.std_, "note": "training rows only"}
        self.shape_ = (int(X.shape[1]), int(X.shape[2]))
        self.scale_ = np.float32(1.0)
        return self

    def predict(self, X):
        self.check_fitted()
        assert len(self.names_) == X.shape[2] and self.shape_ == X.shape[1:]
        Z = (X[:, -1, :] - self.table_["mean"]) / self.table_["std"]
        return (Z @ self.coef_ + self.intercept_) * float(self.scale_)


class lookback(MyForecaster):  # noqa: N801 - named like a preset on purpose (--set ambiguity)
    """A class whose row label is also a preset's name."""


# --- models that misbehave as a user's model under development may -----------------------------
class NaNPredictions(MyForecaster):
    """Predicts NaN for a few rows."""

    def predict(self, X):
        out = super().predict(X)
        out[::7] = np.nan
        return out


class InfPredictions(MyForecaster):
    """Predicts inf for one row."""

    def predict(self, X):
        out = super().predict(X)
        out[0] = np.inf
        return out


class ExitsInFit(MyForecaster):
    """Calls sys.exit inside fit (a script's habit): must not end the run silently."""

    def fit(self, X, y, X_val=None, y_val=None):
        raise SystemExit(0)


class Stop(BaseException):
    """A BaseException that is not KeyboardInterrupt, as some libraries raise."""


class StopsInFit(MyForecaster):
    def fit(self, X, y, X_val=None, y_val=None):
        raise Stop("halt")


class UnsavableState(MyForecaster):
    """Keeps a function as fitted state: lstmbt stores state as JSON and .npz only."""

    def fit(self, X, y, X_val=None, y_val=None):
        super().fit(X, y, X_val, y_val)
        self.transform_ = lambda z: z
        return self


class Unpicklable(MyForecaster):
    """Holds a function in a private attribute: it saves (only fitted attributes are saved)
    but cannot be sent back from a worker process."""

    def fit(self, X, y, X_val=None, y_val=None):
        super().fit(X, y, X_val, y_val)
        self._helper = lambda z: z
        return self
