"""The forecaster contract every model shares (the LSTM, the GRU, the MLP, the baselines and a
user's own class): `Forecaster`, and `ForecasterBase`, which gives a class all of it but `fit`
and `predict`."""

from __future__ import annotations

import difflib
import inspect
import pickle
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

STATE_PICKLE = "state.pkl"  # ForecasterBase's fallback for fitted state that is not arrays


@runtime_checkable
class Forecaster(Protocol):
    """What a study, `lstmbt resume` and `lstmbt forecast` need of a model.

    - `__init__` takes the hyper-parameters as keyword arguments (each with a default) and
      stores them as they are; `get_params()` returns them (JSON values: they are saved beside
      the model) and `set_params(**params)` changes them and returns the model. A model that
      draws random numbers takes a `seed`; the study sets it for each seed.
    - `fit(X, y, X_val=None, y_val=None)` returns the model. X is (samples, lookback, features)
      of raw windows, y is (samples, horizon) of next-day simple returns. Any scaling is fit on
      X and y only; the validation windows may serve early stopping, never scaling.
    - `predict(X)` returns (samples, horizon) forecasts; before `fit` it raises an error that
      says to call fit.
    - `save(folder)` writes the fitted state into `folder` (its own files, never `model.json`)
      and returns JSON facts to keep in `model.json`; `load(folder, state)` restores them into a
      model made with the saved params, and returns it. `save_forecaster`/`load_forecaster`
      record the model's type beside them, so a run's models reload as what they were.
    """

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> Forecaster: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...

    def get_params(self) -> dict[str, Any]: ...

    def set_params(self, **params: Any) -> Forecaster: ...

    def save(self, folder: Path) -> dict[str, Any]: ...

    def load(self, folder: Path, state: dict[str, Any]) -> Forecaster: ...


def check_xy(X: np.ndarray, y: np.ndarray | None = None) -> None:
    """Shapes and finiteness of windows and targets, with a message that says what was received."""
    if X.ndim != 3:
        raise ValueError(f"X must be (samples, lookback, features), got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or inf; features must be complete after the warm-up.")
    if y is not None:
        if y.ndim != 2 or len(y) != len(X):
            raise ValueError(f"y must be (samples, horizon) with {len(X)} rows, got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or inf; drop the last horizon rows before fitting.")


class ForecasterBase:
    """`get_params`/`set_params` read `__init__`'s keyword arguments (as scikit-learn does);
    `save`/`load` keep the fitted attributes (names ending in `_`): numbers and numeric arrays
    in model.json, anything else pickled (load pickles only from run folders you trust).
    A subclass writes `__init__` (storing each argument), `fit` and `predict`."""

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, by `__init__`'s argument names."""
        names = [
            p.name
            for p in inspect.signature(type(self).__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> ForecasterBase:
        """Change hyper-parameters (an unknown name is an error naming the valid ones)."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                close = difflib.get_close_matches(key, list(valid), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ValueError(
                    f"{type(self).__name__} has no parameter {key!r}.{hint} "
                    f"It takes: {', '.join(valid) or 'none'}."
                )
            setattr(self, key, value)
        return self

    def fitted(self) -> dict[str, Any]:
        """The fitted attributes (public names ending in `_`), empty before `fit`."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def check_fitted(self) -> None:
        """Raise the error that says what to do when `predict` comes before `fit`."""
        if not self.fitted():
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    def save(self, folder: Path) -> dict[str, Any]:
        """The fitted state: JSON in model.json where it is numbers and numeric arrays,
        else a pickle beside it."""
        self.check_fitted()
        state = self.fitted()
        encoded = {k: _encode(v) for k, v in state.items()}
        if all(v is not None for v in encoded.values()):
            return {"fitted": encoded}
        with open(Path(folder) / STATE_PICKLE, "wb") as handle:
            pickle.dump(state, handle)
        return {"pickled": STATE_PICKLE}

    def load(self, folder: Path, state: dict[str, Any]) -> ForecasterBase:
        """Restore what `save` wrote into this model (made with the saved params)."""
        if "pickled" in state:
            with open(Path(folder) / state["pickled"], "rb") as handle:
                vars(self).update(pickle.load(handle))
        else:
            vars(self).update({k: _decode(v) for k, v in state["fitted"].items()})
        return self


def _encode(value: Any) -> dict[str, Any] | None:
    """A JSON form of a number, text or numeric array that decodes to the same value; None for
    anything else."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"value": value.item()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    return None


def _decode(doc: dict[str, Any]) -> Any:
    if "array" in doc:
        return np.array(doc["array"], dtype=doc["dtype"]).reshape(doc["shape"])
    return doc["value"]
