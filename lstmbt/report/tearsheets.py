"""QuantStats tear-sheets of a strategy against buy-and-hold, without touching the caller's
process: QuantStats sets matplotlib rcParams and a seaborn theme when imported and warns
freely, so it is imported and run inside `rc_context` and `catch_warnings`."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pandas as pd

from lstmbt.errors import LstmbtError
from lstmbt.runs import slug


@contextlib.contextmanager
def contained() -> Iterator[None]:
    """rcParams, warning filters and console output as they were after the block."""
    sink = io.StringIO()
    with (
        matplotlib.rc_context(),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        yield


def write_tearsheet(
    returns: pd.Series, benchmark: pd.Series, path: Path, title: str, benchmark_title: str
) -> Path:
    """QuantStats HTML of `returns` against a benchmark *series* (a ticker would download)."""
    strat = returns.copy()
    bench = benchmark.reindex(strat.index).copy()
    strat.index = pd.DatetimeIndex(strat.index).tz_localize(None)
    bench.index = strat.index
    strat.name, bench.name = title, benchmark_title
    with contained():
        import quantstats as qs

        qs.reports.html(
            strat,
            benchmark=bench,
            output=str(path),
            title=f"{title} vs {benchmark_title}",
            strategy_title=title,
            benchmark_title=benchmark_title,
            download_filename=path.name,
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    if benchmark_title.upper() not in text.upper():
        raise LstmbtError(f"QuantStats wrote {path} without the benchmark {benchmark_title!r}.")
    return path


def tearsheet_file(name: str) -> str:
    """The tear-sheet's file name for a strategy ('lookback:lstm' -> tearsheet_lookback_lstm)."""
    return f"tearsheet_{slug(name.replace(':', '_'))}.html"
