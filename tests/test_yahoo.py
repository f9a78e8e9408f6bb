"""The Yahoo path, tested at the yfinance boundary: a fake download function stands in for yfinance.

The stand-in serves real S&P 500 rows in yfinance's real layout (MultiIndex Price/Ticker
columns, `Date` index, exclusive `end`) and fails the way yfinance does: it logs and returns an
empty frame, or raises.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os

import pandas as pd
import pytest
import yfinance

from lstmbt.data import load_one
from lstmbt.data.cache import CachedPrices, PriceCache
from lstmbt.data.yahoo import load_yahoo
from lstmbt.errors import DataError
from tests.conftest import YAHOO_NAMES

YF_FIELDS = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]


def yf_layout(frame: pd.DataFrame, ticker: str) -> pd.DataFrame:
    out = frame.rename(columns=YAHOO_NAMES)[YF_FIELDS]
    out.columns = pd.MultiIndex.from_product([YF_FIELDS, [ticker]], names=["Price", "Ticker"])
    out.index = pd.DatetimeIndex(out.index, name="Date")
    return out


class FakeYahoo:
    """Records calls; serves `frame` or fails in the configured way."""

    def __init__(self, frame: pd.DataFrame, mode: str = "ok") -> None:
        self.frame, self.mode, self.calls = frame, mode, []

    def __call__(self, ticker, start=None, end=None, **kwargs):
        assert kwargs["auto_adjust"] is False and kwargs["multi_level_index"] is True
        self.calls.append((pd.Timestamp(start), pd.Timestamp(end)))
        empty = yf_layout(self.frame.iloc[:0], ticker)
        if self.mode == "offline":
            logging.getLogger("yfinance").error(
                "['%s']: DNSError('Failed to perform, curl: (6) Could not resolve host: "
                "query2.finance.yahoo.com')",
                ticker,
            )
            return empty
        if self.mode == "unknown":
            logging.getLogger("yfinance").error(
                "['%s']: YFPricesMissingError('possibly delisted; no price data found')", ticker
            )
            return empty
        if self.mode == "ratelimit" and len(self.calls) == 1:
            raise yfinance.exceptions.YFRateLimitError()
        if self.mode == "raise":
            raise ConnectionError("Connection reset by peer")
        rows = self.frame.loc[pd.Timestamp(start) : pd.Timestamp(end) - pd.Timedelta(days=1)]
        return yf_layout(rows, ticker)


@pytest.fixture
def fake(monkeypatch, sp500):
    def install(mode="ok"):
        stub = FakeYahoo(sp500, mode)
        monkeypatch.setattr(yfinance, "download", stub)
        return stub

    return install


def ts(s):
    return pd.Timestamp(s)


def test_download_is_cached_and_reused(fake, tmp_path, sp500):
    stub = fake()
    cache = PriceCache(tmp_path)
    first = load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=cache)
    assert len(stub.calls) == 1
    assert stub.calls[0] == (ts("2010-01-01"), ts("2010-07-01"))  # yfinance's end is exclusive
    pd.testing.assert_frame_equal(first, sp500.loc["2010-01-01":"2010-06-30"], check_freq=False)
    again = load_yahoo("^GSPC", ts("2010-02-01"), ts("2010-05-31"), cache=cache)
    assert len(stub.calls) == 1, "a range inside the cached one must not download"
    pd.testing.assert_frame_equal(again, sp500.loc["2010-02-01":"2010-05-31"], check_freq=False)


def test_wider_range_downloads_only_the_missing_edges(fake, tmp_path, sp500):
    stub = fake()
    cache = PriceCache(tmp_path)
    load_yahoo("^GSPC", ts("2010-03-01"), ts("2010-06-30"), cache=cache)
    wide = load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-12-31"), cache=cache)
    assert stub.calls[1:] == [
        (ts("2010-01-01"), ts("2010-03-01")),
        (ts("2010-07-01"), ts("2011-01-01")),
    ]
    pd.testing.assert_frame_equal(wide, sp500.loc["2010"], check_freq=False)
    entry = cache.read("^GSPC")
    assert (entry.covered_start, entry.covered_end) == (ts("2010-01-01"), ts("2010-12-31"))


def test_offline_without_cache_says_what_to_do(fake, tmp_path):
    fake("offline")
    with pytest.raises(DataError, match=r"could not reach Yahoo.*--source sample"):
        load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=PriceCache(tmp_path))


def test_offline_with_cache_uses_it_with_a_warning(fake, tmp_path, sp500):
    fake()
    cache = PriceCache(tmp_path)
    load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=cache)
    before = cache.path("^GSPC").read_bytes()
    fake("offline")
    with pytest.warns(UserWarning, match="Using the cached prices"):
        got = load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-12-31"), cache=cache)
    assert got.index[-1] == ts("2010-06-30")
    assert got.attrs["notes"] == [
        "^GSPC: offline, used the cache up to 2010-06-30 instead of 2010-12-31"
    ]  # carried into the run's report
    assert cache.path("^GSPC").read_bytes() == before, "a failed top-up must not touch the cache"


def test_offline_with_cache_strict_yahoo_source_fails(fake, tmp_path):
    fake()
    cache = PriceCache(tmp_path)
    load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=cache)
    fake("offline")
    with pytest.raises(DataError, match="could not reach"):
        load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-12-31"), cache=cache, offline_ok=False)


def test_unknown_ticker(fake, tmp_path):
    fake("unknown")
    with pytest.raises(DataError, match="Check the symbol"):
        load_yahoo("NOPE", ts("2010-01-01"), ts("2010-06-30"), cache=PriceCache(tmp_path))
    assert not PriceCache(tmp_path).path("NOPE").exists()


def test_exception_from_yfinance_is_classified(fake, tmp_path):
    fake("raise")
    with pytest.raises(DataError, match="could not reach Yahoo"):
        load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=PriceCache(tmp_path))


def test_rate_limit_is_retried_with_backoff(fake, tmp_path):
    stub = fake("ratelimit")
    sleeps = []
    got = load_yahoo(
        "^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=PriceCache(tmp_path), sleep=sleeps.append
    )
    assert len(stub.calls) == 2 and sleeps == [1.0]
    assert len(got) > 100


def test_load_one_through_yahoo_validates(fake, tmp_path, sp500):
    fake()
    frame = load_one("^GSPC", "yahoo", "2011-01-01", "2011-12-31", cache=PriceCache(tmp_path))
    pd.testing.assert_frame_equal(frame, sp500.loc["2011"], check_freq=False)


def test_corrupt_cache_is_reported_and_replaced(fake, tmp_path, sp500):
    stub = fake()
    cache = PriceCache(tmp_path)
    cache.root.mkdir(parents=True, exist_ok=True)
    cache.path("^GSPC").write_bytes(b"not a parquet file")
    with pytest.warns(UserWarning, match="unreadable"):
        got = load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-06-30"), cache=cache)
    assert len(stub.calls) == 1 and len(got) > 100
    assert cache.read("^GSPC") is not None


def test_interrupted_cache_write_keeps_the_old_file(tmp_path, sp500, monkeypatch):
    cache = PriceCache(tmp_path)
    cache.write("^GSPC", CachedPrices(sp500.iloc[:100], sp500.index[0], sp500.index[99]))
    before = cache.path("^GSPC").read_bytes()

    import pyarrow.parquet as pq

    def crash(table, handle, *a, **k):
        handle.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        cache.write("^GSPC", CachedPrices(sp500, sp500.index[0], sp500.index[-1]))
    assert cache.path("^GSPC").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def _concurrent_download(cache_dir: str, frame_path: str, out: str) -> None:
    frame = pd.read_pickle(frame_path)
    stub = FakeYahoo(frame)
    yfinance.download = stub
    load_yahoo("^GSPC", ts("2010-01-01"), ts("2012-12-31"), cache=PriceCache(cache_dir))
    with open(out, "w") as fh:
        fh.write(str(len(stub.calls)))


def test_two_processes_downloading_one_ticker_leave_one_valid_file(tmp_path, sp500):
    frame_path = tmp_path / "frame.pkl"
    sp500.to_pickle(frame_path)
    ctx = mp.get_context("fork")
    procs = [
        ctx.Process(
            target=_concurrent_download,
            args=(str(tmp_path / "cache"), str(frame_path), str(tmp_path / f"n{i}")),
        )
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    calls = sorted(int((tmp_path / f"n{i}").read_text()) for i in range(2))
    assert calls == [0, 1], "the lock lets one process download and the other read its cache"
    entry = PriceCache(tmp_path / "cache").read("^GSPC")
    pd.testing.assert_frame_equal(entry.prices, sp500.loc["2010":"2012"], check_freq=False)
    assert [n for n in os.listdir(tmp_path / "cache") if n.endswith(".tmp")] == []


def test_yahoo_frame_with_missing_columns(monkeypatch, tmp_path, sp500):
    def partial(ticker, **kwargs):
        frame = yf_layout(sp500.loc["2010-01":"2010-02"], ticker)
        return frame.drop(columns=["High", "Low"], level=0)

    monkeypatch.setattr(yfinance, "download", partial)
    with pytest.raises(DataError, match=r"lacks the columns \['high', 'low'\]"):
        load_yahoo("^GSPC", ts("2010-01-01"), ts("2010-02-28"), cache=PriceCache(tmp_path))


_WRITER = """
import sys, time, pandas as pd, pyarrow.parquet as pq
from lstmbt.data.cache import CachedPrices, PriceCache
frame = pd.read_pickle(sys.argv[2])
real = pq.write_table
def slow(table, handle, *a, **k):
    handle.write(b"PAR1 partial")
    handle.flush()
    print("writing", flush=True)
    time.sleep(60)
pq.write_table = slow
cache = PriceCache(sys.argv[1])
with cache.lock("^GSPC"):
    cache.write("^GSPC", CachedPrices(frame, frame.index[0], frame.index[-1]))
"""


def test_a_killed_cache_write_leaves_the_old_cache_intact(tmp_path, sp500):
    """Fault injection: SIGKILL a process in the middle of writing the cache file."""
    import signal
    import subprocess
    import sys

    cache = PriceCache(tmp_path / "cache")
    old = CachedPrices(sp500.iloc[:500], sp500.index[0], sp500.index[499])
    cache.write("^GSPC", old)
    before = cache.path("^GSPC").read_bytes()
    sp500.to_pickle(tmp_path / "new.pkl")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(cache.root), str(tmp_path / "new.pkl")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert cache.path("^GSPC").read_bytes() == before
    assert len(cache.read("^GSPC").prices) == 500
    assert list(cache.root.glob("*.tmp")), "the killed writer left its temp file behind"
    with cache.lock("^GSPC"):
        cache.write("^GSPC", CachedPrices(sp500, sp500.index[0], sp500.index[-1]))
    assert not list(cache.root.glob("*.tmp")), "the next write cleans it up"
    assert len(cache.read("^GSPC").prices) == len(sp500)
