"""The forecaster contract every model shares (the LSTM, the GRU, the MLP, the baselines and a
user's own class): `Forecaster`, and `ForecasterBase`, which gives a class all of it but `fit`
and `predict`."""

from __future__ import annotations

import difflib
import inspect
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lstmbt.models.files import write_durably


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


class ModelFileError(ValueError):
    """A saved model file that cannot be used: `path` and what is wrong with it (`problem`)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{str(path)!r} {problem}; re-run the study to refit it.")
        self.path, self.problem = path, problem


class UnsavableState(ValueError):
    """A fitted state that cannot be stored as JSON and .npz (a run folder never holds a
    pickle); the message names the attribute and says what to do."""


class ForecasterBase:
    """`get_params`/`set_params` read `__init__`'s keyword arguments (as scikit-learn does);
    `save`/`load` keep the fitted attributes (names ending in `_`): numbers, text, numeric
    arrays and lists/dicts of them, as JSON in model.json with the arrays in `fitted.npz`.
    Anything else is refused when saving: a run folder holds no pickle, so it can be shared
    and opened without running code. A subclass writes `__init__` (storing each argument),
    `fit` and `predict`; one whose fitted state is another kind of object overrides `save`
    and `load` (see the LightGBM forecaster: its trees as LightGBM's own text format).

    `study_settings` names the study options a model takes as its defaults (the neural
    models: the preset's hidden_size, num_layers and dropout, and --epochs, --lr...); a
    model's own settings (`--set MODEL.KEY=VALUE`) win over them.
    """

    study_settings: tuple[str, ...] = ()

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
        """The fitted state as JSON (returned, kept in model.json), its arrays in fitted.npz.
        Raises UnsavableState, before writing anything, for state of any other kind."""
        self.check_fitted()
        arrays: dict[str, np.ndarray] = {}
        encoded = {k: _encode(v, arrays, type(self).__name__, k) for k, v in self.fitted().items()}
        if arrays:
            write_durably(Path(folder) / STATE_ARRAYS, lambda handle: write_npz(handle, arrays))
        return {"fitted": encoded}

    def load(self, folder: Path, state: dict[str, Any]) -> ForecasterBase:
        """Restore what `save` wrote into this model (made with the saved params). Reads JSON
        and .npz only (never a pickle)."""
        if "pickled" in state:
            raise ValueError(
                f"{str(folder)!r} holds a pickled model state (written by an older lstmbt); "
                "lstmbt no longer unpickles files from run folders: re-run the study to refit it."
            )
        fitted = state["fitted"]
        if not isinstance(fitted, dict):
            raise ValueError(f"{str(folder)!r}: model.json's fitted state is not a table.")
        arrays = _read_arrays(Path(folder)) if _uses_arrays(fitted) else {}
        vars(self).update({str(k): _decode(v, arrays) for k, v in fitted.items()})
        return self


STATE_ARRAYS = "fitted.npz"  # ForecasterBase's arrays (np.savez: no pickle)
_MAX_DEPTH = 32  # nesting of lists and dicts in a saved state


def _encode(value: Any, arrays: dict[str, np.ndarray], owner: str, name: str, depth: int = 0):
    """A JSON form of `value` that decodes to an equal value; arrays go to `arrays` (saved as
    .npz) under a generated key. Anything else raises UnsavableState naming the attribute."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    if isinstance(value, np.ndarray) and value.dtype.kind in _ARRAY_KINDS:
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {"npz": key}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"scalar": value.item(), "dtype": str(value.dtype)}
    if depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, owner, name, depth + 1) for v in value]
        return {"list" if isinstance(value, list) else "tuple": items}
    if depth < _MAX_DEPTH and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, arrays, owner, name, depth + 1) for k, v in value.items()}}
    raise UnsavableState(
        f"cannot save {owner}: its fitted attribute {name!r} holds a {type(value).__name__}, "
        "which lstmbt cannot store as JSON or .npz (a run folder never holds a pickle); keep "
        "numbers, text and numeric arrays (or lists and dicts of them) in the attributes ending "
        "in '_', or override save(folder) and load(folder, state) to write your own files."
    )


_ARRAY_KINDS = "biufU"  # bool, integers, floats, unicode text: np.save needs no pickle


def write_npz(handle: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """np.savez's format (read by np.load, allow_pickle=False) with a fixed date on each
    entry, so the same state gives the same bytes (np.savez stamps the current time). Arrays
    of objects are refused (they would need a pickle)."""
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE), buffer.getvalue())


_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _uses_arrays(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "npz" in doc or any(_uses_arrays(v) for v in doc.values())
    if isinstance(doc, list):
        return any(_uses_arrays(v) for v in doc)
    return False


def _read_arrays(folder: Path) -> dict[str, np.ndarray]:
    path = folder / STATE_ARRAYS
    if not path.is_file():
        raise ValueError(f"{str(folder)!r} has no {STATE_ARRAYS}; re-run the study to refit it.")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _decode(doc: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value `_encode` wrote; anything else is a ValueError (a damaged or foreign file)."""
    if not isinstance(doc, dict) or len(doc) not in (1, 2, 3):
        raise ValueError(f"unreadable fitted state {str(doc)[:80]!r}")
    if "npz" in doc:
        if doc["npz"] not in arrays:
            raise ValueError(f"{STATE_ARRAYS} has no array {doc['npz']!r}")
        return arrays[doc["npz"]]
    if "array" in doc:  # format 3: arrays written out in model.json
        dtype = np.dtype(doc["dtype"])
        if dtype.kind not in _ARRAY_KINDS:
            raise ValueError(f"unreadable array dtype {doc['dtype']!r}")
        return np.array(doc["array"], dtype=dtype).reshape(doc["shape"])
    if "scalar" in doc:
        dtype = np.dtype(doc["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"unreadable scalar dtype {doc['dtype']!r}")
        return dtype.type(doc["scalar"])
    if "list" in doc:
        return [_decode(v, arrays) for v in doc["list"]]
    if "tuple" in doc:
        return tuple(_decode(v, arrays) for v in doc["tuple"])
    if "dict" in doc:
        return {str(k): _decode(v, arrays) for k, v in doc["dict"].items()}
    value = doc.get("value")
    if "value" in doc and (value is None or isinstance(value, (bool, int, float, str))):
        return value
    raise ValueError(f"unreadable fitted state {str(doc)[:80]!r}")
