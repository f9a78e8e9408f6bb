"""A universe's cross-ticker evaluation, a pure function of its tickers' study results: the
per-ticker table with raw and adjusted p-values, the pooled Sharpe difference per forecaster,
the universe-wide deflated Sharpe, and the plain-words universe verdict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmbt.metrics import fmt2, sized_name
from lstmbt.results import StudyResult
from lstmbt.study.crosssection import adjust, pooled_sharpe_difference
from lstmbt.study.significance import TRADING_DAYS, deflated_sharpe

ALPHA = 0.05


@dataclass(frozen=True)
class CrossSection:
    """table: one row per (ticker, forecaster); pooled: one row per forecaster; trials: the
    universe-wide count of (ticker, configuration) trials; verdict: plain words."""

    table: pd.DataFrame
    pooled: pd.DataFrame
    trials: int
    verdict: tuple[str, ...]


def cross_section(
    studies: dict[str, StudyResult],
    *,
    cash: dict[str, pd.Series] | None = None,
    reps: int = 1000,
    block: float = 20.0,
    seed: int = 0,
) -> CrossSection:
    """Every ticker's forecasters (and their sized rules, with --sizing vol-target) against its
    buy-and-hold, tested as one family. `cash`: per ticker, the daily interest on cash on its
    return days; the universe-wide deflated Sharpe and the pooled difference are measured on
    returns over it, as every per-ticker Sharpe ratio is (none: zero)."""
    cash = cash or {}

    def excess(label: str, name: str) -> pd.Series:
        r = studies[label].returns[name]
        return r - cash[label].reindex(r.index) if label in cash else r

    trial_sharpes = np.array(
        [s for r in studies.values() for s in r.metrics.trials.this_run], dtype=float
    )
    per_period = trial_sharpes / np.sqrt(TRADING_DAYS)
    rows = []
    for label, r in studies.items():
        m = r.metrics
        forecasters = m.names(role="forecaster")
        sized = [sized_name(n) for n in forecasters if sized_name(n) in m.strategy.index]
        for name in [*forecasters, *sized]:  # a sized rule has no forecast test of its own
            st = {c: m.value("strategy_tests", name, c) for c in m.strategy_tests.columns}
            dsr = deflated_sharpe(excess(label, name).to_numpy(), per_period)
            rows.append(
                {
                    "ticker": label,
                    "forecaster": name,
                    "test_start": m.span.test_start,
                    "test_end": m.span.test_end,
                    "days": m.span.test_days,
                    "bh_sharpe": m.value("strategy", m.benchmark, "sharpe"),
                    "sharpe": m.value("strategy", name, "sharpe"),
                    "diff": st["diff"],
                    "diff_ci_low": st["diff_ci_low"],
                    "diff_ci_high": st["diff_ci_high"],
                    "diff_p": st["diff_p_value"],
                    "dm_stat": m.value("forecast_tests", name, "dm_stat"),
                    "dm_p": m.value("forecast_tests", name, "dm_p"),
                    "dsr_ticker": st["dsr"],
                    "dsr_universe": dsr["dsr"],
                }
            )
    columns = [
        "ticker",
        "forecaster",
        "test_start",
        "test_end",
        "days",
        "bh_sharpe",
        "sharpe",
        "diff",
        "diff_ci_low",
        "diff_ci_high",
        "diff_p",
        "dm_stat",
        "dm_p",
        "dsr_ticker",
        "dsr_universe",
    ]
    table = pd.DataFrame(rows, columns=columns).astype({"diff_p": float, "dm_p": float})
    table = adjust(adjust(table, "diff_p"), "dm_p").set_index(["ticker", "forecaster"])
    pooled = {}
    for name in table.index.get_level_values("forecaster").unique():
        labels = [t for t, f in table.index if f == name]
        pooled[name] = pooled_sharpe_difference(
            {t: excess(t, name) for t in labels},
            {t: excess(t, studies[t].metrics.benchmark) for t in labels},
            reps=reps,
            block=block,
            seed=seed,
        )
    pooled_frame = pd.DataFrame.from_dict(pooled, orient="index")
    n_trials = len(trial_sharpes)
    return CrossSection(table, pooled_frame, n_trials, _verdict(table, pooled_frame, n_trials))


def _verdict(table: pd.DataFrame, pooled: pd.DataFrame, trials: int) -> tuple[str, ...]:
    lines = []
    n_tests = len(table)
    for name in pooled.index:
        rows = table.xs(name, level="forecaster")
        better = (rows["diff"] > 0) & (rows["diff_p"] < ALPHA)
        after_fdr = (rows["diff"] > 0) & (rows["diff_p_bh"] < ALPHA)
        p = pooled.loc[name]
        interval = (
            f" [{fmt2(p['ci_low'])}, {fmt2(p['ci_high'])}] (bootstrap p = {fmt2(p['p_value'])}, "
            "same days resampled for every ticker)"
            if p["p_value"] is not None and p["p_value"] == p["p_value"]
            else ""
        )
        lines.append(
            f"{name} beats buy-and-hold after costs on {int(better.sum())} of {len(rows)} "
            f"tickers at 5%, {int(after_fdr.sum())} after false-discovery-rate control "
            f"(Benjamini-Hochberg over all {n_tests} ticker x forecaster tests); about "
            f"{ALPHA * len(rows):.1f} would at 5% by chance alone; pooled Sharpe difference "
            f"{fmt2(p['diff'])}{interval}."
        )
    lines.append(
        f"The deflated Sharpe ratios on the universe page count all {trials} configurations "
        "tried across the tickers."
    )
    return tuple(lines)
