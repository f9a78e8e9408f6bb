"""The typed findings of the overfitting and family-wise tests and of the factor analysis:
frozen dataclasses that the study computes (lstmbt.study.overfitting, familywise, trackrecord,
factor), the Metrics store in metrics.json and the report draws. They live below all three
layers so that each names the same type (no look-alike Protocols in the report).

Each has a one-line `summary` and a `to_dict()`; those stored in metrics.json also have
`from_dict()`, which reads what `to_dict()` wrote.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lstmbt.strategies.costs import TRADING_DAYS

STEPM_SIZE = 0.05
EQUAL_WEIGHT = "equal_weight"  # a universe's benchmark portfolio (study.portfolio, the report)
MCS_SIZE = 0.10
LEVEL = 0.95  # the track record's confidence level
GRID_BINS = 40  # the degradation figure's 2-D histogram: bins per axis
# the central 95% of one family's PBO on pure noise, by its number of configurations: the
# widest over 750-2,500 days and independent, correlated (0.8) and fat-tailed configurations,
# rounded outwards (benchmarks/pbo_noise.py, 400 families per shape; benchmarks/README.md). A
# PBO inside it, alone, tells neither skill nor overfitting; each side fires on noise at most
# as often as the benchmark's "outside" rates say.
NOISE_PBO = {2: (0.00, 0.97), 6: (0.07, 0.95), 20: (0.11, 0.90), 40: (0.16, 0.83)}


def noise_pbo(configurations: int) -> tuple[int, float, float]:
    """(measured size, low, high): NOISE_PBO's range for a family of this many configurations,
    that of the largest measured size not above it (fewer configurations scatter more, so the
    range is the wider, safer one)."""
    size = max((k for k in NOISE_PBO if k <= configurations), default=min(NOISE_PBO))
    return (size, *NOISE_PBO[size])


# StepM's family-wise error measured on pure noise (docs/statistics.md, StepM): nominal 5% from
# about 2,500 days; on shorter spans a name is a candidate
STEPM_MEASURED = "12.7% on 500 days, 8.7% on 1,500 and 5.0% on 2,500"
STEPM_NOMINAL_DAYS = 2500


def _float(x: Any) -> float:
    """A JSON number back as a float (None -> NaN)."""
    return math.nan if x is None else float(x)


def _json_float(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# --- the probability of backtest overfitting -------------------------------------------------


@dataclass(frozen=True)
class Overfitting:
    """CSCV's answer for one family of configurations (lstmbt.study.overfitting).

    Attributes
    ----------
    pbo
        share of splits in which the in-sample best ranks at or below the median out of sample
    prob_loss
        share of splits in which the in-sample best loses money out of sample (Sharpe < 0)
    slope, intercept
        least-squares line out_of_sample = intercept + slope * in_sample (a slope below zero:
        the better it looked, the worse it did; NaN when every pick scored the same)
    logit_median
        the median logit over the splits
    configurations
        the configurations' names, in column order
    most_chosen
        the configuration most often best in sample
    blocks, days, dropped_days, combinations
        S; the days used (a multiple of S); the days left out (the oldest T mod S, and any day
        on which a configuration has no return); the number of splits, C(S, S/2)
    logit_values, logit_counts
        the logit histogram, exactly: each distinct logit and how many splits have it
    grid_x, grid_y, grid_cells
        the degradation scatter as a 2-D histogram: bin edges in sample and out of sample, and
        (i, j, splits) for every non-empty bin (metrics.json keeps these, not 12,870 points)
    logits, in_sample, out_of_sample, chosen
        per split, when computed in this process (empty when read from metrics.json): the
        logit of the in-sample best's out-of-sample relative rank, its Sharpe ratio in and out
        of sample, and its column position
    """

    pbo: float
    prob_loss: float
    slope: float
    intercept: float
    logit_median: float
    configurations: tuple[str, ...]
    most_chosen: str
    blocks: int
    days: int
    dropped_days: int
    combinations: int
    logit_values: tuple[float, ...] = field(default=(), repr=False)
    logit_counts: tuple[int, ...] = field(default=(), repr=False)
    grid_x: tuple[float, ...] = field(default=(), repr=False)
    grid_y: tuple[float, ...] = field(default=(), repr=False)
    grid_cells: tuple[tuple[int, int, int], ...] = field(default=(), repr=False)
    logits: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    in_sample: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    out_of_sample: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    chosen: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int), repr=False)

    @classmethod
    def of_splits(
        cls,
        logits: np.ndarray,
        in_sample: np.ndarray,
        out_of_sample: np.ndarray,
        chosen: np.ndarray,
        configurations: tuple[str, ...],
        blocks: int,
        days: int,
        dropped_days: int,
    ) -> Overfitting:
        """The finding from CSCV's per-split results."""
        if np.ptp(in_sample) > 0:
            slope, intercept = np.polyfit(in_sample, out_of_sample, 1)
        else:
            slope, intercept = math.nan, float(np.mean(out_of_sample))
        counts = np.bincount(chosen, minlength=len(configurations))
        values, per_value = np.unique(logits, return_counts=True)
        grid_x, grid_y, cells = degradation_grid(in_sample, out_of_sample)
        return cls(
            pbo=float(np.mean(logits <= 0)),
            prob_loss=float(np.mean(out_of_sample < 0)),
            slope=float(slope),
            intercept=float(intercept),
            logit_median=float(np.median(logits)),
            configurations=tuple(configurations),
            most_chosen=configurations[int(np.argmax(counts))],
            blocks=int(blocks),
            days=int(days),
            dropped_days=int(dropped_days),
            combinations=len(logits),
            logit_values=tuple(float(v) for v in values),
            logit_counts=tuple(int(c) for c in per_value),
            grid_x=grid_x,
            grid_y=grid_y,
            grid_cells=cells,
            logits=logits,
            in_sample=in_sample,
            out_of_sample=out_of_sample,
            chosen=chosen,
        )

    @property
    def summary(self) -> str:
        """One line in plain words."""
        days = "day" if self.dropped_days == 1 else "days"
        dropped = f"; {self.dropped_days} {days} left out" if self.dropped_days else ""
        return (
            f"Probability of backtest overfitting, estimated by CSCV: {self.pbo:.2f}. In "
            f"{self.pbo:.0%} of {self.combinations:,} splits of {self.days} days into halves, "
            f"the configuration with the best in-sample Sharpe ratio (of "
            f"{len(self.configurations)}) ranked at or below the median out of sample; its "
            f"Sharpe ratio out of sample was negative in {self.prob_loss:.0%} ({self.blocks} "
            f"blocks{dropped})."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready for metrics.json: the numbers and the figures' data, no per-split arrays."""
        return {
            "pbo": float(self.pbo),
            "prob_loss": float(self.prob_loss),
            "logit_median": float(self.logit_median),
            "degradation_slope": _json_float(self.slope),
            "degradation_intercept": _json_float(self.intercept),
            "configurations": len(self.configurations),
            "names": list(self.configurations),
            "combinations": self.combinations,
            "blocks": self.blocks,
            "days": self.days,
            "dropped_days": self.dropped_days,
            "most_chosen": self.most_chosen,
            "logit_histogram": {
                "logit": list(self.logit_values),
                "splits": list(self.logit_counts),
            },
            "degradation_grid": {
                "in_sample_edges": list(self.grid_x),
                "out_of_sample_edges": list(self.grid_y),
                "cells": [list(c) for c in self.grid_cells],
            },
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Overfitting:
        """What `to_dict` wrote (without the per-split arrays)."""
        hist = doc.get("logit_histogram") or {}
        grid = doc.get("degradation_grid") or {}
        return cls(
            pbo=float(doc["pbo"]),
            prob_loss=float(doc["prob_loss"]),
            slope=_float(doc.get("degradation_slope")),
            intercept=_float(doc.get("degradation_intercept")),
            logit_median=_float(doc.get("logit_median")),
            configurations=tuple(str(n) for n in doc.get("names", ())),
            most_chosen=str(doc.get("most_chosen", "")),
            blocks=int(doc["blocks"]),
            days=int(doc["days"]),
            dropped_days=int(doc.get("dropped_days", 0)),
            combinations=int(doc["combinations"]),
            logit_values=tuple(float(v) for v in hist.get("logit", ())),
            logit_counts=tuple(int(c) for c in hist.get("splits", ())),
            grid_x=tuple(float(v) for v in grid.get("in_sample_edges", ())),
            grid_y=tuple(float(v) for v in grid.get("out_of_sample_edges", ())),
            grid_cells=tuple(tuple(int(v) for v in c) for c in grid.get("cells", ())),
        )

    def grid(self) -> np.ndarray:
        """The degradation histogram as a dense (in-sample bins x out-of-sample bins) array."""
        out = np.zeros((max(len(self.grid_x) - 1, 0), max(len(self.grid_y) - 1, 0)), dtype=int)
        for i, j, n in self.grid_cells:
            out[i, j] = n
        return out


def degradation_grid(
    in_sample: np.ndarray, out_of_sample: np.ndarray, bins: int = GRID_BINS
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[tuple[int, int, int], ...]]:
    """The performance-degradation scatter as a 2-D histogram: bin edges on each axis and
    (i, j, count) of every non-empty bin."""
    counts, xe, ye = np.histogram2d(in_sample, out_of_sample, bins=bins)
    rows, cols = np.nonzero(counts)
    cells = tuple((int(i), int(j), int(counts[i, j])) for i, j in zip(rows, cols, strict=True))
    return tuple(float(x) for x in xe), tuple(float(y) for y in ye), cells


# --- family-wise tests ----------------------------------------------------------------------


@dataclass(frozen=True)
class StepM:
    """Romano-Wolf StepM of every strategy's daily return against the benchmark's.

    Attributes
    ----------
    benchmark
        the benchmark's name
    superior
        the strategies whose mean daily return beats the benchmark's, family-wise at `size`
    tested
        the strategies tested (in the frame's order)
    left_out
        strategy -> why it was not tested (equal to the benchmark, or different on too few
        days for a test)
    """

    benchmark: str
    superior: tuple[str, ...]
    tested: tuple[str, ...]
    left_out: dict[str, str] = field(default_factory=dict)
    size: float = STEPM_SIZE
    reps: int = 1000
    block: int = 20
    seed: int = 0

    @property
    def summary(self) -> str:
        """One line in plain words."""
        if not self.tested:
            return f"StepM: no strategy differs from {self.benchmark} enough to test."
        named = ", ".join(self.superior) if self.superior else "none"
        return (
            f"Beat {self.benchmark} in mean daily return, family-wise (Romano-Wolf StepM, "
            f"{self.size:.0%} family-wise error over {len(self.tested)} strategies): {named}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready for metrics.json."""
        return {
            "benchmark": self.benchmark,
            "superior": list(self.superior),
            "tested": list(self.tested),
            "left_out": dict(self.left_out),
            "size": self.size,
            "reps": self.reps,
            "block": self.block,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StepM:
        return cls(
            str(doc["benchmark"]),
            tuple(str(n) for n in doc.get("superior", ())),
            tuple(str(n) for n in doc.get("tested", ())),
            {str(k): str(v) for k, v in (doc.get("left_out") or {}).items()},
            float(doc.get("size", STEPM_SIZE)),
            int(doc.get("reps", 1000)),
            int(doc.get("block", 20)),
            int(doc.get("seed", 0)),
        )


@dataclass(frozen=True)
class ConfidenceSet:
    """Hansen's model confidence set over the forecasters' daily losses.

    Attributes
    ----------
    included
        the forecasters in the set (not significantly worse than the best), best first
    excluded
        the forecasters eliminated, in the order they left
    pvalues
        forecaster -> its MCS p-value (it is in the set when p > size)
    merged
        forecaster -> the forecaster whose losses it repeats on every day (tested once)
    """

    included: tuple[str, ...]
    excluded: tuple[str, ...]
    pvalues: dict[str, float]
    merged: dict[str, str] = field(default_factory=dict)
    size: float = MCS_SIZE
    loss: str = "squared"
    reps: int = 1000
    block: int = 20
    seed: int = 0

    @property
    def summary(self) -> str:
        """One line in plain words."""
        out = ", ".join(self.excluded) if self.excluded else "none"
        return (
            f"Model confidence set ({1 - self.size:.0%}, {self.loss} forecast error): "
            f"{', '.join(self.included)}; significantly worse: {out}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready for metrics.json."""
        return {
            "included": list(self.included),
            "excluded": list(self.excluded),
            "pvalues": {k: float(v) for k, v in self.pvalues.items()},
            "merged": dict(self.merged),
            "size": self.size,
            "loss": self.loss,
            "reps": self.reps,
            "block": self.block,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ConfidenceSet:
        return cls(
            tuple(str(n) for n in doc.get("included", ())),
            tuple(str(n) for n in doc.get("excluded", ())),
            {str(k): float(v) for k, v in (doc.get("pvalues") or {}).items()},
            {str(k): str(v) for k, v in (doc.get("merged") or {}).items()},
            float(doc.get("size", MCS_SIZE)),
            str(doc.get("loss", "squared")),
            int(doc.get("reps", 1000)),
            int(doc.get("block", 20)),
            int(doc.get("seed", 0)),
        )


# --- track-record length --------------------------------------------------------------------


@dataclass(frozen=True)
class TrackRecord:
    """PSR and MinTRL of one strategy against a benchmark Sharpe ratio (annualised figures).

    Attributes
    ----------
    sharpe, benchmark_sharpe
        annualised Sharpe ratios (by TRADING_DAYS) of the strategy and the benchmark
    days
        the strategy's track record (daily returns)
    psr
        the probabilistic Sharpe ratio given the record's skewness and kurtosis: 1 - psr is
        the one-sided p-value against the benchmark's Sharpe ratio taken as known (not a
        probability that the true Sharpe ratio is higher)
    min_days
        the minimum track record length in days for PSR to reach `level` (None when the
        Sharpe ratio does not exceed the benchmark's: no length would do)
    skew, kurtosis
        of the daily returns (kurtosis not excess: 3 for a normal)
    """

    sharpe: float
    benchmark_sharpe: float
    days: int
    psr: float | None
    min_days: float | None
    skew: float
    kurtosis: float
    level: float = LEVEL

    @property
    def more_days(self) -> float | None:
        """Days beyond the record still needed (0 when already enough; None: never)."""
        if self.min_days is None:
            return None
        return max(0.0, self.min_days - self.days)

    @property
    def more_years(self) -> float | None:
        """`more_days` in years of 252 trading days."""
        more = self.more_days
        return None if more is None else more / TRADING_DAYS

    @property
    def summary(self) -> str:
        """One line in plain words."""
        level = f"{self.level:.0%}"
        if self.min_days is None:
            return (
                f"Sharpe ratio {self.sharpe:.2f} does not exceed {self.benchmark_sharpe:.2f}: "
                f"no track record length would make it better at {level}."
            )
        psr = f"PSR {self.psr:.2f}" if self.psr is not None else "PSR -"
        if self.more_days == 0:
            return (
                f"Sharpe ratio {self.sharpe:.2f} vs {self.benchmark_sharpe:.2f}: the "
                f"{self.days}-day record already reaches {level} ({psr}; minimum track "
                f"record {math.ceil(self.min_days)} days)."
            )
        return (
            f"At this Sharpe difference ({self.sharpe:.2f} vs {self.benchmark_sharpe:.2f}), "
            f"about {self.more_years:.1f} more years of daily data would be needed to reach "
            f"{level} ({psr} on {self.days} days; minimum track record "
            f"{math.ceil(self.min_days)} days)."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready for metrics.json (`more_years` is derived, for readers of the file)."""
        return {
            "sharpe": self.sharpe,
            "benchmark_sharpe": self.benchmark_sharpe,
            "days": self.days,
            "psr": self.psr,
            "min_days": self.min_days,
            "more_years": self.more_years,
            "skew": self.skew,
            "kurtosis": self.kurtosis,
            "level": self.level,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TrackRecord:
        def opt(key: str) -> float | None:
            return None if doc.get(key) is None else float(doc[key])

        return cls(
            float(doc["sharpe"]),
            float(doc["benchmark_sharpe"]),
            int(doc["days"]),
            opt("psr"),
            opt("min_days"),
            _float(doc.get("skew")),
            _float(doc.get("kurtosis")),
            float(doc.get("level", LEVEL)),
        )


# --- a forecast read as a cross-sectional factor --------------------------------------------


@dataclass(frozen=True)
class Factor:
    """The cross-sectional analysis of one forecast over a universe (lstmbt.study.factor).

    Attributes
    ----------
    quantile_mean, quantile_se
        index quantile (1 = lowest forecast), columns horizon: the mean forward return per
        day of the tickers in that quantile, and its standard error
    spread
        index horizon: mean, se and t of the top-minus-bottom quantile's return per day
    spread_daily
        the top-minus-bottom 1-day forward return on each day (for the cumulative figure)
    ic
        daily rank IC, one column per horizon
    ic_summary
        index horizon: mean, se, t and days of the daily rank IC
    ic_by_month
        the mean 1-day rank IC of each calendar month (index: the month's first day)
    turnover
        per day, the share of the top k that was not in yesterday's top k
    """

    name: str
    quantiles: int
    top_k: int
    quantile_mean: pd.DataFrame
    quantile_se: pd.DataFrame
    spread: pd.DataFrame
    spread_daily: pd.Series = field(repr=False)
    ic: pd.DataFrame = field(repr=False)
    ic_summary: pd.DataFrame = field(repr=False)
    ic_by_month: pd.Series = field(repr=False)
    turnover: pd.Series = field(repr=False)

    @property
    def summary(self) -> str:
        """One line in plain words."""
        ic = self.ic_summary.loc[1]
        sp = self.spread.loc[1]
        return (
            f"{self.name}: mean daily rank IC {_fmt(ic['mean'], '+.3f')} "
            f"(t = {_fmt(ic['t'], '.1f')}, {int(ic['days'])} days); top-minus-bottom "
            f"{self.quantiles}-quantile spread {_fmt(sp['mean'] * 1e4, '+.1f')} bps a day "
            f"(t = {_fmt(sp['t'], '.1f')}); the top {self.top_k} changes "
            f"{_fmt(self.turnover.mean(), '.0%')} of its names a day."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (universe.json)."""
        return {
            "name": self.name,
            "quantiles": self.quantiles,
            "top_k": self.top_k,
            "quantile_mean": {
                str(h): [_json_float(v) for v in self.quantile_mean[h]] for h in self.quantile_mean
            },
            "quantile_se": {
                str(h): [_json_float(v) for v in self.quantile_se[h]] for h in self.quantile_se
            },
            "spread": {
                str(h): {k: _json_float(v) for k, v in row.items()}
                for h, row in self.spread.iterrows()
            },
            "ic": {
                str(h): {k: _json_float(v) for k, v in row.items()}
                for h, row in self.ic_summary.iterrows()
            },
            "turnover": _json_float(self.turnover.mean()),
        }


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if x is not None and math.isfinite(x) else "-"
