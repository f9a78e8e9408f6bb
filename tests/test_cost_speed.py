"""The cost analysis repeats no simulation, and gets the numbers a full grid gets."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from lstmbt.features.returns import adjusted_ohlcv
from lstmbt.strategies import Costs
from lstmbt.study import costs as costs_mod
from lstmbt.study.backtests import _sized_twin, twin_returns_of
from lstmbt.study.costs import SEARCH_BPS, _root, analyse_costs, at_cost

BENCH = "buy_and_hold"


@pytest.fixture(scope="module")
def market(sp500):
    """300 days of real prices; strategies that trail, cross at various costs and stay ahead
    beyond the search (a foresight that dodges the worst days), and one sized rule."""
    px = adjusted_ohlcv(sp500)
    index = px.index[3000:3300]
    nxt = (px["open"].shift(-2) / px["open"].shift(-1) - 1).reindex(index).fillna(0.0).to_numpy()
    rng = np.random.default_rng(3)
    cols = {}
    for acc in (0.5, 0.56, 0.62, 0.75):
        right = rng.random(len(index)) < acc
        cols[f"acc{acc}"] = np.maximum(np.where(right, np.sign(nxt), -np.sign(nxt)), 0.0)
    dodge = np.ones(len(index))
    dodge[np.argsort(nxt)[:12]] = 0.0
    cols["dodge"] = dodge
    cols[BENCH] = np.ones(len(index))
    right = rng.random(len(index)) < 0.6
    cols["sized"] = np.clip(np.where(right, nxt, -nxt) * 80, 0.0, 1.0)
    pos = pd.DataFrame(cols, index=index)
    bands = {"sized": 0.05}
    net = twin_returns_of(px, pos, Costs(), 0.0, bands).iloc[1:]
    rf = pd.Series(0.0, index=index[1:])
    traded = {"sized": _sized_twin(px, pos["sized"], Costs(), 0.0, 0.05)[1]}
    return px, pos, net, rf, bands, traded


def test_each_cost_level_is_simulated_once_per_strategy_and_the_turnover_is_reused(
    market, monkeypatch
):
    px, pos, net, rf, bands, traded = market
    simulated = Counter()
    real = costs_mod.twin_returns_of

    def counting(ohlcv, positions, costs, rate, bands_):
        for name in positions.columns:
            simulated[(costs.commission, costs.price_move, name)] += 1
        return real(ohlcv, positions, costs, rate, bands_)

    def no_rerun(*args, **kwargs):
        raise AssertionError("the sized rule's turnover was simulated again")

    monkeypatch.setattr(costs_mod, "twin_returns_of", counting)
    monkeypatch.setattr(costs_mod, "rebalanced_turnover", no_rerun)
    out = analyse_costs(
        px, pos, net, rf, None, Costs(), BENCH, reps=50, bands=bands, turnover=traded
    )
    assert max(simulated.values()) == 1, simulated.most_common(3)
    levels = {c for c, _, _ in simulated}
    assert len(levels) > len(SEARCH_BPS)  # the break-even roots were refined off the grid
    above_sweep = {n for c, _, n in simulated if c * 1e4 > 50 + 1e-9}
    assert BENCH in above_sweep and "acc0.5" not in above_sweep  # only those still ahead
    assert set(out.breakeven["breakeven"]) >= {"trails", "crosses", "beyond"}


def test_the_break_even_equals_a_full_grid_simulated_pair_by_pair(market):
    """The reference is the search as it was before the shortcuts: every level on the grid and
    every step of the root finder simulated afresh for (strategy, buy-and-hold)."""
    px, pos, net, rf, bands, traded = market
    out = analyse_costs(
        px, pos, net, rf, None, Costs(), BENCH, reps=50, bands=bands, turnover=traded
    )
    again = analyse_costs(px, pos, net, rf, None, Costs(), BENCH, reps=50, bands=bands)
    for field in ("columns", "breakeven", "sweep"):
        pd.testing.assert_frame_equal(getattr(out, field), getattr(again, field), check_exact=True)
    for name in [c for c in pos.columns if c != BENCH]:
        for key in ("breakeven", "breakeven_return"):
            fresh = lambda b, n=name, k=key: _fresh_gap(market, n, b, k)  # noqa: E731
            status, bps = _root([fresh(float(b)) for b in SEARCH_BPS], fresh)
            assert out.breakeven.at[name, key] == status, (name, key)
            got = out.breakeven.at[name, f"{key}_bps"]
            assert (bps is None and pd.isna(got)) or got == bps, (name, key, got, bps)


def _fresh_gap(market, name: str, bps: float, key: str) -> float:
    """Strategy minus buy-and-hold at `bps`, the pair simulated afresh (no cache)."""
    px, pos, _, rf, bands, _ = market
    pair = [name, BENCH]
    frame = twin_returns_of(px, pos[pair], at_cost(Costs(), bps), 0.0, bands).iloc[1:]
    if frame[name].isna().any():
        return -math.inf
    if key == "breakeven":
        sharpes = [costs_mod._sharpe(frame[n], rf.to_numpy()) for n in pair]
        return sharpes[0] - sharpes[1]
    total = (1 + frame[pair]).prod()
    return float(total[name] - total[BENCH])
