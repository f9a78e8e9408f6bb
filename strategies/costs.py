"""Trading costs shared by the Backtrader engine and its vectorised twin."""

from __future__ import annotations

from dataclasses import dataclass

# Keep this fraction of equity in cash on each long entry so float rounding can never push
# cash below zero and get an order rejected for margin. Both engines apply it identically.
CASH_BUFFER = 1e-9


@dataclass(frozen=True)
class Costs:
    """Commission and slippage, each a fraction of traded value per side (5 bps = 0.0005)."""

    commission: float = 0.0005
    slippage: float = 0.0005

    def __post_init__(self) -> None:
        for name in ("commission", "slippage"):
            value = getattr(self, name)
            if not 0.0 <= value < 0.1:
                raise ValueError(
                    f"{name} must be a fraction in [0, 0.1) per side (5 bps = 0.0005), got {value}"
                )
