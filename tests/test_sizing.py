"""Sized positions: volatility predicted at the close, weights from the forecast's strength,
the scale fit on training rows only; known answers and causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.strategies.signals import ewma_volatility, fit_vol_scale, vol_target_weights
from tests.test_features import perturb_after


def test_ewma_volatility_is_known_at_the_close_and_ignores_the_future(sp500):
    close = adjusted_ohlcv(sp500)["close"]
    vol = ewma_volatility(close)
    t = 3000
    moved = ewma_volatility(adjusted_ohlcv(perturb_after(sp500, t))["close"])
    pd.testing.assert_series_equal(vol.iloc[: t + 1], moved.iloc[: t + 1])
    assert not np.allclose(vol.iloc[t + 1 :], moved.iloc[t + 1 :])
    assert vol.iloc[:20].isna().all() and vol.iloc[20:].gt(0).all()
    # a constant daily move of 1% has a volatility of 1%
    steady = pd.Series(100 * 1.01 ** np.arange(200))
    assert ewma_volatility(steady).iloc[-1] == pytest.approx(0.01)


def test_the_scale_hits_the_volatility_target_on_the_rows_it_is_fit_on():
    rng = np.random.default_rng(0)
    realised = rng.normal(0, 0.01, 1000)
    forecast = np.full(1000, 0.0005)
    vol = np.full(1000, 0.01)
    k = fit_vol_scale(forecast, vol, realised, 0.10)
    pnl = k * forecast / vol * realised
    assert np.std(pnl, ddof=1) * np.sqrt(252) == pytest.approx(0.10)
    assert fit_vol_scale(np.zeros(1000), vol, realised, 0.10) == 0.0  # nothing to scale
    with pytest.raises(ValueError, match="volatility target must be > 0"):
        fit_vol_scale(forecast, vol, realised, 0.0)


def test_weights_are_forecast_over_volatility_capped_and_long_only_unless_shorting():
    index = pd.bdate_range("2020-01-01", periods=4)
    forecast = pd.Series([0.002, -0.001, 0.02, 0.0], index=index)
    vol = pd.Series(0.01, index=index)
    w = vol_target_weights(forecast, vol, scale=2.0, leverage=1.5)
    assert list(w) == [0.4, 0.0, 1.5, 0.0]
    w = vol_target_weights(forecast, vol, scale=2.0, leverage=1.5, allow_short=True)
    assert list(w) == [0.4, -0.2, 1.5, 0.0]
    with pytest.raises(ValueError, match="known and > 0"):
        vol_target_weights(forecast, vol.iloc[:2], scale=1.0)
    with pytest.raises(ValueError, match="leverage must be > 0"):
        vol_target_weights(forecast, vol, scale=1.0, leverage=0.0)
