"""On-disk parquet cache of Yahoo downloads: one file per ticker, atomic writes, locked updates."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_META_KEY = b"lstmbt"


def default_cache_dir() -> Path:
    """`$LSTMBT_CACHE`, else the user cache dir (`$XDG_CACHE_HOME/lstmbt` or ~/.cache/lstmbt)."""
    if os.environ.get("LSTMBT_CACHE"):
        return Path(os.environ["LSTMBT_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lstmbt"


@dataclass(frozen=True)
class CachedPrices:
    """A cached frame and the inclusive date range that was asked of Yahoo to fill it."""

    prices: pd.DataFrame
    covered_start: pd.Timestamp
    covered_end: pd.Timestamp


class PriceCache:
    """Parquet files under `root`; a write never leaves a half-written file in place."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, ticker: str) -> Path:
        return self.root / f"{quote(ticker, safe='')}.parquet"

    @contextlib.contextmanager
    def lock(self, ticker: str) -> Iterator[None]:
        """Exclusive per-ticker lock so two processes never download and write one file at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        lock_path = self.root / f"{quote(ticker, safe='')}.lock"
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read(self, ticker: str) -> CachedPrices | None:
        """The cached entry, or None when absent; a corrupt file is reported and ignored (kept)."""
        path = self.path(ticker)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            meta = json.loads((table.schema.metadata or {})[_META_KEY])
            frame = table.to_pandas()
            frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
            frame.index.name = "date"
            return CachedPrices(
                frame, pd.Timestamp(meta["covered_start"]), pd.Timestamp(meta["covered_end"])
            )
        except Exception as exc:  # noqa: BLE001 - any unreadable file is treated as a cache miss
            warnings.warn(
                f"cache file {path} is unreadable ({type(exc).__name__}); it will be re-downloaded "
                "and replaced",
                stacklevel=2,
            )
            return None

    def write(self, ticker: str, entry: CachedPrices) -> Path:
        """Write atomically: temp file in the same folder, fsync, then rename over the old file.

        Call under `lock(ticker)`: temp files of this ticker found then belong to a killed writer.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path(ticker)
        for stale in self.root.glob(f".{path.name}.*.tmp"):  # left by a killed writer
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        table = pa.Table.from_pandas(entry.prices, preserve_index=True)
        meta = {
            "ticker": ticker,
            "covered_start": entry.covered_start.strftime("%Y-%m-%d"),
            "covered_end": entry.covered_end.strftime("%Y-%m-%d"),
        }
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
        )
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path
