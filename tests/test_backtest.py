"""Backtrader engine vs its vectorised twin vs an independent day-by-day loop, on real prices."""

from __future__ import annotations

import hashlib

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


def reference_loop(
    px: pd.DataFrame, positions: pd.Series, costs: Costs, cash_rate: float | pd.Series = 0.0
) -> pd.Series:
    """Plain bookkeeping, one day at a time: decide at close t, trade at open t+1 (closing and
    opening parts each pay at least the minimum fee); at each close from day 1 on, interest on
    the cash beyond the short-sale proceeds, less the borrowing fee on the short's value."""
    s, c, m = costs.slippage + costs.half_spread, costs.commission, costs.min_fee
    rate = pd.Series(cash_rate, index=positions.index) if np.isscalar(cash_rate) else cash_rate
    cash, shares, proceeds, held = costs.capital, 0.0, 0.0, 0.0
    prev_value, out = costs.capital, []
    for i, day in enumerate(positions.index):
        target = positions.iloc[i - 1] if i > 0 else 0.0
        o, close = px.at[day, "open"], px.at[day, "close"]
        if target != held:
            if shares != 0:  # close at the open
                p = o * (1 - s) if shares > 0 else o * (1 + s)
                cash += shares * p - max(abs(shares) * p * c, m)
            if target > 0:
                p = o * (1 + s)
                shares = cash * (1 - CASH_BUFFER) / (p * (1 + c))
                if shares * p * c < m:
                    shares = (cash * (1 - CASH_BUFFER) - m) / p
            elif target < 0:
                p = o * (1 - s)
                shares = -cash / p
            else:
                shares = 0.0
            if shares != 0:
                cash -= shares * p + max(abs(shares) * p * c, m)
            proceeds = -shares * p if shares < 0 else 0.0
            held = target
        if i > 0:
            cash += rate.iloc[i] / 252 * (cash - proceeds)
            if shares < 0:
                cash -= costs.borrow_fee / 252 * -shares * close
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


# --- the cost model: spread, minimum fee, borrowing fee, interest on cash -------------------

EVERY_COST = Costs(
    commission=0.0005,
    slippage=0.0005,
    half_spread=0.0002,
    min_fee=30.0,
    capital=100_000.0,
    borrow_fee=0.03,
)
# as the engine was before the cost model grew (commit a36f542): sha256[:16] of the returns of
# Backtrader, of the twin, and of the fills (size, price, commission) on px.index[2000:3200]
BEFORE = {
    "long_flat": ("5cfd29a32891ebdf", "8a02268182b7baa6", "5628059f59831772"),
    "long_short": ("8d592d25fa10f48a", "0fc02b39bcb3e7ba", "404aaa13828f6d0f"),
    "buy_and_hold": ("9776f30a9750e205", "5843fe925f12d074", "230223aed1d43c24"),
    "ma_crossover": ("521080548042c707", "c26f0cdee0d8aa21", "20e18a02b0a3a6d0"),
}


def _digest(values) -> str:
    return hashlib.sha256(np.ascontiguousarray(values, dtype=np.float64).tobytes()).hexdigest()[:16]


def _positions(px, kind, index):
    if kind == "buy_and_hold":
        return buy_and_hold_positions(index)
    if kind == "ma_crossover":
        return ma_crossover_positions(px["close"], index)
    return random_positions(index, 1, allow_short=kind == "long_short")


def rates(index, low=0.01, high=0.06):
    """A cash rate moving from `low` to `high` a year over `index`."""
    return pd.Series(np.linspace(low, high, len(index)), index=index)


@pytest.mark.parametrize("kind", list(BEFORE))
def test_with_the_new_costs_at_zero_every_number_is_the_same_bit_for_bit(px, kind):
    index = px.index[2000:3200]
    pos = _positions(px, kind, index)
    engine = run_backtrader(px, pos, COSTS, cash_rate=0.0)
    twin = vectorised_returns(px, pos, COSTS, cash_rate=0.0)
    fills = engine.orders[["size", "price", "commission"]].to_numpy()
    assert (_digest(engine.returns), _digest(twin), _digest(fills)) == BEFORE[kind]


@pytest.mark.parametrize("kind", ["long_flat", "long_short", "buy_and_hold", "ma_crossover"])
def test_every_cost_on_backtrader_twin_and_reference_agree(px, kind):
    index = px.index[2000:3200]
    pos = _positions(px, kind, index)
    engine = run_backtrader(px, pos, EVERY_COST, cash_rate=rates(index))
    twin = vectorised_returns(px, pos, EVERY_COST, cash_rate=rates(index))
    ref = reference_loop(px, pos, EVERY_COST, rates(index))
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(engine.returns.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-10)
    # every cost did something: the minimum fee bound on some fills, cash earned interest
    if kind in ("long_flat", "long_short"):  # (the others trade too rarely to lose so much)
        assert (engine.orders["commission"] == EVERY_COST.min_fee).any()
    assert not np.allclose(twin, vectorised_returns(px, pos, COSTS), atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    short=st.booleans(),
    start=st.integers(0, 4500),
    commission=st.sampled_from([0.0, 0.0005, 0.003]),
    slippage=st.sampled_from([0.0, 0.0005]),
    half_spread=st.sampled_from([0.0, 0.0001, 0.001]),
    min_fee=st.sampled_from([0.0, 1e-5, 3e-4]),  # of the capital
    capital=st.sampled_from([10_000.0, 100_000.0, 1e6]),
    borrow_fee=st.sampled_from([0.0, 0.005, 0.1]),
    cash_rate=st.sampled_from([0.0, 0.02, "moving"]),
)
@pytest.mark.slow
def test_engines_agree_for_any_costs(
    px, seed, short, start, commission, slippage, half_spread, min_fee, capital, borrow_fee,
    cash_rate,
):  # fmt: skip
    index = px.index[start : start + 500]
    pos = random_positions(index, seed, short, threshold=0.5)
    costs = Costs(commission, slippage, half_spread, min_fee * capital, capital, borrow_fee)
    rate = rates(index, -0.001, 0.08) if cash_rate == "moving" else cash_rate
    engine = run_backtrader(px, pos, costs, cash_rate=rate)
    twin = vectorised_returns(px, pos, costs, cash_rate=rate)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(twin, reference_loop(px, pos, costs, rate), rtol=0, atol=1e-12)


def test_a_strategy_that_stays_in_cash_earns_exactly_the_cash_rate(px):
    index = px.index[3000:3300]
    flat = pd.Series(0.0, index=index)
    annual = rates(index)
    for rets in (
        run_backtrader(px, flat, EVERY_COST, cash_rate=annual).returns,
        vectorised_returns(px, flat, EVERY_COST, cash_rate=annual),
    ):
        assert rets.iloc[0] == 0.0  # the first decision's close: nothing is held yet
        np.testing.assert_allclose(rets.iloc[1:], annual.iloc[1:] / 252, rtol=0, atol=1e-15)


def test_short_sale_proceeds_earn_nothing_and_shorts_pay_the_borrowing_fee():
    """Prices that never move: a short's equity E (not the 2E of cash it holds with the
    proceeds) earns the cash rate, and it pays the borrowing fee on the shares' value, E."""
    index = pd.bdate_range("2020-01-01", periods=30)
    still = pd.DataFrame(100.0, index=index, columns=["open", "high", "low", "close"])
    short = pd.Series(-1.0, index=index)
    for engine in (
        lambda c, r: run_backtrader(still, short, c, cash_rate=r).returns,
        lambda c, r: vectorised_returns(still, short, c, cash_rate=r),
    ):
        earning = engine(Costs(0.0, 0.0), 0.05)
        np.testing.assert_allclose(earning.iloc[1:], 0.05 / 252, rtol=0, atol=1e-15)
        paying = engine(Costs(0.0, 0.0, borrow_fee=0.02), 0.0)
        days = np.arange(1, len(index))
        value = (1 + paying.iloc[1:]).cumprod()
        np.testing.assert_allclose(value, 1 - days * 0.02 / 252, rtol=1e-12, atol=0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), short=st.booleans(), start=st.integers(0, 4500))
def test_doubling_every_cost_never_raises_the_total_return(px, seed, short, start):
    index = px.index[start : start + 500]
    pos = random_positions(index, seed, short, threshold=0.3)
    once = Costs(0.0005, 0.0005, 0.0002, 10.0, 100_000.0, 0.02)
    twice = Costs(0.001, 0.001, 0.0004, 20.0, 100_000.0, 0.04)
    for p in (pos, buy_and_hold_positions(index)):
        total = [(1 + vectorised_returns(px, p, c, cash_rate=0.03)).prod() for c in (once, twice)]
        assert total[1] <= total[0]


def test_twin_with_costs_many_series_at_once_equals_one_by_one(px):
    index = px.index[1000:1500]
    frame = pd.DataFrame({f"s{i}": random_positions(index, i, i % 2 == 0) for i in range(5)})
    for costs in (EVERY_COST, Costs(borrow_fee=0.02)):
        together = vectorised_returns(px, frame, costs, cash_rate=rates(index))
        for col in frame:
            alone = vectorised_returns(px, frame[col], costs, cash_rate=rates(index))
            np.testing.assert_allclose(together[col], alone, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (dict(half_spread=-0.001), "half_spread"),
        (dict(borrow_fee=-0.01), "borrow_fee"),
        (dict(min_fee=-1.0), "min_fee"),
        (dict(min_fee=5_000.0), "1% of the capital"),
        (dict(capital=0.0), "capital"),
    ],
)
def test_bad_costs_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        Costs(**values)


def test_a_cash_rate_that_misses_a_date_is_refused(px):
    index = px.index[:20]
    with pytest.raises(ValueError, match="cover every position date"):
        vectorised_returns(px, pd.Series(0.0, index=index), COSTS, cash_rate=rates(index[:10]))


# --- fractional target weights with a rebalance band ------------------------------------------


def weight_loop(px, weights, costs, cash_rate, band):
    """Plain bookkeeping for target weights: at each open, the weight held (value over equity
    at the open) has drifted; trade to the target when it is more than `band` away, buying
    no more than leaves CASH_BUFFER of equity in cash after costs."""
    s, c, m = costs.slippage + costs.half_spread, costs.commission, costs.min_fee
    rate = pd.Series(cash_rate, index=weights.index) if np.isscalar(cash_rate) else cash_rate

    def fee(trade, held, price):
        closing = min(abs(trade), abs(held)) if trade * held < 0 else 0.0
        opening = abs(trade) - closing
        return (max(closing * price * c, m) if closing else 0.0) + (
            max(opening * price * c, m) if opening else 0.0
        )

    cash, shares, proceeds, prev, out = costs.capital, 0.0, 0.0, costs.capital, [0.0]
    for i in range(1, len(weights)):
        day = weights.index[i]
        o, close, target = px.at[day, "open"], px.at[day, "close"], weights.iloc[i - 1]
        equity = cash + shares * o
        trade = target * equity / o - shares
        if abs(target - shares * o / equity) > band:
            p = o * (1 + s) if trade > 0 else o * (1 - s)
            if trade > 0:
                room = cash - CASH_BUFFER * equity
                trade = min(trade, room / (p * (1 + c)))
                if trade * p + fee(trade, shares, p) > room:
                    trade = (room - fee(trade, shares, p)) / p
            if abs(trade) * o > 1e-9 * equity and (trade > 0 or target * equity / o < shares):
                new = shares + trade
                if new >= 0:
                    proceeds = 0.0
                elif shares >= 0:
                    proceeds = -new * p
                elif new < shares:
                    proceeds += (shares - new) * p
                else:
                    proceeds *= new / shares
                cash -= trade * p + fee(trade, shares, p)
                shares = new
        cash += rate.iloc[i] / 252 * (cash - proceeds)
        if shares < 0:
            cash -= costs.borrow_fee / 252 * -shares * close
        value = cash + shares * close
        out.append(value / prev - 1.0)
        prev = value
    return pd.Series(out, index=weights.index)


def random_weights(index, seed, low, high=1.0):
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    raw = lfilter([1.0], [1.0, -0.9], rng.normal(size=len(index))) * 0.4
    return pd.Series(np.clip(raw, low, high), index=index)


@pytest.mark.parametrize("low", [0.0, -1.5], ids=["long_only", "long_short"])
@pytest.mark.parametrize("band", [0.0, 0.1])
def test_weights_every_cost_on_backtrader_twin_and_reference_agree(px, low, band):
    index = px.index[2000:2600]
    w = random_weights(index, 1, low)
    engine = run_backtrader(px, w, EVERY_COST, cash_rate=rates(index), band=band)
    twin = vectorised_returns(px, w, EVERY_COST, rates(index), band=band)
    ref = weight_loop(px, w, EVERY_COST, rates(index), band)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(twin.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-12)
    assert engine.n_trades > 0


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    low=st.sampled_from([0.0, -1.0, -2.0]),
    start=st.integers(0, 4500),
    band=st.sampled_from([0.0, 0.02, 0.25, 0.9]),
    commission=st.sampled_from([0.0, 0.0005, 0.003]),
    half_spread=st.sampled_from([0.0, 0.001]),
    min_fee=st.sampled_from([0.0, 1e-5, 3e-4]),  # of the capital
    borrow_fee=st.sampled_from([0.0, 0.1]),
    cash_rate=st.sampled_from([0.0, "moving"]),
)
@pytest.mark.slow
def test_weight_engines_agree_for_any_costs_and_band(
    px, seed, low, start, band, commission, half_spread, min_fee, borrow_fee, cash_rate
):
    index = px.index[start : start + 500]
    w = random_weights(index, seed, low)
    costs = Costs(commission, 0.0005, half_spread, min_fee * 1e5, 1e5, borrow_fee)
    rate = rates(index, -0.001, 0.08) if cash_rate == "moving" else cash_rate
    engine = run_backtrader(px, w, costs, cash_rate=rate, band=band)
    twin = vectorised_returns(px, w, costs, rate, band=band)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(twin, weight_loop(px, w, costs, rate, band), rtol=0, atol=1e-12)


def test_a_band_trades_only_when_the_drift_leaves_it(px):
    index = px.index[3000:3250]
    half = pd.Series(0.5, index=index)
    daily = run_backtrader(px, half, Costs(), band=0.0)
    assert daily.n_trades > 200  # every day's drift is traded back to 50%
    wide = run_backtrader(px, half, Costs(), band=0.4)
    assert wide.n_trades == 1  # 50% is bought once and never drifts 40 points away
    full = run_backtrader(px, pd.Series(1.0, index=index), Costs(), band=0.0)
    assert full.n_trades == 1  # fully invested: no cash left to buy the drift with
    held = run_backtrader(px, half, Costs(), band=0.02)  # 2011: moves of 8% and more
    assert 1 < held.n_trades < daily.n_trades / 10 and (held.orders["size"].cumsum() > 0).all()


def test_bad_weights_or_band_are_refused(px):
    index = px.index[:10]
    with pytest.raises(ValueError, match="rebalance band must be in"):
        vectorised_returns(px, pd.Series(0.5, index=index), COSTS, band=1.0)
    with pytest.raises(ValueError, match="finite"):
        run_backtrader(px, pd.Series(np.nan, index=index), COSTS, band=0.1)
    with pytest.raises(ValueError, match="or weights with a rebalance band"):
        vectorised_returns(px, pd.Series(0.5, index=index), COSTS)
