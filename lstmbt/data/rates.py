"""Interest on cash: none, a constant annual rate, the historical risk-free rate, or a file.

`risk-free` offline (a sample or CSV source) is the RF column of the Fama-French factors that
`arch` ships (`arch.data.frenchdata`): the one-month US Treasury bill's return in percent per
month, from 1926-07 to 2018-11. Each trading day gets its month's rate as an annual fraction
(x 12 / 100; the engines accrue it per day at annual / 252). The last month is carried forward
for at most two months, with a note; a span the series does not cover is refused. With a Yahoo
source (`yahoo`, or `auto` when Yahoo answers) it is Yahoo's ^IRX instead, the 13-week T-bill
yield in percent a year at each close, cached like prices: a quote pays from the next day, so
day t's interest takes the latest quote before t. A CSV file of dated annual rates
(`--cash-rate rates.csv`, read by the CSV rules every reader shares) pays each rate from its
date on, as the monthly rate pays from the month's first day. Its unit is declared, never
guessed (0.5 is 50% a year as a fraction, 0.5% as percent: both are plausible numbers): by its
column's name (`rate`: annual fractions, `rate_pct`: percent a year) or `--cash-rate-unit`.
A gap between two rows longer than the carry-forward limit pays the older rate throughout,
with a note naming it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstmbt.data.cache import PriceCache
from lstmbt.data.csv import read_dated_csv
from lstmbt.data.yahoo import load_yahoo
from lstmbt.errors import DataError
from lstmbt.strategies.costs import TRADING_DAYS

RISK_FREE = "risk-free"
CARRY_MONTHS = 2
RISK_FREE_SOURCE = (
    "the one-month T-bill rate (RF) of the Fama-French factors in arch.data.frenchdata"
)
TREASURY = "^IRX"  # Yahoo: the 13-week T-bill's yield, percent a year
STALE_DAYS = 10  # calendar days a daily quote (^IRX) may be carried to a later trading day
# a rate file's column names, by the unit they declare; `rf` (and a lone column of any other
# name) declares none: Fama-French's RF, say, is percent a month
FRACTION_COLUMNS = ("rate", "cash_rate", "annual_rate")
PERCENT_COLUMNS = ("rate_pct", "cash_rate_pct", "annual_rate_pct", "rate_percent")
RATE_COLUMNS = (*FRACTION_COLUMNS, *PERCENT_COLUMNS, "rf")
UNITS = ("fraction", "percent")
# the highest annual rate a column's name alone may declare (the US T-bill peaked at 16% in
# 1981): a higher one in a `rate` column is as likely percent (0.05 .. 0.9 meant as 0.9%)
PLAUSIBLE_ANNUAL = 0.20


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
        """The interest one day earns on cash (annual / TRADING_DAYS) on each date of `index`."""
        return (self.annual.reindex(index) / TRADING_DAYS).rename("cash_rate")

    def fingerprint(self) -> str:
        """A short hash of the rates, saved in config.json so `resume` can refuse new ones."""
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
    """`risk-free`, a CSV file's path, or a constant annual fraction in [0, 1); ValueError
    naming the fix."""
    raw = str(spec).strip()
    text = raw.lower()
    if text in (RISK_FREE, "riskfree", "rf"):
        return RISK_FREE
    if text.endswith(".csv"):
        if not Path(raw).expanduser().is_file():
            raise ValueError(f"--cash-rate file {raw!r} does not exist; check the path.")
        return raw
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


def check_rate_unit(spec: str, unit: str | None) -> None:
    """--cash-rate-unit is fraction or percent, and only for a --cash-rate file (a constant
    is an annual fraction by definition); ValueError naming the fix."""
    if unit is None:
        return
    if unit not in UNITS:
        raise ValueError(
            f"--cash-rate-unit must be fraction (0.02 = 2% a year) or percent (2 = 2% a year), "
            f"got {unit!r}."
        )
    value = parse_cash_rate(spec)
    if value == RISK_FREE or not isinstance(value, str):
        raise ValueError(
            f"--cash-rate-unit is the unit of a --cash-rate file's rates; --cash-rate {spec} "
            "is not a file (a constant is an annual fraction: 0.02 = 2% a year)."
        )


def cash_rate(
    spec: str,
    dates: pd.DatetimeIndex,
    *,
    source: str = "sample",
    cache: PriceCache | None = None,
    date_format: str | None = None,
    unit: str | None = None,
) -> CashRate:
    """The annual cash rate on each of `dates` for a --cash-rate value; `source` (the prices'
    --source) decides where `risk-free` comes from: Yahoo's ^IRX for yahoo and auto (auto
    falls back to the offline rate, with a note, when Yahoo cannot be reached), else offline.
    `unit`: a rate file's unit (fraction or percent) when its column's name does not say it."""
    value = parse_cash_rate(spec)
    try:
        check_rate_unit(spec, unit)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    if isinstance(value, float):
        label = "none" if value == 0 else f"a constant {value:.2%} a year"
        return CashRate(pd.Series(value, index=dates, name="cash_rate"), spec, label)
    if value != RISK_FREE:
        return _from_file(value, dates, spec, date_format, unit)
    if source in ("yahoo", "auto") and len(dates):
        try:
            return _treasury(dates, spec, cache or PriceCache(), source == "auto")
        except DataError as exc:
            if source == "yahoo":
                raise
            rate = _on_dates(risk_free_monthly(), dates, spec)
            why = " ".join(str(exc).split())[:160]
            note = f"cash rate: Yahoo's {TREASURY} could not be read ({why}); used the offline one"
            return CashRate(rate.annual, rate.spec, rate.source, (note, *rate.notes))
    return _on_dates(risk_free_monthly(), dates, spec)


def _as_of(
    rates: pd.Series, dates: pd.DatetimeIndex, strictly_before: bool = False
) -> tuple[pd.Series, pd.DatetimeIndex]:
    """Each date's latest rate on or before it (strictly before it with `strictly_before`),
    NaN where there is none, and the date of the rate each date took (NaT there)."""
    pos = rates.index.searchsorted(dates, side="left" if strictly_before else "right") - 1
    known = pos >= 0
    at = np.maximum(pos, 0)
    values = np.where(known, rates.to_numpy()[at], np.nan)
    dated = np.where(known, rates.index.to_numpy()[at], np.datetime64("NaT"))
    return pd.Series(values, index=dates, name="cash_rate"), pd.DatetimeIndex(dated)


def _treasury(dates: pd.DatetimeIndex, spec: str, cache: PriceCache, offline_ok: bool) -> CashRate:
    """Yahoo's ^IRX (percent a year) as an annual fraction on each trading day. A quote is the
    yield at a close, so it pays from the next day on: day t's interest (close t-1 to close t)
    takes the latest quote before t, never t's own."""
    lo = dates[0] - pd.Timedelta(days=STALE_DAYS)
    frame = load_yahoo(TREASURY, lo, dates[-1], cache=cache, offline_ok=offline_ok)
    quotes = (frame["close"].dropna() / 100.0).sort_index()
    annual, dated = _as_of(quotes, dates, strictly_before=True)
    age = (dates - dated).days  # NaN (no quote at all) counts as stale
    stale = ~(age <= STALE_DAYS)
    if stale.any():
        day = dates[np.flatnonzero(stale)[0]]
        raise DataError(
            f"--cash-rate {RISK_FREE}: Yahoo's {TREASURY} has no quote within {STALE_DAYS} days "
            f"before {day:%Y-%m-%d}; use --source sample (the offline rate, to 2018-11), a "
            "--cash-rate file or a constant --cash-rate."
        )
    return CashRate(
        annual,
        spec,
        f"Yahoo's {TREASURY}, the 13-week T-bill yield ({quotes.index[0]:%Y-%m-%d} to "
        f"{quotes.index[-1]:%Y-%m-%d}, daily, each quote paying from the next day)",
    )


def _from_file(
    path: str, dates: pd.DatetimeIndex, spec: str, date_format: str | None, unit: str | None
) -> CashRate:
    """A CSV of dated annual rates, in the unit its column's name or `unit` declares: each
    trading day takes the latest rate on or before it; the last one is carried forward for at
    most CARRY_MONTHS, with a note, and so is a rate followed by a longer gap (with a note)."""
    table = read_dated_csv(path, "cash-rate CSV", date_format)
    name = Path(path).name
    column = _rate_column(table, name)
    declared = _unit_of(column, unit, name, table[column])
    rates = table[column].dropna()
    if rates.empty:
        raise DataError(f"cash-rate CSV {name!r} holds no rate.")
    scale = 100.0 if declared == "percent" else 1.0
    _check_values(rates, name, column, declared, scale, explicit=unit is not None)
    rates = rates / scale
    first, last = rates.index[0], rates.index[-1]
    limit = last + pd.DateOffset(months=CARRY_MONTHS)
    if len(dates) and dates[0] < first:
        raise DataError(
            f"cash-rate CSV {name!r} starts {first:%Y-%m-%d}, after the prices' first day "
            f"{dates[0]:%Y-%m-%d}; give rates from then on, or use --start {first:%Y-%m-%d}."
        )
    if len(dates) and dates[-1] > limit:
        raise DataError(
            f"cash-rate CSV {name!r} ends {last:%Y-%m-%d} (carried forward to {limit:%Y-%m-%d} "
            f"at most), the prices run to {dates[-1]:%Y-%m-%d}; extend the file or use --end "
            f"{limit:%Y-%m-%d}."
        )
    notes = list(table.attrs.get("notes", []))
    notes += _gap_notes(rates, dates, name)
    if len(dates) and dates[-1] > last:
        notes.append(
            f"cash rate: {name} ends {last:%Y-%m-%d}; its last rate ({rates.iloc[-1]:.2%} a "
            f"year) is carried forward to {dates[-1]:%Y-%m-%d}"
        )
    what = "annual fractions" if declared == "fraction" else "percent a year"
    source = f"the file {name} ({first:%Y-%m-%d} to {last:%Y-%m-%d}), column {column!r} in {what}"
    return CashRate(_as_of(rates, dates)[0], spec, source, tuple(notes))


_DECLARED = {c: "fraction" for c in FRACTION_COLUMNS} | {c: "percent" for c in PERCENT_COLUMNS}


def _rate_column(table: pd.DataFrame, name: str) -> str:
    """The file's one column, or its one column named as a rate."""
    named = [c for c in table.columns if str(c).strip().lower() in RATE_COLUMNS]
    if len(table.columns) == 1:
        return table.columns[0]
    if len(named) == 1:
        return named[0]
    raise DataError(
        f"cash-rate CSV {name!r} has the columns {[str(c) for c in table.columns]}; give a Date "
        f"column and one rate column (named one of {', '.join(RATE_COLUMNS)})."
    )


def _unit_of(column: str, unit: str | None, name: str, values: pd.Series) -> str:
    """--cash-rate-unit, else the unit the column's name declares; neither, the file is
    refused (0.5 reads as 50% or 0.5% a year: both plausible). `rate` is what most files are
    called whatever their unit, so the option overrides it; a percent name (`rate_pct`) is
    deliberate, and an option saying fraction for it is refused as a mistake."""
    declared = _DECLARED.get(str(column).strip().lower())
    if unit == "fraction" and declared == "percent":
        raise DataError(
            f"cash-rate CSV {name!r}: its column {str(column)!r} says {declared}, "
            f"--cash-rate-unit says {unit}; rename the column or drop the option."
        )
    if unit or declared:
        return unit or declared
    shown = values.dropna()
    span = f"; its values run from {shown.min():g} to {shown.max():g}" if len(shown) else ""
    raise DataError(
        f"cash-rate CSV {name!r}: the column {str(column)!r} does not say its unit{span}. "
        "Name it rate (annual fractions, 0.02 = 2% a year) or rate_pct (percent a year, "
        "2 = 2%), or pass --cash-rate-unit fraction or percent. Rates must be annual (for "
        "Fama-French's monthly RF use --cash-rate risk-free)."
    )


def _check_values(
    rates: pd.Series, name: str, column: str, unit: str, scale: float, explicit: bool
) -> None:
    """Annual rates in [0, 1) as fractions; above PLAUSIBLE_ANNUAL only when --cash-rate-unit
    said so (a column's name is not enough: `rate` holding 0.9 is 90%, or a percent file)."""
    top = "[0, 1)" if unit == "fraction" else "[0, 100)"
    bad = rates[(rates < 0) | (rates >= scale)]
    if len(bad):
        raise DataError(
            f"cash-rate CSV {name!r}: {bad.iloc[0]:g} on {bad.index[0]:%Y-%m-%d} is not an annual "
            + (
                "fraction in [0, 1) (0.02 = 2% a year); if the file is in percent, name the "
                "column rate_pct or pass --cash-rate-unit percent."
                if unit == "fraction"
                else f"rate in percent in {top} (2 = 2% a year)."
            )
        )
    high = rates[rates / scale > PLAUSIBLE_ANNUAL]
    if len(high) and not explicit:
        value = high.iloc[0]
        raise DataError(
            f"cash-rate CSV {name!r}: {value:g} on {high.index[0]:%Y-%m-%d} in the column "
            f"{str(column)!r} ({unit}) is {value / scale:.0%} a year, more than any cash rate it "
            f"likely means ({PLAUSIBLE_ANNUAL:.0%}). If the file is in "
            + (
                "percent, name the column rate_pct or pass --cash-rate-unit percent"
                if unit == "fraction"
                else "basis points or another unit, convert it"
            )
            + f"; if the rate is right, pass --cash-rate-unit {unit}."
        )


def _gap_notes(rates: pd.Series, dates: pd.DatetimeIndex, name: str) -> list[str]:
    """A note for rows further apart than the carry-forward limit where trading days fall
    in between: the older rate is paid throughout (a file may list only the changes)."""
    if len(rates) < 2 or not len(dates):
        return []
    starts, ends = rates.index[:-1], rates.index[1:]
    stale_from = starts + pd.DateOffset(months=CARRY_MONTHS)
    gaps = [
        (a, b, v)
        for a, b, s, v in zip(starts, ends, stale_from, rates.iloc[:-1], strict=True)
        if b > s and ((dates > s) & (dates < b)).any()
    ]
    if not gaps:
        return []
    a, b, value = max(gaps, key=lambda g: g[1] - g[0])
    more = f" ({len(gaps)} such gaps in all)" if len(gaps) > 1 else ""
    days = (b - a).days
    length = f"{days / 365.25:.1f} years" if days >= 365 else f"{days / 30.44:.0f} months"
    return [
        f"cash rate: {name} has no row from {a:%Y-%m-%d} to {b:%Y-%m-%d} ({length}, longer "
        f"than the {CARRY_MONTHS} months a rate is carried at the file's end){more}; its "
        f"{value:.2%} a year of {a:%Y-%m-%d} is paid throughout. Add rows if the rate changed "
        "in between."
    ]


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
