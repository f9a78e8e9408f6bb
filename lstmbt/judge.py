"""`judge`: the honest verdict for anyone's forecast, with the study's engine, costs, baselines,
tests and report. Forecasts come as a pandas Series/DataFrame or a CSV (a date column and one
or more forecast columns); a run's own predictions.csv can be judged directly."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lstmbt import runs
from lstmbt.config import FROM_RUN, RunConfig, config_from_mapping
from lstmbt.data import PriceCache, load_one, read_dated_csv, validate_prices
from lstmbt.errors import ConfigError, DataError
from lstmbt.metrics import STEP, is_step_column
from lstmbt.progress import Progress
from lstmbt.results import StudyResult, write_run
from lstmbt.study.judged import Submission, judge_data, judge_forecasts

MAX_FORECAST = 1.0  # |forecast| of a next-day simple return from here on is another unit


def read_forecasts(path: str | Path, date_format: str | None = None) -> pd.DataFrame:
    """A forecasts CSV: a date column and numeric forecast columns (the CSV rules every reader
    shares: dd/mm vs mm/dd, rows sorted by date with a note when they were not (shuffled or
    newest first), exact duplicate rows dropped with a warning, conflicting rows and
    non-numeric cells refused). A `realised` column (a run's predictions.csv) is ignored, and
    in such a file so are a multi-step run's later days (`<name>@t+k` beside `<name>`):
    forecasts are of the next day. Any other column named like that is the user's and is
    judged, with a note saying so. The repairs are listed in `attrs["notes"]`."""
    table = read_dated_csv(path, "forecasts CSV", date_format)
    notes = list(table.attrs.get("notes", []))
    realised = [c for c in table.columns if str(c).lower() == "realised"]
    if realised:  # a run's predictions.csv: its later days are not forecasts of the next day
        bare = {str(c) for c in table.columns}
        later = [c for c in table.columns if is_step_column(c) and _step_of(c) in bare]
        table = table.drop(columns=realised + later)
    steps = [c for c in table.columns if is_step_column(c)]
    if steps:
        shown = ", ".join(str(c) for c in steps[:3]) + (", ..." if len(steps) > 3 else "")
        notes.append(
            f"the columns {shown} are judged as forecasts of the next day's return, like the "
            "others (only a run's predictions.csv, which has a 'realised' column, has later "
            "days named <model>@t+k, and there they are left out)"
        )
    table.attrs["notes"] = notes
    return table


def _step_of(column: object) -> str:
    """The forecast a later day's column belongs to: 'a:lstm@t+3' -> 'a:lstm'."""
    return str(column).rpartition(STEP)[0]


def run_config_of(path: str | Path) -> RunConfig | None:
    """The config of the run whose predictions.csv `path` is, if it is one."""
    path = Path(path)
    if path.name != "predictions.csv" or not (path.parent / "config.json").is_file():
        return None
    return runs.read_config(path.parent)


def judge(
    forecasts: pd.Series | pd.DataFrame | str | Path,
    prices: pd.DataFrame | None = None,
    *,
    config: RunConfig | None = None,
    positions: bool = False,
    trials: int = 0,
    progress: Progress | None = None,
    write: bool = False,
    date_format: str | None = None,
    weights: bool = False,
) -> StudyResult:
    """Judge forecasts of the next day's simple return (or, with `positions`, positions in
    {-1, 0, 1} to hold from the next open; with `weights`, fractions of equity traded as sized
    weights with `config.rebalance_band`) against buy-and-hold and the baselines, after costs.
    How a column is traded is said up front, never read from its values (a later fractional
    weight must not change how earlier days were traded).

    `forecasts`: a Series or DataFrame indexed by decision date (one column per forecast), or a
    CSV path. `prices`: the traded series' OHLCV (default: loaded from config.source and
    config.ticker). `trials`: variants tried before these, counted by the deflated Sharpe.
    Settings (costs, threshold, shorts, bootstrap) come from `config`; a run's predictions.csv
    brings its run's. Returns the same StudyResult as a study; `write` saves the report.
    """
    progress = progress or Progress()
    with warnings.catch_warnings():  # the caller's warning filters stay as they were
        sub, config = read_submission(
            forecasts,
            config,
            positions=positions,
            weights=weights,
            trials=trials,
            date_format=date_format,
        )
        table, positions = sub.table, sub.positions
        frame = _prices(config, prices, date_format)
        data = judge_data(frame, config.label, config, table.attrs.get("notes", ()))
        judged = submission_fingerprint(sub.table, positions, weights)
        earlier = runs.earlier_trials(config, data.prices, judged)
        result = judge_forecasts(config, data, sub, progress, earlier)
        if write:  # the folder is made with something to write: an error before leaves none
            info = {
                "columns": list(table.columns),
                "positions": positions,
                "weights": weights,
                "trials": trials,
                "fingerprint": judged,
            }
            run_dir = runs.new_run_dir(config, label="judge")
            with runs.locked(run_dir), runs.recorded(run_dir, runs.JUDGE_AGAIN):
                runs.write_status(run_dir, "running", kind="judge")
                result = write_run(result, run_dir, progress, config.tearsheets, {"judge": info})
                runs.record_results(run_dir)
                runs.write_status(run_dir, "complete")
        return result


def read_submission(
    forecasts: pd.Series | pd.DataFrame | str | Path,
    config: RunConfig | None = None,
    *,
    positions: bool = False,
    weights: bool = False,
    trials: int = 0,
    date_format: str | None = None,
) -> tuple[Submission, RunConfig]:
    """`judge`'s first step, before any price is read: the forecasts read (a CSV by the rules
    every reader shares, sorted by date with a note) and checked (numeric, finite, plausible
    next-day returns, or positions and weights the engine trades), and the settings they are
    judged with (a run's predictions.csv brings its run's). Bad input is a DataError or
    ConfigError naming the fix; the repairs are listed in `submission.table.attrs["notes"]`."""
    table, config = _submission(forecasts, config, date_format)
    config = config.validate()
    if config.sizing != "sign":
        raise ConfigError(
            f"judge trades submitted forecasts by their sign; --sizing {config.sizing} fits "
            "its scale on each fold's training block, which a submitted forecast does not "
            "have. Use sizing 'sign', submit your sized weights with --weights, or run "
            f"the model through `lstmbt run --sizing {config.sizing}`."
        )
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 0:
        raise ConfigError(f"--trials counts earlier variants: a whole number >= 0, got {trials!r}.")
    positions = positions or weights
    checked = _checked(table, positions, config, weights)
    return Submission(checked, positions, trials, weights), config


def submission_fingerprint(table: pd.DataFrame, positions: bool, weights: bool) -> str:
    """What was judged, as a short hash: each column's dated values (empty cells left out;
    the column's name and the order of the columns do not matter) and how they are traded.
    Judging the same forecasts again is the same trial; judging others is another."""
    columns = sorted(
        hashlib.sha256(
            pd.util.hash_pandas_object(table[c].dropna(), index=True).to_numpy().tobytes()
        ).hexdigest()
        for c in table.columns
    )
    mode = "weights" if weights else "positions" if positions else "forecasts"
    return hashlib.sha256(" ".join([mode, *columns]).encode()).hexdigest()[:16]


def _submission(
    forecasts, config: RunConfig | None, date_format: str | None
) -> tuple[pd.DataFrame, RunConfig]:
    if isinstance(forecasts, (str, Path)):
        table = read_forecasts(forecasts, date_format)
        from_run = run_config_of(forecasts)
        if from_run is not None:
            # the run's own baselines are recomputed here: judge what the run trained
            keep = runs.read_metrics(Path(forecasts).parent).names(role="forecaster")
            notes = table.attrs.get("notes", [])
            table = table[[c for c in table.columns if c in keep]]
            table.attrs["notes"] = notes
            base = (config or RunConfig()).to_dict()
            base.update({k: getattr(from_run, k) for k in FROM_RUN})
            base["run_id"] = None
            config = config_from_mapping(base)
        return table, config or RunConfig()
    if isinstance(forecasts, pd.Series):
        forecasts = forecasts.to_frame(forecasts.name or "forecast")
    if not isinstance(forecasts, pd.DataFrame):
        raise ConfigError(
            f"forecasts must be a pandas Series/DataFrame indexed by date or a CSV path, got "
            f"{type(forecasts).__name__}."
        )
    if not isinstance(forecasts.index, pd.DatetimeIndex):
        raise DataError("forecasts need a DatetimeIndex (the date each forecast is made at).")
    table = forecasts.copy()
    table.index = table.index.tz_localize(None) if table.index.tz else table.index
    table.index = table.index.normalize()
    table = table.drop(columns=[c for c in table.columns if str(c).lower() == "realised"])
    if table.index.duplicated().any():
        raise DataError("forecasts have duplicate dates; keep one row per decision date.")
    notes = []
    if not table.index.is_monotonic_increasing:
        notes.append("forecasts: rows were not in date order; sorted them")
        warnings.warn(notes[-1], stacklevel=4)
    table = table.sort_index(kind="stable")
    try:
        table = table.astype("float64")
    except (ValueError, TypeError):
        raise DataError(
            "forecasts must be numbers (NaN where a column has no forecast); found "
            f"{_non_numeric(table)}."
        ) from None
    table.attrs["notes"] = notes
    return table, config or RunConfig()


def _non_numeric(table: pd.DataFrame) -> str:
    """The first cell of `table` that is not a number, for messages."""
    for col in table.columns:
        bad = pd.to_numeric(table[col], errors="coerce").isna() & table[col].notna()
        if bad.any():
            return f"{table[col][bad].iloc[0]!r} in column {str(col)!r}"
    return "a value that is not a number"


def _checked(
    table: pd.DataFrame, positions: bool, config: RunConfig, weights: bool = False
) -> pd.DataFrame:
    """Every column numeric, finite, not all empty; positions within what the engine trades."""
    if table.shape[1] == 0:
        raise DataError("no forecast column: give a date column and at least one forecast column.")
    table.columns = [str(c) for c in table.columns]
    reserved = {"buy_and_hold", "ma_crossover", "random_walk", "persistence", "ridge"}
    clash = sorted(reserved & set(table.columns))
    if clash:
        raise DataError(f"forecast column(s) {clash} use a baseline's name; rename them.")
    empty = [c for c in table.columns if table[c].isna().all()]
    if empty:
        raise DataError(f"forecast column(s) {empty} hold no number at all; drop them.")
    if not np.isfinite(table.to_numpy(dtype=float)[table.notna().to_numpy()]).all():
        raise DataError("forecasts hold inf values; use finite numbers (empty = no forecast).")
    if not positions:
        _plausible_returns(table)
        return table
    values = table.stack().to_numpy()
    low = -1.0 if config.long_short else 0.0
    if weights:
        bad = values[(values < low) | (values > 1.0)]
        need = "in [-1, 1]" if config.long_short else "in [0, 1] (add --long-short for shorts)"
        what = "weights are fractions of equity"
    else:
        bad = values[~np.isin(values, (low, 0.0, 1.0))]
        need = "-1, 0 or 1" if config.long_short else "0 or 1 (add --long-short for -1)"
        what = "positions must be"
    if len(bad):
        raise DataError(
            f"{what} {need}; found {bad[0]:g}."
            + ("" if weights else " For fractions of equity (sized positions) use --weights.")
        )
    return table


def _plausible_returns(table: pd.DataFrame) -> None:
    """Forecasts are of the next day's simple return: within (-1, 1), i.e. less than 100% up
    or down in a day. Anything else is another unit (percent, positions, a score), whose
    forecast tests (errors against the realised return) would be meaningless numbers."""
    values = table.to_numpy(dtype=float)
    bad = np.abs(np.nan_to_num(values)) >= MAX_FORECAST
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"forecast column {table.columns[col]!r} holds {values[row, col]:g} on "
            f"{table.index[row]:%Y-%m-%d}: a forecast of the next day's simple return lies "
            "between -1 and 1 (-100% and +100% in a day). If the file is in percent, divide "
            "by 100; for positions (-1, 0, 1) use --positions, for fractions of equity --weights."
        )


def _prices(config: RunConfig, prices: pd.DataFrame | None, date_format) -> pd.DataFrame:
    if prices is None:
        cache = PriceCache(config.cache_dir) if config.cache_dir else None
        kwargs = {"date_format": date_format} if date_format else {}
        return load_one(config.label, config.source, config.start, config.end, cache, **kwargs)
    if isinstance(prices, dict):
        prices = prices[config.label]
    return validate_prices(prices, config.label)
