"""Pick the torch device: CUDA when present (training must use the GPU), else CPU."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; 'cuda' without a GPU is an error, not a fallback."""
    import torch  # here, not at the top: a config's checks name devices without loading torch

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose auto, cpu or cuda.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was asked for but no CUDA GPU is visible; use --device auto."
        )
    return torch.device(device)
