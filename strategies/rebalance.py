"""Fractional target weights: when to trade and how much, one rule for both engines.

A weight is the position's value over equity, both at the open's price: w = x * open / E with
E = cash + x * open. At each open the held weight has drifted with prices since the last
trade; the engines trade to the target only when it differs from the drifted weight by more
than the rebalance band, and then only the difference (never liquidate and re-enter). A buy
is capped so cash stays at least CASH_BUFFER of equity after its costs: longs are at most
fully invested (no margin loan); shorts may reach any weight. Orders smaller than a
billionth of equity are not placed (they would be float noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmbt.strategies.costs import CASH_BUFFER, Costs, StrategyRuined

MIN_ORDER = 1e-9  # of equity


@dataclass(frozen=True)
class Order:
    """A trade of `shares` (negative sells) at `price` paying `fee`; what remains short-sold
    after it, at its sale prices (`proceeds`, which earn no interest)."""

    shares: float
    price: float
    fee: float
    proceeds: float


def fee_of(shares: float, held: float, price: float, costs: Costs) -> float:
    """Commission on a trade of `shares` from `held`: the closing and the opening part (of a
    trade through zero) each pay at least the minimum fee, as Backtrader charges them."""
    closed = min(abs(shares), abs(held)) if shares * held < 0 else 0.0
    opened = abs(shares) - closed
    c, m = costs.commission, costs.min_fee
    fee = max(closed * price * c, m) if closed > 0 else 0.0
    if opened > 0:
        fee += max(opened * price * c, m)
    return fee


def rebalance(
    cash: float,
    held: float,
    proceeds: float,
    open_: float,
    target: float,
    band: float,
    costs: Costs,
) -> Order | None:
    """The order that moves `held` shares to `target` weight at this open, or None when the
    drifted weight is within `band` of the target (or the order would be float noise).

    Raises StrategyRuined (a ValueError) when equity at the open is not positive."""
    equity = cash + held * open_
    if not equity > 0:
        raise StrategyRuined(
            f"equity at the open is {equity:.6g}: costs and losses ruined the strategy; use a "
            "larger capital or a smaller minimum fee."
        )
    if abs(target - held * open_ / equity) <= band:
        return None
    s = costs.price_move
    shares = target * equity / open_ - held
    if shares > 0:
        price = open_ * (1.0 + s)
        room = cash - CASH_BUFFER * equity  # what a buy may spend, fees included
        shares = min(shares, room / (price * (1.0 + costs.commission)))
        if shares > 0 and shares * price + fee_of(shares, held, price, costs) > room:
            shares = (room - fee_of(shares, held, price, costs)) / price  # the minimum fee binds
        if not shares > 0:
            return None  # no room left to buy
    else:
        price = open_ * (1.0 - s)
    if abs(shares) * open_ <= MIN_ORDER * equity:
        return None
    fee = fee_of(shares, held, price, costs)
    new = held + shares
    if new >= 0:
        left = 0.0
    elif held >= 0:
        left = -new * price
    elif new < held:
        left = proceeds + (held - new) * price
    else:
        left = proceeds * new / held
    return Order(shares, price, fee, left)


def check_positions(positions: np.ndarray, band: float | None) -> None:
    """-1, 0 or +1 without a band; finite weights and a band in [0, 1) with one."""
    if band is None:
        if not (np.sign(positions) == positions).all():  # exactly -1, 0 or +1 (NaN fails)
            raise ValueError("positions must be -1, 0 or +1 (or weights with a rebalance band).")
        return
    if not (0.0 <= band < 1.0):
        raise ValueError(f"the rebalance band must be in [0, 1), got {band}.")
    if not np.isfinite(positions).all():
        raise ValueError("target weights must be finite numbers.")
