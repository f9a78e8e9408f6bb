"""A small multilayer perceptron on the flattened window: the plain network an LSTM should beat
if its memory helps. Same training loop, scaling, seeds and early stopping (models/neural.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lstmbt.models.neural import TorchForecaster


class MLPNet(nn.Module):
    """(batch, lookback, features) -> flattened -> `num_layers` x (linear, ReLU[, dropout])
    -> linear -> `horizon` outputs. Dropout masks come from the training loop's seeded
    generator (`dropout_mask`), as in LSTMNet."""

    def __init__(
        self, n_inputs: int, hidden_size: int, num_layers: int, dropout: float, horizon: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(n_inputs if i == 0 else hidden_size, hidden_size) for i in range(num_layers)
        )
        self.dropout = dropout
        self.head = nn.Linear(hidden_size, horizon)
        self.dropout_mask: Callable[[torch.Size, float], torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1)  # (batch, lookback * features)
        for layer in self.layers:
            x = torch.relu(layer(x))  # (batch, hidden)
            if self.training and self.dropout > 0:
                if self.dropout_mask is None:
                    x = nn.functional.dropout(x, self.dropout, training=True)
                else:
                    x = x * self.dropout_mask(x.shape, self.dropout).to(x.device)
        return self.head(x)  # (batch, horizon)


class MLPForecaster(TorchForecaster):
    """An MLP on the flattened (scaled) window; scaling fit on the training windows only.
    `hidden_size` units per hidden layer, `num_layers` hidden layers."""

    kind = "mlp"

    def build_net(self) -> MLPNet:
        return MLPNet(
            self.lookback_ * self.n_features_,
            self.hidden_size,
            self.num_layers,
            self.dropout,
            self.horizon_,
        )
