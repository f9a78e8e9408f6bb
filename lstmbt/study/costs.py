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

No work is repeated: each (cost level, strategy) is simulated once (`_Levels`), so buy-and-hold
runs once per level however many strategies are compared with it; levels above the sweep's are
simulated only for the strategies still ahead there; the sized strategies' turnover is the one
their backtest's twin traded (`Backtests.turnover`); buy-and-hold's bootstrap moments are
computed once for all strategies.
"""

from __future__ import annotations

import functools
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
    traded: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Traded value per unit of equity each return day: |held today - held yesterday| for
    -1/0/+1 positions (entering or leaving trades 1, a reversal 2); for the sized columns (in
    `bands`), what the engine trades at each open (the band and the drift decide that):
    taken from `traded` (on the position dates, as the backtest's twin traded them) where it
    has the column, else simulated again."""
    held = held_positions(positions.to_numpy(dtype=np.float64))  # (days, strategies)
    change = np.abs(np.diff(held, axis=0))  # return days (the first day holds nothing)
    out = pd.DataFrame(change, index=positions.index[1:], columns=positions.columns)
    traded = traded or {}
    for name, band in (bands or {}).items():
        if name not in out.columns:
            continue
        if name in traded:
            turnover = traded[name]
        else:
            turnover = rebalanced_turnover(
                ohlcv, positions[name], costs or Costs(), cash_rate, band
            )
        out[name] = turnover.iloc[1:].to_numpy()
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
    turnover: Mapping[str, pd.Series] | None = None,
) -> CostAnalysis:
    """Turnover, gross against net, the sweep and the break-even cost of every strategy.

    `net`: the run's daily after-cost returns (return days); `rf`: the daily cash rate on
    those days; `annual_rate`: the annual cash rate on the position dates (None: none);
    `bands`: the sized strategies' rebalance bands (they trade weights); `turnover`: what
    those traded in the run's own backtest (position dates; `Backtests.turnover`), which is
    then not simulated again."""
    rate = 0.0 if annual_rate is None else annual_rate
    bands = dict(bands or {})
    rfv = rf.to_numpy(dtype=np.float64)
    levels = _Levels(ohlcv, positions, costs, rate, bands, rfv)
    tau = daily_turnover(positions, ohlcv, costs, rate, bands, turnover)
    gross = levels.frame(costs.gross())  # (also the 0 bps level when no fee is set)
    every = list(positions.columns)
    for bps in SWEEP_BPS:  # every strategy at every level of the figure, one twin run a level
        levels.returns(float(bps), every)
    sweep = pd.DataFrame(
        {name: [levels.sharpe(float(b), name) for b in SWEEP_BPS] for name in every},
        index=pd.Index(SWEEP_BPS, name="bps"),
    )
    columns = _cost_columns(net, gross, tau, rfv, benchmark)
    others = [n for n in every if n != benchmark]
    bench_net = net[benchmark].to_numpy()
    same = {n: bool(np.all(np.abs(net[n].to_numpy() - bench_net) <= EQUAL_TOL)) for n in others}
    searched = _search(levels, [n for n in others if not same[n]], benchmark)
    idx = stationary_bootstrap_indices(len(net), reps, block, seed)
    bench_r0 = levels.returns(0.0, [benchmark])[benchmark] - rfv
    bench_sr = _BenchSharpes(bench_r0, tau[benchmark], idx)
    rows = {}
    for name in others:
        if same[name]:
            rows[name] = {**_EMPTY, "breakeven": "identical", "breakeven_return": "identical"}
        else:
            rows[name] = _breakeven(name, benchmark, levels, searched[name], tau, bench_sr)
    breakeven = pd.DataFrame.from_dict(rows, orient="index")
    return CostAnalysis(columns, breakeven, sweep)


class _Levels:
    """The twin's daily returns (return days) of each strategy at each set of costs (the
    gross ones, and one per-side rate in bps), each (costs, strategy) simulated once and only
    when asked for; buy-and-hold therefore runs once per level however many strategies are
    compared with it. A strategy simulated alone gets the same numbers, bit for bit, as beside
    others (the twin is element-wise per column)."""

    def __init__(self, ohlcv, positions, costs: Costs, rate, bands, rf: np.ndarray) -> None:
        self.ohlcv, self.positions, self.costs = ohlcv, positions, costs
        self.rate, self.bands, self.rf = rate, bands, rf
        self._returns: dict[Costs, dict[str, np.ndarray]] = {}
        self._sharpes: dict[tuple[float, str], float] = {}
        self._totals: dict[tuple[float, str], float] = {}

    def run(self, c: Costs, cols: list[str] | None = None) -> pd.DataFrame:
        """The twin at costs `c` (all columns, or `cols`); a strategy ruined by the cost (it
        cannot pay the minimum fee) is NaN throughout."""
        pos = self.positions if cols is None else self.positions[cols]
        try:
            return twin_returns_of(self.ohlcv, pos, c, self.rate, self.bands).iloc[1:]
        except ValueError:
            if pos.shape[1] == 1:
                return pd.DataFrame(np.nan, index=pos.index[1:], columns=pos.columns)
            return pd.concat([self.run(c, [col]) for col in pos.columns], axis=1)

    def frame(self, c: Costs) -> pd.DataFrame:
        """Every strategy at costs `c`, simulated now and kept for later questions."""
        frame = self.run(c)
        self._returns[c] = {n: frame[n].to_numpy(dtype=np.float64) for n in frame.columns}
        return frame

    def returns(self, bps: float, names: list[str]) -> dict[str, np.ndarray]:
        """Each of `names`' daily returns at `bps` per side (the missing ones in one run)."""
        c = at_cost(self.costs, bps)
        have = self._returns.setdefault(c, {})
        missing = [n for n in names if n not in have]
        if missing:
            frame = self.run(c, missing)
            have.update({n: frame[n].to_numpy(dtype=np.float64) for n in missing})
        return {n: have[n] for n in names}

    def sharpe(self, bps: float, name: str) -> float:
        key = (bps, name)
        if key not in self._sharpes:
            self._sharpes[key] = float(sharpe(self.returns(bps, [name])[name] - self.rf))
        return self._sharpes[key]

    def total(self, bps: float, name: str) -> float:
        """The growth factor of one unit over the span (NaN days count as no change)."""
        key = (bps, name)
        if key not in self._totals:
            self._totals[key] = float(np.nanprod(1 + self.returns(bps, [name])[name]))
        return self._totals[key]

    def ruined(self, bps: float, name: str) -> bool:
        return bool(np.isnan(self.returns(bps, [name])[name]).any())

    def gap(self, key: str, bps: float, name: str, bench: str) -> float:
        """Strategy minus buy-and-hold at `bps`: the Sharpe ratios (`key` "breakeven") or the
        total returns ("breakeven_return"); -inf when the strategy is ruined there."""
        if self.ruined(bps, name):
            return -math.inf
        if key == "breakeven":
            return self.sharpe(bps, name) - self.sharpe(bps, bench)
        return self.total(bps, name) - self.total(bps, bench)


_GAPS = ("breakeven", "breakeven_return")
_EMPTY = {
    "breakeven": None,
    "breakeven_bps": None,
    "breakeven_low": None,
    "breakeven_high": None,
    "breakeven_approx_bps": None,
    "breakeven_return": None,
    "breakeven_return_bps": None,
}


def _search(levels: _Levels, names: list[str], bench: str) -> dict[str, dict[str, list[float]]]:
    """Per strategy and gap, the gaps on SEARCH_BPS up to the first that is not above 0 (all
    that `_root` reads): a level is simulated only for the strategies still ahead there, all
    of them in one run."""
    out: dict[str, dict[str, list[float]]] = {n: {k: [] for k in _GAPS} for n in names}
    ahead = {(n, k) for n in names for k in _GAPS}
    for bps in SEARCH_BPS:
        if not ahead:
            break
        levels.returns(float(bps), sorted({n for n, _ in ahead}) + [bench])
        for name, key in sorted(ahead):
            value = levels.gap(key, float(bps), name, bench)
            out[name][key].append(value)
            if not value > 0:
                ahead.discard((name, key))
    return out


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


def _breakeven(name, bench, levels: _Levels, gaps, turnover, bench_sr: _BenchSharpes) -> dict:
    """The break-even columns of one strategy (see the module's docstring); `gaps`: its
    gaps on SEARCH_BPS from `_search`."""
    out = dict(_EMPTY)
    for key in _GAPS:
        at = lambda bps, k=key: levels.gap(k, bps, name, bench)  # noqa: E731
        out[key], out[f"{key}_bps"] = _root(gaps[key], at)
    if out["breakeven"] in ("crosses", "beyond"):
        r0 = levels.returns(0.0, [name])[name] - levels.rf
        tau = turnover[name].to_numpy(dtype=np.float64)
        whole = np.arange(len(levels.rf))[None, :]
        out["breakeven_approx_bps"] = finite_or_none(
            float(_approx_breakeven(r0, tau, whole, bench_sr.sample)[0])
        )
        boot = _approx_breakeven(r0, tau, bench_sr.idx, bench_sr.boot)
        out["breakeven_low"] = finite_or_none(float(np.percentile(boot, 2.5)))
        out["breakeven_high"] = finite_or_none(float(np.percentile(boot, 97.5)))
    return out


def _root(values: list[float], at) -> tuple[str, float | None]:
    """The first cost on SEARCH_BPS where the gap (strategy minus buy-and-hold; `values`, up
    to the first that is not above 0) falls to 0, refined with the exact engine (`at(bps)`,
    the gap there): (status, bps)."""
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
    if np.isfinite(values[hi]):
        return "crosses", float(brentq(at, lo_bps, hi_bps, xtol=1e-4, rtol=1e-10))
    for _ in range(20):  # ruined at hi_bps (no finite gap): bisect
        mid = (lo_bps + hi_bps) / 2
        lo_bps, hi_bps = (mid, hi_bps) if at(mid) > 0 else (lo_bps, mid)
    return "crosses", (lo_bps + hi_bps) / 2


class _BenchSharpes:
    """Buy-and-hold's Sharpe ratios of r0 - k * tau on the fine grid, on the sample and on each
    resample of `idx`: computed once, for all the strategies compared with it."""

    def __init__(self, r0: np.ndarray, tau: pd.Series, idx: np.ndarray) -> None:
        self.r0, self.tau, self.idx = r0, tau.to_numpy(dtype=np.float64), idx

    @functools.cached_property
    def sample(self) -> np.ndarray:
        return _fine_sharpes(self.r0, self.tau, np.arange(len(self.r0))[None, :])

    @functools.cached_property
    def boot(self) -> np.ndarray:
        return _fine_sharpes(self.r0, self.tau, self.idx)


def _fine_sharpes(r0: np.ndarray, tau: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(reps, fine grid) Sharpe ratios of r0 - k * tau per resample (rows of `idx`), from
    five moments (see the module's docstring)."""
    k = _FINE_BPS / 1e4
    n = idx.shape[1]
    a, t = r0[idx], tau[idx]  # (reps, days)
    ma, mt = a.mean(axis=1), t.mean(axis=1)
    caa = (a * a).mean(axis=1) - ma * ma
    ctt = (t * t).mean(axis=1) - mt * mt
    cat = (a * t).mean(axis=1) - ma * mt
    mean = ma[:, None] - k[None, :] * mt[:, None]
    var = caa[:, None] - 2 * k[None, :] * cat[:, None] + k[None, :] ** 2 * ctt[:, None]
    sd = np.sqrt(np.maximum(var, 0.0) * n / (n - 1))
    return sharpe_of(mean, sd)


def _approx_breakeven(
    r0: np.ndarray, tau: np.ndarray, idx: np.ndarray, bench: np.ndarray
) -> np.ndarray:
    """Per resample (rows of `idx`), the first cost in bps at which the strategy's Sharpe
    ratio of r0 - k * tau falls to buy-and-hold's: 0 when it is not above at k = 0, MAX_BPS
    when it is still above there. `r0`, `tau`: the strategy's (days,) excess returns at zero
    per-side cost and daily turnover; `bench`: buy-and-hold's `_fine_sharpes` on `idx`."""
    gap = _fine_sharpes(r0, tau, idx) - bench
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
