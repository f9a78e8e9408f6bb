"""Save and reload a fitted forecaster with its type, parameters, state and the caller's metadata.

A model folder holds `model.json` (format, the model's kind: a built-in name such as "lstm", or
"user" with the class's `package.module:Class` path kept for information; its params, the state
its `save` returned, and the caller's `meta`: feature list, config) and whatever files the
model's `save` wrote (the neural forecasters: `weights.npz`, their state dict as numpy arrays;
LightGBM: its text model; ForecasterBase: `fitted.npz`). Nothing in a model folder is imported
or unpickled (a neural model saved before as torch's `weights.pt` is refused, not read): a
user's class is loaded only when the caller names it (`user_classes`), and it must be the class
model.json records. Folders written before the type was recorded (format 2) hold an LSTM and
still load as one; format 3 named a user's class by its path in "model".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lstmbt.models.contract import Forecaster, ModelFileError
from lstmbt.models.files import sync_folder, write_durably
from lstmbt.models.registry import BUILTIN, USER, is_dotted_path, model_type

FORMAT = 4  # 4: "user" and its class path; 3: a user's class path in "model"; 2: an LSTM
_USER_PATH = 3
_LEGACY_LSTM = 2
_LEGACY_STATE = ("n_features", "lookback", "horizon", "x_mean", "x_std", "y_mean", "y_std")


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
    kind = model_type(model)
    doc = {"format": FORMAT, "model": kind if kind in BUILTIN else USER}
    if kind not in BUILTIN:
        doc["class"] = kind  # for information: never imported from here
    doc.update(params=params, state=state, meta=meta)
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


class ClassNotNamed(ValueError):
    """model.json holds a user's class the caller did not name for this run: `path` is the
    class it records, `folder` the model folder."""

    def __init__(self, folder: Path, path: str) -> None:
        super().__init__(
            f"{str(folder / 'model.json')!r} holds a model of the class {path!r}; lstmbt imports "
            f"a class only when you name it for this run (--models {path}), never because a "
            "file says so."
        )
        self.folder, self.path = folder, path


def load_forecaster(
    folder: str | os.PathLike,
    device: str = "cpu",
    user_classes: Mapping[str, type] | None = None,
) -> tuple[Forecaster, dict]:
    """The fitted forecaster, of the type it was saved as, and the caller's metadata saved
    with it. `device` applies to a model that has one (the neural forecasters).

    A built-in kind loads as itself; a user's class only from `user_classes` (its
    `package.module:Class` -> the class, as the caller named it), else ClassNotNamed. Nothing
    named in the folder is imported."""
    folder = Path(folder)
    if not (folder / "model.json").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved lstmbt model (no model.json).")
    try:
        doc = json.loads((folder / "model.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(folder / "model.json", f"is unreadable ({exc})") from None
    version = doc.get("format") if isinstance(doc, dict) else None
    if version in (FORMAT, _USER_PATH):
        kind, state = doc.get("model"), doc.get("state")
    elif version == _LEGACY_LSTM:
        kind, state = "lstm", {k: doc.get(k) for k in _LEGACY_STATE}
    else:
        raise ModelFileError(
            folder,
            f"was saved by another lstmbt version (model format {version}, this one reads "
            f"{_LEGACY_LSTM} to {FORMAT})",
        )
    params, meta = doc.get("params"), doc.get("meta")
    if not isinstance(params, dict) or not isinstance(meta, dict) or not isinstance(state, dict):
        raise ModelFileError(folder / "model.json", "is incomplete (params, state or meta)")
    cls = _saved_class(folder, doc, kind, version, user_classes or {})
    params = dict(params)
    if "device" in params:
        params["device"] = device
    try:
        model = cls(**params)
        model.load(folder, state)
    except (EOFError, RuntimeError, KeyError, AttributeError) as exc:
        why = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        raise ModelFileError(folder, f"is unreadable or does not fit model.json ({why})") from None
    except (TypeError, IndexError) as exc:  # params or state of the wrong kind or shape
        why = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise ModelFileError(folder / "model.json", f"does not fit its model ({why})") from None
    return model, meta


def _saved_class(
    folder: Path, doc: dict, kind: Any, version: int, user_classes: Mapping[str, type]
) -> type:
    """The class model.json's kind means, without importing anything it names."""
    if isinstance(kind, str) and kind in BUILTIN:
        return BUILTIN[kind]
    if kind == USER and version == FORMAT:
        path = doc.get("class")
    elif version == _USER_PATH and isinstance(kind, str) and is_dotted_path(kind):
        path = kind
    else:
        shown = str(kind)[:80]
        raise ModelFileError(
            folder / "model.json",
            f"names the model kind {shown!r}, which is not a built-in forecaster "
            f"({', '.join(BUILTIN)}) nor 'user'",
        )
    if not isinstance(path, str) or path not in user_classes:
        raise ClassNotNamed(folder, str(path)[:120])
    return user_classes[path]
