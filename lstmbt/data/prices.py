"""Daily OHLCV from the bundled sample (`arch.data`), Yahoo Finance (cached) or a CSV file.

Every frame leaves here tidy: tz-naive sorted unique DatetimeIndex named `date`, float columns
open, high, low, close, adj_close, volume; repairs are listed in `frame.attrs["notes"]`.
"""

from __future__ import annotations

import hashlib
import importlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lstmbt.data.cache import PriceCache
from lstmbt.data.columns import COLUMNS, PRICE_COLUMNS, standard_columns
from lstmbt.data.csv import read_csv_prices, split_exact_duplicates
from lstmbt.data.yahoo import load_yahoo
from lstmbt.errors import ConfigError, DataError, did_you_mean

SOURCES = ("sample", "yahoo", "auto")
# arch.data modules shipping real daily OHLCV, 1999-01-04 .. 2018-12-31 (5,031 bars each), and
# the public-domain daily prices (from Quandl WIKI) that bokeh-sampledata ships: AAPL, IBM, MSFT
# 2000-03 .. 2013-03 and GOOG 2004-08 .. 2013-03.
SAMPLE = {
    "^GSPC": "arch:sp500",
    "^IXIC": "arch:nasdaq",
    "AAPL": "bokeh",
    "IBM": "bokeh",
    "MSFT": "bokeh",
    "GOOG": "bokeh",
}
_SAMPLE_ALIASES = {"SP500": "^GSPC", "GSPC": "^GSPC", "NASDAQ": "^IXIC", "IXIC": "^IXIC"}
YAHOO_DEFAULT_START = pd.Timestamp("1990-01-01")


def _sample_ticker(ticker: str) -> str | None:
    key = ticker.strip().upper()
    key = _SAMPLE_ALIASES.get(key, key)
    return key if key in SAMPLE else None


def is_csv_path(value: str) -> bool:
    """True when `value` names a CSV file (by suffix), whether or not it exists yet."""
    return str(value).lower().endswith((".csv", ".csv.gz", ".txt"))


def csv_label(path: str) -> str:
    """The name a CSV file's prices go by: its file name without suffixes ('data/spx.csv' ->
    'spx')."""
    return Path(path).name.split(".")[0]


def load_sample(ticker: str) -> pd.DataFrame:
    """Real daily OHLCV that installs with our dependencies (works with no network): the S&P 500
    and NASDAQ from `arch`, and AAPL, IBM, MSFT, GOOG from `bokeh-sampledata`."""
    key = _sample_ticker(ticker)
    if key is None:
        raise DataError(
            f"{ticker!r} is not in the offline sample (it has {', '.join(SAMPLE)})."
            f"{did_you_mean(ticker, SAMPLE)} Use --source yahoo or a CSV file for other tickers."
        )
    where = SAMPLE[key]
    if where == "bokeh":
        stocks = importlib.import_module("bokeh_sampledata.stocks").data
        raw = stocks[stocks["ticker"] == key].set_index("date").drop(columns="ticker")
        source = "sample:bokeh_sampledata.stocks (Quandl WIKI, public domain)"
    else:
        module = importlib.import_module(f"arch.data.{where.split(':')[1]}")
        raw = module.load()
        source = f"sample:arch.data.{where.split(':')[1]}"
    frame = standard_columns(raw, f"sample {key}")
    frame.index = pd.DatetimeIndex(raw.index).as_unit("ns")
    frame.index.name = "date"
    frame.attrs["source"] = source
    return frame


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
    frame, duplicates = split_exact_duplicates(frame, name)
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
    if frame.empty:
        raise DataError(f"{name}: no prices at all (no rows, or only empty ones); check the file.")
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
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]
