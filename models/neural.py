"""The neural forecasters' shared part: options, scaling fit on the training windows only, the
seeded initial net, the training loop (models/training.py), batched prediction, save/load.

A subclass only says which nn.Module to build (`build_net`); the LSTM, the GRU and the MLP
thus train with the same loop, windows, scaling, seeds and early stopping.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lstmbt.models.contract import ForecasterBase, ModelFileError, check_xy, write_npz
from lstmbt.models.device import resolve_device
from lstmbt.models.files import write_durably
from lstmbt.models.training import LOSSES, EpochCallback, TrainResult, train_regressor

WEIGHTS = "weights.npz"  # the state dict as numpy arrays by key (no pickle)
OLD_WEIGHTS = "weights.pt"  # torch.save's zip (a pickle inside): written before; refused


class TorchForecaster(ForecasterBase):
    """Fits its own feature/target scaling on the training windows only, then `build_net()`."""

    kind = "neural"
    # the study's options these models take as their defaults (their own settings win)
    study_settings = (
        "hidden_size",
        "num_layers",
        "dropout",
        "lr",
        "batch_size",
        "epochs",
        "patience",
        "device",
    )

    def __init__(
        self,
        *,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        lr: float = 1e-3,
        batch_size: int = 256,
        epochs: int = 20,
        patience: int = 5,
        loss: str = "mse",
        weight_decay: float = 0.0,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.patience = patience
        self.loss = loss
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device

    def build_net(self) -> nn.Module:
        """The untrained network for the fitted shapes (n_features_, lookback_, horizon_)."""
        raise NotImplementedError

    def check_params(self) -> None:
        """Each setting's range, in one line naming it (before any work)."""
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose {', '.join(LOSSES)}.")
        for name in ("hidden_size", "num_layers", "batch_size", "epochs", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        on_epoch: EpochCallback | None = None,
        init_from: TorchForecaster | None = None,
    ) -> TorchForecaster:
        """Fit the scaling on X and y, then train from the seeded initial weights, or, with
        `init_from` (a fitted model of this class and shape: the previous walk-forward fold's,
        same seed), from its weights (a warm start: its scaling is not taken, and early
        stopping may keep the starting weights when no epoch improves on them)."""
        self.prepare(X, y, X_val, y_val)
        if init_from is not None:
            self.start_from(init_from)
        self.history_: TrainResult = train_regressor(
            self.net_,
            *self.scaled(X, y, X_val, y_val),
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            seed=self.seed,
            device=resolve_device(self.device),
            loss=self.loss,
            weight_decay=self.weight_decay,
            on_epoch=on_epoch,
            keep_start=init_from is not None,
        )
        return self

    def start_from(self, other: TorchForecaster) -> None:
        """Copy a fitted model's weights into this prepared model's net (a warm start); the
        two must be the same class with the same shapes and sizes."""
        other.check_fitted()
        mine = (type(self), self.n_features_, self.lookback_, self.horizon_)
        theirs = (type(other), other.n_features_, other.lookback_, other.horizon_)
        if mine != theirs or (self.hidden_size, self.num_layers) != (
            other.hidden_size,
            other.num_layers,
        ):
            raise ValueError(
                f"cannot start a {type(self).__name__} {mine[1:]} (features, lookback, "
                f"horizon) from a {type(other).__name__} {theirs[1:]}: a warm start needs "
                "the same model and shapes."
            )
        state = {k: v.detach().to("cpu") for k, v in other.net_.state_dict().items()}
        self.net_.load_state_dict(state)

    def prepare(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> None:
        """Check inputs, fit the scaling, build the seeded initial net.

        Scaling is fit on the training windows' own rows only (each date once: the last step).
        """
        self.check_params()
        check_xy(X, y)
        if X_val is not None:
            check_xy(X_val, y_val)
        last = X[:, -1, :].astype(np.float64)
        self.x_mean_ = last.mean(axis=0)
        self.x_std_ = np.where(last.std(axis=0) > 0, last.std(axis=0), 1.0)
        self.y_mean_ = y.mean(axis=0)
        self.y_std_ = np.where(y.std(axis=0) > 0, y.std(axis=0), 1.0)
        self.n_features_, self.lookback_, self.horizon_ = X.shape[2], X.shape[1], y.shape[1]
        resolve_device(self.device)  # fail before any work when cuda is asked for but absent
        # the initial weights come from this seed; the caller's global generator is left as
        # it was (fork_rng restores it), so fitting a model never reseeds a user's process
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.net_ = self.build_net()

    def scaled(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Training and validation arrays in the model's fitted scale (after `prepare`)."""
        return (
            self._scale_x(X),
            (y - self.y_mean_) / self.y_std_,
            None if X_val is None else self._scale_x(X_val),
            None if y_val is None else (y_val - self.y_mean_) / self.y_std_,
        )

    def _scale_x(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.x_mean_) / self.x_std_).astype(np.float32)

    def check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise RuntimeError(
                f"this {type(self).__name__} is not fitted yet; call fit(X, y) first."
            )

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """(samples, horizon) forecasts of simple returns, in large inference batches."""
        self.check_fitted()
        check_xy(X)
        if X.shape[1:] != (self.lookback_, self.n_features_):
            raise ValueError(
                f"X windows are {X.shape[1:]} but the model was fit on "
                f"{(self.lookback_, self.n_features_)} (lookback, features)"
            )
        param = next(self.net_.parameters())
        Xs = torch.as_tensor(self._scale_x(X), device=param.device)
        outs = []
        self.net_.eval()
        with torch.no_grad():
            for lo in range(0, len(Xs), batch_size):
                outs.append(self.net_(Xs[lo : lo + batch_size]).cpu().numpy())
        out = np.concatenate(outs).astype(np.float64) if outs else np.zeros((0, self.horizon_))
        return out * self.y_std_ + self.y_mean_

    # --- save / load: the state dict as .npz (tensors by key, dtype kept), the rest as JSON ---
    def save(self, folder: Path) -> dict[str, Any]:
        self.check_fitted()
        arrays = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        write_durably(Path(folder) / WEIGHTS, lambda handle: write_npz(handle, arrays))
        return {
            "n_features": self.n_features_,
            "lookback": self.lookback_,
            "horizon": self.horizon_,
            "x_mean": self.x_mean_.tolist(),
            "x_std": self.x_std_.tolist(),
            "y_mean": np.atleast_1d(self.y_mean_).tolist(),
            "y_std": np.atleast_1d(self.y_std_).tolist(),
        }

    def load(self, folder: Path, state: dict[str, Any]) -> TorchForecaster:
        path = Path(folder) / WEIGHTS
        if not path.is_file():
            if (Path(folder) / OLD_WEIGHTS).is_file():  # read only by unpickling: refused
                raise ModelFileError(
                    Path(folder) / OLD_WEIGHTS,
                    "is a torch file written by an older lstmbt (it holds a pickle, and lstmbt "
                    "no longer unpickles files from run folders)",
                )
            raise ValueError(f"{str(folder)!r} has no {WEIGHTS}; re-run the study to refit it.")
        self.n_features_, self.lookback_, self.horizon_ = (
            state["n_features"],
            state["lookback"],
            state["horizon"],
        )
        self.x_mean_, self.x_std_ = np.array(state["x_mean"]), np.array(state["x_std"])
        self.y_mean_, self.y_std_ = np.array(state["y_mean"]), np.array(state["y_std"])
        self.net_ = self.build_net()
        try:
            self.net_.load_state_dict(_read_weights(path))
        except (OSError, EOFError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
            why = " ".join(str(exc).split()).split(". ")[0][:160] or type(exc).__name__
            problem = f"is unreadable or does not fit model.json ({why})"
            raise ModelFileError(path, problem) from None
        self.net_.to(resolve_device(self.device)).eval()
        return self


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict `save` wrote: each array as a tensor of its own dtype, on the CPU. Read
    with allow_pickle=False: an array of objects is an error, never unpickled."""
    with np.load(path, allow_pickle=False) as data:
        return {key: torch.from_numpy(np.array(data[key])) for key in data.files}
