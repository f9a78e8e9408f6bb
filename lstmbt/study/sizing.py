"""Positions sized by the forecast's strength (--sizing vol-target), beside the sign rule.

Weight at the close of t = k x signal_t / vol_t, capped at --leverage (and at 0 from below
unless --long-short): vol_t is the EWMA volatility of close-to-close returns up to t (known at
that close), and k is fit on each fold's *training block* only, from the fold's model's own
forecasts there, so that those weights would have had --vol-target annual volatility. A fold's
k therefore uses nothing its test block holds. The engines trade the weights with a rebalance
band (strategies/rebalance.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.errors import DataError
from lstmbt.metrics import model_entry, sized_name
from lstmbt.models import Split
from lstmbt.strategies import (
    ewma_volatility,
    fit_vol_scale,
    signal_from_forecast,
    vol_target_weights,
)

VOL_HALFLIFE = 20.0  # days, of the EWMA of squared returns


@dataclass(frozen=True)
class Sizing:
    """Per forecast, the scale k of each evaluated decision (its fold's) and of each fold, the
    catalogue rows of the sized strategies, and how weights are capped and traded."""

    scales: Mapping[str, np.ndarray]
    per_fold: Mapping[str, tuple[float, ...]]  # the same scales, one per fold
    entries: tuple[dict, ...]
    leverage: float
    allow_short: bool
    band: float
    horizon_rule: str = "1"


def predicted_volatility(close: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    """The daily volatility predicted at each close of `dates` (NaN before 20 returns)."""
    return ewma_volatility(close, VOL_HALFLIFE).reindex(dates)


def fold_scales(
    config: RunConfig,
    train_forecasts: Iterable[np.ndarray],
    folds: list[Split],
    vol: np.ndarray,
    realised: np.ndarray,
) -> tuple[float, ...]:
    """The scale of each fold, fit on its training rows from the forecasts made there
    (`train_forecasts`, one (rows, horizon) array per fold), the volatility predicted at those
    closes and the next-day returns realised."""
    out = []
    for f, train in zip(folds, train_forecasts, strict=True):
        signal = signal_from_forecast(train, config.signal_horizon)
        out.append(fit_vol_scale(signal, vol[f.train], realised[f.train], config.vol_target))
    return tuple(out)


def sizing_of(
    config: RunConfig,
    per_fold: Mapping[str, tuple[float, ...]],
    folds: Mapping[str, list[Split]],
    entries: Iterable[Mapping],
) -> Sizing:
    """The run's Sizing from each forecast's fold scales; `folds`: each forecast's folds (their
    test blocks, stitched, are the evaluated decisions); `entries`: the forecasts' catalogue
    rows."""
    rows = tuple(
        model_entry(sized_name(e["name"]), f"{e['model']} sized", "strategy", e["preset"])
        for e in entries
        if e["name"] in per_fold
    )
    scales = {
        name: np.repeat(np.asarray(ks, dtype=np.float64), [len(f.test) for f in folds[name]])
        for name, ks in per_fold.items()
    }
    return Sizing(
        scales,
        dict(per_fold),
        rows,
        config.leverage,
        config.long_short,
        config.rebalance_band,
        config.signal_horizon,
    )


def known_volatility(close: pd.Series, dates: pd.DatetimeIndex) -> pd.Series:
    """`predicted_volatility` on `dates`, every one of them known and > 0 (else DataError)."""
    vol = predicted_volatility(close, dates)
    flat = ~(np.isfinite(vol.to_numpy()) & (vol.to_numpy() > 0))
    if flat.any():
        day = dates[np.flatnonzero(flat)[0]]
        raise DataError(
            f"--sizing vol-target: the predicted volatility is zero or unknown at the close of "
            f"{day:%Y-%m-%d} (the prices did not move for {int(VOL_HALFLIFE)} days, or too few "
            "came before); weights cannot be scaled by it. Use --sizing sign, or other prices."
        )
    return vol


def sized_weights(
    forecast: np.ndarray,
    vol: pd.Series,
    k: float | np.ndarray,
    leverage: float,
    allow_short: bool,
    horizon_rule: str = "1",
) -> pd.Series:
    """One (dates, horizon) forecast's target weights on `vol`'s dates: k x signal / vol,
    capped (`vol` from `known_volatility`; `k` one number or one per date)."""
    signal = pd.Series(signal_from_forecast(forecast, horizon_rule), index=vol.index)
    return vol_target_weights(signal, vol, k, leverage, allow_short).rename("position")


def sized_positions(
    sizing: Sizing,
    forecasts: Mapping[str, np.ndarray],
    close: pd.Series,
    dates: pd.DatetimeIndex,
) -> dict[str, pd.Series]:
    """Each sized forecast's target weights on `dates`, by its sized row's name."""
    vol = known_volatility(close, dates)
    return {
        sized_name(name): sized_weights(
            forecasts[name], vol, k, sizing.leverage, sizing.allow_short, sizing.horizon_rule
        )
        for name, k in sizing.scales.items()
    }
