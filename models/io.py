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
from pathlib import Path
from typing import Any

from lstmbt.models.contract import Forecaster
from lstmbt.models.registry import forecaster_class, model_type

FORMAT = 3  # 3: the model's type and its own state; 2: an LSTM, its state at the top level
_LEGACY_LSTM = 2
_LEGACY_STATE = ("n_features", "lookback", "horizon", "x_mean", "x_std", "y_mean", "y_std")


def save_forecaster(model: Forecaster, folder: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write the model folder (model.json last, atomically) and return its path."""
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
    tmp = folder / "model.json.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / "model.json")
    return folder


def load_forecaster(folder: str | os.PathLike, device: str = "cpu") -> tuple[Forecaster, dict]:
    """The fitted forecaster, of the type it was saved as, and the caller's metadata saved
    with it. `device` applies to a model that has one (the neural forecasters)."""
    folder = Path(folder)
    if not (folder / "model.json").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved lstmbt model (no model.json).")
    doc = json.loads((folder / "model.json").read_text())
    version = doc.get("format")
    if version == FORMAT:
        kind, state = doc["model"], doc["state"]
    elif version == _LEGACY_LSTM:
        kind, state = "lstm", {k: doc[k] for k in _LEGACY_STATE}
    else:
        raise ValueError(
            f"{str(folder)!r} was saved by another lstmbt version (model format "
            f"{version}, this one reads {_LEGACY_LSTM} and {FORMAT}); re-run the study to "
            "refit it."
        )
    cls = forecaster_class(kind)
    params = dict(doc["params"])
    if "device" in params:
        params["device"] = device
    model = cls(**params)
    model.load(folder, state)
    return model, doc["meta"]
