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
ratio is measured against cash, and says so. The run-wide lines add what a family of tests
says: PBO (estimated by CSCV over every configuration tried), Romano-Wolf StepM (which
strategies beat buy-and-hold, family-wise at 5%) and Hansen's model confidence set (which
forecasters are the most accurate); a forecaster ahead of buy-and-hold but not significantly
gets its minimum track record length.
"""

from __future__ import annotations

import math

import numpy as np

from lstmbt.findings import (
    STEPM_MEASURED,
    STEPM_NOMINAL_DAYS,
    ConfidenceSet,
    Overfitting,
    StepM,
    TrackRecord,
    noise_pbo,
)
from lstmbt.metrics import (
    BREAKEVEN_MAX_BPS,
    Metrics,
    ModelVerdict,
    Verdict,
    breakeven_interval,
    finite,
    fmt2,
    fmt_p,
    forecast_strategies,
    p_equals,
    plural,
    sized_name,
    tested_of,
)
from lstmbt.study.crosssection import holm
from lstmbt.study.leaks import leak_sentences

ALPHA = 0.05
MIN_DIFF_DAYS = 20  # below it the Sharpe difference is not tested (study/significance.py)


def verdict(metrics: Metrics) -> Verdict:
    """One ModelVerdict per forecaster (the trained models of a study, the columns of a judged
    file) and the run-wide lines."""
    names = metrics.names(role="forecaster")
    family = holm_family(metrics)
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


def holm_family(m: Metrics) -> dict[str, float]:
    """Holm-adjusted p-values of the Sharpe differences over the strategies the run built from
    its forecasts (each forecaster's sign rule and, with --sizing vol-target, its sized rule):
    a run that tries k forecasts gets k chances at a 5% fluke. Strategies without a p-value
    are left out (its length is the family's size)."""
    rows = forecast_strategies(m)
    p = np.array([finite(m.value("strategy_tests", n, "diff_p_value")) for n in rows], dtype=float)
    adjusted = holm(p) if len(p) else p
    return {n: float(a) for n, a in zip(rows, adjusted, strict=True) if a == a}


def _one(m: Metrics, name: str, family: dict[str, float]) -> ModelVerdict:
    bench = m.benchmark
    st = {c: m.value("strategy_tests", name, c) for c in m.strategy_tests.columns}
    sharpe = finite(m.value("strategy", name, "sharpe"))
    bench_sharpe = finite(m.value("strategy", bench, "sharpe"))
    traded = bool(m.value("strategy", name, "trades"))
    diff = finite(st.get("diff"))
    if diff is None and sharpe is not None and bench_sharpe is not None:
        diff = sharpe - bench_sharpe
    p = finite(st.get("diff_p_value"))
    p_adj = family.get(name)
    warnings = forecast_warnings(m, name)
    answer = answer_of(diff, p, p_adj, traded, any(is_warning(w) for w in warnings))
    headline = _headline(m, name, answer, sharpe, bench_sharpe, diff, p, p_adj, len(family))
    if not traded:
        return ModelVerdict(name, answer, headline, warnings)
    details = [
        _returns_line(m, name),
        _difference_line(st, diff, p, p_adj, len(family)),
        _breakeven_line(m, name, st),
        _sized_line(m, name, family),
        _dsr_line(m, name, st, diff),
        _track_record_line(m.track_records.get(name), diff, p),
        _stepm_named_line(m.stepm, name, m.span.test_days),
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
    low, high = finite(st.get("diff_ci_low")), finite(st.get("diff_ci_high"))
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
        gross = finite(m.value("strategy", name, "gross_sharpe"))
        bench = finite(m.value("strategy", m.benchmark, "gross_sharpe"))
        numbers = (
            f" (before costs: Sharpe {fmt2(gross)} vs {fmt2(bench)})"
            if gross is not None and bench is not None
            else ""
        )
        return (
            f"Its Sharpe ratio trails buy-and-hold's even with no trading costs{numbers}: no "
            "cost level makes it win (no break-even cost)"
        )
    low, high = finite(st.get("breakeven_low")), finite(st.get("breakeven_high"))
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
    bps = finite(st.get("breakeven_bps"))
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
    p = finite(m.value("strategy_tests", sized, "diff_p_value"))
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
    dsr = finite(st.get("dsr"))
    if dsr is None:
        return ""
    bar = finite(st.get("dsr_sr0_annual"))
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
    sharpes = [finite(s) for s in m.seed_scores.loc[name, "sharpe"]]
    if len(sharpes) <= 1:
        return ""
    known = [s for s in sharpes if s is not None]
    if not known:
        return f"None of its {len(sharpes)} seeds ever held a position"
    flat = len(sharpes) - len(known)
    idle = f"; {flat} of {len(sharpes)} seeds never held a position" if flat else ""
    summary = m.seeds_summary().loc[name]
    mean, std = finite(summary["sharpe_mean"]), finite(summary["sharpe_std"])
    spread = f" ± {std:.2f}" if std is not None else ""
    return (
        f"Across {len(sharpes)} seeds: Sharpe {mean:.2f}{spread} (mean ± standard deviation of "
        f"each seed's own strategy){idle}"
    )


def is_warning(sentence: str) -> bool:
    """Whether a leak check's sentence is a warning ("likely look-ahead leak", "caution"),
    which keeps an answer from Yes; a note ("note:", the echo check) says what the forecast
    is, not that it cannot be trusted."""
    return not sentence.startswith("note:")


def forecast_warnings(m: Metrics, name: str) -> tuple[str, ...]:
    """The leak checks that fired on `name`'s forecast (lstmbt.study.leaks), in their own
    words: warnings and notes."""
    if name not in m.forecast_tests.index:
        return ()
    row = {c: m.value("forecast_tests", name, c) for c in m.forecast_tests.columns}
    return tuple(leak_sentences(row))


def _run_lines(m: Metrics) -> tuple[str, ...]:
    """What holds for the whole run, said once: SPA (it tests every strategy, baselines
    included, not one forecaster) and the design."""
    lines = [
        _spa_line(m),
        stepm_line(m.stepm, "buy-and-hold", m.span.test_days),
        confidence_set_line(m.confidence_set),
        overfitting_line(m.overfitting, CONFIGURATIONS.get(m.span.kind, CONFIGURATIONS["study"])),
    ]
    lines = [line for line in lines if line]
    if m.span.kind == "study" and not m.span.walk_forward:
        lines.append("One chronological split: run with --walk-forward for a sturdier answer.")
    return tuple(lines)


def _spa_line(m: Metrics) -> str:
    """SPA once per run: what it tested (the strategies it could test, of how many, and why
    the others were left out) and what a rejection means."""
    p = m.spa.p_consistent
    if p is None:
        return ""
    outcome = (
        "rejected at 5%: evidence that at least one of them, baselines included, has a higher "
        "mean daily return after costs than buy-and-hold (the test does not say which)"
        if p < ALPHA
        else "not rejected at 5%: no strategy of this run is shown to beat buy-and-hold"
    )
    return (
        f"Hansen's SPA test of 'no strategy has a higher mean daily return than buy-and-hold "
        f"after costs', over {m.spa.scope}, baselines included: {p_equals(p)}, {outcome}."
    )


# what the configurations of each kind of run are, for the PBO sentence
CONFIGURATIONS = {
    "study": "every trained model's seeds, each preset, model and sizing rule, the baselines "
    "and buy-and-hold",
    "judge": "the judged forecasts, the baselines and buy-and-hold",
}
# StepM's family-wise error measured on noise: days -> rate (docs/statistics.md, "StepM")


def overfitting_line(o: Overfitting | None, configurations: str, where: str = "this run") -> str:
    """PBO in words: estimated, over which configurations, what it counts, and what one PBO
    can and cannot say: on pure noise a single family's PBO scatters widely (`noise_pbo`, the
    central 95% measured for this many configurations), and only a PBO outside that range is
    read as more than luck (each side fires on at most 2.5% of noise families, measured)."""
    if o is None:
        return ""
    text = (
        f"Probability of backtest overfitting, estimated by CSCV over the "
        f"{len(o.configurations)} distinct configurations tried in {where} ({configurations}): "
        f"{o.pbo:.2f}. In {o.pbo:.0%} of the {o.combinations:,} ways of splitting its "
        f"{o.days} days into two halves ({o.blocks} blocks), the configuration with the best "
        f"Sharpe ratio in one half ranked at or below the median in the other; that pick had "
        f"a negative Sharpe ratio there in {o.prob_loss:.0%}"
    )
    measured, low, high = noise_pbo(len(o.configurations))
    noise = (
        f"in 95% of families of pure noise with {measured} configurations one PBO fell "
        f"between {low:.2f} and {high:.2f}"
    )
    if o.pbo < low:
        text += (
            f". Below what pure noise gives ({noise}): the configuration that looked best "
            "held up out of sample more often than luck allows; that is about choosing among "
            "these configurations, not evidence that any of them beats buy-and-hold"
        )
    elif o.pbo > high:
        text += (
            f". Above what pure noise gives ({noise}): the configuration that looks best in "
            "one half falls to the median or below in the other more often than luck allows, "
            "a sign that picking the best backtest here picks luck"
        )
    else:
        text += (
            f"; {noise}, so one in that range proves nothing alone, neither skill nor overfitting"
        )
    return text + "."


def stepm_line(s: StepM | None, benchmark: str, days: int, noun: str = "strategy") -> str:
    """StepM in words: family-wise at 5%, over what it tested (the run's strategies, or a
    universe's rankings: `noun`), on mean daily returns; a name on a short span is a
    candidate (StepM was measured liberal there)."""
    if s is None:
        return ""
    left_out = [f"{n}, which {why}" for n, why in s.left_out.items()]
    family = tested_of(len(s.tested), left_out, noun)
    head = (
        f"Romano-Wolf StepM, {s.size:.0%} family-wise error over {family}, each against "
        f"{benchmark} on mean daily return after costs (not the Sharpe ratio)"
    )
    if not s.tested:
        return f"{head}: nothing to test."
    if not s.superior:
        return f"{head}: names none, so none is shown to beat {benchmark} at that level."
    named = ", ".join(s.superior)
    they = "it" if len(s.superior) == 1 else "them"
    text = (
        f"{head}: names {named} as beating {benchmark} (family-wise: naming even one {noun} "
        f"that does not beat it happens in at most {s.size:.0%} of samples)"
    )
    if days < STEPM_NOMINAL_DAYS:
        text += (
            f"; on {days} days read {they} as candidates: on short spans StepM was measured "
            f"liberal (family-wise error {STEPM_MEASURED})"
        )
    return text + "."


def confidence_set_line(c: ConfidenceSet | None) -> str:
    """The model confidence set in words: which forecasts stay (not significantly less
    accurate than the best) and which leave (significantly less accurate)."""
    if c is None or not c.pvalues:
        return ""
    n = len(c.pvalues)
    kept = ", ".join(c.included)
    dropped = (
        f"; significantly less accurate, and out of it (MCS p <= {c.size:.2f}): "
        f"{', '.join(c.excluded)}"
        if c.excluded
        else "; none is significantly less accurate than the best"
    )
    merged = "".join(
        f"; {name} repeats {into}'s forecasts on every day and shares its place"
        for name, into in c.merged.items()
    )
    return (
        f"Hansen's model confidence set at {1 - c.size:.0%} over the {c.loss} forecast errors "
        f"of {plural(n, 'forecast')} (the run's forecasters and baselines): it keeps {kept} "
        f"(none of them significantly less accurate than the best; a set so built contains "
        f"the most accurate forecast in at least {1 - c.size:.0%} of samples, if the test's "
        f"assumptions hold)"
        f"{dropped}"
        f"{merged}."
    )


def track_record_words(t: TrackRecord, benchmark: str = "buy-and-hold's") -> str:
    """The minimum track record length in words, for a Sharpe ratio above the benchmark's
    whose difference is not significant."""
    if t.min_days is None or t.more_days is None:
        return ""
    psr = "" if t.psr is None else f", one-sided {p_equals(max(0.0, 1.0 - t.psr))}"
    basis = (
        f"the probabilistic Sharpe ratio against {benchmark} Sharpe ratio taken as a known "
        f"number{psr}"
    )
    if t.more_days == 0:
        return (
            f"Its {t.days}-day record is already longer than the minimum track record length "
            f"({math.ceil(t.min_days)} days) at which {basis} reaches {t.level:.0%}; the "
            "bootstrap, which also allows for the benchmark's own uncertainty, does not find "
            "the difference significant, and it is the test"
        )
    return (
        f"At this Sharpe difference ({t.sharpe:.2f} vs {t.benchmark_sharpe:.2f}), about "
        f"{t.more_years:.1f} more years of daily data would be needed to reach "
        f"{t.level:.0%}: minimum track record length {math.ceil(t.min_days)} days, against "
        f"the {t.days} it has ({basis}; a rough guide to how much longer, not a test)"
    )


def _track_record_line(t: TrackRecord | None, diff: float | None, p: float | None) -> str:
    """Only for a difference that is positive and not significant (docs/statistics.md)."""
    if t is None or diff is None or p is None or not (diff > 0 and p >= ALPHA):
        return ""
    return track_record_words(t)


def _stepm_named_line(s: StepM | None, name: str, days: int) -> str:
    """StepM's word on this strategy, a candidate on a span where StepM was measured liberal."""
    if s is None or name not in s.superior:
        return ""
    short = (
        f"; on {days} days a candidate: StepM was measured liberal on short spans "
        f"(family-wise error {STEPM_MEASURED})"
        if days < STEPM_NOMINAL_DAYS
        else ""
    )
    return (
        f"Romano-Wolf StepM names it among the strategies whose mean daily return beats "
        f"buy-and-hold's, at {s.size:.0%} nominal family-wise error over the run's "
        f"{plural(len(s.tested), 'strategy', 'strategies')} (below){short}"
    )


def _pct(value) -> str:
    x = finite(value)
    return "-" if x is None else f"{x:+.1%}"
