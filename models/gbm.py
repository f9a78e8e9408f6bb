"""Gradient-boosted trees (LightGBM) on the flattened window: the boosting row an honest
comparison needs beside the networks (on hand-made features a boosted model often beats an
LSTM). Same windows, features, folds and seeds as every other forecaster.

No look-ahead by construction: the feature bins and the targets' scaling come from the training
windows only (the validation windows are binned with the training set's bins and serve early
stopping, nothing else). Reproducible: LightGBM runs with `deterministic=True`,
`force_col_wise=True`, the study's seed and a fixed thread count, so a seed gives byte-identical
trees and forecasts in any process. Saved as LightGBM's own text format (no pickle).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from lstmbt.models.contract import ForecasterBase, check_xy
from lstmbt.models.files import write_durably

OBJECTIVES = ("regression", "regression_l1", "huber", "fair")
_MAX_HORIZON = 1000  # a saved horizon beyond this is a damaged file, not a model


def _booster_file(h: int) -> str:
    return f"lightgbm_{h}.txt"


class LightGBMForecaster(ForecasterBase):
    """LightGBM regression trees on the flattened (lookback x features) window, one booster per
    forecast step, with early stopping on the validation block.

    Parameters
    ----------
    num_leaves, max_depth, min_data_in_leaf
        Tree size: leaves per tree, depth limit (-1: none), fewest training rows in a leaf.
    learning_rate, n_estimators, early_stopping_rounds
        Shrinkage, the most trees, and how many rounds without a better validation loss stop
        the training (the best round's trees are kept).
    feature_fraction, bagging_fraction, bagging_freq
        Column and row subsampling per tree (what the seed changes; 1.0, 1.0, 0: none).
    lambda_l1, lambda_l2
        L1 and L2 penalties on leaf values (on targets standardised on the training block).
    objective
        regression (squared loss) | regression_l1 | huber | fair.
    seed, num_threads
        Set by the study (--seed, --threads); the thread count is fixed per fit, so results
        never depend on --jobs.
    """

    kind = "lightgbm"

    def __init__(
        self,
        *,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        n_estimators: int = 300,
        max_depth: int = -1,
        min_data_in_leaf: int = 50,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        bagging_freq: int = 1,
        lambda_l1: float = 0.0,
        lambda_l2: float = 1.0,
        early_stopping_rounds: int = 20,
        objective: str = "regression",
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_data_in_leaf = min_data_in_leaf
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.bagging_freq = bagging_freq
        self.lambda_l1 = lambda_l1
        self.lambda_l2 = lambda_l2
        self.early_stopping_rounds = early_stopping_rounds
        self.objective = objective
        self.seed = seed
        self.num_threads = num_threads

    def check_params(self) -> None:
        """Each setting's type and range, in one line naming it (before any work)."""
        whole = {
            "num_leaves": 2,
            "n_estimators": 1,
            "min_data_in_leaf": 1,
            "bagging_freq": 0,
            "early_stopping_rounds": 1,
            "num_threads": 1,
        }
        for name, low in whole.items():
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
        if not _is_int(self.max_depth) or not (self.max_depth == -1 or self.max_depth >= 1):
            raise ValueError(f"max_depth must be -1 (no limit) or >= 1, got {self.max_depth!r}.")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be a whole number, got {self.seed!r}.")
        for name in ("feature_fraction", "bagging_fraction"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}.")
        if not _is_number(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}.")
        for name in ("lambda_l1", "lambda_l2"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}.")
        if self.objective not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}."
            )

    def _train_params(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "max_depth": self.max_depth,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l1": self.lambda_l1,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "num_threads": self.num_threads,
            # byte-reproducible: the same seed and threads give the same trees in any process
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> LightGBMForecaster:
        import lightgbm as lgb

        self.check_params()
        check_xy(X, y)
        validate = X_val is not None and len(X_val) > 0
        if validate:
            check_xy(X_val, y_val)
        # the targets' scale comes from the training block only
        self.y_mean_ = y.mean(axis=0)
        std = y.std(axis=0)
        self.y_std_ = np.where(std > 0, std, 1.0)
        self.n_features_, self.lookback_, self.horizon_ = X.shape[2], X.shape[1], y.shape[1]
        z = (y - self.y_mean_) / self.y_std_
        flat = _flat(X)
        params = self._train_params()
        boosters = []
        for h in range(self.horizon_):
            train = lgb.Dataset(flat, z[:, h], params=params, free_raw_data=True)
            sets, callbacks = [], []
            if validate:
                z_val = (y_val[:, h] - self.y_mean_[h]) / self.y_std_[h]
                # binned with the training set's bins: the validation block decides only when
                # to stop
                sets = [lgb.Dataset(_flat(X_val), z_val, reference=train)]
                callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
            booster = lgb.train(
                params,
                train,
                num_boost_round=self.n_estimators,
                valid_sets=sets,
                callbacks=callbacks,
            )
            best = booster.best_iteration or booster.current_iteration()
            # keep the best round's trees, as they will be saved and read back
            boosters.append(lgb.Booster(model_str=booster.model_to_string(num_iteration=best)))
        self.boosters_ = boosters
        return self

    def check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(samples, horizon) forecasts of simple returns."""
        self.check_fitted()
        check_xy(X)
        if X.shape[1:] != (self.lookback_, self.n_features_):
            raise ValueError(
                f"X windows are {X.shape[1:]} but the model was fit on "
                f"{(self.lookback_, self.n_features_)} (lookback, features)"
            )
        if len(X) == 0:
            return np.zeros((0, self.horizon_))
        flat = _flat(X)
        z = np.stack(
            [b.predict(flat, num_threads=self.num_threads) for b in self.boosters_], axis=1
        )
        return z.astype(np.float64) * self.y_std_ + self.y_mean_

    # --- save / load: LightGBM's text model per step, the scaling as JSON (no pickle) ---
    def save(self, folder: Path) -> dict[str, Any]:
        self.check_fitted()
        for h, booster in enumerate(self.boosters_):
            _write_text(Path(folder) / _booster_file(h), booster.model_to_string())
        return {
            "n_features": int(self.n_features_),
            "lookback": int(self.lookback_),
            "horizon": int(self.horizon_),
            "y_mean": np.atleast_1d(self.y_mean_).tolist(),
            "y_std": np.atleast_1d(self.y_std_).tolist(),
            "trees": [b.num_trees() for b in self.boosters_],
        }

    def load(self, folder: Path, state: dict[str, Any]) -> LightGBMForecaster:
        import lightgbm as lgb

        horizon = state["horizon"]
        if not _is_int(horizon) or not 1 <= horizon <= _MAX_HORIZON:
            raise ValueError(f"{str(folder)!r}: model.json's horizon {horizon!r} is not a count.")
        boosters = []
        for h in range(horizon):
            path = Path(folder) / _booster_file(h)  # a fixed name: nothing from the file
            if not path.is_file():
                raise ValueError(
                    f"{str(folder)!r} has no {path.name}; re-run the study to refit it."
                )
            try:
                boosters.append(lgb.Booster(model_str=path.read_text()))
            except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
                why = " ".join(str(exc).split())[:120]
                raise ValueError(
                    f"{str(path)!r} is not a LightGBM model ({why}); re-run the study to refit it."
                ) from None
        self.n_features_, self.lookback_, self.horizon_ = (
            int(state["n_features"]),
            int(state["lookback"]),
            horizon,
        )
        self.y_mean_ = np.array(state["y_mean"], dtype=np.float64)
        self.y_std_ = np.array(state["y_std"], dtype=np.float64)
        self.boosters_ = boosters
        return self


def _flat(X: np.ndarray) -> np.ndarray:
    """(samples, lookback, features) -> (samples, lookback * features), oldest step first."""
    return np.ascontiguousarray(X.reshape(len(X), -1))


def _write_text(path: Path, text: str) -> None:
    write_durably(path, lambda handle: handle.write(text.encode()))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return ok and math.isfinite(value)
