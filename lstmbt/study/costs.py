"""After costs, really: turnover, gross against net, a cost sweep and the break-even cost.

Every number here comes from the vectorised twin (the engine Backtrader is checked against on
every run) with the run's positions, prices and interest on cash:

- *gross*: no commission, slippage, spread, minimum fee or borrowing fee (interest stays);
- the *sweep*: one per-side cost rate k in place of commission + slippage + half-spread, for
  the strategy and buy-and-hold alike (the minimum and borrowing fees stay as configured);
- the *break-even cost*: the k at which the strategy's Sharpe ratio (over the cash rate), or
  its total return, falls to buy-and-hold's; "trails" when it is not above it even at k = 0,
  "beyond" when it still is at MAX_BPS, "identical" when its returns are buy-and-hold's.

Its bootstrap interval uses an approximation per resample: returns at k = r(0) - k * turnover,
whose Sharpe ratio follows from five moments, so each resample's break-even is a root of a
closed form. `breakeven_approx_bps` is the same approximation on the sample itself, beside
the exact engine's root (a test keeps them close).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import brentq

from lstmbt.metrics import BREAKEVEN_MAX_BPS
from lstmbt.strategies import Costs, held_positions, rebalanced_turnover
from lstmbt.study.backtests import twin_returns_of
from lstmbt.study.significance import (
    EQUAL_TOL,
    TRADING_DAYS,
    finite_or_none,
    sharpe,
    sharpe_of,
    stationary_bootstrap_indices,
)

SWEEP_BPS = np.arange(0.0, 50.0 + 1e-9, 2.5)  # the figure: 0-50 bps per side
MAX_BPS = float(BREAKEVEN_MAX_BPS)
SEARCH_BPS = np.arange(0.0, MAX_BPS + 1e-9, 2.5)  # where a break-even is looked for
_FINE_BPS = np.linspace(0.0, MAX_BPS, 1001)  # the bootstrap's grid (0.1 bps)


@dataclass(frozen=True)
class CostAnalysis:
    """Per strategy: the strategy-table columns (`columns`), the break-even columns of the
    strategy tests (`breakeven`), and the sweep's Sharpe ratios (index: bps per side)."""

    columns: pd.DataFrame
    breakeven: pd.DataFrame
    sweep: pd.DataFrame


def daily_turnover(
    positions: pd.DataFrame,
    ohlcv: pd.DataFrame | None = None,
    costs: Costs | None = None,
    cash_rate: float | pd.Series = 0.0,
    bands: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Traded value per unit of equity each return day: |held today - held yesterday| for
    -1/0/+1 positions (entering or leaving trades 1, a reversal 2); for the sized columns (in
    `bands`), what the engine trades at each open (the band and the drift decide that)."""
    held = held_positions(positions.to_numpy(dtype=np.float64))  # (days, strategies)
    change = np.abs(np.diff(held, axis=0))  # return days (the first day holds nothing)
    out = pd.DataFrame(change, index=positions.index[1:], columns=positions.columns)
    for name, band in (bands or {}).items():
        if name in out.columns:
            traded = rebalanced_turnover(ohlcv, positions[name], costs or Costs(), cash_rate, band)
            out[name] = traded.iloc[1:].to_numpy()
    return out


def at_cost(costs: Costs, bps: float) -> Costs:
    """The run's costs with one per-side rate in place of commission, slippage and spread."""
    return Costs(bps / 1e4, 0.0, 0.0, costs.min_fee, costs.capital, costs.borrow_fee)


def analyse_costs(
    ohlcv: pd.DataFrame,
    positions: pd.DataFrame,
    net: pd.DataFrame,
    rf: pd.Series,
    annual_rate: pd.Series | None,
    costs: Costs,
    benchmark: str,
    *,
    reps: int = 1000,
    block: float = 20.0,
    seed: int = 0,
    bands: Mapping[str, float] | None = None,
) -> CostAnalysis:
    """Turnover, gross against net, the sweep and the break-even cost of every strategy.

    `net`: the run's daily after-cost returns (return days); `rf`: the daily cash rate on
    those days; `annual_rate`: the annual cash rate on the position dates (None: none);
    `bands`: the sized strategies' rebalance bands (they trade weights)."""
    rate = 0.0 if annual_rate is None else annual_rate
    bands = dict(bands or {})

    def run(c: Costs, cols: list[str] | None = None) -> pd.DataFrame:
        pos = positions if cols is None else positions[cols]
        try:
            return twin_returns_of(ohlcv, pos, c, rate, bands).iloc[1:]
        except ValueError:  # a strategy ruined by the cost: it cannot pay the minimum fee
            if pos.shape[1] == 1:
                return pd.DataFrame(np.nan, index=pos.index[1:], columns=pos.columns)
            return pd.concat([run(c, [col]) for col in pos.columns], axis=1)

    rfv = rf.to_numpy(dtype=np.float64)
    turnover = daily_turnover(positions, ohlcv, costs, rate, bands)
    gross = run(costs.gross())
    grid = {bps: run(at_cost(costs, bps)) for bps in SEARCH_BPS}
    sweep = pd.DataFrame(
        {name: [_sharpe(grid[b][name], rfv) for b in SWEEP_BPS] for name in positions.columns},
        index=pd.Index(SWEEP_BPS, name="bps"),
    )
    columns = _cost_columns(net, gross, turnover, rfv, benchmark)
    rows = {}
    idx = stationary_bootstrap_indices(len(net), reps, block, seed)
    for name in positions.columns:
        if name == benchmark:
            continue
        rows[name] = _breakeven(
            name, benchmark, net, grid, turnover, rfv, lambda c, n=name: run(c, [n, benchmark]),
            costs, idx,
        )  # fmt: skip
    breakeven = pd.DataFrame.from_dict(rows, orient="index")
    return CostAnalysis(columns, breakeven, sweep)


def _sharpe(r: pd.Series, rf: np.ndarray) -> float:
    """The Sharpe ratio (significance.sharpe) of r over the cash rate rf."""
    return float(sharpe(r.to_numpy(dtype=np.float64) - rf))


def _cost_columns(net, gross, turnover, rf, benchmark) -> pd.DataFrame:
    """turnover (a year), gross_return, gross_sharpe, cost_drag (mean return a year that costs
    take) and cost_share: the share of the gross Sharpe edge over buy-and-hold that costs eat,
    (gross edge - net edge) / gross edge, where a strategy's edge is its Sharpe ratio minus
    buy-and-hold's (none without a gross edge)."""
    drag = (gross.mean() - net.mean()) * TRADING_DAYS
    drag = drag.where(drag.abs() > 1e-12, 0.0)  # float noise of a strategy that never trades
    sharpe_gross = {name: _sharpe(gross[name], rf) for name in net.columns}
    sharpe_net = {name: _sharpe(net[name], rf) for name in net.columns}
    rows = {}
    for name in net.columns:
        share = None
        edge = sharpe_gross[name] - sharpe_gross[benchmark]
        if name != benchmark and edge > 0:
            kept = sharpe_net[name] - sharpe_net[benchmark]
            share = finite_or_none((edge - kept) / edge)
        rows[name] = {
            "turnover": float(turnover[name].mean() * TRADING_DAYS),
            "gross_return": finite_or_none(float((1 + gross[name]).prod() - 1)),
            "gross_sharpe": finite_or_none(sharpe_gross[name]),
            "cost_drag": finite_or_none(float(drag[name])),
            "cost_share": share,
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _breakeven(name, bench, net, grid, turnover, rf, pair, costs, idx) -> dict:
    """The break-even columns of one strategy (see the module's docstring)."""
    empty = {
        "breakeven": None,
        "breakeven_bps": None,
        "breakeven_low": None,
        "breakeven_high": None,
        "breakeven_approx_bps": None,
        "breakeven_return": None,
        "breakeven_return_bps": None,
    }
    if np.all(np.abs(net[name].to_numpy() - net[bench].to_numpy()) <= EQUAL_TOL):
        return {**empty, "breakeven": "identical", "breakeven_return": "identical"}

    def sharpe_gap(frame: pd.DataFrame) -> float:
        if frame[name].isna().any():  # ruined at this cost: behind buy-and-hold
            return -math.inf
        return _sharpe(frame[name], rf) - _sharpe(frame[bench], rf)

    def return_gap(frame: pd.DataFrame) -> float:
        if frame[name].isna().any():
            return -math.inf
        total = (1 + frame[[name, bench]]).prod()
        return float(total[name] - total[bench])

    out = dict(empty)
    for key, gap in (("breakeven", sharpe_gap), ("breakeven_return", return_gap)):
        status, bps = _root([gap(grid[b]) for b in SEARCH_BPS], gap, pair, costs)
        out[key], out[f"{key}_bps"] = status, bps
    if out["breakeven"] in ("crosses", "beyond"):
        r0 = grid[0.0][[name, bench]].to_numpy(dtype=np.float64) - rf[:, None]
        tau = turnover[[name, bench]].to_numpy(dtype=np.float64)
        out["breakeven_approx_bps"] = finite_or_none(
            float(_approx_breakeven(r0, tau, np.arange(len(rf))[None, :])[0])
        )
        boot = _approx_breakeven(r0, tau, idx)
        out["breakeven_low"] = finite_or_none(float(np.percentile(boot, 2.5)))
        out["breakeven_high"] = finite_or_none(float(np.percentile(boot, 97.5)))
    return out


def _root(values: list[float], gap, pair, costs: Costs) -> tuple[str, float | None]:
    """The first cost on SEARCH_BPS where `gap` (strategy minus buy-and-hold) falls to 0,
    refined with the exact engine: (status, bps)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values[0]):  # no Sharpe ratio (it never holds a position)
        return None, None
    if values[0] <= 0:
        return "trails", None
    below = np.flatnonzero(~(values > 0))
    if len(below) == 0:
        return "beyond", None
    hi = int(below[0])
    lo_bps, hi_bps = float(SEARCH_BPS[hi - 1]), float(SEARCH_BPS[hi])
    at = lambda bps: gap(pair(at_cost(costs, bps)))  # noqa: E731
    if np.isfinite(values[hi]):
        return "crosses", float(brentq(at, lo_bps, hi_bps, xtol=1e-4, rtol=1e-10))
    for _ in range(20):  # ruined at hi_bps (no finite gap): bisect
        mid = (lo_bps + hi_bps) / 2
        lo_bps, hi_bps = (mid, hi_bps) if at(mid) > 0 else (lo_bps, mid)
    return "crosses", (lo_bps + hi_bps) / 2


def _approx_breakeven(r0: np.ndarray, tau: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Per resample (rows of `idx`), the first cost in bps at which the strategy's Sharpe
    ratio of r0 - k * tau falls to buy-and-hold's: 0 when it is not above at k = 0, MAX_BPS
    when it is still above there. `r0`, `tau`: (days, 2) excess returns at zero per-side cost
    and daily turnover of (strategy, buy-and-hold)."""
    k = _FINE_BPS / 1e4
    n = idx.shape[1]
    sr = []
    for j in range(2):
        a, t = r0[:, j][idx], tau[:, j][idx]  # (reps, days)
        ma, mt = a.mean(axis=1), t.mean(axis=1)
        caa = (a * a).mean(axis=1) - ma * ma
        ctt = (t * t).mean(axis=1) - mt * mt
        cat = (a * t).mean(axis=1) - ma * mt
        mean = ma[:, None] - k[None, :] * mt[:, None]
        var = caa[:, None] - 2 * k[None, :] * cat[:, None] + k[None, :] ** 2 * ctt[:, None]
        sd = np.sqrt(np.maximum(var, 0.0) * n / (n - 1))
        sr.append(sharpe_of(mean, sd))
    gap = sr[0] - sr[1]
    out = np.full(len(idx), MAX_BPS)
    ahead = gap > 0
    out[~ahead[:, 0]] = 0.0
    crossing = ahead[:, :-1] & ~ahead[:, 1:]
    has = ahead[:, 0] & crossing.any(axis=1)
    first = np.argmax(crossing, axis=1)
    rows = np.flatnonzero(has)
    i = first[rows]
    g0, g1 = gap[rows, i], gap[rows, i + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(np.isfinite(g1) & (g0 != g1), g0 / (g0 - g1), 0.5)
    out[rows] = _FINE_BPS[i] + w * (_FINE_BPS[i + 1] - _FINE_BPS[i])
    return out
