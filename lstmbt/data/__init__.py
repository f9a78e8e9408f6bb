"""Daily prices: the offline sample (arch.data), Yahoo Finance behind a disk cache, or CSV files.

Every frame leaves here validated: a sorted, unique, tz-naive DatetimeIndex named `date` and
float columns open, high, low, close, adj_close, volume.
"""

from lstmbt.data.cache import PriceCache
from lstmbt.data.columns import COLUMNS, PRICE_COLUMNS, standard_columns
from lstmbt.data.csv import drop_exact_duplicates, read_csv_prices, read_dated_csv
from lstmbt.data.prices import (
    SAMPLE,
    SOURCES,
    csv_label,
    fingerprint,
    is_csv_path,
    load_one,
    load_prices,
    load_sample,
    resolve_source,
    validate_prices,
)

__all__ = [
    "COLUMNS",
    "PRICE_COLUMNS",
    "SAMPLE",
    "SOURCES",
    "PriceCache",
    "csv_label",
    "fingerprint",
    "is_csv_path",
    "load_one",
    "load_prices",
    "load_sample",
    "read_csv_prices",
    "read_dated_csv",
    "drop_exact_duplicates",
    "resolve_source",
    "standard_columns",
    "validate_prices",
]
