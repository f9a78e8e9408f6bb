"""Recurrent regressors for next-day (or next-h-day) returns: the LSTM and the GRU, the same
forecaster around a plain nn.Module whose cell type differs (models/neural.py does the rest)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lstmbt.models.contract import check_xy
from lstmbt.models.neural import TorchForecaster

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}

__all__ = [
    "CELLS",
    "GRUForecaster",
    "LSTMForecaster",
    "LSTMNet",
    "RecurrentForecaster",
    "check_xy",
]


class LSTMNet(nn.Module):
    """Stacked LSTM (or GRU: cell="gru") -> linear head on the last hidden state -> `horizon`
    outputs.

    Layers are separate one-layer recurrent modules with the dropout between them applied here,
    so the masks can come from a seeded CPU generator (`dropout_mask`, set by the training
    loop): the same masks on every device, and per-seed masks when seeds are trained packed.
    """

    def __init__(
        self,
        n_features: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        horizon: int,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CELLS[cell](n_features if i == 0 else hidden_size, hidden_size, batch_first=True)
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


class RecurrentForecaster(TorchForecaster):
    """A stack of `kind` cells (lstm or gru) on the (scaled) windows."""

    kind = "lstm"

    def build_net(self) -> LSTMNet:
        return LSTMNet(
            self.n_features_,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            self.horizon_,
            cell=self.kind,
        )


class LSTMForecaster(RecurrentForecaster):
    """An LSTM on the (scaled) windows; its own scaling is fit on the training windows only."""

    kind = "lstm"


class GRUForecaster(RecurrentForecaster):
    """The same forecaster with GRU cells (fewer gates, no memory cell): does the LSTM's memory
    cell help beyond a simpler recurrent network?"""

    kind = "gru"
