"""The verdict, a pure function of the study's Metrics: per forecaster a one-word answer
(Yes / No / Inconclusive), a headline that backs it and the facts behind it, one per line; and
the facts about the whole run, said once (Hansen's SPA test over every strategy, the design).

The answer follows from the numbers by the rule in docs/statistics.md ("The verdict's answer"):
Yes only for a Sharpe ratio above buy-and-hold's after costs whose difference is significant at
5% after Holm's correction over the run's forecast strategies, with no leak warning; No when it
is not above buy-and-hold's (or never trades); Inconclusive otherwise.

Every sentence claims no more than its test: a p-value is the probability of a result at least
this extreme if there were no difference, never the probability that the strategy is better;
"edge" and "break-even" are said only of a difference the data support; the deflated Sharpe
ratio is measured against cash, and says so.
"""

from __future__ import annotations

import numpy as np

from lstmbt.metrics import (
    BREAKEVEN_MAX_BPS,
    Metrics,
    ModelVerdict,
    Verdict,
    breakeven_interval,
    fmt2,
    fmt_p,
    p_equals,
    sized_name,
)
from lstmbt.study.crosssection import holm
from lstmbt.study.leaks import leak_sentences

ALPHA = 0.05
MIN_DIFF_DAYS = 20  # below it the Sharpe difference is not tested (study/significance.py)


def verdict(metrics: Metrics) -> Verdict:
    """One ModelVerdict per forecaster (the trained models of a study, the columns of a judged
    file) and the run-wide lines."""
    names = metrics.names(role="forecaster")
    family = _family(metrics, names)
    models = tuple(_one(metrics, name, family) for name in names)
    return Verdict(models, _run_lines(metrics))


def answer_of(
    diff: float | None,
    p: float | None,
    p_adjusted: float | None,
    traded: bool,
    warned: bool,
) -> str:
    """The one-word answer (docs/statistics.md, "The verdict's answer")."""
    if not traded:
        return "No"
    if diff is not None and diff <= 0:
        return "No"
    if diff is None or p is None or p_adjusted is None:
        return "Inconclusive"
    if p_adjusted < ALPHA and not warned:
        return "Yes"
    return "Inconclusive"


def _family(m: Metrics, names: list[str]) -> dict[str, float]:
    """Holm-adjusted p-values of the Sharpe differences over the strategies the run built from
    its forecasts (each forecaster's sign rule and, with --sizing vol-target, its sized rule):
    a run that tries k forecasts gets k chances at a 5% fluke."""
    rows = [*names, *(sized_name(n) for n in names if sized_name(n) in m.strategy.index)]
    p = np.array([_num(m.value("strategy_tests", n, "diff_p_value")) for n in rows], dtype=float)
    adjusted = holm(p) if len(p) else p
    return {n: float(a) for n, a in zip(rows, adjusted, strict=True) if a == a}


def _one(m: Metrics, name: str, family: dict[str, float]) -> ModelVerdict:
    bench = m.benchmark
    st = {c: m.value("strategy_tests", name, c) for c in m.strategy_tests.columns}
    sharpe = _num(m.value("strategy", name, "sharpe"))
    bench_sharpe = _num(m.value("strategy", bench, "sharpe"))
    traded = bool(m.value("strategy", name, "trades"))
    diff = _num(st.get("diff"))
    if diff is None and sharpe is not None and bench_sharpe is not None:
        diff = sharpe - bench_sharpe
    p = _num(st.get("diff_p_value"))
    p_adj = family.get(name)
    warnings = _warnings(m, name)
    # a note (the echo check) says what the forecast is, not that it cannot be trusted
    answer = answer_of(diff, p, p_adj, traded, any(not w.startswith("note:") for w in warnings))
    headline = _headline(m, name, answer, sharpe, bench_sharpe, diff, p, p_adj, len(family))
    if not traded:
        return ModelVerdict(name, answer, headline, warnings)
    details = [
        _returns_line(m, name),
        _difference_line(st, diff, p, p_adj, len(family)),
        _breakeven_line(m, name, st),
        _sized_line(m, name, family),
        _dsr_line(m, name, st, diff),
        _seed_line(m, name),
        *warnings,
    ]
    return ModelVerdict(name, answer, headline, tuple(d for d in details if d))


def _headline(m, name, answer, sharpe, bench_sharpe, diff, p, p_adj, k) -> str:
    span = m.span
    if not m.value("strategy", name, "trades"):
        return (
            f"{name} never held a position from {span.test_start} to {span.test_end}, so it "
            "made nothing to compare with buy-and-hold"
        )
    numbers = f"Sharpe {fmt2(sharpe)} vs {fmt2(bench_sharpe)}"
    if p is not None:
        numbers += f", {p_equals(p)}"
    if answer == "Yes":
        adjusted = f" (Holm-adjusted over {k}: {fmt_p(p_adj)})" if k > 1 else ""
        return f"{name} beats buy-and-hold after costs: {numbers}{adjusted}"
    if answer == "No":
        if diff == 0 and m.value("strategy_tests", name, "diff_days") == 0:
            return f"{name} returns exactly what buy-and-hold does: {numbers}"
        return f"{name} does not beat buy-and-hold after costs: {numbers}"
    if diff is None or p is None:
        return f"{name}'s Sharpe difference to buy-and-hold could not be tested: {numbers}"
    if p_adj is not None and p_adj < ALPHA:  # significant, but a check raised a warning
        return (
            f"{name} is ahead of buy-and-hold after costs, but a check of its forecast raised "
            f"a warning (below): {numbers}"
        )
    if p < ALPHA:
        return (
            f"{name} is ahead of buy-and-hold after costs, but not significantly once the {k} "
            f"strategies built from this run's forecasts are allowed for: {numbers}, "
            f"Holm-adjusted {fmt_p(p_adj)}"
        )
    return f"{name} is ahead of buy-and-hold after costs, but not significantly: {numbers}"


def _returns_line(m: Metrics, name: str) -> str:
    total = _pct(m.value("strategy", name, "total_return"))
    bench = _pct(m.value("strategy", m.benchmark, "total_return"))
    return (
        f"Total return {total} vs {bench} for buy-and-hold, on the same {m.span.test_days} "
        f"trading days and costs ({m.span.cost_bps:.1f} bps per side)"
    )


def _difference_line(st: dict, diff, p, p_adj, k: int) -> str:
    if diff is None:
        return ""
    low, high = _num(st.get("diff_ci_low")), _num(st.get("diff_ci_high"))
    interval = (
        f" (95% bootstrap interval {low:+.2f} to {high:+.2f})"
        if low is not None and high is not None
        else ""
    )
    text = f"Sharpe difference to buy-and-hold {diff:+.2f}{interval}"
    if p is None:
        days = st.get("diff_days")
        why = (
            f"it differs from buy-and-hold on only {days} days (fewer than {MIN_DIFF_DAYS})"
            if days is not None and days < MIN_DIFF_DAYS
            else "the bootstrap could not compute it"
        )
        return f"{text}: not tested, {why}"
    if diff == 0 and st.get("diff_days") == 0:
        return f"{text}: it is buy-and-hold on every day ({p_equals(p)})"
    if p < ALPHA:
        side = "higher" if diff > 0 else "lower"
        text += f": significantly {side} at 5% (bootstrap {p_equals(p)})"
    else:
        text += f": not significant at 5% (bootstrap {p_equals(p)}): the data cannot tell it "
        text += "from luck"
    if k > 1 and p_adj is not None:
        text += f"; Holm-adjusted over the {k} strategies built from this run's forecasts: "
        text += fmt_p(p_adj)
    return text


def _breakeven_line(m: Metrics, name: str, st: dict) -> str:
    """Where the difference before costs would vanish, as one per-side cost paid by both; an
    "edge" and a "break-even cost" only where the bootstrap supports a gross edge (its
    interval's lower end above zero: fewer than 2.5% of resamples trail at zero cost)."""
    status = st.get("breakeven")
    pays = f"this run pays {m.span.cost_bps:.1f} bps per side"
    if status == "identical":
        return "It returns exactly what buy-and-hold does on every day: no break-even cost"
    if status == "trails":
        gross = _num(m.value("strategy", name, "gross_sharpe"))
        bench = _num(m.value("strategy", m.benchmark, "gross_sharpe"))
        numbers = (
            f" (before costs: Sharpe {fmt2(gross)} vs {fmt2(bench)})"
            if gross is not None and bench is not None
            else ""
        )
        return (
            f"Its Sharpe ratio trails buy-and-hold's even with no trading costs{numbers}: no "
            "cost level makes it win (no break-even cost)"
        )
    low, high = _num(st.get("breakeven_low")), _num(st.get("breakeven_high"))
    interval = breakeven_interval(low, high)
    supported = low is not None and low > 0
    shown = f" (95% bootstrap interval {interval})" if interval else ""
    if status == "beyond":
        if supported:
            return (
                f"Its edge over buy-and-hold survives {BREAKEVEN_MAX_BPS} bps per side of "
                f"trading costs, the break-even search's limit{shown}; {pays}"
            )
        return (
            f"Before costs its Sharpe ratio is above buy-and-hold's up to the search's limit of "
            f"{BREAKEVEN_MAX_BPS} bps per side, but that point estimate is not significant"
            f"{shown}; {pays}"
        )
    bps = _num(st.get("breakeven_bps"))
    if status != "crosses" or bps is None:
        return ""
    if supported:
        return (
            f"Break-even cost {bps:.1f} bps per side{shown}: above it, its Sharpe ratio falls to "
            f"buy-and-hold's; {pays}"
        )
    return (
        f"Before costs its Sharpe ratio is above buy-and-hold's, but not significantly: the "
        f"point estimate of a break-even cost, {bps:.1f} bps per side, is not significant"
        f"{shown}; {pays}"
    )


def _sized_line(m: Metrics, name: str, family: dict[str, float]) -> str:
    """The same forecast traded by its strength (--sizing vol-target), when the run did."""
    sized = sized_name(name)
    if sized not in m.strategy.index:
        return ""
    sharpe = m.value("strategy", sized, "sharpe")
    p = _num(m.value("strategy_tests", sized, "diff_p_value"))
    test = f", {p_equals(p)} against buy-and-hold's" if p is not None else ""
    adjusted = (
        f" (Holm-adjusted {fmt_p(family[sized])})" if len(family) > 1 and sized in family else ""
    )
    return (
        f"Sized by its strength (weights scaled to a volatility target on each training block): "
        f"Sharpe {fmt2(sharpe)}{test}{adjusted}, total return "
        f"{_pct(m.value('strategy', sized, 'total_return'))}; one more trial"
    )


def _dsr_line(m: Metrics, name: str, st: dict, diff: float | None) -> str:
    """The deflated Sharpe ratio is measured against cash (a bar of zero excess return raised
    for the trials), not against buy-and-hold: said plainly, with its p-value, and never as
    the probability that the strategy is better."""
    dsr = _num(st.get("dsr"))
    if dsr is None:
        return ""
    bar = _num(st.get("dsr_sr0_annual"))
    against = (
        f"against {bar:.2f} a year, the Sharpe ratio the best of {_trial_count(m)} would reach "
        "by luck alone"
        if bar is not None
        else f"after {_trial_count(m)}"
    )
    text = (
        f"Deflated Sharpe ratio {dsr:.2f}, measured against cash, not against buy-and-hold: "
        f"its Sharpe ratio over the cash rate tested {against} (one-sided "
        f"{p_equals(max(0.0, 1.0 - dsr))})"
    )
    if dsr >= 1 - ALPHA and diff is not None and diff <= 0:
        text += "; it beats cash by more than luck explains, yet not buy-and-hold"
    return text


def _trial_count(m: Metrics) -> str:
    t = m.trials
    here = f"{len(t.this_run)} trials in this run"
    if t.declared:
        here += f" and {t.declared} you tried before"
    if not t.earlier_runs:
        return here
    runs = "run" if t.earlier_runs == 1 else "runs"
    return f"{here} and {len(t.earlier)} in {t.earlier_runs} earlier {runs} on this data"


def _seed_line(m: Metrics, name: str) -> str:
    if name not in m.seed_scores.index.get_level_values(0):
        return ""
    sharpes = [_num(s) for s in m.seed_scores.loc[name, "sharpe"]]
    if len(sharpes) <= 1:
        return ""
    known = [s for s in sharpes if s is not None]
    if not known:
        return f"None of its {len(sharpes)} seeds ever held a position"
    flat = len(sharpes) - len(known)
    idle = f"; {flat} of {len(sharpes)} seeds never held a position" if flat else ""
    summary = m.seeds_summary().loc[name]
    mean, std = _num(summary["sharpe_mean"]), _num(summary["sharpe_std"])
    spread = f" ± {std:.2f}" if std is not None else ""
    return (
        f"Across {len(sharpes)} seeds: Sharpe {mean:.2f}{spread} (mean ± standard deviation of "
        f"each seed's own strategy){idle}"
    )


def _warnings(m: Metrics, name: str) -> tuple[str, ...]:
    """The leak checks that fired (lstmbt.study.leaks), in their own words: warnings ("likely
    look-ahead leak", "caution") and notes ("note:", the echo check)."""
    if name not in m.forecast_tests.index:
        return ()
    row = {c: m.value("forecast_tests", name, c) for c in m.forecast_tests.columns}
    return tuple(leak_sentences(row))


def _run_lines(m: Metrics) -> tuple[str, ...]:
    """What holds for the whole run, said once: SPA (it tests every strategy, baselines
    included, not one forecaster) and the design."""
    lines = []
    spa = _spa_line(m)
    if spa:
        lines.append(spa)
    if m.span.kind == "study" and not m.span.walk_forward:
        lines.append("One chronological split: run with --walk-forward for a sturdier answer.")
    return tuple(lines)


def _spa_line(m: Metrics) -> str:
    p = m.spa.p_consistent
    if p is None:
        return ""
    merged = ""
    if m.spa.merged:
        same = ", ".join(sorted(m.spa.merged))
        merged = f" ({same} returned exactly what another did and counted once)"
    outcome = (
        "rejected at 5%: evidence that at least one of them, baselines included, has a higher "
        "mean daily return after costs than buy-and-hold (the test does not say which)"
        if p < ALPHA
        else "not rejected at 5%: no strategy of this run is shown to beat buy-and-hold"
    )
    return (
        f"Hansen's SPA test of 'no strategy has a higher mean daily return than buy-and-hold "
        f"after costs', over all {m.spa.n_strategies} strategies of this run, baselines "
        f"included{merged}: {p_equals(p)}, {outcome}."
    )


def _pct(value) -> str:
    x = _num(value)
    return "-" if x is None else f"{x:+.1%}"


def _num(value) -> float | None:
    """A finite float, or None (missing, NaN)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None
