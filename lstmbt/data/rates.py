"""Interest on cash: none, a constant annual rate, or the historical risk-free rate.

`risk-free` is the RF column of the Fama-French factors that `arch` ships
(`arch.data.frenchdata`): the one-month US Treasury bill's return in percent per month, from
1926-07 to 2018-11, read offline. Each trading day gets its month's rate as an annual fraction
(x 12 / 100; the engines accrue it per day at annual / 252). The last month is carried forward
for at most two months, with a note; a span the series does not cover is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmbt.errors import DataError

RISK_FREE = "risk-free"
CARRY_MONTHS = 2
RISK_FREE_SOURCE = (
    "the one-month T-bill rate (RF) of the Fama-French factors in arch.data.frenchdata"
)


@dataclass(frozen=True)
class CashRate:
    """The annual interest rate on cash for each date of a price calendar, and its source."""

    annual: pd.Series  # annual fraction per date
    spec: str = "0"  # as given: "0", "0.02", "risk-free"
    source: str = "none"
    notes: tuple[str, ...] = field(default=())

    @property
    def is_zero(self) -> bool:
        return not self.annual.to_numpy().any()

    def daily(self, index: pd.DatetimeIndex) -> pd.Series:
        """The interest one day earns on cash (annual / 252) on each date of `index`."""
        return (self.annual.reindex(index) / 252.0).rename("cash_rate")

    def fingerprint(self) -> str:
        """A short hash of the rates, saved in config.json so `resume` can refuse new ones."""
        import hashlib

        values = pd.util.hash_pandas_object(self.annual, index=True).to_numpy()
        return hashlib.sha256(values.tobytes()).hexdigest()[:16]

    def to_dict(self) -> dict:
        """The rate's record in config.json."""
        return {
            "spec": self.spec,
            "source": self.source,
            "mean_annual": float(self.annual.mean()) if len(self.annual) else 0.0,
            "fingerprint": self.fingerprint(),
            "notes": list(self.notes),
        }


def parse_cash_rate(spec: str) -> float | str:
    """`risk-free`, or a constant annual fraction in [0, 1); ValueError naming the fix."""
    text = str(spec).strip().lower()
    if text in (RISK_FREE, "riskfree", "rf"):
        return RISK_FREE
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"--cash-rate must be 0, an annual fraction such as 0.02 (2% a year) or "
            f"{RISK_FREE}; got {spec!r}."
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"--cash-rate must be >= 0 (an annual fraction), got {spec!r}.")
    if value >= 1:
        raise ValueError(
            f"--cash-rate is an annual fraction (0.02 = 2% a year), got {spec!r}; use < 1."
        )
    return value


def cash_rate(spec: str, dates: pd.DatetimeIndex) -> CashRate:
    """The annual cash rate on each of `dates` for a --cash-rate value."""
    value = parse_cash_rate(spec)
    if value != RISK_FREE:
        source = "none" if value == 0 else f"a constant {value:.2%} a year"
        return CashRate(pd.Series(float(value), index=dates, name="cash_rate"), spec, source)
    monthly = risk_free_monthly()
    return _on_dates(monthly, dates, spec)


def risk_free_monthly() -> pd.Series:
    """The Fama-French RF column as an annual fraction per calendar month (PeriodIndex).

    arch stores the month YYYYMM as the integer value of a nanosecond timestamp (192607 ns
    after 1970-01-01); the codes are checked to be months before they are read that way.
    """
    from arch.data import frenchdata

    frame = frenchdata.load()
    codes = np.asarray(frame.index.asi8 if hasattr(frame.index, "asi8") else frame.index)
    year, month = codes // 100, codes % 100
    if not ((year >= 1900) & (year <= 2100) & (month >= 1) & (month <= 12)).all():
        raise DataError(
            "arch.data.frenchdata's index is not the YYYYMM codes expected; the risk-free "
            "rate cannot be read (use a constant --cash-rate)."
        )
    index = pd.PeriodIndex.from_fields(year=year, month=month, freq="M")
    rf = pd.Series(frame["RF"].to_numpy(dtype=np.float64) * 12 / 100, index=index, name="rf")
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise DataError("arch.data.frenchdata's months are not in order; cannot read RF.")
    return rf


def _on_dates(monthly: pd.Series, dates: pd.DatetimeIndex, spec: str) -> CashRate:
    """Each date gets its month's rate; the last month carried forward for CARRY_MONTHS."""
    first, last = monthly.index[0], monthly.index[-1]
    months = dates.to_period("M")
    notes: list[str] = []
    if len(dates) and months[0] < first:
        raise DataError(
            f"--cash-rate {RISK_FREE}: the risk-free rate starts {first}, the prices "
            f"{dates[0]:%Y-%m-%d}; use --start {first.start_time:%Y-%m-%d} or later, or a "
            "constant --cash-rate."
        )
    if len(dates) and months[-1] > last:
        if months[-1] > last + CARRY_MONTHS:
            raise DataError(
                f"--cash-rate {RISK_FREE}: the risk-free rate ends {last} (carried forward to "
                f"{last + CARRY_MONTHS} at most), the prices run to {dates[-1]:%Y-%m-%d}; use "
                f"--end {(last + CARRY_MONTHS).end_time:%Y-%m-%d} or a constant --cash-rate "
                "(e.g. 0.02)."
            )
        carried = months[months > last]
        notes.append(
            f"cash rate: the risk-free rate ends {last}; its last value "
            f"({monthly.iloc[-1]:.2%} a year) is carried forward to {carried[-1]} "
            f"({len(carried)} trading days)"
        )
    rates = monthly.reindex(months.where(months <= last, last)).to_numpy()
    return CashRate(
        pd.Series(rates, index=dates, name="cash_rate"),
        spec,
        f"{RISK_FREE_SOURCE} ({first} to {last}, monthly)",
        tuple(notes),
    )
