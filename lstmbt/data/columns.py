"""Our price columns (open, high, low, close, adj_close, volume) and the mapping from
Yahoo-style headers to them, shared by every price reader (CSV, Yahoo)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.errors import DataError

COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]


def _norm(name: object) -> str:
    return "".join(ch for ch in str(name).strip().lower() if ch.isalnum())


_ALIASES = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
}


def standard_columns(frame: pd.DataFrame, what: str, require_volume: bool = False) -> pd.DataFrame:
    """Map Open/High/Low/Close/Adj Close/Volume (any case or spacing) to our column names.

    A missing Adj Close becomes Close (no adjustment known); a missing Volume becomes NaN unless
    `require_volume`. Missing price columns are an error naming what was found.
    """
    mapping = {}
    for col in frame.columns:
        target = _ALIASES.get(_norm(col))
        if target and target not in mapping.values():
            mapping[col] = target
    out = frame.rename(columns=mapping)
    needed = ("open", "high", "low", "close") + (("volume",) if require_volume else ())
    missing = [c for c in needed if c not in out.columns]
    if missing:
        raise DataError(
            f"{what} lacks the columns {missing}; found {[str(c) for c in frame.columns]}. "
            "Expected Yahoo-style headers: Date, Open, High, Low, Close, Adj Close, Volume."
        )
    if "adj_close" not in out.columns:
        out["adj_close"] = out["close"]
    if "volume" not in out.columns:
        out["volume"] = np.nan
    return out[COLUMNS]
