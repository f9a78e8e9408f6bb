"""Daily OHLCV from the bundled sample (`arch.data`), Yahoo Finance (cached) or a CSV file.

Every frame leaves here tidy: tz-naive sorted unique DatetimeIndex named `date`, float columns
open, high, low, close, adj_close, volume; repairs are listed in `frame.attrs["notes"]`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from lstmbt.data.cache import PriceCache
from lstmbt.data.columns import COLUMNS, PRICE_COLUMNS, _norm, standard_columns
from lstmbt.data.yahoo import load_yahoo
from lstmbt.errors import ConfigError, DataError, did_you_mean

SOURCES = ("sample", "yahoo", "auto")
# arch.data modules shipping real daily OHLCV, 1999-01-04 .. 2018-12-31 (5,031 bars each).
SAMPLE = {"^GSPC": "sp500", "^IXIC": "nasdaq"}
_SAMPLE_ALIASES = {"SP500": "^GSPC", "GSPC": "^GSPC", "NASDAQ": "^IXIC", "IXIC": "^IXIC"}
YAHOO_DEFAULT_START = pd.Timestamp("1990-01-01")


def _sample_ticker(ticker: str) -> str | None:
    key = ticker.strip().upper()
    key = _SAMPLE_ALIASES.get(key, key)
    return key if key in SAMPLE else None


def is_csv_path(value: str) -> bool:
    """True when `value` names a CSV file (by suffix), whether or not it exists yet."""
    return str(value).lower().endswith((".csv", ".csv.gz", ".txt"))


def load_sample(ticker: str) -> pd.DataFrame:
    """Real S&P 500 / NASDAQ daily OHLCV bundled with `arch` (works with no network)."""
    key = _sample_ticker(ticker)
    if key is None:
        raise DataError(
            f"{ticker!r} is not in the offline sample (it has {', '.join(SAMPLE)})."
            f"{did_you_mean(ticker, SAMPLE)} Use --source yahoo or a CSV file for other tickers."
        )
    import importlib

    module = importlib.import_module(f"arch.data.{SAMPLE[key]}")
    raw = module.load()
    frame = standard_columns(raw, f"sample {key}")
    frame.index = pd.DatetimeIndex(raw.index)
    frame.attrs["source"] = f"sample:arch.data.{SAMPLE[key]}"
    return frame


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
    keep (default all); each must be a finite number or empty. Rows: repeated header lines and
    exact duplicates (concatenated files) are dropped with a warning, conflicting rows for one
    date refused (`drop_exact_duplicates`). `what` names the kind of file in messages ('CSV file',
    'forecasts CSV'). Repairs are listed in `attrs["notes"]`.
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
    date_cols = [c for c in raw.columns if _norm(c) in ("date", "datetime", "timestamp", "time")]
    if not date_cols:
        raise DataError(
            f"{shown} has no Date column; found {list(raw.columns)}. Name the date column "
            "'Date' (Yahoo-style CSV)."
        )
    dates = raw.pop(date_cols[0]).str.strip()
    index, note = _parse_dates(dates, shown, date_format)
    frame = columns(raw) if columns is not None else raw
    numeric = _numeric_cells(frame, dates, shown)
    numeric.index = index
    numeric.attrs["source"] = f"csv:{path}"
    if note:
        notes.append(f"{path.name}: {note}")
    for text in notes:
        warnings.warn(text, stacklevel=2)
    numeric.attrs["notes"] = notes
    return drop_exact_duplicates(numeric, path.name, stacklevel=3)


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
    frame, note = _drop_exact_duplicates(frame, name)
    if note:
        warnings.warn(note, stacklevel=stacklevel)
        frame.attrs["notes"] = [*frame.attrs.get("notes", []), note]
    return frame


def _drop_exact_duplicates(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, str | None]:
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
        bad = _first_bad_date(dates)
        raise DataError(
            f"{shown}: unparseable or mixed date formats (first bad value {bad!r}). "
            "Use one format throughout, preferably YYYY-MM-DD."
        ) from None


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


def validate_prices(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check and tidy one OHLCV frame; repairs are warned about and recorded in attrs['notes'].

    Unsorted rows are sorted, exact duplicate and empty (all-NaN) rows dropped, with a note.
    Conflicting rows for one date, partial NaNs, infinite, non-positive or non-numeric prices are
    errors: guessing would be a silent wrong number.
    """
    notes: list[str] = list(frame.attrs.get("notes", []))
    source = frame.attrs.get("source", "")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{name}: prices need a DatetimeIndex, got {type(frame.index).__name__}.")
    frame = frame.copy()
    index = frame.index
    if index.tz is not None:
        index = index.tz_localize(None)  # keep the exchange-local calendar date
    frame.index = index.as_unit("ns")
    frame.index.name = "date"
    if frame.index.hasnans:
        raise DataError(f"{name}: some rows have no date. Remove them.")
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
        notes.append(f"{name}: rows were not in date order; sorted them")
    frame, duplicates = _drop_exact_duplicates(frame, name)
    if duplicates:
        notes.append(duplicates)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{name}: missing columns {missing}.")
    frame = frame[COLUMNS].astype("float64")
    infinite = np.isinf(frame.to_numpy())
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        raise DataError(
            f"{name}: {frame.iat[row, col]} in column {COLUMNS[col]!r} on "
            f"{frame.index[row]:%Y-%m-%d}. Prices and volumes must be finite; fix that row."
        )
    empty = frame[PRICE_COLUMNS].isna().all(axis=1)
    if empty.any():
        frame = frame.loc[~empty]
        notes.append(f"{name}: dropped {int(empty.sum())} rows with no prices (holidays)")
    nan_rows = frame[PRICE_COLUMNS].isna().any(axis=1)
    if nan_rows.any():
        days = ", ".join(d.strftime("%Y-%m-%d") for d in frame.index[nan_rows][:5])
        raise DataError(
            f"{name}: {int(nan_rows.sum())} rows have missing prices ({days}). Fill or drop them "
            "in the source; lstmbt does not guess prices."
        )
    bad = (frame[PRICE_COLUMNS] <= 0).any(axis=1)
    if bad.any():
        day = frame.index[bad][0].strftime("%Y-%m-%d")
        raise DataError(f"{name}: zero or negative price on {day}. Prices must be positive.")
    inverted = frame["high"] < frame["low"]
    if inverted.any():
        day = frame.index[inverted][0].strftime("%Y-%m-%d")
        raise DataError(f"{name}: high below low on {day}; the columns may be swapped.")
    if (frame["volume"] < 0).any():
        raise DataError(f"{name}: negative volume. Check the volume column.")
    for note in notes[len(frame.attrs.get("notes", [])) :]:
        warnings.warn(note, stacklevel=3)
    frame.attrs["notes"] = notes
    frame.attrs["source"] = source
    return frame


def _as_timestamp(value: str | pd.Timestamp | None, what: str) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise ConfigError(f"--{what} {value!r} is not a date; use YYYY-MM-DD.") from None


def resolve_source(source: str) -> str:
    """'sample' | 'yahoo' | 'auto' | a CSV path; anything else is a ConfigError with a hint."""
    if source in SOURCES or is_csv_path(source):
        return source
    raise ConfigError(
        f"unknown source {source!r}.{did_you_mean(source, SOURCES)} Use sample, yahoo, auto or a "
        "path to a .csv file."
    )


def load_one(
    ticker: str,
    source: str = "sample",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    cache: PriceCache | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """One ticker's validated prices between start and end (inclusive).

    `date_format` (e.g. '%d/%m/%Y') reads a CSV's dates; other sources ignore it.
    """
    source = resolve_source(source)
    lo, hi = _as_timestamp(start, "start"), _as_timestamp(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"--start {lo:%Y-%m-%d} is after --end {hi:%Y-%m-%d}; swap them.")
    if is_csv_path(ticker):
        frame, name = read_csv_prices(ticker, date_format), Path(ticker).name
    elif is_csv_path(source):
        frame, name = read_csv_prices(source, date_format), Path(source).name
    elif source == "sample":
        frame, name = load_sample(ticker), ticker
    else:
        today = pd.Timestamp.today().normalize()
        frame = load_yahoo(
            ticker.strip().upper(),
            lo or YAHOO_DEFAULT_START,
            min(hi or today, today),
            cache=cache or PriceCache(),
            offline_ok=source == "auto",
        )
        frame.attrs["source"] = f"yahoo:{ticker}"
        name = ticker
    frame = validate_prices(frame, name)
    full = frame
    frame = frame.loc[lo:hi] if (lo is not None or hi is not None) else frame
    if frame.empty:
        raise DataError(
            f"{name}: no prices between {lo and f'{lo:%Y-%m-%d}' or 'start'} and "
            f"{hi and f'{hi:%Y-%m-%d}' or 'end'}; the data covers "
            f"{full.index[0]:%Y-%m-%d} to {full.index[-1]:%Y-%m-%d}."
        )
    frame.attrs = dict(full.attrs)
    return frame


def load_prices(
    tickers: str | list[str],
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    source: str = "sample",
    cache: PriceCache | None = None,
    date_format: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Validated OHLCV frames keyed by ticker, one entry per requested ticker.

    `date_format` applies to every CSV read (see `load_one`).
    """
    names = [tickers] if isinstance(tickers, str) else list(tickers)
    if not names:
        raise ConfigError("no ticker given; pass e.g. --ticker ^GSPC.")
    return {t: load_one(t, source, start, end, cache, date_format) for t in names}


def fingerprint(frame: pd.DataFrame) -> str:
    """A short hash of a price frame, saved with every run so results can be traced to data."""
    import hashlib

    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]
