"""The verdict: plain words per LSTM, a pure function of the study's Metrics.

A p-value is the probability of a result at least this extreme if there were no edge, not the
probability that the strategy is better; every sentence here is worded with that in mind.
"""

from __future__ import annotations

from lstmbt.metrics import BREAKEVEN_MAX_BPS, Metrics, fmt2, sized_name
from lstmbt.study.leaks import leak_sentences


def verdict(metrics: Metrics) -> tuple[str, ...]:
    """One sentence per forecaster (the LSTMs of a study, the columns of a judged file): its
    after-cost Sharpe against buy-and-hold, whether the difference survives the bootstrap, the
    SPA test and the deflated Sharpe ratio, and any sign of a leak or a misdated forecast."""
    return tuple(_one(metrics, name) for name in metrics.names(role="forecaster"))


def _one(m: Metrics, name: str) -> str:
    span, bench = m.span, m.benchmark
    if not m.value("strategy", name, "trades"):
        return (
            f"{name} never held a position from {span.test_start} to {span.test_end}: "
            "nothing to test."
        )
    sharpe, bench_sharpe = m.value("strategy", name, "sharpe"), m.value("strategy", bench, "sharpe")
    text = (
        f"{name}: Sharpe {fmt2(sharpe)} vs {fmt2(bench_sharpe)} for buy-and-hold after costs "
        f"({span.test_start} to {span.test_end}, total return "
        f"{_pct(m.value('strategy', name, 'total_return'))} vs "
        f"{_pct(m.value('strategy', bench, 'total_return'))})"
    )
    text += _sharpe_difference(m, name, sharpe, bench_sharpe)
    text += _breakeven_sentence(m, name)
    text += _sized_sentence(m, name)
    text += _spa_sentence(m)
    dsr = m.value("strategy_tests", name, "dsr")
    if dsr is not None:
        text += f"; deflated Sharpe ratio {dsr:.2f} after {_trial_count(m)} (the confidence "
        text += "that its Sharpe beats the best that luck gives over that many tries; 0.95 would "
        text += "convince)"
    text += _seed_sentence(m, name)
    text += _suspicions(m, name)
    if span.kind == "study" and not span.walk_forward:
        return text + ". One split: run with --walk-forward for a sturdier answer."
    return text + "."


def _suspicions(m: Metrics, name: str) -> str:
    """Plain words for the leak checks (lstmbt.study.leaks) that fired."""
    row = {c: m.value("forecast_tests", name, c) for c in m.forecast_tests.columns}
    return "".join(f"; {s}" for s in leak_sentences(row))


def _trial_count(m: Metrics) -> str:
    t = m.trials
    here = f"{len(t.this_run)} trials in this run"
    if t.declared:
        here += f" and {t.declared} you tried before"
    if not t.earlier_runs:
        return here
    runs = "run" if t.earlier_runs == 1 else "runs"
    return f"{here} and {len(t.earlier)} in {t.earlier_runs} earlier {runs} on this data"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _sharpe_difference(m: Metrics, name: str, sharpe, bench_sharpe) -> str:
    p = m.value("strategy_tests", name, "diff_p_value")
    if p is None:
        return "; the Sharpe difference could not be tested."
    better = (sharpe if sharpe is not None else -9e9) > (
        bench_sharpe if bench_sharpe is not None else -9e9
    )
    test = f"bootstrap test of equal Sharpe ratios: p = {p:.2f}"
    if p < 0.05 and better:
        return f"; its Sharpe ratio is significantly higher at 5% ({test})"
    if p < 0.05:
        return f"; its Sharpe ratio is significantly lower at 5% ({test})"
    return f"; the difference is not significant at 5%, so it could be luck ({test})"


def _breakeven_sentence(m: Metrics, name: str) -> str:
    """Where the edge over buy-and-hold would vanish, as one per-side cost for both."""
    status = m.value("strategy_tests", name, "breakeven")
    if status == "identical":
        return (
            "; it returns exactly what buy-and-hold does, so there is no break-even cost "
            "(no cost level separates them)"
        )
    if status == "trails":
        return (
            "; its Sharpe ratio trails buy-and-hold's even with no trading costs, so no cost "
            "level makes it win (no break-even cost)"
        )
    low = m.value("strategy_tests", name, "breakeven_low")
    high = m.value("strategy_tests", name, "breakeven_high")
    interval = f" (95% bootstrap interval {low:.1f} to {high:.1f})" if low is not None else ""
    if status == "beyond":
        return (
            f"; its edge over buy-and-hold would survive even {BREAKEVEN_MAX_BPS} bps per side "
            f"of trading costs{interval}"
        )
    bps = m.value("strategy_tests", name, "breakeven_bps")
    if status == "crosses" and bps is not None:
        return (
            f"; before trading costs its Sharpe ratio beats buy-and-hold's, and the edge would "
            f"vanish above {bps:.1f} bps per side{interval}; this run pays "
            f"{m.span.cost_bps:.1f}"
        )
    return ""


def _sized_sentence(m: Metrics, name: str) -> str:
    """The same forecast traded by its strength (--sizing vol-target), when the run did."""
    sized = sized_name(name)
    if sized not in m.strategy.index:
        return ""
    sharpe = m.value("strategy", sized, "sharpe")
    p = m.value("strategy_tests", sized, "diff_p_value")
    test = f" (p = {p:.2f} against buy-and-hold's)" if p is not None else ""
    return (
        f"; sized by its strength (weights scaled to a volatility target on each training "
        f"block) it has Sharpe {fmt2(sharpe)}{test}, total return "
        f"{_pct(m.value('strategy', sized, 'total_return'))}, and counts as one more trial"
    )


def _spa_sentence(m: Metrics) -> str:
    p = m.spa.p_consistent
    if p is None:
        return ""
    verdict = (
        "so at least one strategy beats it at 5%"
        if p < 0.05
        else ("so no strategy is shown to beat it")
    )
    merged = ""
    if m.spa.merged:
        same = ", ".join(sorted(m.spa.merged))
        merged = f" ({same} returned exactly what another did and counted once)"
    return (
        f"; Hansen's SPA test of 'no strategy beats buy-and-hold' over "
        f"{m.spa.n_strategies} strategies{merged}: p = {p:.2f}, {verdict}"
    )


def _seed_sentence(m: Metrics, name: str) -> str:
    if name not in m.seed_scores.index.get_level_values(0):
        return ""
    sharpes = [_num(s) for s in m.seed_scores.loc[name, "sharpe"]]
    if len(sharpes) <= 1:
        return ""
    known = [s for s in sharpes if s is not None]
    flat = len(sharpes) - len(known)
    idle = f" ({flat} of {len(sharpes)} seeds never held a position)" if flat else ""
    if not known:
        return f"; none of its {len(sharpes)} seeds ever held a position"
    summary = m.seeds_summary().loc[name]
    mean, std = _num(summary["sharpe_mean"]), _num(summary["sharpe_std"])
    spread = f" ± {std:.2f}" if std is not None else ""
    return f"; across {len(sharpes)} seeds Sharpe {mean:.2f}{spread}{idle}"


def _num(value) -> float | None:
    """A finite float, or None (missing, NaN)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if x == x and abs(x) != float("inf") else None
