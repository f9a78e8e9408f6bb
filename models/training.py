"""The training loop: contiguous tensors, index-sliced batches, Adam, early stopping on validation.

No per-item Dataset/DataLoader on the hot path: the windows are one tensor on the device,
shuffled by one gather per epoch, and a batch is a contiguous slice of it (see benchmarks/).

The loop trains a *group* of seeds at once: S independent models packed block-diagonally into
one network (models/seeds.py), each with its own shuffling order, dropout masks, loss and early
stopping, so every seed ends where it would have ended alone. One seed is the group of one.

A warm start (`keep_start`: the net already holds weights worth keeping, e.g. the previous
walk-forward fold's) counts the starting weights as epoch -1 of early stopping: their
validation loss is the one to beat, and a seed that no epoch improves keeps them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

EpochCallback = Callable[[int, float, float], None]
LOSSES = {"mse": nn.MSELoss, "huber": nn.HuberLoss}


@dataclass
class TrainResult:
    """Loss history and the epoch whose weights were kept (lowest validation loss; -1: the
    starting weights of a warm start, which no epoch improved on). `start_val_loss`: a warm
    start's validation loss before its first epoch (None for a cold start)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    start_val_loss: float | None = None


def warm_budget(epochs: int, patience: int) -> dict[str, int]:
    """A warm-started fold's epochs and patience: a third of the cold fold's epochs and half
    its patience (6 and 2 of the default 20 and 5), at least 1 each. It starts from weights
    that already fit the data up to the previous fold, so it needs few epochs to adapt (cold
    fits ran ~12 epochs on the S&P 500 sample, warm ones ~3; benchmarks/README.md)."""
    return {"epochs": max(1, epochs // 3), "patience": max(1, patience // 2)}


def seed_generators(seed: int) -> tuple[torch.Generator, torch.Generator]:
    """(shuffling, dropout) generators of one seed, on CPU so every device draws the same."""
    dropout_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(dropout_seed)


def _adam(net: nn.Module, lr: float, weight_decay: float, device: torch.device):
    """Fused Adam (one kernel for all parameters; ~2x faster steps for small LSTMs on CPU)."""
    try:
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # a device/dtype without a fused kernel
        return torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)


def _pack_inputs(xb: torch.Tensor) -> torch.Tensor:
    """(S, batch, L, F) rows of each seed, side by side on the feature axis: (batch, L, S*F)."""
    if len(xb) == 1:
        return xb[0]
    return xb.permute(1, 2, 0, 3).reshape(xb.shape[1], xb.shape[2], -1)


def _eval_losses(net: nn.Module, X, y, loss_fn, n_seeds: int, batch: int) -> list[float]:
    """Validation loss of each seed (the same rows for all), in large batches."""
    net.eval()
    totals = [0.0] * n_seeds
    with torch.no_grad():
        for lo in range(0, len(X), batch):
            xb = X[lo : lo + batch]
            pred = net(xb if n_seeds == 1 else xb.repeat(1, 1, n_seeds))
            pred = pred.view(len(xb), n_seeds, -1)
            for s in range(n_seeds):
                totals[s] += float(loss_fn(pred[:, s], y[lo : lo + batch])) * len(xb)
    return [t / max(len(X), 1) for t in totals]


def train_group(
    net: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    device: torch.device,
    grad_masks: list[torch.Tensor] | None = None,
    loss: str = "mse",
    weight_decay: float = 0.0,
    on_epoch: EpochCallback | None = None,
    keep_start: bool = False,
) -> list[tuple[TrainResult, dict]]:
    """Train `net` holding len(seeds) packed models; per seed, its history and best weights.

    `grad_masks` (one per parameter) zero the gradients between different seeds' blocks, so
    Adam (element-wise) updates each block exactly as it would alone. Stopped seeds keep
    training with the rest (their blocks cannot touch the others') but keep their best state.
    `keep_start`: a warm start; the starting weights are the first candidate of early stopping
    (see the module's docstring).
    """
    n_seeds = len(seeds)
    loss_fn = LOSSES[loss]()
    net.to(device)
    masks = None if grad_masks is None else [m.to(device) for m in grad_masks]
    Xt = torch.as_tensor(X_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)
    has_val = X_val is not None and len(X_val) > 0
    if has_val:
        Xv = torch.as_tensor(X_val, dtype=torch.float32, device=device)
        yv = torch.as_tensor(y_val, dtype=torch.float32, device=device)
    opt = _adam(net, lr, weight_decay, device)
    gens = [seed_generators(s) for s in seeds]
    if hasattr(net, "dropout_mask"):
        net.dropout_mask = _dropout_masks([g[1] for g in gens])
    results = [TrainResult() for _ in seeds]
    best_states: list[dict | None] = [None] * n_seeds
    best, stale = [float("inf")] * n_seeds, [0] * n_seeds
    active = [True] * n_seeds
    if keep_start:  # the starting weights are the loss to beat (on the training rows if no val)
        X0, y0 = (Xv, yv) if has_val else (Xt, yt)
        best = _eval_losses(net, X0, y0, loss_fn, n_seeds, 4096)
        start = copy.deepcopy(net.state_dict())  # read only: every seed's block is in it
        best_states = [start] * n_seeds
        for result, loss in zip(results, best, strict=True):
            result.start_val_loss = loss
    n = len(Xt)
    try:
        for epoch in range(epochs):
            net.train()
            orders = torch.stack([torch.randperm(n, generator=g[0]) for g in gens]).to(device)
            # one gather per epoch; each batch is then a contiguous slice of it
            X_epoch, y_epoch = Xt[orders], yt[orders]  # (S, n, L, F), (S, n, horizon)
            # per-seed loss sums stay on the device (float64, the same arithmetic as Python
            # floats): no host sync per batch, which would stall a GPU
            totals = torch.zeros(n_seeds, dtype=torch.float64, device=device)
            for lo in range(0, n, batch_size):
                xb, yb = X_epoch[:, lo : lo + batch_size], y_epoch[:, lo : lo + batch_size]
                size = xb.shape[1]
                opt.zero_grad(set_to_none=True)
                pred = net(_pack_inputs(xb)).view(size, n_seeds, -1)
                losses = [loss_fn(pred[:, s], yb[s]) for s in range(n_seeds)]
                (losses[0] if n_seeds == 1 else torch.stack(losses).sum()).backward()
                if masks is not None:
                    for p, m in zip(net.parameters(), masks, strict=True):
                        p.grad.mul_(m)
                opt.step()
                totals += torch.stack([loss.detach() for loss in losses]).double() * size
            train_losses = [t / n for t in totals.tolist()]
            val_losses = (
                _eval_losses(net, Xv, yv, loss_fn, n_seeds, 4096) if has_val else train_losses
            )
            for s in range(n_seeds):
                if not active[s]:
                    continue
                result = results[s]
                result.train_loss.append(train_losses[s])
                result.val_loss.append(val_losses[s])
                if val_losses[s] < best[s] - 1e-12:
                    best[s], stale[s], result.best_epoch = val_losses[s], 0, epoch
                    best_states[s] = copy.deepcopy(net.state_dict())
                else:
                    stale[s] += 1
                    active[s] = stale[s] < patience
            if on_epoch is not None:
                on_epoch(epoch, train_losses[0], val_losses[0])
            if not any(active):
                break
    finally:
        if hasattr(net, "dropout_mask"):
            net.dropout_mask = None
    final = net.state_dict()
    net.eval()
    return [
        (r, st if st is not None else final) for r, st in zip(results, best_states, strict=True)
    ]


def _dropout_masks(
    generators: list[torch.Generator],
) -> Callable[[torch.Size, float], torch.Tensor]:
    """Inverted-dropout masks for a packed net: each seed's block drawn from its own generator."""

    def draw(shape: torch.Size, p: float) -> torch.Tensor:
        width = shape[-1] // len(generators)
        blocks = [
            torch.empty(*shape[:-1], width).bernoulli_(1.0 - p, generator=g) for g in generators
        ]
        return torch.cat(blocks, dim=-1) / (1.0 - p)

    return draw


def train_regressor(
    net: nn.Module,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    seed: int,
    **options: Any,
) -> TrainResult:
    """Train one model in place and leave it holding its best-validation weights.

    `options`: those of `train_group` (epochs, batch_size, lr, patience, device, ...).
    """
    [(result, state)] = train_group(net, X_train, y_train, X_val, y_val, seeds=[seed], **options)
    net.load_state_dict(state)
    net.eval()
    return result
