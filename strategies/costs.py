"""Trading costs shared by the Backtrader engine and its vectorised twin.

Per trade: commission (a fraction of traded value, at least `min_fee` in currency), slippage
and half the bid-ask spread (both move the fill price against the trader). Per day held: a
borrowing fee on short positions (annual fraction of their value at the close) and interest on
cash (an annual rate, given to the engines beside the costs: a constant or one rate per day).
Interest and fees accrue per trading day at annual / 252, at each day's close, after that
day's fills. Short-sale proceeds earn nothing: interest is paid on the cash beyond them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Keep this fraction of equity in cash on each long entry so float rounding can never push
# cash below zero and get an order rejected for margin. Both engines apply it identically.
CASH_BUFFER = 1e-9
TRADING_DAYS = 252


class StrategyRuined(ValueError):
    """The strategy has nothing left to trade with: its equity cannot pay the next order (a
    minimum fee larger than what costs and losses left). A fact about the inputs (capital,
    fees, positions), not a bug: callers report it as the user's to fix."""


@dataclass(frozen=True)
class Costs:
    """What trading costs. Fractions per side unless said otherwise (5 bps = 0.0005).

    `min_fee` is in currency per trade, against a starting `capital` in the same currency;
    `borrow_fee` is an annual fraction of the short position's value.
    """

    commission: float = 0.0005
    slippage: float = 0.0005
    half_spread: float = 0.0
    min_fee: float = 0.0
    capital: float = 100_000.0
    borrow_fee: float = 0.0

    def __post_init__(self) -> None:
        for name in ("commission", "slippage", "half_spread"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value < 0.1):
                raise ValueError(
                    f"{name} must be a fraction in [0, 0.1) per side (5 bps = 0.0005), got {value}"
                )
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ValueError(f"capital must be a positive amount, got {self.capital}")
        if not (math.isfinite(self.min_fee) and 0.0 <= self.min_fee < 0.01 * self.capital):
            raise ValueError(
                f"min_fee must be >= 0 and below 1% of the capital ({self.capital:g}), "
                f"got {self.min_fee}"
            )
        if not (math.isfinite(self.borrow_fee) and 0.0 <= self.borrow_fee < 1.0):
            raise ValueError(
                f"borrow_fee must be an annual fraction in [0, 1) (2% a year = 0.02), "
                f"got {self.borrow_fee}"
            )

    @property
    def price_move(self) -> float:
        """How far a fill moves from the open, per side: slippage plus half the spread."""
        return self.slippage + self.half_spread

    @property
    def buy_cost(self) -> float:
        """What a buy pays per unit of value, fill move and commission: (1+s)(1+c) - 1."""
        return (1.0 + self.price_move) * (1.0 + self.commission) - 1.0

    @property
    def sell_cost(self) -> float:
        """What a sale gives up per unit of value: 1 - (1-s)(1-c)."""
        return 1.0 - (1.0 - self.price_move) * (1.0 - self.commission)

    def gross(self) -> Costs:
        """The same capital with no trading cost and no borrowing fee (interest stays)."""
        return Costs(0.0, 0.0, 0.0, 0.0, self.capital, 0.0)


def daily_cash_rates(cash_rate: float | pd.Series, index: pd.DatetimeIndex) -> np.ndarray | None:
    """The interest each day of `index` earns on cash (annual rate / 252), or None when it is
    zero on every day. Day 0 is the first decision's close, before anything is held: it earns
    nothing. `cash_rate` is an annual fraction, constant or one per date (covering `index`)."""
    if isinstance(cash_rate, pd.Series):
        annual = cash_rate.reindex(index).to_numpy(dtype=np.float64)
        if not np.isfinite(annual).all():
            raise ValueError("the cash rate must cover every position date.")
    else:
        if not math.isfinite(cash_rate):
            raise ValueError(f"the cash rate must be a finite annual fraction, got {cash_rate}")
        annual = np.full(len(index), float(cash_rate))
    daily = annual / TRADING_DAYS
    if len(daily):
        daily[0] = 0.0
    return daily if daily.any() else None
