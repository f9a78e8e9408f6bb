"""Backtrader engine vs its vectorised twin vs an independent day-by-day loop, on real prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.strategies import (
    BacktestError,
    Costs,
    buy_and_hold_positions,
    ma_crossover_positions,
    positions_from_forecast,
    run_backtrader,
    vectorised_returns,
)
from lstmbt.strategies.costs import CASH_BUFFER

COSTS = Costs(commission=0.0005, slippage=0.0005)


def reference_loop(px: pd.DataFrame, positions: pd.Series, costs: Costs) -> pd.Series:
    """Plain bookkeeping, one day at a time: decide at close t, trade at open t+1."""
    s, c = costs.slippage, costs.commission
    cash, shares, prev_value, out = 1.0, 0.0, 1.0, []
    target_prev = 0.0
    for i, day in enumerate(positions.index):
        target = positions.iloc[i - 1] if i > 0 else 0.0
        o, close = px.at[day, "open"], px.at[day, "close"]
        if target != target_prev:
            if shares > 0:
                cash += shares * o * (1 - s) * (1 - c)
            elif shares < 0:
                cash -= -shares * o * (1 + s) * (1 + c)
            shares = 0.0
            if target > 0:
                shares = cash * (1 - CASH_BUFFER) / (o * (1 + s) * (1 + c))
                cash -= shares * o * (1 + s) * (1 + c)
            elif target < 0:
                shares = -cash / (o * (1 - s))
                cash += -shares * o * (1 - s) * (1 - c)
            target_prev = target
        value = cash + shares * close
        out.append(value / prev_value - 1.0)
        prev_value = value
    return pd.Series(out, index=positions.index)


@pytest.fixture(scope="module")
def px(sp500):
    return adjusted_ohlcv(sp500)


def random_positions(index, seed, allow_short, threshold=0.2):
    rng = np.random.default_rng(seed)
    return positions_from_forecast(
        pd.Series(rng.normal(size=len(index)), index=index), threshold, allow_short
    )


@pytest.mark.parametrize("kind", ["long_flat", "long_short", "buy_and_hold", "ma_crossover"])
def test_backtrader_twin_and_reference_agree(px, kind):
    index = px.index[2000:3200]
    if kind == "buy_and_hold":
        pos = buy_and_hold_positions(index)
    elif kind == "ma_crossover":
        pos = ma_crossover_positions(px["close"], index)
    else:
        pos = random_positions(index, 1, allow_short=kind == "long_short")
    engine = run_backtrader(px, pos, COSTS)
    twin = vectorised_returns(px, pos, COSTS)
    ref = reference_loop(px, pos, COSTS)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(engine.returns.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-10)
    assert engine.n_trades == int(
        (pos.shift(1, fill_value=0).diff().fillna(pos.iloc[0] * 0) != 0).sum()
    )


def test_fills_happen_at_the_next_open_with_slippage(px):
    index = px.index[100:130]
    pos = pd.Series(0.0, index=index)
    pos.iloc[5] = 1.0  # decided at the close of day 5 -> bought at the open of day 6
    res = run_backtrader(px, pos, COSTS)
    assert len(res.orders) == 2
    buy, sell = res.orders.iloc[0], res.orders.iloc[1]
    assert pd.Timestamp(buy["date"]) == index[6] and buy["size"] > 0
    assert buy["price"] == pytest.approx(px.at[index[6], "open"] * 1.0005, rel=1e-12)
    assert pd.Timestamp(sell["date"]) == index[7] and sell["size"] < 0
    assert sell["price"] == pytest.approx(px.at[index[7], "open"] * 0.9995, rel=1e-12)
    assert res.returns.iloc[:6].abs().max() == 0.0


def test_no_order_is_rejected_on_the_whole_sample_even_after_gap_ups(px):
    """order_target_percent(1.0) lost 143 of 621 orders to Margin here; we size for the fill."""
    pos = random_positions(px.index, 3, allow_short=True, threshold=0.0)
    res = run_backtrader(px, pos, COSTS)
    flips = int((pos.shift(1, fill_value=0.0).diff().abs() > 0).sum())
    assert res.n_trades >= 0.9 * flips > 1000
    np.testing.assert_allclose(res.returns, vectorised_returns(px, pos, COSTS), atol=1e-10)


def test_rejected_orders_fail_the_run(px, monkeypatch):
    import lstmbt.strategies.backtest as engine

    monkeypatch.setattr(engine, "CASH_BUFFER", -0.01)  # buy 1% more than the cash allows
    pos = buy_and_hold_positions(px.index[:50])
    with pytest.raises(BacktestError, match="not filled.*Margin"):
        run_backtrader(px, pos, COSTS)


def test_costs_are_charged_per_side(px):
    index = px.index[500:520]
    pos = buy_and_hold_positions(index)
    free = vectorised_returns(px, pos, Costs(0.0, 0.0))
    costly = vectorised_returns(px, pos, COSTS)
    ratio = (1 + costly).prod() / (1 + free).prod()
    assert ratio == pytest.approx(1 / (1.0005 * 1.0005), rel=1e-8)  # one buy: slippage + fee
    expected = px.at[index[-1], "close"] / px.at[index[1], "open"]
    assert (1 + free).prod() == pytest.approx(expected * (1 - CASH_BUFFER) + CASH_BUFFER, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), short=st.booleans(), start=st.integers(0, 4000))
def test_twin_equals_reference_on_random_positions(px, seed, short, start):
    index = px.index[start : start + 300]
    pos = random_positions(index, seed, short, threshold=0.5)
    np.testing.assert_allclose(
        vectorised_returns(px, pos, COSTS), reference_loop(px, pos, COSTS), atol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(
    flips=st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=1, max_size=40),
    start=st.integers(0, 4000),
    commission=st.sampled_from([0.0, 0.0005, 0.003]),
    slippage=st.sampled_from([0.0, 0.0005, 0.002]),
)
def test_twin_edge_cases_equal_reference(px, flips, start, commission, slippage):
    """Short histories (1 day up), a position on the first decision, a flip every day, any
    costs: the per-episode arithmetic must still be the plain bookkeeping."""
    index = px.index[start : start + len(flips)]
    pos = pd.Series(flips, index=index)
    costs = Costs(commission=commission, slippage=slippage)
    np.testing.assert_allclose(
        vectorised_returns(px, pos, costs), reference_loop(px, pos, costs), atol=1e-12
    )


def test_twin_many_series_at_once_equals_one_by_one(px):
    index = px.index[1000:1500]
    frame = pd.DataFrame({f"s{i}": random_positions(index, i, i % 2 == 0) for i in range(6)})
    together = vectorised_returns(px, frame, COSTS)
    for col in frame:
        np.testing.assert_allclose(
            together[col], vectorised_returns(px, frame[col], COSTS), atol=1e-15
        )


def test_bad_positions_are_rejected(px):
    index = px.index[:10]
    with pytest.raises(ValueError, match="-1, 0 or"):
        vectorised_returns(px, pd.Series(0.5, index=index), COSTS)
    with pytest.raises(ValueError, match="NaN"):
        positions_from_forecast(pd.Series([0.1, np.nan], index=index[:2]))
    with pytest.raises(ValueError, match="fraction"):
        Costs(commission=5)
