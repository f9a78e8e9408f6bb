"""Save and reload a fitted LSTMForecaster with its scaling and whatever metadata the caller needs.

Layout of a model folder: `weights.pt` (state dict, loaded with weights_only=True) and
`model.json` (hyper-parameters, scaler, shapes, and the caller's `meta`: feature list, config).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lstmbt.models.lstm import LSTMForecaster, LSTMNet

FORMAT = 2  # 2: one nn.LSTM per layer (dropout masks from a seeded generator)


def save_forecaster(model: LSTMForecaster, folder: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write the model folder (atomic per file) and return its path."""
    if not hasattr(model, "net_"):
        raise RuntimeError("cannot save an unfitted model; call fit() first.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.net_.state_dict().items()}
    tmp = folder / "weights.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "weights.pt")
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
    tmp = folder / "model.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, folder / "model.json")
    return folder


def load_forecaster(folder: str | os.PathLike, device: str = "cpu") -> tuple[LSTMForecaster, dict]:
    """The fitted forecaster and the caller's metadata saved with it."""
    folder = Path(folder)
    if not (folder / "model.json").is_file() or not (folder / "weights.pt").is_file():
        raise ValueError(f"{str(folder)!r} is not a saved lstmbt model (model.json, weights.pt).")
    doc = json.loads((folder / "model.json").read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(
            f"{str(folder)!r} was saved by another lstmbt version (model format "
            f"{doc.get('format')}, this one reads {FORMAT}); re-run the study to refit it."
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
    state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    model.net_.load_state_dict(state)
    model.net_.to(resolve_device(device)).eval()
    return model, doc["meta"]
