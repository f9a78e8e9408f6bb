"""Several seeds of one configuration trained together as one block-diagonal network.

Seed s owns block s of every weight matrix (gates, layers and head), its own input block
(its own shuffled rows), its own dropout masks and loss; gradients between blocks are masked
to zero, so each block follows the path it would follow alone. The packed network's matmuls
sum over more (zero) terms, so results equal one-by-one training to float tolerance, not bit
for bit. Faster where one small LSTM leaves the device idle: on a GPU, and on CPU for one-step
windows (measured in benchmarks/); slower on CPU for long windows, where lstmbt trains seeds
one by one in parallel processes instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lstmbt.models.device import resolve_device
from lstmbt.models.lstm import LSTMForecaster, LSTMNet
from lstmbt.models.training import train_group


def _gate_rows(s: int, n_seeds: int, hidden: int, gates: int = 4) -> torch.Tensor:
    """Rows of seed s's units in a packed (gates*S*H)-row matrix, in the one-seed order."""
    q = torch.arange(gates)[:, None] * n_seeds * hidden
    return (q + s * hidden + torch.arange(hidden)[None, :]).reshape(-1)


def _block(s: int, width: int) -> torch.Tensor:
    return s * width + torch.arange(width)


def _slots(net: LSTMNet, s: int, n_seeds: int) -> dict[str, tuple[torch.Tensor, ...]]:
    """For each parameter of one seed's net: its (rows[, cols]) in the packed net."""
    out: dict[str, tuple[torch.Tensor, ...]] = {}
    for i, layer in enumerate(net.layers):
        hidden, width = layer.hidden_size, layer.input_size
        rows = _gate_rows(s, n_seeds, hidden)
        out[f"layers.{i}.weight_ih_l0"] = (rows, _block(s, width))
        out[f"layers.{i}.weight_hh_l0"] = (rows, _block(s, hidden))
        out[f"layers.{i}.bias_ih_l0"] = (rows,)
        out[f"layers.{i}.bias_hh_l0"] = (rows,)
    head = net.head
    out["head.weight"] = (_block(s, head.out_features), _block(s, head.in_features))
    out["head.bias"] = (_block(s, head.out_features),)
    return out


def _index(slot: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return (slot[0][:, None], slot[1][None, :]) if len(slot) == 2 else slot


def pack(nets: Sequence[LSTMNet]) -> tuple[LSTMNet, list[torch.Tensor]]:
    """One network holding every net in its own block, and the 0/1 gradient masks."""
    first, n_seeds = nets[0], len(nets)
    big = LSTMNet(
        first.layers[0].input_size * n_seeds,
        first.layers[0].hidden_size * n_seeds,
        len(first.layers),
        first.dropout,
        first.head.out_features * n_seeds,
    )
    params = dict(big.named_parameters())
    masks = {name: torch.zeros_like(p) for name, p in params.items()}
    with torch.no_grad():
        for p in params.values():
            p.zero_()
        for s, net in enumerate(nets):
            small = dict(net.named_parameters())
            for name, slot in _slots(first, s, n_seeds).items():
                params[name][_index(slot)] = small[name].detach()
                masks[name][_index(slot)] = 1.0
    return big, [masks[name] for name in params]


def unpack(template: LSTMNet, state: dict[str, torch.Tensor], s: int, n_seeds: int) -> dict:
    """Seed s's own state dict out of a packed network's state (on the state's device)."""
    out = {}
    for name, slot in _slots(template, s, n_seeds).items():
        tensor = state[name]
        out[name] = tensor[tuple(i.to(tensor.device) for i in _index(slot))].clone()
    return out


def fit_seeds(
    template: LSTMForecaster,
    seeds: Sequence[int],
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
    init_from: Sequence[LSTMForecaster] | None = None,
) -> list[LSTMForecaster]:
    """One fitted LSTMForecaster per seed, trained together; each equals `fit` with that seed
    to float tolerance (same initial weights, batch order, dropout masks, early stopping).
    `init_from`: one fitted model per seed to start from (a warm start; see `fit`)."""
    if type(template) is not LSTMForecaster:
        raise ValueError(f"seeds are packed for LSTMForecaster only, got {type(template).__name__}")
    if len(seeds) != len(set(seeds)):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    models = [LSTMForecaster(**{**template.get_params(), "seed": s}) for s in seeds]
    for model in models:
        model.prepare(X, y, X_val, y_val)  # the same scaling for all; its own initial net
    if init_from is not None:
        for model, start in zip(models, init_from, strict=True):
            model.start_from(start)
    big, masks = pack([m.net_ for m in models])
    ref = models[0]
    results = train_group(
        big,
        *ref.scaled(X, y, X_val, y_val),
        seeds=list(seeds),
        epochs=ref.epochs,
        batch_size=ref.batch_size,
        lr=ref.lr,
        patience=ref.patience,
        device=resolve_device(ref.device),
        grad_masks=masks,
        loss=ref.loss,
        weight_decay=ref.weight_decay,
        keep_start=init_from is not None,
    )
    device = next(big.parameters()).device
    for s, (model, (history, state)) in enumerate(zip(models, results, strict=True)):
        model.net_.load_state_dict(unpack(model.net_, state, s, len(seeds)))
        model.net_.to(device).eval()
        model.history_ = history
    return models
