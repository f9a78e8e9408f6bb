"""A study's inputs: validated prices, each preset's causal features and windows, the decision
calendar every model shares, and the chronological or walk-forward folds.

Every window ends at its decision date; every fold's training labels end an embargo before
the data its test block reads, so no model or scaler sees what it will be scored on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lstmbt.config import ModelPreset, RunConfig
from lstmbt.data import PriceCache, csv_label, is_csv_path, load_one
from lstmbt.data.rates import CashRate, cash_rate
from lstmbt.data.universe import Member
from lstmbt.errors import DataError, LstmbtError
from lstmbt.features import build_features, forward_returns, make_windows
from lstmbt.features.build import FeatureMatrix
from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.models import Split, chronological_split
from lstmbt.models.walkforward import walk_forward_folds
from lstmbt.progress import Progress
from lstmbt.results import StudyData

COMPANION_STALE = 5  # build_features' max_stale: a companion's last bar serves this many days


def _tickers(config: RunConfig, presets: list[ModelPreset]) -> list[str]:
    names = [config.label]
    for p in presets:
        names += [c for c in p.companions if c not in names]
    return names


def companion_label(ticker: str) -> str:
    """A companion's column prefix: the ticker, or a CSV file's stem."""
    return csv_label(ticker) if is_csv_path(ticker) else ticker


def companion_source(source: str, ticker: str) -> str:
    """Companions use the run's source; with a CSV source they come from the sample."""
    if is_csv_path(ticker) or not is_csv_path(source):
        return source
    return "sample"


def prepare_data(
    config: RunConfig,
    prices: dict[str, pd.DataFrame] | None = None,
    progress: Progress | None = None,
) -> StudyData:
    """Load (or take) prices, build each preset's features, and find the common decision dates."""
    progress = progress or Progress()
    presets = config.model_presets()
    if prices is None:
        cache = PriceCache(config.cache_dir) if config.cache_dir else None
        prices = {}
        for i, ticker in enumerate(_tickers(config, presets)):
            source = config.source if i == 0 else companion_source(config.source, ticker)
            progress.stage(f"loading {ticker} ({source})")
            prices[ticker] = load_one(
                ticker, source, config.start, config.end, cache, config.date_format
            )
    target = prices[config.label]
    notes = [n for frame in prices.values() for n in frame.attrs.get("notes", [])]
    ohlcv = adjusted_ohlcv(target)
    targets = forward_returns(target["adj_close"], config.horizon)
    features: dict[str, FeatureMatrix] = {}
    dates = targets.dropna().index
    for p in presets:
        _check_companion_ends(p, config.label, target, prices)
        try:
            fm = build_features(
                target,
                p.features,
                {companion_label(c): prices[c] for c in p.companions},
                p.companion_features,
                max_stale=COMPANION_STALE,
            )
        except ValueError as exc:
            raise DataError(f"preset {p.name!r}: {exc}") from None
        features[p.name] = fm
        notes += [f"{p.name}: {n}" for n in fm.notes]
        if len(fm.frame) < p.lookback:
            raise DataError(
                f"preset {p.name!r}: {len(fm.frame)} rows of features are fewer than the lookback "
                f"of {p.lookback}; use a longer date range or a shorter --lookback."
            )
        dates = dates.intersection(fm.frame.index[p.lookback - 1 :])
    if len(dates) == 0:
        raise DataError("no date has both a complete input window and a known next-day return.")
    rate = cash_rate_of(config, ohlcv.index)
    notes += list(rate.notes)
    return StudyData(prices, ohlcv, targets, features, pd.DatetimeIndex(dates), notes, rate)


def _check_companion_ends(
    preset: ModelPreset,
    label: str,
    target: pd.DataFrame,
    prices: dict[str, pd.DataFrame],
) -> None:
    """A companion whose prices end before the target's is the end of the usable range, not a
    'gap' (the sample's AAPL ends 2013-03-01, ^GSPC runs to 2018): say so and the --end that
    fits. Up to COMPANION_STALE of the target's days after its last bar are carried forward."""
    for ticker in preset.companions:
        comp = prices[ticker]
        if comp.empty or comp.index[-1] < target.index[0]:
            continue  # no overlap at all: build_features says so
        after = int((target.index > comp.index[-1]).sum())
        if after > COMPANION_STALE:
            raise DataError(
                f"preset {preset.name!r}: the companion {ticker!r} has prices only to "
                f"{comp.index[-1]:%Y-%m-%d}, and {label} runs to {target.index[-1]:%Y-%m-%d} "
                f"({after} trading days later); use --end {comp.index[-1]:%Y-%m-%d}, or a "
                "companion whose prices run as long."
            )


def check_universe_overlap(config: RunConfig, members: Sequence[Member]) -> None:
    """Before any training: a universe's ranking portfolio ranks `--top-k` tickers (twice
    that, long-short) on one day, so tickers whose prices never share that many days are
    refused in one line naming each one's span (they used to fail after every ticker had
    trained). A ticker whose prices cannot be read is left to its study, which skips it with
    the reason; fewer readable tickers than one portfolio needs give no portfolio (a note)."""
    need = config.top_k * (2 if config.portfolio == "long-short" else 1)
    cache = PriceCache(config.cache_dir) if config.cache_dir else None
    spans: dict[str, pd.DatetimeIndex] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the study repeats each repair note once
        for m in members:
            try:
                frame = load_one(m.ticker, m.source, config.start, config.end, cache,
                                 config.date_format)  # fmt: skip
            except LstmbtError:
                continue
            spans[m.label] = frame.index
    if len(spans) < need:
        return
    most = pd.Series(np.concatenate([s.to_numpy() for s in spans.values()])).value_counts().max()
    if most >= need:
        return
    shown = ", ".join(f"{t} ({s[0]:%Y-%m-%d} to {s[-1]:%Y-%m-%d})" for t, s in spans.items())
    raise DataError(
        f"the universe's tickers never trade on the same days: {shown}; at most {most} of them "
        f"trade on any one day, and a top-{config.top_k} {config.portfolio} portfolio ranks "
        f"{need}. Use tickers whose histories overlap, or --start/--end inside a span they share."
    )


def cash_rate_of(config: RunConfig, dates: pd.DatetimeIndex) -> CashRate:
    """The run's --cash-rate on `dates`, from where its --source says (its cache,
    --date-format and --cash-rate-unit too)."""
    return cash_rate(
        config.cash_rate,
        dates,
        source=config.source,
        cache=PriceCache(config.cache_dir) if config.cache_dir else None,
        date_format=config.date_format,
        unit=config.cash_rate_unit,
    )


def windows(fm: FeatureMatrix, lookback: int, dates: pd.DatetimeIndex) -> np.ndarray:
    """(len(dates), lookback, features) windows, each ending at its decision date."""
    W = make_windows(fm.frame.to_numpy(dtype=np.float64), lookback)
    rows = fm.frame.index.get_indexer(dates) - (lookback - 1)
    assert (rows >= 0).all(), "decision dates must have full windows"
    return W[rows]


def plan_folds(config: RunConfig, n: int, lookback: int) -> list[Split]:
    """One chronological split, or walk-forward folds; both end at the last decision date."""
    try:
        if config.walk_forward:
            return walk_forward_folds(
                n,
                first_test=n - int(round(n * config.eval_frac)),
                step=config.refit_every,
                lookback=lookback,
                horizon=config.horizon,
                window=config.window,
                train_size=config.train_size,
                val_frac=config.val_frac,
            )
        return [
            chronological_split(
                n,
                lookback=lookback,
                horizon=config.horizon,
                val_frac=config.val_frac,
                test_frac=config.test_frac,
            )
        ]
    except ValueError as exc:
        raise DataError(str(exc)) from None


def model_meta(config: RunConfig, preset: ModelPreset, data: StudyData) -> dict:
    """What is saved beside each model so `lstmbt forecast` can rebuild its inputs."""
    return {
        "preset": preset.__dict__,
        "feature_names": data.features[preset.name].names,
        "ticker": config.label,
        "horizon": config.horizon,
    }
