"""Data loading: the offline sample, Yahoo-style CSV files, and every bad input we can name."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmbt.data import (
    COLUMNS,
    drop_exact_duplicates,
    load_one,
    load_prices,
    read_csv_prices,
    validate_prices,
)
from lstmbt.errors import ConfigError, DataError
from tests.conftest import YAHOO_NAMES, yahoo_csv


def test_sample_is_tidy_real_ohlcv(sp500):
    assert list(sp500.columns) == COLUMNS
    assert len(sp500) == 5031
    assert sp500.index.is_monotonic_increasing and sp500.index.is_unique
    assert sp500.index.tz is None
    assert sp500.index[0] == pd.Timestamp("1999-01-04")
    assert (sp500[["open", "high", "low", "close"]] > 0).all().all()


def test_load_prices_aliases_and_dates():
    frames = load_prices(["^GSPC", "nasdaq"], start="2010-01-01", end="2010-12-31")
    assert set(frames) == {"^GSPC", "nasdaq"}
    assert frames["^GSPC"].index[0] == pd.Timestamp("2010-01-04")
    assert frames["^GSPC"].index[-1] == pd.Timestamp("2010-12-31")


def test_unknown_sample_ticker_says_what_exists():
    with pytest.raises(DataError, match=r"not in the offline sample.*\^GSPC"):
        load_one("TSLA", "sample")


def test_unknown_source_suggests_a_fix():
    with pytest.raises(ConfigError, match="Did you mean 'sample'"):
        load_one("^GSPC", "sampel")


def test_start_after_end():
    with pytest.raises(ConfigError, match="after --end"):
        load_one("^GSPC", "sample", start="2010-01-01", end="2009-01-01")


def test_range_outside_data():
    with pytest.raises(DataError, match="covers 1999-01-04 to 2018-12-31"):
        load_one("^GSPC", "sample", start="2030-01-01")


def test_csv_round_trip_case_insensitive(sp500, tmp_path):
    path = yahoo_csv(
        sp500.iloc[:300], tmp_path / "p.csv", **{"Adj Close": "adj close", "Open": "OPEN"}
    )
    frame = load_one(path, "sample")
    pd.testing.assert_frame_equal(frame, sp500.iloc[:300], check_freq=False, check_names=False)


def test_csv_as_source(sp500, tmp_path):
    path = yahoo_csv(sp500.iloc[:300], tmp_path / "p.csv")
    frame = load_one("MYTICKER", path)
    assert len(frame) == 300


def test_csv_without_adj_close_uses_close(sp500, tmp_path):
    path = yahoo_csv(sp500.iloc[:50].drop(columns="adj_close"), tmp_path / "p.csv")
    frame = read_csv_prices(path)
    assert (frame["adj_close"] == frame["close"]).all()


def test_csv_missing_columns(sp500, tmp_path):
    path = yahoo_csv(sp500.iloc[:50].drop(columns=["high", "low"]), tmp_path / "p.csv")
    with pytest.raises(DataError, match=r"lacks the columns \['high', 'low'\]"):
        read_csv_prices(path)


def test_csv_without_date_column(sp500, tmp_path):
    path = tmp_path / "p.csv"
    sp500.iloc[:10].reset_index(drop=True).to_csv(path, index=False)
    with pytest.raises(DataError, match="no Date column"):
        read_csv_prices(path)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ("yesterday,1,2,0.5,1.5,10\n", "unparseable or mixed date formats"),
        ("2020-01-02,1,2,0.5,1.5,10\n01/03/2020,1,2,0.5,1.5,10\n", "mixed date formats"),
        ("2020-01-02,1,2,0.5,abc,10\n", "non-numeric value 'abc' in column 'close' on 2020-01-02"),
    ],
    ids=["unparseable-dates", "mixed-date-formats", "non-numeric-value"],
)
def test_csv_bad_rows(tmp_path, rows, match):
    path = tmp_path / "p.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n" + rows)
    with pytest.raises(DataError, match=match):
        read_csv_prices(path)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_csv_prices(tmp_path / "nope.csv")


def test_exact_duplicate_rows_are_dropped_with_a_note(sp500):
    frame = pd.concat([sp500.iloc[:6], sp500.iloc[5:10]])
    with pytest.warns(UserWarning, match="dropped 1 exact duplicate rows.*1999-01-11"):
        out = validate_prices(frame, "x")
    pd.testing.assert_frame_equal(out, sp500.iloc[:10], check_freq=False, check_names=False)
    assert any("exact duplicate" in n for n in out.attrs["notes"])


def test_conflicting_rows_for_one_date_are_an_error_naming_it(sp500):
    clash = sp500.iloc[5:6].copy()
    clash["close"] += 1.0
    frame = pd.concat([sp500.iloc[:10], clash])
    with pytest.raises(DataError, match=r"conflicting rows for 1 date\(s\) \(1999-01-11\)"):
        validate_prices(frame, "x")


def test_concatenated_csv_downloads_are_read_once(sp500, tmp_path):
    """`cat a.csv b.csv` of overlapping downloads: the second header and 50 repeated rows go."""
    first = yahoo_csv(sp500.iloc[:200], tmp_path / "a.csv")
    second = yahoo_csv(sp500.iloc[150:300], tmp_path / "b.csv")
    path = tmp_path / "both.csv"
    path.write_text(Path(first).read_text() + Path(second).read_text())
    with pytest.warns(UserWarning) as seen:
        frame = load_one(str(path))
    notes = [str(w.message) for w in seen]
    assert notes == [
        "both.csv: dropped 1 repeated header rows",
        "both.csv: dropped 50 exact duplicate rows (same date and values, e.g. "
        + ", ".join(sp500.index[150:153].strftime("%Y-%m-%d"))
        + ")",
    ]
    pd.testing.assert_frame_equal(frame, sp500.iloc[:300], check_freq=False, check_names=False)
    assert frame.attrs["notes"] == notes


def test_conflicting_csv_rows_name_the_dates(sp500, tmp_path):
    """A corrected re-download pasted after the original: which close is right is not ours."""
    fixed = sp500.iloc[5:8].copy()
    fixed["close"] *= 1.01
    path = tmp_path / "p.csv"
    yahoo_csv(pd.concat([sp500.iloc[:10], fixed]), path)
    with pytest.raises(DataError, match=r"3 date\(s\) \(1999-01-11, 1999-01-12, 1999-01-13\)"):
        read_csv_prices(path)


def test_drop_exact_duplicates_works_on_any_dated_frame():
    """The rule a forecasts reader shares: any columns, NaN equals NaN, conflicts refused."""
    days = pd.to_datetime(["2020-01-02", "2020-01-02", "2020-01-03", "2020-01-03"])
    frame = pd.DataFrame({"forecast": [0.1, 0.1, np.nan, np.nan]}, index=days)
    with pytest.warns(UserWarning, match="f.csv: dropped 2 exact duplicate rows"):
        out = drop_exact_duplicates(frame, "f.csv")
    assert list(out.index) == list(days[[0, 2]])
    frame.iloc[1, 0] = 0.2
    with pytest.raises(DataError, match=r"conflicting rows for 1 date\(s\) \(2020-01-02\)"):
        drop_exact_duplicates(frame, "f.csv")


def test_unsorted_rows_are_sorted_with_a_note(sp500):
    frame = sp500.iloc[:20].iloc[::-1]
    with pytest.warns(UserWarning, match="not in date order"):
        out = validate_prices(frame, "x")
    assert out.index.is_monotonic_increasing
    assert any("sorted" in n for n in out.attrs["notes"])


def test_nan_prices_are_an_error_not_filled(sp500):
    frame = sp500.iloc[:20].copy()
    frame.iloc[7, 3] = np.nan
    with pytest.raises(DataError, match="missing prices"):
        validate_prices(frame, "x")


def test_empty_rows_dropped_with_note(sp500):
    frame = sp500.iloc[:20].copy()
    frame.iloc[7, :5] = np.nan
    with pytest.warns(UserWarning, match="dropped 1 rows"):
        out = validate_prices(frame, "x")
    assert len(out) == 19


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_non_positive_prices(sp500, value):
    frame = sp500.iloc[:20].copy()
    frame.iloc[3, 0] = value
    with pytest.raises(DataError, match="zero or negative price"):
        validate_prices(frame, "x")


def test_high_below_low_and_negative_volume_are_errors(sp500):
    with pytest.raises(
        DataError, match="x: high below low on 1999-01-04; the columns may be swapped"
    ):
        validate_prices(sp500.iloc[:5].assign(high=0.5), "x")
    with pytest.raises(DataError, match="x: negative volume. Check the volume column."):
        validate_prices(sp500.iloc[:5].assign(volume=-1.0), "x")


def test_timezone_aware_index_becomes_naive(sp500):
    frame = sp500.iloc[:20].copy()
    frame.index = frame.index.tz_localize("America/New_York")
    out = validate_prices(frame, "x")
    assert out.index.tz is None
    assert out.index[0] == sp500.index[0]


def test_infinite_price_or_volume_is_an_error_naming_column_and_date(sp500):
    """Regression: an inf price surfaced later as a misleading 'companion gap' error."""
    for column, value in (("close", np.inf), ("volume", -np.inf)):
        frame = sp500.iloc[:20].copy()
        frame.loc[frame.index[4], column] = value
        with pytest.raises(DataError, match=f"inf in column '{column}' on 1999-01-08"):
            validate_prices(frame, "x")


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400"])
def test_csv_infinite_cell_is_an_error(tmp_path, value):
    path = tmp_path / "p.csv"
    path.write_text(f"Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,{value},10\n")
    with pytest.raises(
        DataError, match=f"'{value}' in column 'close' on 2020-01-02 is not a finite"
    ):
        read_csv_prices(path)


def test_csv_row_without_a_date_is_named(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Date,Open,High,Low,Close\n2020-01-02,1,2,0.5,1.5\n,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match="data row 2 has no date"):
        read_csv_prices(path)


def dated_csv(frame: pd.DataFrame, path, date_format: str) -> str:
    """A Yahoo-style CSV with the dates written in `date_format` (as Excel exports do)."""
    out = frame.rename(columns=YAHOO_NAMES)
    out.index.name = "Date"
    out.to_csv(path, date_format=date_format)
    return str(path)


@pytest.mark.parametrize("date_format", ["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%y"])
def test_csv_dates_with_days_above_12_are_read_in_either_order(sp500, tmp_path, date_format):
    """The first row (04/01/2010) fits both orders; later rows settle it, with no guess to note."""
    year = sp500.loc["2010"]
    path = dated_csv(year, tmp_path / "p.csv", date_format)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = load_one(path)
    pd.testing.assert_frame_equal(frame, year, check_freq=False, check_names=False)
    assert frame.attrs["notes"] == []


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest-first", "newest-first"])
@pytest.mark.parametrize(
    "span",
    ["2010", "2010-01"],
    ids=["year-out-of-order-when-month-first", "month-in-order-but-weekends-when-month-first"],
)
def test_day_first_csv_with_all_days_up_to_12_is_read_day_first_with_a_note(
    sp500, tmp_path, newest_first, span
):
    """Regression: read month-first, this file started on a Saturday with +5.5% daily returns.

    Read month-first, a year's sessions fall out of order; January's (04/01 .. 12/01) stay in
    order, and only Saturday 1 May and Sunday 1 August give that reading away.
    """
    days = sp500.loc[span]
    days = days[days.index.day <= 12]
    path = dated_csv(days.iloc[::-1] if newest_first else days, tmp_path / "p.csv", "%d/%m/%Y")
    with pytest.warns(UserWarning) as seen:
        frame = load_one(path)
    notes = [str(w.message) for w in seen]
    assert notes[0].startswith("p.csv: read dates as day-first (dd/mm/yyyy)")
    assert notes[1:] == (
        ["p.csv: rows were not in date order; sorted them"] if newest_first else []
    )
    assert frame.attrs["notes"] == notes
    pd.testing.assert_frame_equal(frame, days, check_freq=False, check_names=False)
    assert (frame.index.day_of_week < 5).all()


def test_month_first_csv_with_all_days_up_to_12_is_read_month_first_with_a_note(sp500, tmp_path):
    days = sp500.loc["2010"]
    days = days[days.index.day <= 12]
    path = dated_csv(days, tmp_path / "p.csv", "%m/%d/%Y")
    with pytest.warns(UserWarning, match=r"read dates as month-first \(mm/dd/yyyy\)"):
        frame = load_one(path)
    pd.testing.assert_frame_equal(frame, days, check_freq=False, check_names=False)


def ambiguous_days(sp500: pd.DataFrame) -> pd.DataFrame:
    """Five real 2010 sessions whose dd/mm dates read as mm/dd are also sorted weekdays."""
    days = sp500.loc[["2010-01-04", "2010-01-06", "2010-01-07", "2010-01-11", "2010-01-12"]]
    swapped = pd.to_datetime(days.index.strftime("%m/%d/%Y"), format="%d/%m/%Y")
    assert (swapped.day_of_week < 5).all() and swapped.is_monotonic_increasing
    return days


def seven_day_week(sp500: pd.DataFrame) -> pd.DataFrame:
    """Real prices put on 1..7 January 2010, every calendar day as crypto trades: weekends."""
    days = sp500.loc["2010-01"].iloc[:7].copy()
    days.index = pd.date_range("2010-01-01", periods=7)
    return days


@pytest.mark.parametrize(
    ("days", "why"),
    [(ambiguous_days, "both readings give"), (seven_day_week, "neither reading gives")],
    ids=["both-fit", "neither-fits"],
)
def test_ambiguous_dates_are_refused_with_the_option_to_use(sp500, tmp_path, days, why):
    path = dated_csv(days(sp500), tmp_path / "p.csv", "%d/%m/%Y")
    with pytest.raises(
        DataError,
        match=rf"'\d\d/01/2010' can be read day-first or month-first, and {why} weekday dates in "
        r"order. Pass --date-format '%d/%m/%Y' \(day-first\) or '%m/%d/%Y'",
    ):
        load_one(path)


def test_date_format_settles_ambiguous_dates(sp500, tmp_path):
    days = ambiguous_days(sp500)
    path = dated_csv(days, tmp_path / "p.csv", "%d/%m/%Y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frames = load_prices([path], date_format="%d/%m/%Y")
    pd.testing.assert_frame_equal(frames[path], days, check_freq=False, check_names=False)


def test_date_format_is_used_for_every_row(sp500, tmp_path):
    """Given a format, ISO dates that would otherwise be read fine are refused, naming the first."""
    path = yahoo_csv(sp500.iloc[:10], tmp_path / "p.csv")
    with pytest.raises(
        DataError, match="date '1999-01-04' does not match --date-format '%d/%m/%Y'"
    ):
        load_one(path, date_format="%d/%m/%Y")
    with pytest.raises(ConfigError, match="--date-format '%Q' is not a date format"):
        load_one(path, date_format="%Q")


def test_mixed_orders_in_one_column_are_an_error(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Date,Open,High,Low,Close\n04/01/2010,1,2,0.5,1.5\n2010-01-05,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match="mixed date formats \\(first bad value '2010-01-05'\\)"):
        read_csv_prices(path)


def test_a_companion_that_ends_before_the_target_says_so_and_the_end_to_use():
    """Regression (exercise 3 with AAPL as a companion): the sample's AAPL ends 2013-03-01 and
    ^GSPC runs to 2018; the error blamed 'a companion gap longer than 5 days?'. It names the
    companion's last day and the --end that fits, before any training."""
    from lstmbt.config import RunConfig
    from lstmbt.study.inputs import prepare_data

    config = RunConfig(presets=("multifeature",), companions=("AAPL",), start="2012-01-01")
    with pytest.raises(DataError) as caught:
        prepare_data(config)
    assert str(caught.value) == (
        "preset 'multifeature': the companion 'AAPL' has prices only to 2013-03-01, and ^GSPC "
        "runs to 2018-12-31 (1469 trading days later); use --end 2013-03-01, or a companion "
        "whose prices run as long."
    )
    data = prepare_data(RunConfig(**{**config.to_dict(), "end": "2013-03-01"}))
    assert data.dates[-1] == pd.Timestamp("2013-02-28")  # the last day with a known next day
    # a few days past the companion's end are carried, as inside the range (5 at most)
    five = data.prices["^GSPC"].index[-1] + pd.offsets.BDay(5)
    assert len(prepare_data(RunConfig(**{**config.to_dict(), "end": str(five.date())})).dates)


def test_universe_tickers_that_never_share_a_day_are_refused_before_any_training(
    sp500, tmp_path, monkeypatch, capsys
):
    """Regression: a universe whose tickers' dates never overlap trained every ticker, then
    stopped with 'internal error (ValueError: no day has at least 2 tickers ranked ...)'. It is
    one line naming each ticker's span, before any study starts or any folder is made."""
    from lstmbt import api
    from lstmbt.cli import main

    folder = tmp_path / "apart"
    folder.mkdir()
    yahoo_csv(sp500.loc["2000":"2003"], folder / "early.csv")
    yahoo_csv(sp500.loc["2010":"2013"], folder / "late.csv")
    studied = []
    monkeypatch.setattr(api, "run_study", lambda *a, **k: studied.append(a))
    out = tmp_path / "reports"
    assert main(["run", "--universe", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and studied == [] and not out.exists()
    assert (
        "the universe's tickers never trade on the same days: early (2000-01-03 to 2003-12-31), "
        "late (2010-01-04 to 2013-12-31); at most 1 of them trade on any one day, and a top-2 "
        "long portfolio ranks 2." in err
    )
    # a shared span is enough (the check does not train; the studies are stubbed out here)
    yahoo_csv(sp500.loc["2003-06":"2006"], folder / "middle.csv")
    from lstmbt.config import RunConfig
    from lstmbt.data.universe import resolve_universe
    from lstmbt.study.inputs import check_universe_overlap

    members = resolve_universe(str(folder)).members
    check_universe_overlap(RunConfig(universe=str(folder)), members)
    with pytest.raises(DataError, match="at most 2 of them trade .* top-3 long portfolio ranks 3"):
        check_universe_overlap(RunConfig(top_k=3), members)
    check_universe_overlap(RunConfig(portfolio="long-short"), members)  # 4 > 3 tickers: a note


def test_a_portfolio_whose_forecasts_never_share_enough_days_is_skipped_not_a_crash(sp500):
    """Prices that overlap only in one ticker's training years give forecasts that never share
    a day: no ranking portfolio (a note), where ranking_weights used to raise after training."""
    from types import SimpleNamespace

    from lstmbt.config import RunConfig
    from lstmbt.features.returns import adjusted_ohlcv
    from lstmbt.study.portfolio import ranking_portfolio

    a, b = sp500.loc["2000":"2004"], sp500.loc["2004-06":"2008"]
    frames = {"a": adjusted_ohlcv(a), "b": adjusted_ohlcv(b)}

    def study(days):
        return SimpleNamespace(predictions=pd.DataFrame({"m": 0.001}, index=days))

    studies = {"a": study(a.index[-200:-1]), "b": study(b.index[-300:-1])}
    assert ranking_portfolio(RunConfig(bootstrap_reps=50), frames, studies, "m") is None


def test_named_month_dates_read_when_the_first_is_may(sp500, tmp_path):
    """Regression (fuzz): '03-May-2010' is inferred as day-FullMonthName-year ('May' is both
    names), and the next row, '04-Jun-2010', was refused as a mixed date format."""
    days = sp500.loc["2010-05-03":"2010-06-30"]
    path = dated_csv(days, tmp_path / "named.csv", "%d-%b-%Y")
    assert Path(path).read_text().splitlines()[1].startswith("03-May-2010")
    pd.testing.assert_frame_equal(load_one(path), days, check_freq=False, check_names=False)
    full = dated_csv(days, tmp_path / "full.csv", "%d-%B-%Y")  # full names still read
    pd.testing.assert_frame_equal(load_one(full), days, check_freq=False, check_names=False)


def test_a_csv_with_a_header_and_no_rows_is_one_line(tmp_path):
    """Regression (fuzz): a header line alone ended in an IndexError (exit 3)."""
    path = tmp_path / "empty.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n")
    with pytest.raises(DataError, match="has a header but no rows of data"):
        load_one(str(path))
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n2010-01-04,,,,,,\n")
    with pytest.raises(DataError, match="no prices at all"):
        load_one(str(path))


def test_a_date_beyond_what_pandas_holds_in_nanoseconds_is_one_line(tmp_path):
    """Regression (fuzz): '2262-04-12' parsed (pandas 3 reads microseconds), then overflowed
    when the prices were put on nanoseconds: OutOfBoundsDatetime, exit 3."""
    path = tmp_path / "far.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n2010-01-04,1,1,1,1,1,1\n"
        "2262-04-12,1,1,1,1,1,1\n"
    )
    with pytest.raises(DataError, match="the date '2262-04-12' is outside the dates lstmbt can"):
        load_one(str(path))
