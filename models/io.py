"""Save and reload a fitted LSTMForecaster with its scaling and whatever metadata the caller needs.

Layout of a model folder: `weights.pt` (state dict, loaded with weights_only=True) and
`model.json` (hyper-parameters, scaler, shapes, and the caller's `meta`: feature list, config).
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from lstmbt.models.lstm import LSTMForecaster, LSTMNet

FORMAT = 2  # 2: one nn.LSTM per layer (dropout masks from a seeded generator)


class ModelFileError(ValueError):
    """A saved model file that cannot be used: `path` and what is wrong with it (`problem`)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{str(path)!r} {problem}; re-run the study to refit it.")
        self.path, self.problem = path, problem


def save_forecaster(model: LSTMForecaster, folder: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write the model folder durably and return its path: each file is written beside its
    place, fsynced and renamed into place, then the folder is fsynced, so after a crash a file is
    either whole or absent, and the files a caller writes next never land before these."""
    if not hasattr(model, "net_"):
        raise RuntimeError("cannot save an unfitted model; call fit() first.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.net_.state_dict().items()}
    write_durably(folder / "weights.pt", lambda handle: torch.save(state, handle))
    doc = {
        "format": FORMAT,
        "params": model.get_params(),
        "n_features": model.n_features_,
        "lookback": model.lookback_,
        "horizon": model.horizon_,
        "x_mean": model.x_mean_.tolist(),
        "x_std": model.x_std_.tolist(),
        "y_mean": np.atleast_1d(model.y_mean_).tolist(),
        "y_std": np.atleast_1d(model.y_std_).tolist(),
        "meta": meta,
    }
    text = json.dumps(doc, indent=2).encode()
    write_durably(folder / "model.json", lambda handle: handle.write(text))
    sync_folder(folder)
    return folder


def write_durably(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write(handle)` into PATH.tmp, fsync it, rename it over `path` (atomic on POSIX)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def sync_folder(folder: Path) -> None:
    """fsync a folder so the renames into it survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_forecaster(folder: str | os.PathLike, device: str = "cpu") -> tuple[LSTMForecaster, dict]:
    """The fitted forecaster and the caller's metadata saved with it."""
    folder = Path(folder)
    if not (folder / "model.json").is_file() or not (folder / "weights.pt").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved lstmbt model (model.json, weights.pt).")
    try:
        doc = json.loads((folder / "model.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(folder / "model.json", f"is unreadable ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ModelFileError(
            folder,
            f"was saved by another lstmbt version (model format {found}, this one reads {FORMAT})",
        )
    params = dict(doc["params"], device=device)
    model = LSTMForecaster(**params)
    model.n_features_, model.lookback_, model.horizon_ = (
        doc["n_features"],
        doc["lookback"],
        doc["horizon"],
    )
    model.x_mean_, model.x_std_ = np.array(doc["x_mean"]), np.array(doc["x_std"])
    model.y_mean_, model.y_std_ = np.array(doc["y_mean"]), np.array(doc["y_std"])
    from lstmbt.models.device import resolve_device

    model.net_ = LSTMNet(
        model.n_features_, model.hidden_size, model.num_layers, model.dropout, model.horizon_
    )
    try:
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        model.net_.load_state_dict(state)
    except (EOFError, RuntimeError, pickle.UnpicklingError, KeyError, AttributeError) as exc:
        why = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
        raise ModelFileError(
            folder / "weights.pt", f"is unreadable or does not fit model.json ({why})"
        ) from None
    model.net_.to(resolve_device(device)).eval()
    return model, doc["meta"]
