"""The verdict's honesty rules, pinned on constructed Metrics (no training): the one-word answer
follows the rule in docs/statistics.md; no sentence reads a p-value as a probability of being
better, calls an insignificant difference an edge, or says "would convince"; SPA is said once
per run; p-values near 5% keep three decimals; costs carry their unit."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from lstmbt.findings import ConfidenceSet, Overfitting, StepM, TrackRecord, noise_pbo
from lstmbt.metrics import (
    FORECAST_TEST_COLUMNS,
    STRATEGY_COLUMNS,
    STRATEGY_TEST_COLUMNS,
    Metrics,
    ModelVerdict,
    Spa,
    Span,
    Trials,
    Verdict,
    fmt_p,
    fold_score_table,
    fold_table,
    model_entry,
    models_table,
    p_equals,
    seed_table,
)
from lstmbt.study.verdict import answer_of, verdict

BENCH = "buy_and_hold"


def make_metrics(
    forecasters: dict[str, dict] | None = None,
    *,
    bench_sharpe: float = 0.55,
    spa_p: float | None = 0.4,
    walk_forward: bool = True,
    kind: str = "study",
    extra: dict[str, dict] | None = None,
    trials: Trials | None = None,
    spa: Spa | None = None,
    test_days: int = 753,
    **findings,
) -> Metrics:
    """Metrics of a run with the given forecasters: per name, cells of `strategy`,
    `strategy_tests` and `forecast_tests` (sharpe, trades, diff_p_value, breakeven, dsr, leak,
    ...); sensible defaults for the rest. `extra`: more strategy rows (baselines); `spa`: SPA's
    result (default: every strategy tested); `findings`: overfitting, stepm, confidence_set,
    track_records."""
    forecasters = forecasters if forecasters is not None else {"lookback:lstm": {}}
    extra = extra or {}
    names = [BENCH, *forecasters, *extra]
    entries = [model_entry(BENCH, BENCH, "benchmark")]
    entries += [model_entry(n, "lstm", "forecaster", n.split(":")[0]) for n in forecasters]
    entries += [model_entry(n, n, "baseline") for n in extra]
    strategy, tests, ftests = {}, {}, {}
    for name in names:
        cells = {BENCH: {"sharpe": bench_sharpe}, **forecasters, **extra}.get(name, {})
        sharpe = cells.get("sharpe", 0.3 if name != BENCH else bench_sharpe)
        strategy[name] = {
            **dict.fromkeys(STRATEGY_COLUMNS, np.nan),
            "sharpe": sharpe,
            "total_return": cells.get("total_return", 0.2),
            "trades": cells.get("trades", 40),
            "days": 753,
            "gross_sharpe": cells.get("gross_sharpe", np.nan),
        }
        diff = np.nan if name == BENCH or sharpe is None else sharpe - bench_sharpe
        tests[name] = {
            **dict.fromkeys(STRATEGY_TEST_COLUMNS, np.nan),
            "sharpe": sharpe,
            "diff": cells.get("diff", diff),
            "diff_ci_low": cells.get("diff_ci_low", -0.5),
            "diff_ci_high": cells.get("diff_ci_high", 0.5),
            "diff_p_value": cells.get("diff_p_value", 0.3 if name != BENCH else np.nan),
            "diff_days": cells.get("diff_days", 700),
            "dsr": cells.get("dsr", 0.4),
            "dsr_sr0_annual": cells.get("dsr_sr0_annual", 0.8),
            "dsr_n_trials": 12,
            "breakeven": cells.get("breakeven", "trails"),
            "breakeven_bps": cells.get("breakeven_bps", np.nan),
            "breakeven_low": cells.get("breakeven_low", np.nan),
            "breakeven_high": cells.get("breakeven_high", np.nan),
        }
        if name != BENCH:
            ftests[name] = {
                **dict.fromkeys(FORECAST_TEST_COLUMNS, np.nan),
                "dm_p": 0.5,
                "lag_corr": [0.1, 0.0],
                "echo": bool(cells.get("echo", False)),
                "leak": bool(cells.get("leak", False)),
                "misaligned": False,
                "corr_next": cells.get("corr_next", 0.02),
                "corr_same": cells.get("corr_same", 0.05),
                **{
                    k: cells[k]
                    for k in ("dm_p_better", "loss_ratio", "p_leak", "corr_beyond", "leak_days")
                    if k in cells
                },
            }
    span = Span(
        ticker="^GSPC",
        test_start="2016-01-04",
        test_end="2018-12-28",
        test_days=test_days,
        first_decision="2015-12-31",
        train_start="1999-01-05",
        walk_forward=walk_forward,
        folds=3,
        seeds=1,
        costs_per_side={"commission": 0.0005, "slippage": 0.0005, "half_spread": 0.0},
        kind=kind,
    )
    m = Metrics(
        benchmark=BENCH,
        span=span,
        models=models_table(entries),
        strategy=pd.DataFrame.from_dict(strategy, orient="index"),
        forecast=pd.DataFrame(index=[n for n in names if n != BENCH], columns=["rmse"]),
        strategy_tests=pd.DataFrame.from_dict(tests, orient="index"),
        forecast_tests=pd.DataFrame.from_dict(ftests, orient="index"),
        spa=spa or Spa(p_consistent=spa_p, n_strategies=len(names) - 1),
        seed_scores=seed_table([]),
        folds=fold_table([]),
        fold_scores=fold_score_table([]),
        trials=trials or Trials(this_run=tuple(np.linspace(-0.5, 0.9, 12))),
        **findings,
    )
    return m.__class__(**{**m.__dict__, "verdict": verdict(m)})


def text_of(m: Metrics) -> str:
    return str(m.verdict)


# --- the answer's rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diff", "p", "p_adj", "traded", "warned", "expected"),
    [
        (0.4, 0.01, 0.01, True, False, "Yes"),
        (0.4, 0.01, 0.01, True, True, "Inconclusive"),  # a leak warning: not an answer
        (0.4, 0.01, 0.06, True, False, "Inconclusive"),  # not after Holm
        (0.4, 0.30, 0.30, True, False, "Inconclusive"),
        (0.4, None, None, True, False, "Inconclusive"),  # not testable
        (-0.4, 0.01, 0.01, True, False, "No"),
        (-0.1, 0.60, 0.60, True, False, "No"),
        (0.0, 1.0, 1.0, True, False, "No"),  # buy-and-hold again
        (None, None, None, False, False, "No"),  # never held a position
    ],
)
def test_the_answer_follows_the_documented_rule(diff, p, p_adj, traded, warned, expected):
    assert answer_of(diff, p, p_adj, traded, warned) == expected


def test_each_verdict_starts_with_its_one_word_answer_and_a_headline():
    m = make_metrics(
        {
            "a:lstm": {"sharpe": 1.4, "diff_p_value": 0.004, "diff_ci_low": 0.3},
            "b:lstm": {"sharpe": 0.07, "diff_p_value": 0.19},
            "c:lstm": {"sharpe": 0.8, "diff_p_value": 0.41},
        }
    )
    v = m.verdict
    assert v.answers == {"a:lstm": "Yes", "b:lstm": "No", "c:lstm": "Inconclusive"}
    assert v[1].splitlines()[0] == (
        "No — b:lstm does not beat buy-and-hold after costs: Sharpe 0.07 vs 0.55, p = 0.19"
    )
    for text in list(v)[:3]:
        assert text.split(" — ")[0] in ("Yes", "No", "Inconclusive")
    assert v.of("a:lstm").headline.startswith("a:lstm beats buy-and-hold after costs")
    assert "not significantly" in v.of("c:lstm").headline


def test_holm_over_the_runs_forecasters_can_turn_a_yes_into_inconclusive():
    one = make_metrics({"a:lstm": {"sharpe": 1.2, "diff_p_value": 0.03}})
    assert one.verdict.answers == {"a:lstm": "Yes"}
    two = make_metrics(
        {
            "a:lstm": {"sharpe": 1.2, "diff_p_value": 0.03},
            "b:lstm": {"sharpe": 1.1, "diff_p_value": 0.04},
        }
    )
    assert two.verdict.answers == {"a:lstm": "Inconclusive", "b:lstm": "Inconclusive"}
    assert "Holm-adjusted 0.060" in two.verdict.of("a:lstm").headline


def test_a_leak_warning_turns_a_yes_into_inconclusive_and_is_listed():
    leak = {"leak": True, "p_leak": 0.0001, "corr_beyond": 0.3, "leak_days": 1000}
    m = make_metrics({"a:lstm": {"sharpe": 1.5, "diff_p_value": 0.001, **leak}})
    a = m.verdict.of("a:lstm")
    assert a.answer == "Inconclusive" and "raised a warning" in a.headline
    assert any("look-ahead" in d for d in a.details)


def test_an_echo_note_describes_the_forecast_and_leaves_a_yes_standing():
    """The echo check says what a forecast is (it follows today's change), not that it cannot
    be trusted: listed among the details, but the answer stays Yes."""
    echo = {"echo": True, "corr_same": 0.9}
    m = make_metrics({"a:lstm": {"sharpe": 1.5, "diff_p_value": 0.001, **echo}})
    a = m.verdict.of("a:lstm")
    assert a.answer == "Yes"
    assert any(d.startswith("note: the forecast mostly follows today's change") for d in a.details)


def test_a_strategy_that_never_traded_gets_no_and_nothing_else():
    m = make_metrics({"a:lstm": {"sharpe": None, "trades": 0, "diff_p_value": None}})
    a = m.verdict.of("a:lstm")
    assert a.answer == "No" and "never held a position" in a.headline


# --- what the sentences claim ---------------------------------------------------------------

FORBIDDEN = (
    "would convince",
    "confidence that",
    "probability that",
    "probability of being",
    "chance that it",
)


def _cases() -> list[Metrics]:
    """Verdicts over a grid of outcomes: trailing, ahead and significant or not, break-evens
    supported or not, deflated Sharpe high against cash while behind buy-and-hold."""
    out = []
    for sharpe, p, dsr, breakeven, low, high in [
        (0.2, 0.57, 0.97, "crosses", 0.0, 14.6),  # behind B&H, DSR high against cash
        (0.7, 0.57, 0.60, "crosses", 0.0, 100.0),  # ahead, not significant, cap hit
        (0.9, 0.048, 0.99, "crosses", 1.2, 30.0),
        (0.9, 0.052, 0.99, "beyond", 0.0, 100.0),
        (1.9, 0.001, 0.999, "beyond", 40.0, 100.0),
        (0.1, 0.001, 0.2, "trails", None, None),
    ]:
        out.append(
            make_metrics(
                {
                    "lookback:lstm": {
                        "sharpe": sharpe,
                        "diff_p_value": p,
                        "dsr": dsr,
                        "breakeven": breakeven,
                        "breakeven_bps": 5.3 if breakeven == "crosses" else np.nan,
                        "breakeven_low": low,
                        "breakeven_high": high,
                    }
                },
                spa_p=0.003,
                **_findings("lookback:lstm", sharpe),
            )
        )
    return out


def _overfitting(pbo: float) -> Overfitting:
    return Overfitting(
        pbo=pbo,
        prob_loss=0.3,
        slope=-0.4,
        intercept=0.2,
        logit_median=0.1,
        configurations=("a seed 0", "a seed 1", "ridge", "persistence", BENCH, "ma"),
        most_chosen="a seed 1",
        blocks=16,
        days=752,
        dropped_days=1,
        combinations=12870,
    )


def _track(sharpe: float, min_days: float | None = 3000.0) -> TrackRecord:
    return TrackRecord(sharpe, 0.55, 753, 0.8, min_days, -0.2, 5.0)


def _findings(name: str, sharpe: float) -> dict:
    """Every family-wise finding, naming `name` wherever it can be named."""
    return {
        "overfitting": _overfitting(0.5),
        "stepm": StepM(BENCH, (name,), (name, "ridge"), {"train_mean": "has the same returns"}),
        "confidence_set": ConfidenceSet(
            (name,), ("random_walk",), {name: 0.7, "random_walk": 0.01}
        ),
        "track_records": {name: _track(sharpe, 3000.0 if sharpe > 0.55 else None)},
    }


@pytest.mark.parametrize("m", _cases(), ids=lambda m: str(m.verdict.models[0].answer))
def test_no_sentence_reads_a_p_value_as_a_probability_of_being_better(m):
    text = text_of(m).lower()
    for phrase in FORBIDDEN:
        assert phrase not in text, phrase
    # the deflated Sharpe ratio is said to be measured against cash, with its p-value
    dsr = next(d for d in m.verdict.models[0].details if d.startswith("Deflated"))
    assert "against cash, not against buy-and-hold" in dsr and "one-sided p" in dsr


@pytest.mark.parametrize("m", _cases(), ids=lambda m: str(m.verdict.models[0].answer))
def test_edge_and_break_even_only_for_a_difference_the_data_support(m):
    st = m.strategy_tests.loc["lookback:lstm"]
    supported = st["breakeven_low"] == st["breakeven_low"] and st["breakeven_low"] > 0
    text = text_of(m)
    if not supported:
        assert "edge" not in text
        if st["breakeven"] in ("crosses", "beyond"):
            assert "point estimate" in text and "not significant" in text
            assert not re.search(r"Break-even cost \d", text)
    if st["breakeven"] == "crosses" and supported:
        assert "Break-even cost 5.3 bps per side" in text
    # an interval end at the search's cap is not a number
    assert "100.0" not in text
    if st["breakeven_high"] == 100.0 and st["breakeven"] != "trails":
        assert "> 100] bps" in text
    # the run's cost has its unit
    if st["breakeven"] in ("crosses", "beyond"):
        assert "this run pays 10.0 bps per side" in text


def test_a_high_deflated_sharpe_behind_buy_and_hold_is_not_called_convincing():
    m = _cases()[0]
    dsr = next(d for d in m.verdict.models[0].details if d.startswith("Deflated"))
    assert dsr.startswith("Deflated Sharpe ratio 0.97, measured against cash")
    assert "yet not buy-and-hold" in dsr and "convince" not in dsr


@pytest.mark.parametrize(
    ("p", "shown"),
    [(0.048, "0.048"), (0.052, "0.052"), (0.0104, "0.010"), (0.0951, "0.095"), (0.25, "0.25")],
)
def test_p_values_near_five_percent_keep_three_decimals(p, shown):
    m = make_metrics({"a:lstm": {"sharpe": 1.0, "diff_p_value": p}})
    assert fmt_p(p) == shown
    assert f"p = {shown}" in m.verdict.of("a:lstm").headline
    assert not re.search(r"p = 0\.05(?!\d)", text_of(m))  # never rounded onto 5%


def test_p_value_formats():
    assert [fmt_p(x) for x in (None, float("nan"), 0.0, 0.0004, 0.001, 0.099, 0.1, 1.0)] == [
        "-",
        "-",
        "< 0.001",
        "< 0.001",
        "0.001",
        "0.099",
        "0.10",
        "1.00",
    ]
    assert p_equals(0.0) == "p < 0.001" and p_equals(0.3) == "p = 0.30"


def test_spa_is_said_once_per_run_and_says_what_it_tested():
    m = make_metrics(
        {"a:lstm": {}, "b:lstm": {}},
        extra={"ridge": {}, "persistence": {}},
        spa_p=0.003,
    )
    lines = list(m.verdict)
    spa = [line for line in lines if "SPA" in line]
    assert len(spa) == 1 and spa[0] in m.verdict.run
    assert not any("SPA" in str(v) for v in m.verdict.models)
    assert "over all 4 strategies of this run, baselines included" in spa[0]
    assert "so at least one strategy beats it" not in spa[0]
    assert "rejected at 5%" in spa[0] and "does not say which" in spa[0]


def test_a_single_split_is_said_once_and_a_judged_run_gets_no_design_advice():
    split = make_metrics({"a:lstm": {}, "b:lstm": {}}, walk_forward=False)
    assert sum("--walk-forward" in line for line in split.verdict) == 1
    judged = make_metrics({"mine": {}}, walk_forward=False, kind="judge")
    assert not any("--walk-forward" in line for line in judged.verdict)


def test_trials_are_counted_with_earlier_runs_and_declared_variants():
    t = Trials(this_run=(0.1, 0.2, 0.3), earlier=(0.4, 0.5), earlier_runs=2, declared=7)
    m = make_metrics(trials=t)
    dsr = next(d for d in m.verdict.models[0].details if d.startswith("Deflated"))
    assert "3 trials in this run and 7 you tried before and 2 in 2 earlier runs" in dsr


# --- typed, and still text -------------------------------------------------------------------


def test_the_verdict_reads_as_text_and_round_trips_through_metrics_json():
    m = make_metrics({"a:lstm": {}, "b:lstm": {}}, walk_forward=False)
    v = m.verdict
    assert isinstance(v.models[0], ModelVerdict) and len(v) == 2 + len(v.run)
    assert v[0] == str(v.models[0]) and str(v).splitlines()[0] == v.models[0].line
    assert [str(x) for x in v] == list(v)
    doc = json.loads(json.dumps(m.to_json()))
    assert doc["verdict"] == list(v)  # old readers: every line as text
    back = Metrics.from_json(doc)
    assert back.verdict == v and back.verdict.answers == v.answers


def test_an_older_runs_sentences_still_load():
    m = make_metrics()
    doc = json.loads(json.dumps(m.to_json()))
    for key in ("verdict_models", "verdict_run"):
        doc.pop(key)
    doc["verdict"] = ["lookback:lstm: Sharpe 0.30 vs 0.55 for buy-and-hold after costs (...)."]
    old = Metrics.from_json(doc)
    assert list(old.verdict) == doc["verdict"] and old.verdict.answers == {}
    assert isinstance(old.verdict, Verdict)


# --- the universe's verdict --------------------------------------------------------------------


def _universe(n: int, diff: float, p_raw: float, pooled_p: float):
    from lstmbt.study.crosssection import adjust

    rows = [
        {
            "ticker": f"T{k}",
            "forecaster": "baseline:lstm",
            "diff": diff,
            "diff_p": p_raw if k < 3 else 0.5,
            "dm_stat": -3.0 if k < 2 else 3.0,  # two more accurate, the rest far worse
            "dm_p": 0.01,  # two-sided: small for both
            "dm_p_better": 0.005 if k < 2 else 0.995,
            "dsr_universe": 0.97 if k == 0 else 0.3,
        }
        for k in range(n)
    ]
    table = pd.DataFrame(rows)
    for column in ("diff_p", "dm_p_better"):
        table = adjust(table, column)
    table = table.set_index(["ticker", "forecaster"])
    pooled = pd.DataFrame(
        {"diff": [diff], "ci_low": [diff - 0.3], "ci_high": [diff + 0.3]},
        index=["baseline:lstm"],
    ).assign(p_value=[pooled_p], tickers=[n])
    return table, pooled


def test_the_universe_counts_chance_wins_at_the_one_sided_rate_and_names_bh_and_holm():
    from lstmbt.study.universe import _verdict

    table, pooled = _universe(40, 0.2, 0.01, 0.2)
    v = _verdict(table, pooled, 143)
    one = v.of("baseline:lstm")
    assert one.answer == "Inconclusive"
    counts = next(d for d in one.details if d.startswith("Beats buy-and-hold"))
    assert "on 3 of 40 tickers (about 1 would by luck alone" in counts  # 2.5% of 40, not 5%
    assert "after Benjamini-Hochberg" in counts and "after Holm" in counts
    dm = next(d for d in one.details if d.startswith("Forecasts more accurately"))
    assert "on 2 of 40 tickers" in dm and "Holm" in dm
    dsr = next(d for d in one.details if d.startswith("Deflated"))
    assert "all 143 trials of the universe, against cash" in dsr and "on 1 of 40" in dsr
    assert any("143" in line for line in v.run)


def test_the_universe_names_the_families_holm_and_bh_really_adjusted_over():
    """A sized rule has no DM test and a ticker that never traded has no Sharpe difference:
    the adjustments count only the p-values that exist, and so must the sentences (they said
    "over all 6 one-sided tests" where Holm corrected over 3). The pooled Holm family is the
    pooled p-values that exist, too."""
    from lstmbt.study.crosssection import adjust
    from lstmbt.study.universe import _verdict

    rows = []
    for k in range(3):
        for name in ("baseline:lstm", "baseline:lstm+sized"):
            sized = name.endswith("sized")
            rows.append(
                {
                    "ticker": f"T{k}",
                    "forecaster": name,
                    "diff": 0.2,
                    "diff_p": None if (sized and k == 0) else 0.01,  # one never traded
                    "dm_p_better": None if sized else 0.01,
                    "dsr_universe": 0.5,
                }
            )
    table = pd.DataFrame(rows)
    for column in ("diff_p", "dm_p_better"):
        table = adjust(table, column)
    table = table.set_index(["ticker", "forecaster"])
    pooled = pd.DataFrame(
        {"diff": [0.2, 0.2], "ci_low": [0.1, None], "ci_high": [0.3, None]},
        index=["baseline:lstm", "baseline:lstm+sized"],
    ).assign(p_value=[0.01, None], tickers=[3, 3])
    one = _verdict(table, pooled, 12).of("baseline:lstm")
    dm = next(d for d in one.details if d.startswith("Forecasts more accurately"))
    assert "after Holm over all 3 one-sided tests" in dm
    counts = next(d for d in one.details if d.startswith("Beats buy-and-hold"))
    assert "each over all 5 ticker x strategy tests with a p-value" in counts
    assert "about 0.08 would by luck alone" in counts  # 2.5% of 3
    assert "Holm-adjusted over" not in one.headline  # one pooled p-value: nothing to adjust


@pytest.mark.parametrize(
    ("diff", "pooled_p", "answer"),
    [(0.4, 0.001, "Yes"), (0.4, 0.2, "Inconclusive"), (-0.4, 0.001, "No"), (-0.1, 0.8, "No")],
)
def test_the_universe_answer_follows_the_pooled_test(diff, pooled_p, answer):
    from lstmbt.study.universe import _verdict

    table, pooled = _universe(6, diff, 0.3, pooled_p)
    v = _verdict(table, pooled, 20)
    assert v.answers == {"baseline:lstm": answer}
    assert str(v).startswith(f"{answer} — baseline:lstm ")
    assert "nan" not in str(v).lower()


# --- overfitting, family-wise tests and track-record length (issue 24) ------------------------


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (0.5, "so one in that range proves nothing alone, neither skill nor overfitting"),
        (-0.01, "held up out of sample more often than luck allows; that is about choosing"),
        (+0.01, "picking the best backtest here picks luck"),
    ],
)
def test_pbo_is_said_once_as_an_estimate_with_what_one_value_can_say(where, says):
    """A PBO is read as more than luck only outside the range pure noise gives for this many
    configurations (just below its low end, just above its high end); inside, nothing."""
    measured, low, high = noise_pbo(6)
    pbo = where if where == 0.5 else (low + where if where < 0 else high + where)
    m = make_metrics({"a:lstm": {}}, overfitting=_overfitting(pbo))
    lines = [line for line in m.verdict if "overfitting" in line]
    assert len(lines) == 1 and lines[0] in m.verdict.run
    line = lines[0]
    assert line.startswith(
        "Probability of backtest overfitting, estimated by CSCV over the 6 distinct "
        "configurations tried in this run (every trained model's seeds"
    )
    assert f": {pbo:.2f}. In {pbo:.0%} of the 12,870 ways of splitting its 752 days" in line
    assert says in line
    assert (
        f"in 95% of families of pure noise with {measured} configurations one PBO fell between "
        f"{low:.2f} and {high:.2f}" in line
    )
    assert not any("overfitting" in line for line in make_metrics().verdict)


def test_stepm_says_what_it_tested_family_wise_and_names_short_spans_candidates():
    found = StepM(
        BENCH,
        ("a:lstm",),
        ("a:lstm", "ridge", "persistence"),
        {"train_mean": "has the same daily returns as buy_and_hold on every day"},
    )
    extra = {"ridge": {}, "persistence": {}, "train_mean": {}}
    m = make_metrics({"a:lstm": {}}, extra=extra, stepm=found)
    line = next(line for line in m.verdict.run if "StepM" in line)
    assert line.startswith(
        "Romano-Wolf StepM, 5% family-wise error over the 3 strategies it could test (of 4; "
        "left out: train_mean, which has the same daily returns as buy_and_hold on every day), "
        "each against buy-and-hold on mean daily return after costs (not the Sharpe ratio): "
        "names a:lstm as beating buy-and-hold"
    )
    assert "read it as candidates" in line and "12.7% on 500 days" in line  # 753 days
    named = next(d for d in m.verdict.of("a:lstm").details if "StepM" in d)
    assert "names it among the strategies whose mean daily return beats" in named
    assert "on 753 days a candidate" in named and "12.7% on 500 days" in named
    long = make_metrics({"a:lstm": {}}, extra=extra, stepm=found, test_days=2520)
    assert "candidates" not in next(line for line in long.verdict.run if "StepM" in line)
    assert "candidate" not in next(d for d in long.verdict.of("a:lstm").details if "StepM" in d)
    none = make_metrics({"a:lstm": {}}, stepm=StepM(BENCH, (), ("a:lstm",)))
    line = next(line for line in none.verdict.run if "StepM" in line)
    assert "over the 1 strategy of this run" in line and "names none" in line
    assert not any("StepM" in d for d in none.verdict.of("a:lstm").details)


def test_the_model_confidence_set_says_which_forecasts_stay_and_which_leave():
    c = ConfidenceSet(
        ("a:lstm", "ridge"),
        ("random_walk",),
        {"a:lstm": 0.8, "ridge": 0.4, "random_walk": 0.01, "copy": 0.4},
        merged={"copy": "ridge"},
    )
    m = make_metrics({"a:lstm": {}}, confidence_set=c)
    line = next(line for line in m.verdict.run if "confidence set" in line)
    assert "at 90% over the squared forecast errors of 4 forecasts" in line
    assert "it keeps a:lstm, ridge (none of them significantly less accurate" in line
    assert "out of it (MCS p <= 0.10): random_walk" in line
    assert "copy repeats ridge's forecasts on every day" in line


@pytest.mark.parametrize(
    ("sharpe", "p", "said"),
    [
        (0.9, 0.30, True),  # ahead, not significant: how much longer
        (0.9, 0.01, False),  # significant: no
        (0.9, None, False),  # not tested: no
        (0.3, 0.30, False),  # behind: no length would do
    ],
)
def test_min_trl_only_for_a_positive_difference_that_is_not_significant(sharpe, p, said):
    m = make_metrics(
        {"a:lstm": {"sharpe": sharpe, "diff_p_value": p}},
        track_records={"a:lstm": _track(sharpe)},
    )
    details = m.verdict.of("a:lstm").details
    line = [d for d in details if "track record" in d]
    assert bool(line) == said
    if said:  # (3000 - 753) / 252 = 8.9 years
        assert line[0].startswith(
            "At this Sharpe difference (0.90 vs 0.55), about 8.9 more years of daily data "
            "would be needed to reach 95%: minimum track record length 3000 days, against the "
            "753 it has"
        )
        assert "one-sided p = 0.20" in line[0] and "not a test" in line[0]


def test_min_trl_already_reached_defers_to_the_bootstrap():
    m = make_metrics(
        {"a:lstm": {"sharpe": 0.9, "diff_p_value": 0.2}},
        track_records={"a:lstm": _track(0.9, 500.0)},
    )
    line = next(d for d in m.verdict.of("a:lstm").details if "track record" in d)
    assert "already longer than the minimum track record length (500 days)" in line
    assert "does not find the difference significant, and it is the test" in line


def test_spa_says_how_many_it_could_test_of_how_many_and_why():
    spa = Spa(
        p_consistent=0.3,
        n_strategies=2,
        tested=("a:lstm", "ridge"),
        merged={"train_mean": BENCH},
        left_out={"random_walk": "never held a position (its return is the same every day)"},
    )
    m = make_metrics({"a:lstm": {}}, extra={"ridge": {}}, spa=spa)
    line = next(line for line in m.verdict.run if "SPA" in line)
    assert (
        "over the 2 strategies it could test (of 4; left out: train_mean, which returns what "
        "buy_and_hold does on every day; random_walk, which never held a position (its return "
        "is the same every day)), baselines included: p = 0.30" in line
    )
    assert "over all" not in line
    one = Spa(p_consistent=0.3, n_strategies=1, tested=("a:lstm",), merged={"b": "a:lstm"})
    line = next(line for line in make_metrics(spa=one).verdict.run if "SPA" in line)
    assert (
        "over the 1 strategy it could test (of 2; left out: b, which returns what a:lstm "
        "does on every day (tested as a:lstm))" in line
    )


def test_the_findings_round_trip_through_metrics_json_and_older_files_still_load():
    m = make_metrics({"a:lstm": {"sharpe": 0.9}}, **_findings("a:lstm", 0.9))
    doc = json.loads(json.dumps(m.to_json()))
    assert {"overfitting", "stepm", "mcs", "track_records"} <= set(doc)
    back = Metrics.from_json(doc)
    assert back.overfitting.to_dict() == m.overfitting.to_dict()
    assert (back.stepm, back.confidence_set, back.track_records) == (
        m.stepm,
        m.confidence_set,
        m.track_records,
    )
    assert verdict(back) == m.verdict  # the verdict is a function of what the file keeps
    for key in ("overfitting", "stepm", "mcs", "track_records"):
        doc.pop(key)
    old = Metrics.from_json(doc)
    assert old.overfitting is old.stepm is old.confidence_set is None
    assert old.track_records == {}
    assert not any(w in str(verdict(old)) for w in ("overfitting", "StepM", "confidence set"))


# --- the universe's answer follows a ticker's rule -------------------------------------------


LEAK = {"leak": True, "p_leak": 0.0001, "corr_beyond": 0.3, "leak_days": 1000}


def test_a_universe_forecaster_warned_on_one_ticker_gets_no_yes():
    from lstmbt.study.universe import _verdict, ticker_checks

    sized = {"baseline:lstm@sized": {}}
    clean = make_metrics({"baseline:lstm": {"echo": True, "corr_same": 0.9}}, extra=sized)
    leaky = make_metrics({"baseline:lstm": LEAK}, extra=sized)
    # an echo note is not a warning; a leak warning on any ticker is, for the sized rule too
    assert ticker_checks({"T0": clean, "T1": clean}, "baseline:lstm") == (True, False)
    both = {"T0": clean, "T1": leaky}
    assert ticker_checks(both, "baseline:lstm") == (True, True)
    assert ticker_checks(both, "baseline:lstm@sized") == (True, True)
    table, pooled = _universe(6, 0.4, 0.3, 0.001)
    clear = _verdict(table, pooled, 20, {"baseline:lstm": (True, False)}, both)
    assert clear.answers == {"baseline:lstm": "Yes"}
    v = _verdict(table, pooled, 20, {"baseline:lstm": ticker_checks(both, "baseline:lstm")}, both)
    one = v.of("baseline:lstm")
    assert one.answer == "Inconclusive" and "a leak check of its forecast" in one.headline
    assert any(
        d.startswith("A leak check raised a warning about its forecast on T1 ") for d in one.details
    )


def test_a_universe_forecaster_that_never_traded_anywhere_is_a_no():
    from lstmbt.study.universe import _verdict, ticker_checks

    idle = make_metrics({"baseline:lstm": {"sharpe": None, "trades": 0, "diff_p_value": None}})
    busy = make_metrics({"baseline:lstm": {}})
    assert ticker_checks({"T0": idle, "T1": idle}, "baseline:lstm") == (False, False)
    assert ticker_checks({"T0": idle, "T1": busy}, "baseline:lstm") == (True, False)
    table, pooled = _universe(6, 0.0, 0.3, 0.9)
    v = _verdict(table, pooled, 20, {"baseline:lstm": (False, False)}, {"T0": idle})
    assert v.answers == {"baseline:lstm": "No"}
    assert "never held a position on any ticker" in v.of("baseline:lstm").headline


def test_the_universe_counts_the_tickers_whose_confidence_set_keeps_the_forecast():
    from lstmbt.study.universe import _verdict

    kept = ConfidenceSet(
        ("baseline:lstm",), ("random_walk",), {"baseline:lstm": 0.5, "random_walk": 0.0}
    )
    out = ConfidenceSet(("ridge",), ("baseline:lstm",), {"baseline:lstm": 0.02, "ridge": 1.0})
    metrics = {
        f"T{k}": make_metrics({"baseline:lstm": {}}, confidence_set=c)
        for k, c in enumerate((kept, kept, out))
    }
    table, pooled = _universe(3, 0.1, 0.3, 0.4)
    v = _verdict(table, pooled, 20, {}, metrics)
    line = next(d for d in v.of("baseline:lstm").details if "model confidence set" in d)
    assert "In the 90% model confidence set of its ticker's forecasts" in line
    assert "on 2 of 3 tickers" in line


def test_the_terminal_says_what_sharpe_is_measured_over_and_names_extra_fees():
    import dataclasses

    from lstmbt.cli.show import span_words, table_notes

    m = make_metrics({"a:lstm": {}})
    assert span_words(m).endswith("bps per side")
    assert table_notes(m) == "(Sharpe ratios over a zero return (no cash rate))"
    span = dataclasses.replace(
        m.span, cash_rate="risk-free (Fama-French RF)", costs={"min_fee": 1.0, "borrow_fee": 0.01}
    )
    paid = dataclasses.replace(m, span=span)
    assert span_words(paid).endswith(
        "bps per side, at least 1 per order, 100 bps a year to borrow for shorts"
    )
    assert table_notes(paid) == "(Sharpe ratios over the cash rate (risk-free (Fama-French RF)))"
