"""Save and reload a fitted forecaster with its type, parameters, state and the caller's metadata.

A model folder holds `model.json` (format, the model's type: a built-in name such as "lstm" or
"package.module:Class", its params, the state its `save` returned, and the caller's `meta`:
feature list, config) and whatever files the model's `save` wrote (the neural forecasters:
`weights.pt`, a state dict loaded with weights_only=True). Folders written before the type was
recorded (format 2) hold an LSTM and still load as one.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from lstmbt.models.contract import Forecaster
from lstmbt.models.files import sync_folder, write_durably
from lstmbt.models.registry import forecaster_class, model_type

FORMAT = 3  # 3: the model's type and its own state; 2: an LSTM, its state at the top level
_LEGACY_LSTM = 2
_LEGACY_STATE = ("n_features", "lookback", "horizon", "x_mean", "x_std", "y_mean", "y_std")


class ModelFileError(ValueError):
    """A saved model file that cannot be used: `path` and what is wrong with it (`problem`)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{str(path)!r} {problem}; re-run the study to refit it.")
        self.path, self.problem = path, problem


def save_forecaster(model: Forecaster, folder: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write the model folder durably and return its path: model.json is written beside its
    place, fsynced and renamed into place last, then the folder is fsynced, so after a crash the
    folder either holds a whole model or no model.json."""
    check_fitted = getattr(model, "check_fitted", None)
    if check_fitted is not None:
        check_fitted()  # before anything is written
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = model.get_params()
    state = model.save(folder)
    doc = {
        "format": FORMAT,
        "model": model_type(model),
        "params": params,
        "state": state,
        "meta": meta,
    }
    try:
        text = json.dumps(doc, indent=2)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot save {type(model).__name__}: its get_params() and save() must return "
            f"JSON values (numbers, text, lists, dicts) ({exc})."
        ) from None
    write_durably(folder / "model.json", lambda handle: handle.write(text.encode()))
    sync_folder(folder)
    return folder


def load_forecaster(folder: str | os.PathLike, device: str = "cpu") -> tuple[Forecaster, dict]:
    """The fitted forecaster, of the type it was saved as, and the caller's metadata saved
    with it. `device` applies to a model that has one (the neural forecasters)."""
    folder = Path(folder)
    if not (folder / "model.json").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved lstmbt model (no model.json).")
    try:
        doc = json.loads((folder / "model.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(folder / "model.json", f"is unreadable ({exc})") from None
    version = doc.get("format") if isinstance(doc, dict) else None
    if version == FORMAT:
        kind, state = doc["model"], doc["state"]
    elif version == _LEGACY_LSTM:
        kind, state = "lstm", {k: doc[k] for k in _LEGACY_STATE}
    else:
        raise ModelFileError(
            folder,
            f"was saved by another lstmbt version (model format {version}, this one reads "
            f"{_LEGACY_LSTM} and {FORMAT})",
        )
    cls = forecaster_class(kind)
    params = dict(doc["params"])
    if "device" in params:
        params["device"] = device
    model = cls(**params)
    try:
        model.load(folder, state)
    except (EOFError, RuntimeError, pickle.UnpicklingError, KeyError, AttributeError) as exc:
        why = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        raise ModelFileError(
            folder / "weights.pt" if (folder / "weights.pt").exists() else folder,
            f"is unreadable or does not fit model.json ({why})",
        ) from None
    return model, doc["meta"]
