"""Features are causal, checked against independent computations, and windows line up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import ta
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmbt.features import GROUPS, align_companion, build_features, compute_group, make_windows
from lstmbt.features.returns import adjusted_ohlcv, forward_returns

ALL_GROUPS = [g for g in GROUPS if g != "close_change"]
CUTS = [60, 777, 2500, 4990]


def perturb_after(frame: pd.DataFrame, t: int, seed: int = 0) -> pd.DataFrame:
    """Same rows up to position t; every later price and volume scrambled (still valid OHLC)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    n = len(out) - t - 1
    scale = np.exp(rng.normal(0, 0.05, size=n))
    for col in ("open", "high", "low", "close", "adj_close"):
        out.iloc[t + 1 :, out.columns.get_loc(col)] *= scale
    out.iloc[t + 1 :, out.columns.get_loc("volume")] *= rng.uniform(0.2, 5.0, size=n)
    return out


@pytest.mark.parametrize("group", ALL_GROUPS)
def test_every_group_is_causal_under_truncation_and_perturbation(sp500, group):
    full = compute_group(adjusted_ohlcv(sp500), group)
    for t in CUTS:
        truncated = compute_group(adjusted_ohlcv(sp500.iloc[: t + 1]), group)
        pd.testing.assert_frame_equal(truncated, full.iloc[: t + 1], check_exact=True)
        perturbed = compute_group(adjusted_ohlcv(perturb_after(sp500, t)), group)
        pd.testing.assert_frame_equal(perturbed.iloc[: t + 1], full.iloc[: t + 1], check_exact=True)


def test_causality_check_catches_known_leaky_indicators(sp500):
    """The same check fails for ta's KST and Ichimoku's visual lines (ta 0.11): it has teeth."""
    o = adjusted_ohlcv(sp500)
    t = 2500
    leaky = {
        "ichimoku_a_visual": lambda d: ta.trend.IchimokuIndicator(
            d["high"], d["low"], visual=True
        ).ichimoku_a(),
        "kst": lambda d: ta.trend.KSTIndicator(d["close"]).kst(),
    }
    for name, fn in leaky.items():
        full, cut = fn(o), fn(o.iloc[: t + 1])
        assert not np.allclose(full.iloc[: t + 1].to_numpy(), cut.to_numpy(), equal_nan=True), name


def test_cumulative_obv_level_depends_on_start_so_only_changes_are_used(sp500):
    o = adjusted_ohlcv(sp500)
    obv = ta.volume.OnBalanceVolumeIndicator(o["close"], o["volume"]).on_balance_volume()
    late = ta.volume.OnBalanceVolumeIndicator(o["close"].iloc[100:], o["volume"].iloc[100:])
    assert not np.allclose(obv.iloc[200:300], late.on_balance_volume().iloc[100:200])
    feats = compute_group(o, "volume")
    feats_late = compute_group(o.iloc[100:], "volume")
    common = feats_late.index[50:]
    np.testing.assert_allclose(
        feats.loc[common, "obv_change_20"], feats_late.loc[common, "obv_change_20"], rtol=1e-9
    )


def test_rsi_matches_plain_pandas_wilder(sp500):
    close = adjusted_ohlcv(sp500)["close"]
    delta = close.diff()  # the first (undefined) change counts as no move, as in ta
    up = delta.where(delta > 0, 0.0).ewm(alpha=1 / 14, min_periods=14, adjust=False).mean()
    down = (-delta).where(delta < 0, 0.0).ewm(alpha=1 / 14, min_periods=14, adjust=False).mean()
    rsi = 100 - 100 / (1 + up / down)
    ours = compute_group(adjusted_ohlcv(sp500), "momentum")["rsi_14"]
    valid = ours.notna()
    np.testing.assert_allclose(ours[valid], rsi[valid] / 100 - 0.5, rtol=1e-9, atol=1e-12)
    assert valid.sum() > 5000


def test_bollinger_percent_b_matches_plain_pandas(sp500):
    close = adjusted_ohlcv(sp500)["close"]
    mid = close.rolling(20).mean()
    sd = close.rolling(20).std(ddof=0)
    pband = (close - (mid - 2 * sd)) / (4 * sd)
    ours = compute_group(adjusted_ohlcv(sp500), "volatility")["bb_pband"]
    valid = ours.notna()
    np.testing.assert_allclose(ours[valid], pband[valid] - 0.5, rtol=1e-9, atol=1e-12)


def test_features_are_scale_free(sp500):
    """Multiplying every price by 1000 leaves every feature unchanged (no raw price levels)."""
    scaled = sp500.copy()
    scaled[["open", "high", "low", "close", "adj_close"]] *= 1000.0
    a = build_features(sp500, ALL_GROUPS).frame
    b = build_features(scaled, ALL_GROUPS).frame
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-7, atol=1e-9)


def test_warmup_rows_are_dropped_and_counted(sp500):
    fm = build_features(sp500, ALL_GROUPS)
    assert fm.warmup_dropped == 50  # EMA 50 is the longest warm-up
    assert fm.frame.index[0] == sp500.index[50]
    assert np.isfinite(fm.frame.to_numpy()).all()
    assert "dropped 50 warm-up rows" in fm.notes[0]


def test_unknown_group_and_missing_volume(sp500):
    with pytest.raises(ValueError, match="Did you mean 'momentum'"):
        build_features(sp500, ["momentun"])
    no_volume = sp500.assign(volume=np.nan)
    with pytest.raises(ValueError, match="needs trading volume"):
        build_features(no_volume, ["volume"])


def test_companion_alignment_is_asof_and_causal(sp500, nasdaq):
    # remove some NASDAQ days: the target then sees the companion's last earlier row
    gaps = nasdaq.drop(nasdaq.index[[1000, 1001, 2000]])
    fm = build_features(sp500, ["close_change"], {"^IXIC": gaps}, ["returns"])
    comp = compute_group(adjusted_ohlcv(gaps), "returns")
    day = sp500.index[1001]
    assert fm.frame.loc[day, "^IXIC:ret_1"] == comp.loc[sp500.index[999], "ret_1"]
    for t in (1500, 3000):
        base = build_features(sp500, ["returns"], {"^IXIC": nasdaq}).frame
        moved = build_features(sp500, ["returns"], {"^IXIC": perturb_after(nasdaq, t)}).frame
        cutoff = nasdaq.index[t]
        pd.testing.assert_frame_equal(moved.loc[:cutoff], base.loc[:cutoff], check_exact=True)


def test_companion_staleness_and_lag(sp500, nasdaq):
    comp = compute_group(adjusted_ohlcv(nasdaq), "returns")
    short = comp.iloc[:100]
    aligned = align_companion(sp500.index[:120], short, prefix="c", max_stale=5)
    assert aligned.iloc[104].notna().all() and aligned.iloc[106].isna().all()
    lagged = align_companion(sp500.index, comp, prefix="c", lag=1)
    assert lagged.iloc[500, 0] == comp.iloc[499, 0]


def test_companion_without_overlap_is_an_error(sp500, nasdaq):
    early = nasdaq.loc[:"2000-12-31"]
    with pytest.raises(ValueError, match="no dates overlapping"):
        build_features(sp500.loc["2005":], ["close_change"], {"^IXIC": early})


def test_forward_returns_are_next_days(sp500):
    y = forward_returns(sp500["adj_close"], 3)
    c = sp500["adj_close"].to_numpy()
    assert y.iloc[10, 0] == pytest.approx(c[11] / c[10] - 1)
    assert y.iloc[10, 2] == pytest.approx(c[13] / c[12] - 1)
    assert y.iloc[-3:].iloc[:, 2].isna().all() and y.iloc[:-3].notna().all().all()


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 60), f=st.integers(1, 4), lookback=st.integers(1, 20))
def test_windows_end_at_their_decision_row(n, f, lookback):
    values = np.arange(n * f, dtype=np.float64).reshape(n, f)
    if n < lookback:
        with pytest.raises(ValueError, match="shorter than the lookback"):
            make_windows(values, lookback)
        return
    W = make_windows(values, lookback)
    assert W.shape == (n - lookback + 1, lookback, f)
    assert W.flags["C_CONTIGUOUS"]
    for i in range(len(W)):
        np.testing.assert_array_equal(W[i], values[i : i + lookback])
        np.testing.assert_array_equal(W[i, -1], values[i + lookback - 1])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(80, 380))
def test_causality_on_random_price_paths(seed, t):
    rng = np.random.default_rng(seed)
    n = 400
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.005, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close,
            "volume": rng.uniform(1e5, 1e6, n),
        },
        index=pd.bdate_range("2000-01-03", periods=n),
    )
    full = build_features(frame, ALL_GROUPS).frame
    moved = build_features(perturb_after(frame, t, seed), ALL_GROUPS).frame
    day = frame.index[t]
    pd.testing.assert_frame_equal(moved.loc[:day], full.loc[:day], check_exact=True)


def test_zero_volume_days_do_not_end_the_volume_features(nasdaq):
    """Regression: NASDAQ's sample has zero volume on 2015-05-12 and 2018-01-09; the volume
    z-score turned NaN there and `multifeature` refused ^IXIC (so a universe skipped it)."""
    assert (nasdaq["volume"] == 0).sum() == 2
    fm = build_features(nasdaq, ("volume",), {}, ())
    assert not fm.frame.isna().any().any() and fm.frame.index[-1] == nasdaq.index[-1]
    day = nasdaq.index.get_loc(pd.Timestamp("2015-05-12"))
    z = compute_group(adjusted_ohlcv(nasdaq), "volume")["volume_z_20"]
    assert np.isfinite(z.iloc[day : day + 25]).all()


def test_a_companion_gap_longer_than_five_days_is_an_error_naming_the_day(sp500, nasdaq):
    gap = nasdaq.loc["2005"].drop(nasdaq.loc["2005-03-01":"2005-03-14"].index)
    with pytest.raises(
        ValueError,
        match=r"features \['\^IXIC:ret_1', .*\] are missing on 2005-03-08 after the warm-up "
        r"\(a companion gap longer than 5 days\?\)\. Shorten the date range or drop that "
        r"companion\.",
    ):
        build_features(sp500.loc["2005"], ["close_change"], {"^IXIC": gap})
