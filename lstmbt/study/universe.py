"""A universe's cross-ticker evaluation, a pure function of its tickers' study results: the
per-ticker table with raw and adjusted p-values, the pooled Sharpe difference per forecaster,
the universe-wide deflated Sharpe, and the plain-words universe verdict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstmbt.metrics import (
    SIZED,
    Metrics,
    ModelVerdict,
    Verdict,
    finite,
    fmt_p,
    p_equals,
    sized_name,
)
from lstmbt.results import StudyResult
from lstmbt.study.crosssection import adjust, holm, pooled_sharpe_difference
from lstmbt.study.significance import TRADING_DAYS, deflated_sharpe
from lstmbt.study.verdict import answer_of, forecast_warnings, is_warning

ALPHA = 0.05


@dataclass(frozen=True)
class CrossSection:
    """table: one row per (ticker, forecaster); pooled: one row per forecaster; trials: the
    universe-wide count of (ticker, configuration) trials; verdict: per forecaster a one-word
    answer, its headline and details, and the run-wide lines."""

    table: pd.DataFrame
    pooled: pd.DataFrame
    trials: int
    verdict: Verdict


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
                    "dm_p_better": m.value("forecast_tests", name, "dm_p_better"),
                    "loss_ratio": m.value("forecast_tests", name, "loss_ratio"),
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
        "dm_p_better",
        "loss_ratio",
        "dsr_ticker",
        "dsr_universe",
    ]
    numeric = ("diff_p", "dm_p", "dm_p_better", "loss_ratio")
    table = pd.DataFrame(rows, columns=columns).astype({c: float for c in numeric})
    # one family each, over every row: the Sharpe differences (two-sided) and the DM tests
    # one-sided, for "more accurate than the random walk" (a two-sided DM family would count
    # a forecast far worse than the random walk as a discovery)
    for column in ("diff_p", "dm_p_better"):
        table = adjust(table, column)
    table = table.set_index(["ticker", "forecaster"])
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
    metrics = {label: r.metrics for label, r in studies.items()}
    checks = {name: ticker_checks(metrics, name) for name in pooled_frame.index}
    return CrossSection(
        table, pooled_frame, n_trials, _verdict(table, pooled_frame, n_trials, checks, metrics)
    )


def ticker_checks(metrics: dict[str, Metrics], name: str) -> tuple[bool, bool]:
    """(traded, warned) of a forecaster (or its sized rule) across a universe's tickers, by
    the rule a ticker's answer follows: it traded if it held a position on some ticker, and
    it is warned if a leak check raised a warning (not an echo note) about its forecast on
    any ticker."""
    traded = any(
        bool(m.value("strategy", name, "trades"))
        for m in metrics.values()
        if name in m.strategy.index
    )
    return traded, bool(warned_tickers(metrics, name))


def warned_tickers(metrics: dict[str, Metrics], name: str) -> list[str]:
    """The tickers on which a leak check raised a warning about `name`'s forecast (a sized
    rule trades its forecaster's forecast, so shares its warnings)."""
    forecast = name[: -len(SIZED)] if name.endswith(SIZED) else name
    return [
        label
        for label, m in metrics.items()
        if any(is_warning(w) for w in forecast_warnings(m, forecast))
    ]


def _verdict(
    table: pd.DataFrame,
    pooled: pd.DataFrame,
    trials: int,
    checks: dict[str, tuple[bool, bool]] | None = None,
    metrics: dict[str, Metrics] | None = None,
) -> Verdict:
    """Per forecaster (and sized rule) across tickers: the one-word answer from the pooled
    Sharpe difference (Holm-adjusted over the rows of `pooled`; docs/statistics.md, "The
    verdict's answer"), then the per-ticker counts at 5% raw, after BH and after Holm, beside
    what luck alone would give, the DM counts, the deflated Sharpe over the run's trials, and
    how often it stays in each ticker's model confidence set. `checks`: per row of `pooled`,
    (traded, warned) by `ticker_checks` (none: traded, no warning)."""
    checks, metrics = checks or {}, metrics or {}
    # the families as the adjustments count them: only the p-values that exist (a sized rule
    # has no DM test; a ticker never traded or differing on too few days has no difference)
    n_diff = int(table["diff_p"].notna().sum()) if "diff_p" in table else 0
    n_dm = int(table["dm_p_better"].notna().sum()) if "dm_p_better" in table else 0
    p_pooled = pooled["p_value"].to_numpy(dtype=float) if len(pooled) else np.array([])
    k = int(np.isfinite(p_pooled).sum())
    adjusted = dict(zip(pooled.index, holm(p_pooled), strict=True)) if len(pooled) else {}
    models = []
    for name in pooled.index:
        rows = table.xs(name, level="forecaster")
        row = pooled.loc[name]
        diff, p = finite(row["diff"]), finite(row["p_value"])
        p_adj = finite(adjusted.get(name))
        traded, warned = checks.get(name, (True, False))
        answer = answer_of(diff, p, p_adj, traded=traded, warned=warned)
        models.append(
            ModelVerdict(
                name,
                answer,
                _headline(name, answer, diff, p, p_adj, len(rows), k, traded, warned),
                tuple(
                    d
                    for d in (
                        _pooled_line(row),
                        _ticker_counts(rows, n_diff),
                        _dm_counts(rows, n_dm),
                        _dsr_counts(rows, trials),
                        _confidence_set_counts(metrics, name),
                        _warned_line(metrics, name) if warned else "",
                    )
                    if d
                ),
            )
        )
    run = (
        f"The universe-wide deflated Sharpe ratios (the second figure of the per-ticker "
        f"column) count all {trials} (ticker, configuration) trials of this run; each "
        "ticker's own (the first figure) counts that ticker's trials only; like every "
        "deflated Sharpe ratio they are measured against cash, not against buy-and-hold.",
    )
    return Verdict(tuple(models), run)


def _headline(name, answer, diff, p, p_adj, tickers: int, k: int, traded=True, warned=False) -> str:
    where = f"across {tickers} tickers" if tickers != 1 else "on its 1 ticker"
    if not traded:
        return f"{name} never held a position on any ticker, so it made nothing to compare"
    if diff is None:
        return f"{name}: the pooled Sharpe difference to buy-and-hold could not be computed"
    numbers = f"mean Sharpe difference {diff:+.2f}"
    if p is not None:
        numbers += f", {p_equals(p)}"
        if k > 1 and p_adj is not None:
            numbers += f" (Holm-adjusted over {k}: {fmt_p(p_adj)})"
    if answer == "Yes":
        return f"{name} beats buy-and-hold after costs {where}: {numbers}"
    if answer == "No":
        return f"{name} does not beat buy-and-hold after costs {where}: {numbers}"
    if warned and p_adj is not None and p_adj < ALPHA:
        return (
            f"{name} is ahead of buy-and-hold after costs {where}, but a leak check of its "
            f"forecast raised a warning on some ticker (below): {numbers}"
        )
    if p is None:
        return f"{name}'s pooled Sharpe difference {where} could not be tested: {numbers}"
    return f"{name} is ahead of buy-and-hold after costs {where}, but not significantly: {numbers}"


def _pooled_line(row: pd.Series) -> str:
    diff = finite(row["diff"])
    low, high = finite(row["ci_low"]), finite(row["ci_high"])
    if diff is None or low is None or high is None:
        return ""
    return (
        f"Pooled Sharpe difference {diff:+.2f} (95% bootstrap interval {low:+.2f} to "
        f"{high:+.2f}; the same days resampled for every ticker, so their correlation is kept)"
    )


def _ticker_counts(rows: pd.DataFrame, n_tests: int) -> str:
    """Tickers where it beats buy-and-hold: a difference above zero with two-sided p < 5% is a
    one-sided event, which luck alone gives with probability 2.5% per ticker."""
    ahead = rows["diff"] > 0
    raw = int((ahead & (rows["diff_p"] < ALPHA)).sum())
    bh = int((ahead & (rows["diff_p_bh"] < ALPHA)).sum())
    fwer = int((ahead & (rows["diff_p_holm"] < ALPHA)).sum())
    return (
        f"Beats buy-and-hold at 5% on {raw} of {len(rows)} tickers (about "
        f"{_about(ALPHA / 2 * len(rows))} would by luck alone: a higher Sharpe ratio with "
        f"two-sided p < 0.05 has a 2.5% chance per ticker); {bh} after Benjamini-Hochberg and "
        f"{fwer} after Holm, each over all {n_tests} ticker x strategy tests with a p-value"
    )


def _about(x: float) -> str:
    """A small expected count to two decimals, without trailing zeros (0.15, 2.5, 25)."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _dm_counts(rows: pd.DataFrame, n_tests: int) -> str:
    """Tickers where its forecast is more accurate than the random walk (squared loss):
    the one-sided p-value (H1: a lower loss), raw and adjusted as one family over every
    row of the universe."""
    if "dm_p_better" not in rows or rows["dm_p_better"].isna().all():
        return ""
    counts = [int((rows[c] < ALPHA).sum()) for c in ("dm_p_better", "dm_p_better_bh")]
    counts.append(int((rows["dm_p_better_holm"] < ALPHA).sum()))
    return (
        f"Forecasts more accurately than the random walk (Diebold-Mariano, squared loss, "
        f"one-sided p < 0.05) on {counts[0]} of {len(rows)} tickers; {counts[1]} after "
        f"Benjamini-Hochberg and {counts[2]} after Holm over all {n_tests} one-sided tests "
        "(every ticker x forecast with a DM p-value)"
    )


def _dsr_counts(rows: pd.DataFrame, trials: int) -> str:
    dsr = rows["dsr_universe"].astype(float)
    if dsr.isna().all():
        return ""
    high = int((dsr >= 1 - ALPHA).sum())
    return (
        f"Deflated Sharpe ratio over all {trials} trials of the universe, against cash: 0.95 or "
        f"more (one-sided p <= 0.05) on {high} of {len(rows)} tickers"
    )


def _confidence_set_counts(metrics: dict[str, Metrics], name: str) -> str:
    """On how many tickers its forecast stays in the model confidence set (90%, squared
    error, against that ticker's forecasters and baselines)."""
    sets = [
        m.confidence_set
        for m in metrics.values()
        if m.confidence_set is not None and name in m.confidence_set.pvalues
    ]
    if not sets:
        return ""
    kept = sum(name in c.included for c in sets)
    size = sets[0].size
    return (
        f"In the {1 - size:.0%} model confidence set of its ticker's forecasts (squared "
        f"error, against that ticker's forecasters and baselines) on {kept} of {len(sets)} "
        f"tickers; on the others it is significantly less accurate than the best"
    )


def _warned_line(metrics: dict[str, Metrics], name: str) -> str:
    """Which tickers' leak checks raised a warning about its forecast."""
    return (
        f"A leak check raised a warning about its forecast on "
        f"{', '.join(warned_tickers(metrics, name))} (see that ticker's report): no Yes while "
        "it stands"
    )
