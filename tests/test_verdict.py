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
) -> Metrics:
    """Metrics of a run with the given forecasters: per name, cells of `strategy`,
    `strategy_tests` and `forecast_tests` (sharpe, trades, diff_p_value, breakeven, dsr, leak,
    ...); sensible defaults for the rest. `extra`: more strategy rows (baselines)."""
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
        test_days=753,
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
        spa=Spa(p_consistent=spa_p, n_strategies=len(names) - 1),
        seed_scores=seed_table([]),
        folds=fold_table([]),
        fold_scores=fold_score_table([]),
        trials=trials or Trials(this_run=tuple(np.linspace(-0.5, 0.9, 12))),
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
            )
        )
    return out


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
    assert "on 3 of 40 tickers (about 1.0 would by luck alone" in counts  # 2.5% of 40, not 5%
    assert "after Benjamini-Hochberg" in counts and "after Holm" in counts
    dm = next(d for d in one.details if d.startswith("Forecasts more accurately"))
    assert "on 2 of 40 tickers" in dm and "Holm" in dm
    dsr = next(d for d in one.details if d.startswith("Deflated"))
    assert "all 143 trials of the universe, against cash" in dsr and "on 1 of 40" in dsr
    assert any("143" in line for line in v.run)


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
