"""Dated CSV files, read by one set of rules for every CSV the toolkit reads (prices now,
forecasts later): the date column, dd/mm vs mm/dd, numeric cells, repeated headers and duplicate
rows."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from lstmbt.data.columns import _norm, standard_columns
from lstmbt.errors import ConfigError, DataError


def read_csv_prices(path: str | Path, date_format: str | None = None) -> pd.DataFrame:
    """A Yahoo-style CSV (Date, Open, High, Low, Close[, Adj Close][, Volume]; any header case).

    Dates follow `read_dated_csv`'s rules; `date_format` (e.g. '%d/%m/%Y') overrides them.
    """
    return read_dated_csv(
        path,
        "CSV file",
        date_format,
        columns=lambda raw: standard_columns(raw, repr(str(Path(path).expanduser()))),
    )


def read_dated_csv(
    path: str | Path,
    what: str = "CSV file",
    date_format: str | None = None,
    columns: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Read a CSV with a date column into numbers indexed by date, by the rules every reader shares.

    Dates: one format for the whole column; `date_format` when given, else ISO or inferred, where
    an ambiguous dd/mm vs mm/dd column is settled only when exactly one reading gives sorted
    weekday dates (with a note), else refused. Cells: `columns(raw)` picks the string columns to
    keep (default all); each must be a finite number or empty. Rows: sorted by date (a note says
    so when they were not: every later step reads the first and last row as the span), repeated
    header lines and exact duplicates (concatenated files) dropped with a warning, conflicting
    rows for one date refused (`drop_exact_duplicates`). `what` names the kind of file in
    messages ('CSV file', 'forecasts CSV'). Repairs are listed in `attrs["notes"]`.
    """
    path = Path(path).expanduser()
    shown = repr(str(path))
    if not path.is_file():
        raise DataError(f"{what} {shown} does not exist; check the path.")
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {shown} as CSV ({exc}).") from None
    notes = []
    stripped = raw.apply(lambda col: col.str.strip())
    header = stripped.eq([str(c).strip() for c in raw.columns]).all(axis=1)
    if header.any():  # `cat a.csv b.csv` repeats the header line
        raw = raw.loc[~header].reset_index(drop=True)
        notes.append(f"{path.name}: dropped {int(header.sum())} repeated header rows")
    if raw.empty:  # a header line alone (or repeated): nothing a later step can index
        raise DataError(f"{what} {shown} has a header but no rows of data; check the file.")
    date_cols = [c for c in raw.columns if _norm(c) in ("date", "datetime", "timestamp", "time")]
    if not date_cols:
        raise DataError(
            f"{shown} has no Date column; found {list(raw.columns)}. Name the date column "
            "'Date' (Yahoo-style CSV)."
        )
    dates = raw.pop(date_cols[0]).str.strip()
    index, note = _parse_dates(dates, shown, date_format)
    index = _in_range(index, dates, shown)
    frame = columns(raw) if columns is not None else raw
    numeric = _numeric_cells(frame, dates, shown)
    numeric.index = index
    if note:
        notes.append(f"{path.name}: {note}")
    numeric, duplicates = split_exact_duplicates(numeric, path.name)
    if duplicates:
        notes.append(duplicates)
    if not numeric.index.is_monotonic_increasing:  # e.g. newest first, as some sites export
        numeric = numeric.sort_index(kind="stable")
        notes.append(f"{path.name}: rows were not in date order; sorted them")
    numeric.attrs["source"] = f"csv:{path}"
    for text in notes:
        warnings.warn(text, stacklevel=2)
    numeric.attrs["notes"] = notes
    return numeric


def _in_range(index: pd.DatetimeIndex, dates: pd.Series, shown: str) -> pd.DatetimeIndex:
    """The dates at nanosecond resolution, as every frame of ours is: a date pandas cannot
    hold there (before 1677-09-22 or after 2262-04-11) is an error naming it (a fuzz finding:
    '2262-04-12' was read, then overflowed in a later step)."""
    try:
        return index.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        lo, hi = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
        out = ~((index >= lo) & (index <= hi))
        raise DataError(
            f"{shown}: the date {dates.iloc[int(np.flatnonzero(out)[0])]!r} is outside the "
            f"dates lstmbt can hold ({lo:%Y-%m-%d} to {hi:%Y-%m-%d}). Fix or remove that row."
        ) from None


def _first_bad_date(dates: pd.Series) -> str:
    parsed = pd.to_datetime(dates.iloc[:1], errors="coerce")
    fmt = None if parsed.isna().all() else "ISO8601"
    for value in dates:
        try:
            pd.to_datetime(value, format=fmt)
        except (ValueError, TypeError):
            return str(value)
    return str(dates.iloc[-1])


def drop_exact_duplicates(frame: pd.DataFrame, name: str, stacklevel: int = 2) -> pd.DataFrame:
    """Drop rows repeating an earlier row exactly (date and every value), with a warning and a note.

    Concatenated downloads repeat rows; keeping one copy changes nothing. Rows for one date with
    different values are an error naming the dates: picking one would be a silent guess. Shared by
    every reader (prices, forecasts); `stacklevel` as for `warnings.warn` (2: this caller).
    """
    frame, note = split_exact_duplicates(frame, name)
    if note:
        warnings.warn(note, stacklevel=stacklevel)
        frame.attrs["notes"] = [*frame.attrs.get("notes", []), note]
    return frame


def split_exact_duplicates(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, str | None]:
    """`drop_exact_duplicates` without the warning: the frame and the note to give, if any."""
    if not frame.index.has_duplicates:
        return frame, None
    rows = frame.reset_index(drop=True)
    rows.columns = range(rows.shape[1])  # the date joins the values, whatever the column names
    rows[rows.shape[1]] = frame.index
    exact = rows.duplicated(keep="first").to_numpy()
    kept = frame.iloc[~exact]
    clash = kept.index.duplicated(keep=False)
    if clash.any():
        days = sorted({f"{day:%Y-%m-%d}" for day in kept.index[clash]})
        shown = ", ".join(days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
        raise DataError(
            f"{name}: conflicting rows for {len(days)} date(s) ({shown}): same date, different "
            "values. Keep one row per date and retry."
        )
    days = sorted({f"{day:%Y-%m-%d}" for day in frame.index[exact]})
    note = (
        f"{name}: dropped {int(exact.sum())} exact duplicate rows (same date and values, e.g. "
        f"{', '.join(days[:3])})"
    )
    kept = kept.copy()
    kept.attrs = dict(frame.attrs)
    return kept, note


def _numeric_cells(frame: pd.DataFrame, dates: pd.Series, shown: str) -> pd.DataFrame:
    """The cells as float64; a non-numeric or infinite cell is an error naming column and date."""
    numeric = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
    text = frame.astype(str).apply(lambda s: s.str.strip())
    bad_mask = numeric.isna() & frame.notna() & (text != "")
    if bad_mask.to_numpy().any():
        row, col = np.argwhere(bad_mask.to_numpy())[0]
        raise DataError(
            f"{shown}: non-numeric value {frame.iat[row, col]!r} in column "
            f"{frame.columns[col]!r} on {dates.iloc[row]}. Fix or remove that row."
        )
    infinite = np.isinf(numeric.to_numpy())
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise DataError(
            f"{shown}: value {frame.iat[row, col]!r} in column {frame.columns[col]!r} on "
            f"{dates.iloc[row]} is not a finite number. Fix or remove that row."
        )
    return numeric


def _parse_dates(
    dates: pd.Series, shown: str, date_format: str | None
) -> tuple[pd.DatetimeIndex, str | None]:
    """The date column as a DatetimeIndex, plus a note when an ambiguous order had to be chosen.

    Errors name the file as `shown`; the note does not (the caller prefixes the file name).
    """
    missing = dates.isna() | (dates == "")
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0]) + 1
        raise DataError(f"{shown}: data row {row} has no date. Fill it in or remove that row.")
    if date_format:
        return _parse_with_format(dates, shown, date_format), None
    orders = _order_formats(dates.iloc[0]) if len(dates) else None
    if orders is not None:
        return _pick_order(dates, shown, orders)
    try:
        # One format for the whole column: inferred from the first row, so a file mixing
        # 03/04/2020 and 2020-04-03 fails instead of being silently misread.
        return pd.DatetimeIndex(pd.to_datetime(dates, errors="raise")), None
    except (ValueError, TypeError):
        abbreviated = _abbreviated_months(dates.iloc[0] if len(dates) else "")
        if abbreviated is not None:
            try:
                return pd.DatetimeIndex(pd.to_datetime(dates, format=abbreviated)), None
            except (ValueError, TypeError):
                pass
        bad = _first_bad_date(dates)
        raise DataError(
            f"{shown}: unparseable or mixed date formats (first bad value {bad!r}). "
            "Use one format throughout, preferably YYYY-MM-DD."
        ) from None


def _abbreviated_months(first: str) -> str | None:
    """The format inferred from `first` with abbreviated month names, when it was inferred
    with full ones: 'May' is both, so a file of 03-May-2010, 27-Apr-2010 ... was inferred as
    '%d-%B-%Y' and refused at 'Apr' (a fuzz finding). None when that is not the case."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        guess = guess_datetime_format(first)
    return guess.replace("%B", "%b") if guess and "%B" in guess else None


def _parse_with_format(dates: pd.Series, shown: str, date_format: str) -> pd.DatetimeIndex:
    """Every date read with the user's format; the first value that does not fit is an error."""
    try:
        parsed = pd.to_datetime(dates, format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--date-format {date_format!r} is not a date format ({exc}); use strftime codes "
            "such as '%d/%m/%Y' for 31/12/2020."
        ) from None
    if parsed.isna().any():
        bad = dates[parsed.isna()].iloc[0]
        raise DataError(
            f"{shown}: date {bad!r} does not match --date-format {date_format!r}. Fix the "
            "format (e.g. '%d/%m/%Y' for 31/12/2020, '%Y-%m-%d' for 2020-12-31) or that row."
        )
    return pd.DatetimeIndex(parsed)


# A format pandas infers for '04/01/2010' (or '04.01.10'): day and month first, in either order.
_DAY_MONTH = re.compile(r"%([md])([/.\-])%([md])(.*)")
_SHORT_YEAR = re.compile(r"\d{1,2}([/.\-])\d{1,2}\1\d{2}")


def _order_formats(first: str) -> tuple[str, str] | None:
    """(month-first, day-first) formats when `first` starts with numeric month and day; else None.

    ISO and named-month dates return None: they cannot be read two ways.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it falls back to day-first
        guess = guess_datetime_format(first)
    if guess is None and (short := _SHORT_YEAR.fullmatch(first)):
        guess = f"%m{short[1]}%d{short[1]}%y"
    match = _DAY_MONTH.fullmatch(guess or "")
    if match is None or match[1] == match[3]:
        return None
    sep, rest = match[2], match[4]
    return f"%m{sep}%d{rest}", f"%d{sep}%m{rest}"


def _pick_order(
    dates: pd.Series, shown: str, orders: tuple[str, str]
) -> tuple[pd.DatetimeIndex, str | None]:
    """Read dd/mm vs mm/dd dates the only way that fits; refuse when both or neither fit.

    A reading that fails on some row is out (a day above 12 settles it). When both parse, the
    one giving weekday dates in order (ascending or fully reversed) wins, with a note; a guess
    any weaker would be a silent misread, so the user is asked for --date-format instead.
    """
    readings = {fmt: pd.to_datetime(dates, format=fmt, errors="coerce") for fmt in orders}
    parsed = {fmt: pd.DatetimeIndex(r) for fmt, r in readings.items() if not r.isna().any()}
    if not parsed:
        fewest = min(readings, key=lambda fmt: int(readings[fmt].isna().sum()))
        bad = dates[readings[fewest].isna()].iloc[0]
        raise DataError(
            f"{shown}: unparseable or mixed date formats (first bad value {bad!r}). "
            "Use one format throughout, preferably YYYY-MM-DD."
        )
    month_first, day_first = orders
    if len(parsed) == 1 or parsed[month_first].equals(parsed[day_first]):
        return next(iter(parsed.values())), None
    fits = [fmt for fmt, index in parsed.items() if _looks_like_trading_days(index)]
    differ = parsed[month_first] != parsed[day_first]
    example = dates[differ].iloc[0]
    if len(fits) == 1:
        fmt = fits[0]
        order = "day-first" if fmt == day_first else "month-first"
        other = month_first if fmt == day_first else day_first
        return parsed[fmt], (
            f"read dates as {order} ({_spelled(fmt)}): {example!r} fits both orders, "
            f"but reading it as {_spelled(other)} gives weekend or out-of-order dates. Pass "
            f"--date-format {other!r} if that is wrong."
        )
    why = "both readings give" if fits else "neither reading gives"
    raise DataError(
        f"{shown}: dates such as {example!r} can be read day-first or month-first, and {why} "
        f"weekday dates in order. Pass --date-format {day_first!r} (day-first) or "
        f"{month_first!r} (month-first)."
    )


def _looks_like_trading_days(index: pd.DatetimeIndex) -> bool:
    """No Saturday or Sunday, and sorted ascending or fully reversed (newest first)."""
    no_weekends = bool((index.day_of_week < 5).all())
    return no_weekends and (index.is_monotonic_increasing or index.is_monotonic_decreasing)


def _spelled(fmt: str) -> str:
    """'%d/%m/%Y' as 'dd/mm/yyyy', for messages."""
    for code, text in (("%d", "dd"), ("%m", "mm"), ("%Y", "yyyy"), ("%y", "yy")):
        fmt = fmt.replace(code, text)
    return fmt
