"""Ranking portfolios: the multi-data Backtrader engine vs its panel twin vs an independent
day-by-day loop, on real prices (AAPL, GOOG, IBM, MSFT from bokeh-sampledata, ^GSPC and ^IXIC
from arch), with known answers. Positions are ranks of a causal signal (the past 20 days'
return), so nothing here knows about models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bokeh_sampledata import stocks as bokeh_stocks
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.strategies import (
    BacktestError,
    Costs,
    equal_weight_weights,
    next_close_returns,
    panel_returns,
    price_panel,
    rank_ic,
    ranking_weights,
    run_portfolio_backtrader,
)
from lstmbt.strategies.costs import CASH_BUFFER
from lstmbt.strategies.panel import rebalance_scale

COSTS = Costs(commission=0.0005, slippage=0.0005, half_spread=0.0002)


@pytest.fixture(scope="module")
def frames(sp500, nasdaq) -> dict[str, pd.DataFrame]:
    """Adjusted OHLC per ticker, each on its own calendar (GOOG from 2004, stocks to 2013)."""
    out = {}
    for ticker in ("AAPL", "GOOG", "IBM", "MSFT"):
        rows = pd.DataFrame(getattr(bokeh_stocks, ticker))  # a dict of columns per ticker
        rows.index = pd.DatetimeIndex(pd.to_datetime(rows.pop("date")), name="date").as_unit("ns")
        out[ticker] = adjusted_ohlcv(rows)
    out["^GSPC"], out["^IXIC"] = adjusted_ohlcv(sp500), adjusted_ohlcv(nasdaq)
    return out


@pytest.fixture(scope="module")
def panel(frames) -> pd.DataFrame:
    return price_panel(frames)


@pytest.fixture(scope="module")
def gappy(frames) -> pd.DataFrame:
    """The same universe with 5% of AAPL's and ^IXIC's bars in 2011-2013 removed."""
    rng = np.random.default_rng(7)
    out = dict(frames)
    for ticker in ("AAPL", "^IXIC"):
        f = frames[ticker]
        inside = np.flatnonzero((f.index >= "2011-01-01") & (f.index < "2013-06-01"))
        drop = rng.choice(inside, size=len(inside) // 20, replace=False)
        out[ticker] = f.drop(f.index[drop])
    return price_panel(out)


def momentum(panel: pd.DataFrame, days: int = 20) -> pd.DataFrame:
    """Past `days` bars' return of each ticker on its own bars: known at the close."""
    close = panel["close"]
    cols = {
        t: (c.dropna() / c.dropna().shift(days) - 1.0).reindex(close.index)
        for t, c in close.items()
    }
    return pd.DataFrame(cols, index=close.index)


def equity_after_costs(equity: float, before: list, goal: list, costs: Costs) -> float:
    """By bisection: the equity E' whose trades (goal_i E' - before_i, in value) cost exactly
    equity - E' (commission, slippage and half the spread on each side)."""
    buy = (1 + costs.price_move) * (1 + costs.commission) - 1
    sell = 1 - (1 - costs.price_move) * (1 - costs.commission)

    def paid(e):
        trades = [g * e - b for g, b in zip(goal, before, strict=True)]
        return sum(t * buy if t > 0 else -t * sell for t in trades)

    lo, hi = 0.0, equity
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid + paid(mid) < equity else (lo, mid)
    return 0.5 * (lo + hi)


def reference_loop(panel: pd.DataFrame, weights: pd.DataFrame, costs: Costs) -> pd.Series:
    """Plain bookkeeping, one day at a time, in Python floats: when the held row changes,
    find the post-cost equity by bisection, then sell and buy at the fill prices. A ticker
    without a bar that day is not bought, and if held is sold at its last close."""
    s, c = costs.price_move, costs.commission  # slippage plus half the spread
    tickers = list(weights.columns)
    opens = panel["open"].reindex(weights.index)[tickers].to_numpy()
    raw = panel["close"].reindex(weights.index)[tickers]
    bars = np.isfinite(opens) & raw.notna().to_numpy()
    last = raw.ffill().to_numpy()
    closes = raw.ffill().fillna(0.0).to_numpy()
    w_all = weights.to_numpy()
    cash, shares, held, prev, out = 1.0, [0.0] * len(tickers), [0.0] * len(tickers), 1.0, []
    traded = [0.0] * len(tickers)  # the targets last traded (without the names left out)
    for d in range(len(weights)):
        target = list(w_all[d - 1]) if d else [0.0] * len(tickers)
        tradable = [t if bars[d][i] else 0.0 for i, t in enumerate(target)]
        if target != held and tradable != traded:
            o = [opens[d][i] if bars[d][i] else last[d][i] for i in range(len(tickers))]
            before = [q * o[i] if q != 0.0 else 0.0 for i, q in enumerate(shares)]
            goal = [t * (1.0 - CASH_BUFFER) for t in tradable]
            traded = tradable
            after = equity_after_costs(cash + sum(before), before, goal, costs)
            new = [g * after / o[i] if g else 0.0 for i, g in enumerate(goal)]
            for i in range(len(tickers)):
                delta = new[i] - shares[i]
                if delta < 0:
                    cash += -delta * o[i] * (1 - s) * (1 - c)
                elif delta > 0:
                    cash -= delta * o[i] * (1 + s) * (1 + c)
            shares = new
        held = target
        value = cash + sum(q * closes[d][i] for i, q in enumerate(shares))
        out.append(value / prev - 1.0)
        prev = value
    return pd.Series(out, index=weights.index)


def rebalances(weights: pd.DataFrame) -> int:
    held = weights.shift(1, fill_value=0.0)
    return int((held.diff().fillna(held) != 0).any(axis=1).sum())


@pytest.mark.parametrize(
    "kind, k, start, end, prices",
    [
        ("long", 2, "2004-05-01", "2005-03-01", "panel"),  # GOOG's history starts inside
        ("long-short", 1, "2012-10-01", "2013-08-01", "panel"),  # the stocks' histories end
        ("long", 3, "2012-01-01", "2013-01-01", "gappy"),  # bars missing here and there
    ],
)
def test_backtrader_twin_and_reference_agree(request, kind, k, start, end, prices):
    px = request.getfixturevalue(prices)
    weights = ranking_weights(momentum(px).loc[start:end], k, kind, prices=px)
    engine = run_portfolio_backtrader(px, weights, COSTS)  # raises on any unfilled order
    twin = panel_returns(px, weights, COSTS)
    ref = reference_loop(px, weights, COSTS)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(twin.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-10)
    assert len(engine.rebalance_days) == rebalances(weights) > 20
    assert (engine.returns != 0).mean() > 0.9


def test_benchmark_is_bought_once_and_held_through_ends_of_history(panel):
    """Equal weight at the first open; the stocks' values freeze at their last close (2013-03-01)
    while the indices go on."""
    index = panel.loc["2012-11-01":"2013-06-28"].index
    bench = equal_weight_weights(panel, index)
    assert (bench.iloc[0] == 1 / 6).all()
    engine = run_portfolio_backtrader(panel, bench, COSTS)
    assert engine.n_trades == 6 and set(engine.orders["date"]) == {index[1].date()}
    twin = panel_returns(panel, bench, COSTS)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    later = panel.loc["2013-03-04":"2013-06-28"]
    index_move = later["close"][["^GSPC", "^IXIC"]].pct_change().iloc[1:]
    # after the stocks end only the indices move the value
    assert np.corrcoef(twin.loc[later.index[1:]], index_move.sum(axis=1))[0, 1] > 0.999


def test_the_benchmark_holds_what_its_decision_close_shows(panel):
    """Regression: the benchmark chose its tickers from the bars of the day after its decision.
    GOOG's first bar is 2004-08-19: a benchmark decided on 2004-08-18 cannot know it."""
    first = panel["close"]["GOOG"].first_valid_index()
    index = panel.loc[:first].index[-2:].append(panel.loc[first:"2004-12-31"].index[1:])
    bench = equal_weight_weights(panel, index)
    assert bench.iloc[0]["GOOG"] == 0 and (bench.iloc[0].drop("GOOG") == 1 / 5).all()


def test_holding_every_ticker_forever_is_the_benchmark_less_the_first_costs(panel):
    """k = all six tickers, membership never changes: one trade at the first open, then a hand
    computation: value = x (B + sum_i (1 - B)/6 close_i / open_i), x = 1 / (1 + kappa (1 - B))."""
    forecasts = momentum(panel).loc["2006-01-01":"2006-12-31"]
    weights = ranking_weights(forecasts, 6, prices=panel)
    assert (weights == 1 / 6).all().all()
    rets = panel_returns(panel, weights, COSTS)
    day1 = weights.index[1]
    kappa = (1 + COSTS.slippage + COSTS.half_spread) * (1 + COSTS.commission) - 1
    x = 1 / (1 + kappa * (1 - CASH_BUFFER))
    growth = panel["close"].loc[weights.index] / panel["open"].loc[day1]
    hand = x * (CASH_BUFFER + (1 - CASH_BUFFER) / 6 * growth.sum(axis=1))
    hand.iloc[0] = 1.0
    np.testing.assert_allclose((1 + rets).cumprod(), hand, rtol=1e-12)
    bench = equal_weight_weights(panel, weights.index)
    np.testing.assert_allclose(rets, panel_returns(panel, bench, COSTS), rtol=0, atol=1e-15)
    free = panel_returns(panel, weights, Costs(0.0, 0.0))
    assert (1 + rets).prod() == pytest.approx(x * (1 + free).prod(), rel=1e-12)
    engine = run_portfolio_backtrader(panel, weights, COSTS)
    assert engine.n_trades == 6
    np.testing.assert_allclose(engine.returns.to_numpy(), rets.to_numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", ["long", "long-short"])
def test_a_constant_ranking_trades_once(panel, kind):
    index = panel.loc["2007-01-01":"2007-06-30"].index
    tickers = ["AAPL", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"]
    forecasts = pd.DataFrame(np.tile(np.arange(6.0), (len(index), 1)), index=index, columns=tickers)
    weights = ranking_weights(forecasts, 2, kind, prices=panel)
    engine = run_portfolio_backtrader(panel, weights, COSTS)
    traded = 2 if kind == "long" else 4
    assert engine.n_trades == traded and engine.rebalance_days.equals(index[1:2])
    assert set(engine.orders.loc[engine.orders["size"] > 0, "ticker"]) == {"^IXIC", "^GSPC"}
    twin = panel_returns(panel, weights, COSTS)
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)


def test_going_to_cash_and_back_sells_and_buys_everything(panel):
    index = panel.loc["2009-02-02":"2009-04-30"].index
    weights = pd.DataFrame(0.0, index=index, columns=["AAPL", "IBM", "^GSPC"])
    weights.iloc[5:20] = [0.5, 0.0, -0.5]
    weights.iloc[30:50] = [0.25, 0.25, 0.5]  # cash in between, and at the end
    engine = run_portfolio_backtrader(panel, weights, COSTS)
    twin = panel_returns(panel, weights, COSTS)
    assert engine.rebalance_days.equals(index[[6, 21, 31, 51]]) and engine.n_trades == 2 + 2 + 3 + 3
    assert (twin.iloc[list(range(22, 31)) + list(range(52, len(index)))] == 0).all()
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    ref = reference_loop(panel, weights, COSTS)
    np.testing.assert_allclose(twin.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["long", "long-short"])
def test_a_ranking_that_changes_every_day_rebalances_every_day(panel, kind):
    index = panel.loc["2008-09-01":"2008-11-28"].index  # a crash: big daily moves
    tickers = ["AAPL", "GOOG", "IBM", "MSFT", "^GSPC", "^IXIC"]
    turn = (np.arange(6)[None, :] + np.arange(len(index))[:, None]) % 6
    weights = ranking_weights(pd.DataFrame(turn * 1.0, index=index, columns=tickers), 2, kind)
    engine = run_portfolio_backtrader(panel, weights, COSTS)
    twin = panel_returns(panel, weights, COSTS)
    assert engine.rebalance_days.equals(index[1:])
    np.testing.assert_allclose(engine.returns.to_numpy(), twin.to_numpy(), rtol=0, atol=1e-10)
    ref = reference_loop(panel, weights, COSTS)
    np.testing.assert_allclose(twin.to_numpy(), ref.to_numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind, k", [("long", 1), ("long", 3), ("long-short", 2)])
def test_more_costs_never_raise_the_total_return(panel, kind, k):
    for sign in (1.0, -1.0):  # momentum and its reversal: different trades, same property
        weights = ranking_weights(sign * momentum(panel).loc["2008-01-01":"2010-12-31"], k, kind)
        totals = [
            (1 + panel_returns(panel, weights, Costs(c, c))).prod()
            for c in (0.0, 0.0005, 0.001, 0.002, 0.004)
        ]
        assert all(np.diff(totals) < 0), totals


@settings(max_examples=15, deadline=None)
@given(
    start=st.integers(0, 1900),
    days=st.integers(2, 120),
    k=st.integers(1, 3),
    short=st.booleans(),
    reverse=st.booleans(),
    cost=st.sampled_from([0.0, 0.0005, 0.003]),
    spread=st.sampled_from([0.0, 0.0004]),
)
def test_twin_equals_reference_on_random_windows(
    gappy, start, days, k, short, reverse, cost, spread
):
    forecasts = momentum(gappy, 5).loc["2004-09-01":"2012-12-31"].iloc[start : start + days]
    forecasts = -forecasts if reverse else forecasts
    weights = ranking_weights(forecasts, k, "long-short" if short else "long", prices=gappy)
    costs = Costs(cost, cost / 2, spread)
    np.testing.assert_allclose(
        panel_returns(gappy, weights, costs), reference_loop(gappy, weights, costs), atol=1e-12
    )


def test_rebalance_scale_solves_the_cost_equation():
    rng = np.random.default_rng(0)
    u = rng.dirichlet(np.ones(8), size=50) * 0.9  # (events, assets)
    w = np.where(rng.random((50, 8)) < 0.5, 0.0, 0.2)
    w[:10] *= -1.0  # short targets too
    for costs in (Costs(0.0005, 0.0005), Costs(0.05, 0.09)):
        x = rebalance_scale(u, w, costs)
        kb = (1 + costs.slippage) * (1 + costs.commission) - 1
        ks = 1 - (1 - costs.slippage) * (1 - costs.commission)
        t = w * x[:, None] - u
        paid = np.where(t > 0, kb * t, -ks * t).sum(axis=1)
        np.testing.assert_allclose(x + paid, 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("k, kind", [(1, "long"), (3, "long"), (2, "long-short")])
def test_dense_and_sparse_valuation_agree(gappy, monkeypatch, k, kind):
    import lstmbt.strategies.panel as twin

    weights = ranking_weights(momentum(gappy).loc["2010-06-01":"2012-12-31"], k, kind, gappy)
    runs = []
    for share in (0.0, 1.1):  # all dense, all sparse
        monkeypatch.setattr(twin, "SPARSE_BELOW", share)
        runs.append(panel_returns(gappy, weights, COSTS))
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-14)


def test_ranking_holds_the_top_k_and_the_bottom_k():
    index = pd.date_range("2020-01-01", periods=4, freq="B")
    f = pd.DataFrame(
        [
            [1.0, 5.0, 3.0, 2.0],
            [4.0, 4.0, 1.0, 9.0],
            [np.nan, 2.0, 1.0, np.nan],
            [1.0, 2.0, 3.0, 4.0],
        ],
        index=index,
        columns=list("abcd"),
    )
    long = ranking_weights(f, 2)
    assert long.to_numpy().tolist() == [
        [0, 0.5, 0.5, 0],
        [0.5, 0, 0, 0.5],  # a tie (a = b = 4): the earlier column
        [0, 0.5, 0.5, 0],
        [0, 0, 0.5, 0.5],
    ]
    ls = ranking_weights(f, 1, "long-short")
    assert ls.to_numpy().tolist() == [
        [-0.5, 0.5, 0, 0],
        [0, 0, -0.5, 0.5],
        [0, 0.5, -0.5, 0],
        [-0.5, 0, 0, 0.5],
    ]
    # inside the span, a day with fewer than k ranked holds what there is, the rest in cash
    f.iloc[2, 2] = np.nan
    assert ranking_weights(f, 2).iloc[2].tolist() == [0, 0.5, 0, 0]
    assert ranking_weights(f, 1, "long-short").iloc[2].tolist() == [0, 0, 0, 0]
    # the span: the first to the last day with k ranked
    f.iloc[0, :3] = np.nan
    assert ranking_weights(f, 2).index.equals(index[1:])
    all_tied = pd.DataFrame(1.0, index=index, columns=list("abcd"))
    tied = ranking_weights(all_tied, 2, "long-short")
    assert (tied.abs().sum(axis=1) == 1.0).all() and (tied.sum(axis=1) == 0).all()


def test_ranking_knows_nothing_of_later_days_not_even_the_calendar(gappy):
    """Regression: a ticker was ranked at t only if it had bars on the next two days (the
    calendar a day or two ahead). Now removing every bar after t changes no weight up to t."""
    forecasts = momentum(gappy).loc["2011-02-01":"2012-12-31"]
    weights = ranking_weights(forecasts, 5, prices=gappy)
    member = (weights["AAPL"] > 0) & (weights["AAPL"].shift(1) > 0)  # held on t, kept at t
    t = member.index[member & (member.index >= forecasts.index[200])][0]
    cut = gappy.copy()
    cut.loc[cut.index > t, (slice(None), "AAPL")] = np.nan  # AAPL's bars stop at t
    cut_forecasts = forecasts.copy()
    cut_forecasts.loc[cut_forecasts.index > t, "AAPL"] = np.nan
    again = ranking_weights(cut_forecasts, 5, prices=cut)
    pd.testing.assert_frame_equal(again.loc[:t], weights.loc[:t])
    # held at its last bar, it is sold at the next rebalance, at its last close
    engine = run_portfolio_backtrader(cut, again, COSTS)
    sold = engine.orders[(engine.orders["ticker"] == "AAPL") & (engine.orders["date"] > t.date())]
    assert len(sold) == 1 and sold["size"].iloc[0] < 0
    last_close = cut["close"]["AAPL"].loc[:t].iloc[-1]
    assert sold["price"].iloc[0] == pytest.approx(last_close * (1 - COSTS.price_move), rel=1e-12)
    np.testing.assert_allclose(
        engine.returns.to_numpy(), panel_returns(cut, again, COSTS).to_numpy(), atol=1e-10
    )
    np.testing.assert_allclose(
        panel_returns(cut, again, COSTS), reference_loop(cut, again, COSTS), atol=1e-12
    )
    # a forecast on a day without a bar is still refused (it needs that day's close)
    stray = forecasts.copy()
    day = gappy.index[gappy["open"]["AAPL"].isna() & (gappy.index >= forecasts.index[0])][0]
    stray.loc[day, "AAPL"] = 0.01
    with pytest.raises(ValueError, match="no bar that day"):
        ranking_weights(stray, 5, prices=gappy)


def test_a_member_without_a_bar_at_the_open_is_not_bought(gappy):
    """The gaps of AAPL and ^IXIC: on a rebalancing day without its bar a member's weight
    waits in cash (fewer names held); both engines and the plain loop agree."""
    forecasts = momentum(gappy).loc["2011-02-01":"2012-12-31"]
    weights = ranking_weights(forecasts, 5, prices=gappy)
    engine = run_portfolio_backtrader(gappy, weights, COSTS)
    bars = gappy["open"].reindex(weights.index).notna()
    fills = engine.orders.assign(date=pd.to_datetime(engine.orders["date"]))
    for _, fill in fills.iterrows():  # every fill is on a bar, or a sale at the last close
        assert bars.loc[fill["date"], fill["ticker"]] or fill["size"] < 0
    held = weights.shift(1, fill_value=0.0) > 0
    skipped = held & ~bars
    assert skipped.any().any()  # the gaps do fall on days a member is held
    np.testing.assert_allclose(
        engine.returns.to_numpy(), panel_returns(gappy, weights, COSTS).to_numpy(), atol=1e-10
    )


def test_rank_ic_is_the_daily_spearman_correlation(gappy):
    forecasts = momentum(gappy).loc["2012-06-01":"2013-06-28"]
    realised = next_close_returns(gappy)
    ic = rank_ic(forecasts, realised)
    for day in forecasts.index[::17]:
        f, r = forecasts.loc[day], realised.loc[day]
        ok = f.notna() & r.notna()
        expected = spearmanr(f[ok], r[ok])[0] if ok.sum() >= 3 else np.nan
        np.testing.assert_allclose(ic.loc[day], expected, atol=1e-12)
    assert ic.loc["2013-03-05":].isna().all()  # only the two indices left: too few
    assert ic.notna().sum() > 150


def test_next_close_returns_use_each_tickers_own_next_bar(gappy):
    realised = next_close_returns(gappy)["AAPL"]
    own = gappy["close"]["AAPL"].dropna()
    missing = gappy.index[(gappy.index > own.index[0]) & ~gappy.index.isin(own.index)]
    before = own.index[own.index.searchsorted(missing[0]) - 1]  # the bar before a gap
    after = own.index[own.index.searchsorted(missing[0])]  # and the bar after it
    assert realised[before] == pytest.approx(own[after] / own[before] - 1, rel=1e-14)
    assert realised[missing].isna().all() and np.isnan(realised[own.index[-1]])


def test_rejected_orders_fail_the_run(panel, monkeypatch):
    import lstmbt.strategies.portfolio_backtest as engine

    monkeypatch.setattr(engine, "CASH_BUFFER", -0.01)  # buy 1% more than the cash allows
    weights = equal_weight_weights(panel, panel.loc["2006-01-01":"2006-02-28"].index)
    with pytest.raises(BacktestError, match="not filled.*Margin"):
        run_portfolio_backtrader(panel, weights, COSTS)


def test_bad_input_is_rejected_with_the_fix(panel):
    index = panel.loc["2006-01-03":"2006-01-31"].index
    f = momentum(panel).loc[index]
    with pytest.raises(ValueError, match="kind must be"):
        ranking_weights(f, 2, "short")
    with pytest.raises(ValueError, match="positive integer"):
        ranking_weights(f, 0)
    with pytest.raises(ValueError, match="at least 7 tickers"):
        ranking_weights(f, 7)
    with pytest.raises(ValueError, match="no bar that day"):
        ranking_weights(f.reindex(pd.date_range(index[0], index[-1])).ffill(), 2, prices=panel)
    with pytest.raises(ValueError, match="at most 1"):
        panel_returns(panel, ranking_weights(f, 2) * 2, COSTS)
    with pytest.raises(ValueError, match="lacks"):
        panel_returns(panel, ranking_weights(f, 2).rename(columns={"IBM": "XYZ"}), COSTS)
    with pytest.raises(ValueError, match="non-positive"):
        price_panel(
            {
                "A": pd.DataFrame(
                    {c: [1.0, -1.0] for c in ("open", "high", "low", "close")}, index=index[:2]
                )
            }
        )


def test_the_portfolio_verdict_names_the_costs_its_engine_does_not_charge():
    from lstmbt import RunConfig
    from lstmbt.api import _portfolio_costs

    assert _portfolio_costs(RunConfig(half_spread=0.0002)) == ""  # charged: nothing to say
    said = _portfolio_costs(RunConfig(min_fee=1.0, cash_rate="risk-free"))
    assert "not min_fee, cash_rate" in said and "spread" in said
    said = _portfolio_costs(RunConfig(min_fee=1.0, borrow_fee=0.01, cash_rate="risk-free"))
    assert "not min_fee, borrow_fee, cash_rate:" in said


# --- naive rankings: momentum, drift, persistence and ridge through the same engines ----------

SPAN = ("2011-07-01", "2012-12-31")


def causal_predictions(frames: dict, start: str, end: str) -> dict[str, pd.DataFrame]:
    """What a study's predictions hold, built from prices known at each close only: the
    out-of-sample days [start, end] of each ticker, its training-window mean return (the bars
    before `start`), today's return (persistence), a 5-bar momentum as a stand-in ridge, and
    the realised next-day return (the evaluation target, never an input)."""
    out = {}
    for ticker, f in frames.items():
        close = f["close"].dropna()
        ret = close.pct_change()
        days = close.loc[start:end].index
        frame = pd.DataFrame(index=days)
        frame["realised"] = (close.shift(-1) / close - 1).reindex(days)
        frame["train_mean"] = ret.loc[: days[0]].iloc[:-1].mean()
        frame["persistence"] = ret.reindex(days)
        frame["p:ridge"] = (close / close.shift(5) - 1).reindex(days)
        out[ticker] = frame
    return out


def fake_studies(predictions: dict[str, pd.DataFrame]) -> dict:
    """Stand-ins for StudyResult: the predictions and the ridge's name in the model table."""
    from types import SimpleNamespace

    names = {"ridge": ["p:ridge"]}
    metrics = SimpleNamespace(names=lambda model=None, role=None: names.get(model, []))
    return {t: SimpleNamespace(predictions=p, metrics=metrics) for t, p in predictions.items()}


def test_naive_forecasts_are_trailing_returns_and_the_studys_baselines(frames):
    from lstmbt.study.portfolio import naive_forecasts

    preds = causal_predictions(frames, *SPAN)
    got = naive_forecasts(frames, preds, ["p:ridge"])
    assert list(got) == [
        "momentum_20d",
        "momentum_60d",
        "momentum_252d",
        "drift",
        "persistence",
        "p:ridge",
    ]
    goog = frames["GOOG"]["close"]
    day = preds["GOOG"].index[40]
    before = goog.loc[:day].iloc[-61]  # 60 bars back on GOOG's own bars
    assert got["momentum_60d"].at[day, "GOOG"] == pytest.approx(goog[day] / before - 1, rel=1e-14)
    for name, column in (("drift", "train_mean"), ("persistence", "persistence")):
        pd.testing.assert_series_equal(
            got[name]["IBM"], preds["IBM"][column], check_names=False, check_freq=False
        )
    # only on each ticker's out-of-sample days: nothing ranked outside them
    assert got["momentum_20d"]["AAPL"].dropna().index.equals(preds["AAPL"].index)
    # a column some study lacks leaves that ranking out
    assert "drift" not in naive_forecasts(
        frames, {**preds, "IBM": preds["IBM"].drop(columns="train_mean")}
    )


def test_naive_rankings_know_nothing_after_the_close(frames):
    """Scramble one ticker's prices after t: every naive ranking's forecasts and weights up to
    t, and its returns up to t, stay exactly the same (the study's own baselines are
    recomputed from the scrambled prices, as a study would)."""
    from lstmbt.study.portfolio import naive_forecasts
    from tests.test_features import perturb_after

    moved = dict(frames)
    aapl = frames["AAPL"]
    t_pos = aapl.index.get_loc(aapl.loc["2012-06-01":].index[0])
    t = aapl.index[t_pos]
    raw = aapl.assign(adj_close=aapl["close"], volume=1e6)
    moved["AAPL"] = perturb_after(raw, t_pos, 3)[aapl.columns]
    runs = []
    for fr in (frames, moved):
        panel = price_panel(fr)
        forecasts = naive_forecasts(fr, causal_predictions(fr, *SPAN), ["p:ridge"])
        runs.append(
            {
                name: (f, panel_returns(panel, ranking_weights(f, 2, prices=panel), COSTS))
                for name, f in forecasts.items()
            }
        )
    for name, (f, r) in runs[0].items():
        f2, r2 = runs[1][name]
        pd.testing.assert_frame_equal(f.loc[:t], f2.loc[:t], check_exact=True)
        pd.testing.assert_series_equal(r.loc[:t], r2.loc[:t], check_exact=True)
        if name.startswith("momentum"):
            assert not f["AAPL"].loc[t:].iloc[1:].equals(f2["AAPL"].loc[t:].iloc[1:]), name


@pytest.mark.slow
def test_a_forecaster_is_compared_with_the_best_naive_ranking(frames):
    """Known answers: a forecaster that copies momentum_20d ties it (or trails a better naive
    ranking); an oracle that knows tomorrow's close beats the best one with an interval above
    zero. Every ranking counts as a trial."""
    from lstmbt import RunConfig
    from lstmbt.study.portfolio import EQUAL_WEIGHT, naive_forecasts, ranking_portfolios

    preds = causal_predictions(frames, *SPAN)
    momentum = naive_forecasts(frames, preds)["momentum_20d"]
    for t, p in preds.items():
        p["copycat"] = momentum[t]
        p["oracle"] = p["realised"]
    config = RunConfig(top_k=2, bootstrap_reps=200, block_size=10, seed=0)
    made, skipped = ranking_portfolios(
        config, frames, fake_studies(preds), ["copycat", "oracle"], earlier_trials=5
    )
    assert not skipped
    copycat, oracle = made["copycat"], made["oracle"]
    naive = list(copycat.naive_returns.columns)
    assert len(naive) == 6 and copycat.best_naive in naive
    sharpes = copycat.metrics.loc[naive, "sharpe"]
    assert copycat.best_naive == sharpes.idxmax()
    assert copycat.metrics.at["copycat", "sharpe"] == pytest.approx(
        copycat.metrics.at["momentum_20d", "sharpe"], abs=1e-12
    )
    v = copycat.versus_naive
    assert v.against == copycat.best_naive and v.diff <= 1e-12
    if copycat.best_naive == "momentum_20d":
        assert v.diff == 0 and v.p_value == 1.0
    o = oracle.versus_naive
    assert o.against == oracle.best_naive and o.diff > 2 and o.ci_low > 0 and o.p_value < 0.01
    assert list(oracle.returns.columns) == ["oracle", oracle.best_naive, EQUAL_WEIGHT]
    # every ranking tried is a trial: 2 forecasters' portfolios, 6 naive rankings, 5 earlier
    assert oracle.trials == copycat.trials == 13
    assert oracle.metrics.at["oracle", "dsr_trials"] == 13
    assert oracle.metrics.at["oracle", "dsr"] > 0.99
    # the family of rankings, ready for PBO and StepM: the oracle is the one that holds up
    from lstmbt.study.familywise import stepm
    from lstmbt.study.overfitting import probability_of_overfitting
    from lstmbt.study.portfolio import ranking_returns

    family = ranking_returns(made)
    assert list(family.columns) == ["copycat", "oracle", *naive, EQUAL_WEIGHT]
    pbo = probability_of_overfitting(family.drop(columns=EQUAL_WEIGHT), 8)
    assert pbo.most_chosen == "oracle" and pbo.pbo < 0.05
    assert "oracle" in stepm(family, EQUAL_WEIGHT, reps=200, block=10).superior


def test_rank_ic_min_assets_regression_top_1_with_a_forecaster_one_ticker_has(frames, gappy):
    """Regression: `--top-k 1` with a forecaster that only one ticker has asked rank_ic for
    min_assets=1, which raised ValueError (an internal error, rc 3). A rank IC needs at least
    2 assets a day: the portfolio is built, its rank IC is NaN on every day and the universe
    verdict says there is none; rank_ic itself says why it refuses fewer than 2."""
    from lstmbt import RunConfig
    from lstmbt.api import _portfolio_verdict
    from lstmbt.study.portfolio import ranking_portfolios

    with pytest.raises(ValueError, match="a rank IC needs at least 2 assets a day to rank"):
        rank_ic(momentum(gappy), next_close_returns(gappy), min_assets=1)
    preds = causal_predictions(frames, *SPAN)
    preds["AAPL"]["lonely"] = preds["AAPL"]["realised"]  # only AAPL's study has it
    config = RunConfig(top_k=1, bootstrap_reps=50, block_size=10, seed=0)
    made, skipped = ranking_portfolios(config, frames, fake_studies(preds), ["lonely"])
    assert not skipped and made["lonely"].rank_ic.isna().all()
    assert made["lonely"].naive_returns.shape[1] > 0  # the naive rankings of that one ticker too
    line = _portfolio_verdict(made, config)[0]
    assert "no rank IC (no day had 3 or more tickers with a forecast to rank" in line
    assert "nan" not in line
    # two tickers: a rank correlation across 2 is always +-1, not a measurement (the factor
    # page's rule too), so no rank IC; three: one
    for tickers, has_ic in ((["AAPL", "IBM"], False), (["AAPL", "IBM", "MSFT"], True)):
        few = {t: preds[t].assign(twin=preds[t]["realised"]) for t in tickers}
        made, _ = ranking_portfolios(config, frames, fake_studies(few), ["twin"])
        assert made["twin"].rank_ic.notna().any() == has_ic, tickers


@pytest.mark.slow
def test_the_portfolio_tables_measure_sharpe_over_the_cash_rate(frames):
    """With a cash rate every Sharpe ratio in a portfolio's table (the forecaster's, each naive
    ranking's and equal weight's), their differences and the best naive ranking are over cash,
    as in a study's tables and as the deflated Sharpe ratio already was; without one, over a
    zero return. The returns themselves do not change (the engine pays no interest)."""
    from lstmbt import RunConfig
    from lstmbt.api import _portfolio_verdict
    from lstmbt.study.evaluation import strategy_metrics
    from lstmbt.study.portfolio import EQUAL_WEIGHT, ranking_portfolios

    preds = causal_predictions(frames, *SPAN)
    for p in preds.values():
        p["oracle"] = p["realised"]
    config = RunConfig(top_k=2, bootstrap_reps=50, block_size=10, seed=0)
    studies = fake_studies(preds)
    plain = ranking_portfolios(config, frames, studies, ["oracle"])[0]["oracle"]
    days = pd.DatetimeIndex(sorted(set().union(*(f.index for f in frames.values()))))
    cash = pd.Series(0.08 / 252, index=days)  # 8% a year: large enough to move every ratio
    paid = ranking_portfolios(config, frames, studies, ["oracle"], cash=cash)[0]["oracle"]
    pd.testing.assert_frame_equal(plain.returns, paid.returns)
    assert paid.over_cash and not plain.over_cash
    for name in paid.returns.columns:
        r = paid.returns[name]
        want = strategy_metrics(r, cash_rate=np.full(len(r), 0.08 / 252))["sharpe"]
        assert paid.metrics.at[name, "sharpe"] == pytest.approx(want, abs=1e-12), name
        assert paid.metrics.at[name, "sharpe"] < plain.metrics.at[name, "sharpe"] - 0.05, name
    diff = paid.metrics.at["oracle", "sharpe"] - paid.metrics.at[EQUAL_WEIGHT, "sharpe"]
    assert paid.metrics.at["oracle", "diff"] == pytest.approx(diff, abs=1e-9)
    v = paid.versus_naive
    assert v.sharpe == pytest.approx(paid.metrics.at["oracle", "sharpe"], abs=1e-9)
    assert v.against_sharpe == pytest.approx(paid.metrics.at[v.against, "sharpe"], abs=1e-9)
    said, plain_said = (_portfolio_verdict({"oracle": p}, config)[0] for p in (paid, plain))
    assert "portfolio: Sharpe over the cash rate " in said
    assert "Sharpe over the cash rate" not in plain_said
