"""Every reader of a user's file, fuzzed: prices CSV, forecasts CSV (judge), cash-rate file,
universe list (a text file of tickers, a folder of CSVs) and config TOML.

Each generated file ends as the command line would end it: exit 0 (read) or exit 2 (refused in
one line, an `LstmbtError`); anything else is a bug (the CLI's exit 3) and fails the test. A
file that is a clean file with repairs only (rows shuffled or newest first, exact duplicates, a
repeated header, spaces, CRLF, another spelling of a header or a date) must read exactly as the
clean file. The readers are called in-process, the way the CLI calls them; examples are fixed
(`derandomize`) so a red build is reproducible; `LSTMBT_FUZZ=N` hunts with N random examples.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lstmbt.config import RunConfig, config_from_mapping, load_config_file
from lstmbt.data import load_one
from lstmbt.data.rates import cash_rate
from lstmbt.data.universe import resolve_universe
from lstmbt.errors import LstmbtError
from lstmbt.judge import read_submission
from lstmbt.progress import Progress
from lstmbt.study.inputs import check_universe_overlap
from lstmbt.study.judged import judge_data, span_of

# LSTMBT_FUZZ=2000 explores that many random examples per test instead (a longer hunt)
HUNT = int(os.environ.get("LSTMBT_FUZZ", "0"))
FUZZ = settings(
    max_examples=HUNT or 40,
    deadline=None,
    derandomize=not HUNT,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REFUSED = 2


def outcome(read: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, Any]:
    """(0, what `read` returned) or (2, the message of the LstmbtError it raised): the CLI's
    exit codes. Any other exception propagates and fails the test: the CLI would call it an
    internal error (exit 3). Repair warnings are silenced (they are tested elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return 0, read(*args, **kwargs)
        except LstmbtError as exc:
            message = " ".join(str(exc).split())
            assert message, "a refusal must say what to fix"
            return REFUSED, message


@contextmanager
def folder():
    """A fresh folder per example (hypothesis reuses a test's fixtures across examples)."""
    with tempfile.TemporaryDirectory(prefix="lstmbt-fuzz-") as name:
        yield Path(name)


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    return load_one("^GSPC", "sample")


# --- building CSV text: a clean table, then repairs a reader must undo ---------------------------

# cells a hand-edited or badly exported CSV holds
GARBAGE_CELLS = st.sampled_from(
    [
        "",
        " ",
        "1",
        "1.5",
        "-1",
        "0",
        "0.001",
        "-0.5",
        "1e300",
        "-1e300",
        "1e400",
        "inf",
        "-inf",
        "nan",
        "NaN",
        "abc",
        "1,5",
        '"2"',
        " 2 ",
        "0x10",
        "1_000",
        "２",
        "null",
        "True",
        "2010-01-04",
        "04/01/2010",
        "2010-01-09",
        "2020-13-45",
        "Date",
        "\ufeff1",
    ]
)
GARBAGE_DATES = st.one_of(
    st.sampled_from(["", "x", "2020-13-45", "1899-12-31", "2262-04-12", "Date", "0", "nan"]),
    st.dates(
        min_value=pd.Timestamp("2009-01-01").date(), max_value=pd.Timestamp("2012-12-31").date()
    ).map(str),
    st.sampled_from(["%d/%m/%Y", "%m/%d/%Y", "%Y%m%d", "%d.%m.%y", "%b %d %Y"]).flatmap(
        lambda fmt: st.dates(
            min_value=pd.Timestamp("2009-01-01").date(), max_value=pd.Timestamp("2012-12-31").date()
        ).map(lambda d: d.strftime(fmt))
    ),
)


def garbage_csv(headers: list[str]) -> st.SearchStrategy[str]:
    """A CSV with these headers (or a mangled header line) and rows of arbitrary cells."""
    row = st.tuples(GARBAGE_DATES, st.lists(GARBAGE_CELLS, min_size=0, max_size=len(headers) + 1))
    header = st.one_of(
        st.just(",".join(headers)),
        st.permutations(headers).map(",".join),
        st.lists(st.sampled_from([*headers, "", "Date", "x"]), max_size=8).map(",".join),
    )
    rows = st.lists(row.map(lambda r: ",".join([r[0], *r[1]])), max_size=12)
    text = st.tuples(header, rows, st.sampled_from(["\n", "\r\n"])).map(
        lambda t: t[2].join([t[0], *t[1]]) + t[2]
    )
    # a byte-order mark, another separator (Excel in many locales writes ';'), a quoted field
    # running over lines, a file cut short
    mangle = st.sampled_from(
        [
            lambda s: s,
            lambda s: "\ufeff" + s,
            lambda s: s.replace(",", ";"),
            lambda s: s.replace(",", "\t"),
            lambda s: s.replace("\n", '"\n', 1),
            lambda s: s[: len(s) // 2],
        ]
    )
    return st.tuples(text, mangle).map(lambda t: t[1](t[0]))


@st.composite
def repairs(draw, lines: list[str], header: str) -> str:
    """`lines` (data rows of a clean CSV) with repairs only: the rows reordered, some repeated
    exactly, the header repeated inside (`cat a.csv b.csv`), spaces after the commas, CRLF
    line ends, blank lines at the end and a byte-order mark."""
    order = draw(st.sampled_from(["keep", "reverse", "shuffle"]))
    if order == "reverse":
        lines = lines[::-1]
    elif order == "shuffle":
        lines = draw(st.permutations(lines))
    lines = list(lines)
    for _ in range(draw(st.integers(0, 3))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(lines)))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(1, len(lines))), header)
    if draw(st.booleans()):
        lines = [line.replace(",", ", ") for line in lines]
        header = header.replace(",", ", ")
    end = draw(st.sampled_from(["\n", "\r\n"]))
    tail = end * draw(st.integers(0, 2))
    bom = draw(st.sampled_from(["", "\ufeff"]))  # Excel's 'CSV UTF-8' starts with one
    return bom + end.join([header, *lines]) + end + tail


def _csv_lines(frame: pd.DataFrame, date_format: str) -> tuple[str, list[str]]:
    """A frame as CSV text: its header line and its data lines (floats written exactly)."""
    text = frame.to_csv(date_format=date_format, lineterminator="\n")
    header, *lines = text.rstrip("\n").split("\n")
    return header, lines


# --- prices CSV --------------------------------------------------------------------------------

PRICE_HEADERS = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
HEADER_SPELLINGS = {
    "yahoo": PRICE_HEADERS,
    "lower": [h.lower() for h in PRICE_HEADERS],
    "upper": [h.upper() for h in PRICE_HEADERS],
    "snake": ["date", "open", "high", "low", "close", "adj_close", "volume"],
}
# date spellings; the numeric day/month orders may be refused as ambiguous, never misread
DATE_SPELLINGS = ["%Y-%m-%d", "%Y/%m/%d", "%d-%b-%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y%m%d"]
AMBIGUOUS = {"%m/%d/%Y", "%d/%m/%Y"}


@FUZZ
@given(data=st.data())
def test_fuzz_prices_csv_repairs_read_as_the_clean_file(sp500, data):
    start = data.draw(st.integers(0, len(sp500) - 60), label="start")
    n = data.draw(st.integers(3, 40), label="rows")
    clean = sp500.iloc[start : start + n]
    spelling = data.draw(st.sampled_from(sorted(HEADER_SPELLINGS)), label="headers")
    date_format = data.draw(st.sampled_from(DATE_SPELLINGS), label="dates")
    table = clean.copy()
    table.index.name = "date"
    table.columns = HEADER_SPELLINGS[spelling][1:]
    table.index.name = HEADER_SPELLINGS[spelling][0]
    columns = data.draw(st.permutations(list(table.columns)), label="column order")
    header, lines = _csv_lines(table[columns], date_format)
    text = data.draw(repairs(lines, header), label="file")
    with folder() as where:
        path = where / "p.csv"
        path.write_bytes(text.encode())
        code, frame = outcome(load_one, str(path))
    if code == REFUSED:
        assert date_format in AMBIGUOUS and "day-first or month-first" in frame, frame
        return
    pd.testing.assert_frame_equal(frame, clean, check_freq=False, check_names=False)


@FUZZ
@given(text=garbage_csv(PRICE_HEADERS))
@example(text="Date,Open,High,Low,Close,Adj Close,Volume\n")  # found: a header alone
@example(text="Date,Open,High,Low,Close,Adj Close,Volume\n2262-04-12,1,1,1,1,1,1\n")
@example(text="Date,Close,Open,High,Low\n03-May-2010,1,1,1,1\n04-Jun-2010,1,1,1,1\n")
def test_fuzz_prices_csv_garbage_is_read_or_refused(text):
    with folder() as where:
        path = where / "g.csv"
        path.write_bytes(text.encode())
        code, frame = outcome(load_one, str(path))
    if code == 0:  # what is read is tidy: the promise every later stage relies on
        assert frame.index.is_monotonic_increasing and frame.index.is_unique
        values = frame[["open", "high", "low", "close", "adj_close"]].to_numpy()
        assert np.isfinite(values).all() and (values > 0).all()
        assert (frame["high"] >= frame["low"]).all()


# --- forecasts CSV (judge) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def judged_prices(sp500):
    """The prices forecasts are judged against (2009-2012), built once."""
    return judge_data(sp500.loc["2009":"2012"], "^GSPC", RunConfig())


def read_forecast_file(path: Path, data) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """What `lstmbt judge FILE` reads before any backtest: the checked table and its span."""
    sub, _ = read_submission(path)
    return sub.table, span_of(sub, data, Progress())


@FUZZ
@given(data=st.data())
def test_fuzz_forecasts_csv_repairs_judge_the_clean_file(judged_prices, data):
    days = judged_prices.dates
    start = data.draw(st.integers(0, len(days) - 100), label="start")
    n = data.draw(st.integers(20, 80), label="rows")
    index = days[start : start + n]
    names = data.draw(st.sampled_from([["f"], ["f", "g"], ["mine", "theirs", "x"]]), label="cols")
    cell = st.floats(-0.05, 0.05, allow_nan=False, allow_subnormal=False)
    values = data.draw(st.lists(cell, min_size=n * len(names), max_size=n * len(names)))
    clean = pd.DataFrame(np.reshape(values, (n, len(names))), index=index, columns=names)
    holes = data.draw(st.lists(st.integers(1, n - 1), max_size=3), label="empty cells")
    clean.iloc[holes, 0] = np.nan  # no forecast that day (never the first row)
    if data.draw(st.booleans(), label="realised column"):  # a run's predictions.csv has one
        clean = clean.assign(realised=0.01)
    date_format = data.draw(st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%d-%b-%Y"]), label="dates")
    with folder() as where:
        header, lines = _csv_lines(clean.rename_axis("Date"), "%Y-%m-%d")
        (where / "clean.csv").write_text("\n".join([header, *lines]) + "\n")
        header, lines = _csv_lines(clean.rename_axis("Date"), date_format)
        (where / "f.csv").write_bytes(data.draw(repairs(lines, header), label="file").encode())
        code, want = outcome(read_forecast_file, where / "clean.csv", judged_prices)
        assert code == 0, want
        code, got = outcome(read_forecast_file, where / "f.csv", judged_prices)
    assert code == 0, got
    pd.testing.assert_frame_equal(got[0], want[0], check_freq=False)
    pd.testing.assert_index_equal(got[1], want[1])
    assert got[1][0] == index[0] and got[1][-1] == index[-1]


@FUZZ
@given(text=garbage_csv(["Date", "f", "g"]))
def test_fuzz_forecasts_csv_garbage_is_read_or_refused(judged_prices, text):
    with folder() as where:
        path = where / "g.csv"
        path.write_bytes(text.encode())
        code, read = outcome(read_forecast_file, path, judged_prices)
    if code == 0:
        table, span = read
        assert table.index.is_monotonic_increasing and table.index.is_unique
        values = table.to_numpy(dtype=float)
        assert (np.abs(values[~np.isnan(values)]) < 1).all()
        assert span.isin(judged_prices.dates).all() and span.is_monotonic_increasing


# --- cash-rate file ---------------------------------------------------------------------------

RATE_DAYS = pd.bdate_range("2010-01-04", "2011-12-30")
RATE_MONTHS = pd.date_range("2009-12-01", "2011-12-01", freq="MS")


@FUZZ
@given(data=st.data())
def test_fuzz_rate_files_in_either_declared_unit_read_as_the_clean_file(data):
    values = data.draw(
        st.lists(
            st.floats(0.0, 0.19, allow_subnormal=False),
            min_size=len(RATE_MONTHS),
            max_size=len(RATE_MONTHS),
        ),
        label="rates",
    )
    clean = pd.DataFrame({"rate": values}, index=RATE_MONTHS).rename_axis("Date")
    unit = data.draw(st.sampled_from(["fraction", "percent"]), label="unit")
    named = data.draw(st.sampled_from(["name", "option", "both"]), label="declared by")
    column = {"fraction": "rate", "percent": "rate_pct"}[unit] if named != "option" else "value"
    column = data.draw(st.sampled_from([column, column.upper(), f" {column.title()} "]))
    scale = 100.0 if unit == "percent" else 1.0
    table = pd.DataFrame({column: clean["rate"].to_numpy() * scale}, index=RATE_MONTHS)
    header, lines = _csv_lines(table.rename_axis("Date"), "%Y-%m-%d")
    option = unit if named in ("option", "both") else None
    with folder() as where:
        (where / "clean.csv").write_text(clean.to_csv(lineterminator="\n"))
        (where / "r.csv").write_bytes(data.draw(repairs(lines, header), label="file").encode())
        code, want = outcome(cash_rate, str(where / "clean.csv"), RATE_DAYS)
        assert code == 0, want
        code, got = outcome(cash_rate, str(where / "r.csv"), RATE_DAYS, unit=option)
    assert code == 0, got
    pd.testing.assert_series_equal(got.annual, want.annual, rtol=1e-12, atol=1e-15)


@FUZZ
@given(
    text=garbage_csv(["Date", "rate"]) | garbage_csv(["Date", "rate_pct", "x"]),
    unit=st.sampled_from([None, "fraction", "percent"]),
)
def test_fuzz_rate_file_garbage_is_read_or_refused(text, unit):
    with folder() as where:
        path = where / "r.csv"
        path.write_bytes(text.encode())
        code, rate = outcome(cash_rate, str(path), RATE_DAYS, unit=unit)
    if code == 0:
        annual = rate.annual.to_numpy()
        assert rate.annual.index.equals(RATE_DAYS)
        assert np.isfinite(annual).all() and (annual >= 0).all() and (annual < 1).all()


# --- universe: a text file of tickers, a folder of CSVs ---------------------------------------

TICKER = st.from_regex(r"\^?[A-Za-z][A-Za-z0-9.=\-]{0,6}", fullmatch=True)


@FUZZ
@given(data=st.data())
def test_fuzz_ticker_lists_with_comments_spaces_and_repeats_list_the_clean_tickers(data):
    tickers = data.draw(st.lists(TICKER, min_size=1, max_size=8), label="tickers")
    clean: list[str] = []
    for t in tickers:
        if t.upper() not in clean:
            clean.append(t.upper())
    lines = []
    for t in tickers:
        pad = data.draw(st.sampled_from(["", " ", "\t", "  "]))
        case = data.draw(st.sampled_from([str, str.lower, str.upper]))
        comment = data.draw(st.sampled_from(["", " # a comment", "# x, y z"]))
        lines.append(f"{pad}{case(t)}{pad}{comment}")
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(["", "   ", "# header, with commas", "#"])))
    end = data.draw(st.sampled_from(["\n", "\r\n"]))
    bom = data.draw(st.sampled_from(["", "\ufeff"]), label="byte-order mark")
    with folder() as where:
        path = where / "mine.txt"
        path.write_bytes((bom + end.join(lines) + end).encode())
        code, universe = outcome(resolve_universe, str(path))
    assert code == 0, universe
    assert [m.ticker for m in universe.members] == clean
    assert universe.name == "mine"


@FUZZ
@given(text=st.text(max_size=200))
@example(text="\ufeffAAPL\n")  # found: a byte-order mark
def test_fuzz_ticker_list_garbage_is_read_or_refused(text):
    with folder() as where:
        path = where / "list.txt"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, universe = outcome(resolve_universe, str(path))
    if code == 0:
        assert universe.members and all(m.ticker.strip() == m.ticker for m in universe.members)
        assert not universe.members[0].ticker.startswith("\ufeff")


@settings(FUZZ, max_examples=HUNT or 20)
@given(data=st.data())
def test_fuzz_universe_folders_are_read_or_refused(sp500, data):
    """A folder of CSV files: odd names, garbage contents, spans that may not overlap. Every
    member is read or refused, and the overlap check before training is too."""
    names = data.draw(
        st.lists(st.from_regex(r"[A-Za-z0-9^._\- ]{1,6}", fullmatch=True), min_size=1, max_size=4),
        label="names",
    )
    with folder() as where:
        for name in names:
            suffix = data.draw(st.sampled_from([".csv", ".CSV", ".txt"]))
            if data.draw(st.booleans(), label="prices"):
                start = data.draw(st.integers(0, len(sp500) - 40))
                text = sp500.iloc[start : start + 30].to_csv(lineterminator="\n")
            else:
                text = data.draw(garbage_csv(PRICE_HEADERS))
            try:
                (where / f"{name}{suffix}").write_text(text)
            except OSError:  # a name the file system will not take (e.g. '.' or '..')
                continue
        code, universe = outcome(resolve_universe, str(where))
        if code == 0:
            for member in universe.members:
                outcome(load_one, member.ticker, member.source)  # read or refused, no crash
            config = RunConfig(universe=str(where))
            outcome(check_universe_overlap, config, universe.members)


# --- config TOML -------------------------------------------------------------------------------

CLEAN_CONFIG = {
    "presets": ["baseline", "lookback"],
    "epochs": 3,
    "lookback": 5,
    "threshold": 0.001,
    "cash_rate": "0.02",
    "start": "2010-01-01",
    "tearsheets": False,
    "commission": 0.0005,
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == np.inf else repr(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def read_config(path: Path) -> RunConfig:
    """What `lstmbt run --config FILE` does with the file before anything else."""
    return config_from_mapping(load_config_file(path))


@FUZZ
@given(data=st.data())
def test_fuzz_config_toml_spelled_differently_gives_the_clean_config(data):
    keys = data.draw(st.permutations(sorted(CLEAN_CONFIG)), label="key order")
    lines = []
    for key in keys:
        name = data.draw(st.sampled_from([key, key.replace("_", "-")]), label="spelling")
        if key == "presets":
            name = data.draw(st.sampled_from([name, "preset"]))
        eq = data.draw(st.sampled_from(["=", " = ", "  =\t"]))
        comment = data.draw(st.sampled_from(["", "  # why", "\t#"]))
        lines.append(f"{name}{eq}{_toml_value(CLEAN_CONFIG[key])}{comment}")
        if data.draw(st.booleans()):
            lines.append(data.draw(st.sampled_from(["", "# a comment", "   "])))
    with folder() as where:
        path = where / "run.toml"
        path.write_text("\n".join(lines) + "\n")
        code, config = outcome(read_config, path)
    assert code == 0, config
    assert config == config_from_mapping(CLEAN_CONFIG)


FIELD_NAMES = sorted(f for f in RunConfig.__dataclass_fields__ if f not in ("models",))
TOML_VALUES = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_subnormal=False),
        st.text(max_size=12),
        st.sampled_from(["baseline", "lookback,multifeature", "sample", "2010-01-01", "0.02"]),
        st.sampled_from(["1979-05-27", "1979-05-27T07:32:00", "07:32:00"]).map(lambda s: f"@{s}"),
    ),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


def _garbage_toml_value(value: Any) -> str:
    if isinstance(value, str) and value.startswith("@"):
        return value[1:]  # a TOML date, time or datetime, unquoted
    if isinstance(value, list):
        return "[" + ", ".join(_garbage_toml_value(v) for v in value) + "]"
    return _toml_value(value)


@FUZZ
@given(
    entries=st.lists(
        st.tuples(st.sampled_from([*FIELD_NAMES, "preset", "with", "set", "epoch"]), TOML_VALUES),
        max_size=5,
        unique_by=lambda kv: kv[0],
    ),
    table=st.sampled_from(
        ["", "[presets.baseline]\nlookback = 3\n", "[presets]\nx = 1\n", "[a.b]\n"]
    ),
)
def test_fuzz_config_toml_garbage_is_read_or_refused(entries, table):
    text = "".join(f"{k} = {_garbage_toml_value(v)}\n" for k, v in entries) + table
    with folder() as where:
        path = where / "run.toml"
        path.write_text(text)
        outcome(read_config, path)


@FUZZ
@given(text=st.text(max_size=120))
@example(text="0")  # found: JSON that is not a table
def test_fuzz_config_file_text_is_read_or_refused(text):
    with folder() as where:
        for name in ("run.toml", "run.json"):
            path = where / name
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            outcome(read_config, path)


# --- regressions the fuzzing found (the data ones are in test_data.py) -------------------------


@pytest.mark.parametrize("text", ["0", "[1, 2]", '"epochs"', "null"])
def test_a_json_config_that_is_not_a_table_is_one_line(tmp_path, text):
    """Regression (fuzz): a JSON config file holding a bare number ended in AttributeError
    ('int' object has no attribute 'items'), exit 3."""
    path = tmp_path / "run.json"
    path.write_text(text)
    with pytest.raises(LstmbtError, match="not a table of options"):
        read_config(path)


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    """A config file in another encoding (Latin-1) is malformed, not a UnicodeDecodeError."""
    path = tmp_path / "run.toml"
    path.write_bytes('ticker = "Zürich"\n'.encode("latin-1"))
    with pytest.raises(LstmbtError, match="is malformed"):
        read_config(path)


def test_a_ticker_list_saved_with_a_byte_order_mark_reads_its_first_ticker(tmp_path):
    """Regression (fuzz): Notepad's UTF-8 files start with a byte-order mark, which became
    part of the first ticker ('\\ufeffAAPL', a ticker no source knows)."""
    path = tmp_path / "tickers.txt"
    path.write_bytes("\ufeffAAPL\r\nmsft\r\n".encode())
    assert [m.ticker for m in resolve_universe(str(path)).members] == ["AAPL", "MSFT"]
