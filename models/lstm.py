"""LSTM regressor for next-day (or next-h-day) returns, sklearn-style around a plain nn.Module."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from lstmbt.models.device import resolve_device
from lstmbt.models.training import LOSSES, EpochCallback, TrainResult, train_regressor


class LSTMNet(nn.Module):
    """Stacked LSTM -> linear head on the last hidden state -> `horizon` outputs.

    Layers are separate one-layer LSTMs with the dropout between them applied here, so the
    masks can come from a seeded CPU generator (`dropout_mask`, set by the training loop):
    the same masks on every device, and per-seed masks when seeds are trained packed together.
    """

    def __init__(
        self, n_features: int, hidden_size: int, num_layers: int, dropout: float, horizon: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.LSTM(n_features if i == 0 else hidden_size, hidden_size, batch_first=True)
            for i in range(num_layers)
        )
        self.dropout = dropout if num_layers > 1 else 0.0
        self.head = nn.Linear(hidden_size, horizon)
        self.dropout_mask: Callable[[torch.Size, float], torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x, _ = layer(x)  # (batch, lookback, hidden)
            if self.training and self.dropout > 0 and i < len(self.layers) - 1:
                if self.dropout_mask is None:
                    x = nn.functional.dropout(x, self.dropout, training=True)
                else:
                    x = x * self.dropout_mask(x.shape, self.dropout).to(x.device)
        return self.head(x[:, -1, :])  # (batch, horizon)


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


class LSTMForecaster:
    """Fits its own feature/target scaling on the training windows only, then an LSTMNet."""

    kind = "lstm"

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

    def get_params(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "hidden_size",
                "num_layers",
                "dropout",
                "lr",
                "batch_size",
                "epochs",
                "patience",
                "loss",
                "weight_decay",
                "seed",
                "device",
            )
        }

    def _validate(self) -> None:
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
    ) -> LSTMForecaster:
        self.prepare(X, y, X_val, y_val)
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
        )
        return self

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
        self._validate()
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
            self.net_ = LSTMNet(
                self.n_features_, self.hidden_size, self.num_layers, self.dropout, self.horizon_
            )

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

    def predict(self, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """(samples, horizon) forecasts of simple returns, in large inference batches."""
        if not hasattr(self, "net_"):
            raise RuntimeError("this LSTMForecaster is not fitted yet; call fit(X, y) first.")
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
