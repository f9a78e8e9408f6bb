"""Yahoo Finance through yfinance, behind the disk cache; only missing date ranges are downloaded.

Prices are requested with `auto_adjust=False`: we keep the raw OHLC and Yahoo's `Adj Close`
(dividends and splits) and derive adjusted open/high/low ourselves where they are needed.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Callable, Iterator

import pandas as pd

from lstmbt.data.cache import CachedPrices, PriceCache
from lstmbt.data.columns import standard_columns
from lstmbt.errors import DataError

_NETWORK_HINTS = (
    "resolve",
    "connection",
    "timed out",
    "timeout",
    "network",
    "dnserror",
    "ssl",
    "proxy",
    "unreachable",
)
OFFLINE_HINT = (
    "Use --source sample for the bundled S&P 500 (^GSPC) and NASDAQ (^IXIC) 1999-2018 data, "
    "or --source path/to/prices.csv."
)


class YahooUnavailable(DataError):
    """Yahoo could not be reached (network down, DNS, time-out)."""


class RateLimited(Exception):
    """Yahoo asked us to slow down; retried with backoff."""


def _classify(ticker: str, message: str) -> Exception:
    text = message.lower()
    if "rate limit" in text or "too many requests" in text:
        return RateLimited(message)
    if any(hint in text for hint in _NETWORK_HINTS):
        return YahooUnavailable(
            f"could not reach Yahoo Finance for {ticker!r} ({message.strip()[:160]}). "
            f"{OFFLINE_HINT}"
        )
    return DataError(
        f"Yahoo Finance returned no prices for {ticker!r} ({message.strip()[:160]}). Check the "
        "symbol as Yahoo spells it (e.g. ^GSPC, AAPL, BRK-B) or whether it was delisted."
    )


@contextlib.contextmanager
def _captured_yf_errors() -> Iterator[list[str]]:
    """Collect what yfinance logs (it reports failures there, not by raising) and hide its noise."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                messages.append(record.getMessage())

    log = logging.getLogger("yfinance")
    handler, saved = _Collect(), (log.propagate, log.level)
    log.addHandler(handler)
    log.propagate, log.level = False, logging.WARNING
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance re-enables its own deprecation warnings
            yield messages
    finally:
        log.removeHandler(handler)
        log.propagate, log.level = saved


def _standardise(raw: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """yfinance's frame (flat or MultiIndex Price/Ticker columns) -> our lower-case OHLCV frame."""
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in (frame.columns.names or []) else frame.columns.nlevels - 1
        tickers = frame.columns.get_level_values(level).unique()
        if ticker not in tickers:
            if len(tickers) != 1:
                raise DataError(
                    f"Yahoo's answer for {ticker!r} holds other tickers: {list(tickers)}"
                )
            ticker = tickers[0]
        frame = frame.xs(ticker, axis=1, level=level)
    frame = standard_columns(frame, f"Yahoo's answer for {ticker!r}", require_volume=True)
    frame = frame.astype("float64")
    frame.columns = pd.Index(list(frame.columns))  # drop yfinance's 'Price' level name
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize().as_unit("ns")
    frame.index.name = "date"
    return frame.dropna(how="all")


def _download_once(ticker: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One yfinance call; every failure comes out classified (see `_classify`)."""
    import yfinance as yf  # imported lazily: slow, and never needed offline

    try:
        with _captured_yf_errors() as messages:
            raw = yf.download(
                ticker,
                start=start.strftime("%Y-%m-%d"),
                end=(end + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),  # end is exclusive
                auto_adjust=False,
                multi_level_index=True,
                actions=False,
                progress=False,
                threads=False,
            )
    except Exception as exc:  # noqa: BLE001 - yfinance raises many types; classify by message
        raise _classify(ticker, f"{type(exc).__name__}: {exc}") from None
    if raw is None or raw.empty:
        if messages:
            raise _classify(ticker, messages[-1])
        return pd.DataFrame(columns=["open", "high", "low", "close", "adj_close", "volume"])
    return _standardise(raw, ticker)


def download(
    ticker: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Daily prices for [start, end] (inclusive) from yfinance, retrying rate limits with backoff.

    Returns an empty frame when Yahoo has no rows in the range; raises DataError otherwise.
    """
    for attempt in range(retries + 1):
        try:
            return _download_once(ticker, start, end)
        except RateLimited:
            if attempt == retries:
                raise DataError(
                    f"Yahoo Finance kept rate-limiting the download of {ticker!r}; wait a few "
                    "minutes and retry later (cached tickers need no download)."
                ) from None
            sleep(2.0**attempt)
    raise AssertionError("unreachable")


def _merge(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    if old is None or old.empty:
        return new
    if new.empty:
        return old
    both = pd.concat([old, new])
    return both[~both.index.duplicated(keep="last")].sort_index()


def load_yahoo(
    ticker: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    cache: PriceCache,
    offline_ok: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Prices for [start, end] from the cache, downloading only the missing edges and saving them.

    When a top-up fails but the cache overlaps the request, the cached part is used with a warning
    (`offline_ok`); with nothing cached the error tells the user about offline sources.
    """
    notes: list[str] = []
    with cache.lock(ticker):
        entry = cache.read(ticker)
        if entry is None:
            fresh = download(ticker, start, end, sleep=sleep)
            if fresh.empty:
                raise DataError(
                    f"Yahoo Finance returned no prices for {ticker!r} between {start:%Y-%m-%d} and "
                    f"{end:%Y-%m-%d}. Check the symbol and dates. {OFFLINE_HINT}"
                )
            entry = CachedPrices(fresh, start, end)
            cache.write(ticker, entry)
        else:
            gaps = []
            if start < entry.covered_start:
                gaps.append((start, entry.covered_start - pd.Timedelta(days=1)))
            if end > entry.covered_end:
                gaps.append((entry.covered_end + pd.Timedelta(days=1), end))
            if gaps:
                frame, lo, hi = entry.prices, entry.covered_start, entry.covered_end
                try:
                    for gap_start, gap_end in gaps:
                        frame = _merge(frame, download(ticker, gap_start, gap_end, sleep=sleep))
                        lo, hi = min(lo, gap_start), max(hi, gap_end)
                except YahooUnavailable as exc:
                    if not offline_ok:
                        raise
                    note = (
                        f"{exc} Using the cached prices for {ticker!r} "
                        f"({entry.covered_start:%Y-%m-%d} to {entry.covered_end:%Y-%m-%d})."
                    )
                    notes.append(
                        f"{ticker}: offline, used the cache up to "
                        f"{entry.covered_end:%Y-%m-%d} instead of {end:%Y-%m-%d}"
                    )
                    warnings.warn(note, stacklevel=2)
                else:
                    entry = CachedPrices(frame, lo, hi)
                    cache.write(ticker, entry)
    prices = entry.prices.loc[start:end].copy()
    prices.attrs["notes"] = notes  # shown in the run's log and report
    if prices.empty:
        raise DataError(
            f"no prices for {ticker!r} between {start:%Y-%m-%d} and {end:%Y-%m-%d} (cached: "
            f"{entry.covered_start:%Y-%m-%d} to {entry.covered_end:%Y-%m-%d}). {OFFLINE_HINT}"
        )
    return prices
