"""Named groups of technical features built on `ta`, each in a scale-free, stationary form.

Only indicators that pass the causality test (tests/test_features.py::
test_every_group_is_causal_under_truncation_and_perturbation: values at or before t unchanged
when rows after t change or are removed) are offered. Left out on purpose:
KST and the "visual" Ichimoku lines (change past values in ta 0.11), Ichimoku's lagging span and
DPO (non-causal by definition), and raw cumulative series (ADI, OBV, VPT, NVI), whose level
depends on where the data starts: only their changes are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches

import numpy as np
import pandas as pd
import ta

from lstmbt.features.returns import simple_returns


@dataclass(frozen=True)
class Feature:
    """One column: how to compute it from adjusted OHLCV, and how many leading rows are warm-up."""

    name: str
    fn: Callable[[pd.DataFrame], pd.Series]
    warmup: int
    needs_volume: bool = False


def _ret(k: int) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda d: simple_returns(d["close"], k)


def _rsi(d: pd.DataFrame) -> pd.Series:
    return ta.momentum.RSIIndicator(d["close"], window=14).rsi() / 100.0 - 0.5


def _stoch(d: pd.DataFrame) -> ta.momentum.StochasticOscillator:
    return ta.momentum.StochasticOscillator(
        d["high"], d["low"], d["close"], window=14, smooth_window=3
    )


def _macd(d: pd.DataFrame) -> ta.trend.MACD:
    return ta.trend.MACD(d["close"], window_slow=26, window_fast=12, window_sign=9)


def _adx(d: pd.DataFrame) -> ta.trend.ADXIndicator:
    return ta.trend.ADXIndicator(d["high"], d["low"], d["close"], window=14)


def _bb(d: pd.DataFrame) -> ta.volatility.BollingerBands:
    return ta.volatility.BollingerBands(d["close"], window=20, window_dev=2)


def _obv_change(d: pd.DataFrame, n: int = 20) -> pd.Series:
    obv = ta.volume.OnBalanceVolumeIndicator(d["close"], d["volume"]).on_balance_volume()
    return obv.diff(n) / d["volume"].rolling(n).sum().replace(0.0, np.nan)


def _volume_z(d: pd.DataFrame, n: int = 20) -> pd.Series:
    # a zero volume is a data error (NASDAQ's sample has two): carry the last known volume, a
    # causal repair that leaves series without such days exactly as they were
    logv = np.log(d["volume"].where(d["volume"] > 0).ffill())
    return (logv - logv.rolling(n).mean()) / logv.rolling(n).std()


GROUPS: dict[str, tuple[Feature, ...]] = {
    "returns": (
        Feature("ret_1", _ret(1), 1),
        Feature("ret_5", _ret(5), 5),
        Feature("ret_20", _ret(20), 20),
    ),
    "momentum": (
        Feature("rsi_14", _rsi, 14),
        Feature("stoch_k", lambda d: _stoch(d).stoch() / 100.0 - 0.5, 16),
        Feature("stoch_d", lambda d: _stoch(d).stoch_signal() / 100.0 - 0.5, 16),
        Feature(
            "williams_r",
            lambda d: (
                ta.momentum.WilliamsRIndicator(d["high"], d["low"], d["close"], lbp=14).williams_r()
                / 100.0
                + 0.5
            ),
            14,
        ),
        Feature(
            "roc_10", lambda d: ta.momentum.ROCIndicator(d["close"], window=10).roc() / 100.0, 10
        ),
    ),
    "trend": (
        Feature("macd", lambda d: _macd(d).macd() / d["close"], 33),
        Feature("macd_signal", lambda d: _macd(d).macd_signal() / d["close"], 33),
        Feature("macd_diff", lambda d: _macd(d).macd_diff() / d["close"], 33),
        Feature("adx", lambda d: _adx(d).adx() / 100.0, 28),
        Feature("adx_pos", lambda d: _adx(d).adx_pos() / 100.0, 28),
        Feature("adx_neg", lambda d: _adx(d).adx_neg() / 100.0, 28),
        Feature("close_sma_20", lambda d: d["close"] / d["close"].rolling(20).mean() - 1.0, 20),
        Feature(
            "close_ema_50",
            lambda d: (
                d["close"] / ta.trend.EMAIndicator(d["close"], window=50).ema_indicator() - 1.0
            ),
            50,
        ),
        Feature(
            "cci_20",
            lambda d: (
                ta.trend.CCIIndicator(d["high"], d["low"], d["close"], window=20).cci() / 100.0
            ),
            20,
        ),
    ),
    "volatility": (
        Feature(
            "atr_14_rel",
            lambda d: (
                ta.volatility.AverageTrueRange(
                    d["high"], d["low"], d["close"], window=14
                ).average_true_range()
                / d["close"]
            ),
            14,
        ),
        Feature("bb_pband", lambda d: _bb(d).bollinger_pband() - 0.5, 20),
        Feature("bb_wband", lambda d: _bb(d).bollinger_wband() / 100.0, 20),
        Feature(
            "keltner_pband",
            lambda d: (
                ta.volatility.KeltnerChannel(
                    d["high"], d["low"], d["close"], window=20, original_version=False
                ).keltner_channel_pband()
                - 0.5
            ),
            20,
        ),
        Feature(
            "realised_vol_20",
            lambda d: simple_returns(d["close"]).rolling(20).std() * np.sqrt(252.0),
            21,
        ),
    ),
    "volume": (
        Feature("obv_change_20", _obv_change, 21, needs_volume=True),
        Feature(
            "mfi_14",
            lambda d: (
                ta.volume.MFIIndicator(
                    d["high"], d["low"], d["close"], d["volume"], window=14
                ).money_flow_index()
                / 100.0
                - 0.5
            ),
            15,
            needs_volume=True,
        ),
        Feature(
            "cmf_20",
            lambda d: ta.volume.ChaikinMoneyFlowIndicator(
                d["high"], d["low"], d["close"], d["volume"], window=20
            ).chaikin_money_flow(),
            20,
            needs_volume=True,
        ),
        Feature("volume_z_20", _volume_z, 20, needs_volume=True),
    ),
}
# The course's baseline input: today's close change alone.
GROUPS["close_change"] = (GROUPS["returns"][0],)


def list_groups() -> dict[str, list[str]]:
    """Group name -> its feature names (for `lstmbt presets` and error messages)."""
    return {group: [f.name for f in feats] for group, feats in GROUPS.items()}


def compute_group(ohlcv: pd.DataFrame, group: str) -> pd.DataFrame:
    """Features of one group; warm-up rows are NaN (never zero-filled), later rows are finite."""
    if group not in GROUPS:
        near = get_close_matches(group, GROUPS, n=1)
        hint = f" Did you mean {near[0]!r}?" if near else ""
        raise ValueError(
            f"unknown feature group {group!r}.{hint} Choose from: {', '.join(sorted(GROUPS))}."
        )
    feats = GROUPS[group]
    if any(f.needs_volume for f in feats) and not ohlcv["volume"].gt(0).any():
        raise ValueError(
            f"feature group {group!r} needs trading volume, but the data has none; drop the group."
        )
    cols = {}
    for feat in feats:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = feat.fn(ohlcv).astype("float64").replace([np.inf, -np.inf], np.nan)
        values.iloc[: feat.warmup] = np.nan
        cols[feat.name] = values
    return pd.DataFrame(cols, index=ohlcv.index)
