"""Every table the CLI prints fits 80 and 100 columns without cutting a number or an id: the
study's compact and wide comparison, a judged run's, the universe's, `lstmbt runs` and
`lstmbt forecast` (constructed inputs, no training)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from lstmbt.cli.show import (
    forecast_cell,
    forecast_tables,
    print_summary,
    print_universe,
    runs_table,
)
from lstmbt.metrics import format_cell
from lstmbt.study.universe import _verdict
from tests.test_verdict import make_metrics

WIDTHS = (80, 100)
LONG = "multifeature:lstm@sized"  # the longest name a study makes


def render(draw, width: int) -> str:
    out = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    draw(out)
    return out.export_text()


def assert_whole(text: str, cells, width: int) -> None:
    assert "…" not in text, "a cell was cut with an ellipsis"
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    for cell in cells:
        assert any(cell in line for line in lines), f"{cell!r} is not shown whole"


def study_metrics(kind: str = "study"):
    names = ["baseline:lstm", "lookback:gru", "multifeature:lstm", LONG]
    if kind == "judge":
        names = ["my_own_forecast_column", "a_colleagues_forecast"]
    forecasters = {
        n: {
            "sharpe": -0.123 + 0.37 * k,
            "total_return": 1.2345 * k - 0.1,
            "trades": 1787 * k,
            "diff_p_value": [0.048, 0.0004, 0.31, 0.052][k % 4],
            "breakeven": ["crosses", "beyond", "trails", "crosses"][k % 4],
            "breakeven_bps": 12.3,
            "breakeven_low": 1.0,
            "breakeven_high": 100.0,
            "dm_p_better": 0.0123,
            "loss_ratio": 1.0042,
        }
        for k, n in enumerate(names)
    }
    extra = {"random_walk": {"trades": 0, "sharpe": None}, "ma_crossover": {}}
    return make_metrics(forecasters, extra=extra, kind=kind)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("kind", ["study", "judge"])
def test_the_comparison_table_fits_and_never_cuts_a_number(width, wide, kind):
    m = study_metrics(kind)
    text = render(lambda out: print_summary(m, out, wide), width)
    frame = m.comparison()
    shown = frame.columns if wide else ["Total return", "Sharpe", "p ΔSharpe", "Break-even"]
    cells = [str(n) for n in frame.index]
    cells += [format_cell(h, v) for h in shown for v in frame[h]]
    cells += [a for a in m.verdict.answers.values()]
    assert_whole(text, cells, width)
    if not wide and width == 100:  # the compact table is one table at 100 columns
        assert "(1/" not in text


def test_the_compact_table_holds_the_answer_and_the_first_lines_are_the_answers():
    m = study_metrics()
    text = render(lambda out: print_summary(m, out), 100)
    lines = text.splitlines()
    assert lines[1] == "Does it beat buy-and-hold after costs?"
    answers = [line.split(" — ")[0] for line in lines[2:] if " — " in line]
    assert answers[:4] == list(m.verdict.answers.values())
    assert "(753 trading days)" in lines[0] and "10.0 bps per side" in lines[0]
    # the raw p beside an answer that reads it after Holm: the table says so; a strategy that
    # is both a forecaster and another's sized rule counts once in the correction
    from lstmbt.study.crosssection import holm
    from lstmbt.study.verdict import holm_family

    names = list(m.verdict.answers)
    p = [m.value("strategy_tests", n, "diff_p_value") for n in names]
    assert holm_family(m) == dict(zip(names, holm(np.array(p, dtype=float)), strict=True))
    k = len(m.verdict.models)
    assert k > 1 and f"Holm's correction over the run's {k} forecast strategies" in " ".join(
        text.split()
    )


def universe_result():
    rows = []
    for t, ticker in enumerate(["^GSPC", "BRK-B.a-very-long-listing-label", "AAPL"]):
        for name in ("baseline:lstm", LONG):
            rows.append(
                {
                    "ticker": ticker,
                    "forecaster": name,
                    "test_start": "2009-03-03",
                    "test_end": "2018-12-28",
                    "days": 2470,
                    "bh_sharpe": 0.8612,
                    "sharpe": -0.4321 + t,
                    "diff": -1.2934 + t,
                    "diff_ci_low": -2.63,
                    "diff_ci_high": 0.84,
                    "diff_p": 0.0123 * (t + 1),
                    "dm_stat": -2.1,
                    "dm_p": 0.04,
                    "dm_p_better": np.nan,
                    "loss_ratio": np.nan,
                    "dsr_ticker": 0.5,
                    "dsr_universe": 0.2,
                }
            )
    table = pd.DataFrame(rows)
    for col in ("diff_p", "dm_p", "dm_p_better"):
        table[f"{col}_bh"] = table[col] * 2
        table[f"{col}_holm"] = table[col] * 3
    table = table.set_index(["ticker", "forecaster"])
    pooled = pd.DataFrame(
        {"diff": [-0.29, 0.4], "ci_low": [-2.63, 0.1], "ci_high": [-0.84, 0.9]},
        index=["baseline:lstm", LONG],
    ).assign(p_value=[0.001, 0.03], tickers=[3, 3])
    verdict = _verdict(table, pooled, 143)
    return SimpleNamespace(
        universe="sample", table=table, verdict=verdict, skipped={"tiny": "too few days"}
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_universe_table_fits_and_never_cuts_an_id(width):
    result = universe_result()
    text = render(lambda out: print_universe(result, out), width)
    cells = ["BRK-B.a-very-long-listing-label", LONG, "2009-03-03", "2018-12-28", "-1.29", "0.012"]
    assert_whole(text, cells, width)
    assert text.splitlines()[1].startswith("No — baseline:lstm does not beat buy-and-hold")


@pytest.mark.parametrize("width", WIDTHS)
def test_runs_never_cuts_a_run_id(width):
    rows = [
        {
            "run": "20261202-183245-GSPC-baseline-lookback-multifeature",
            "status": "complete",
            "ticker": "^GSPC",
            "presets": "baseline+lookback+multifeature × lstm+gru+mlp",
            "walk_forward": True,
            "span": "2009-03-03 .. 2018-12-28",
            "bh_sharpe": 0.8612,
            "best": "multifeature:lstm",
            "best_sharpe": 0.4921,
            "best_answer": "Inconclusive",
        },
        {
            "run": "20261202-190000-AAPL-lookback",
            "status": "interrupted",
            "ticker": "AAPL",
            "presets": "lookback",
            "walk_forward": False,
            "note": "3 folds saved: lstmbt resume reports/20261202-190000-AAPL-lookback",
        },
    ]

    def draw(out):
        for table in runs_table(rows, "reports", out.size.width):
            out.print(table)

    text = render(draw, width)
    cells = [r["run"] for r in rows] + [
        "0.86",
        "0.49",
        "Inconclusive",
        "multifeature:lstm",
        "^GSPC",
    ]
    assert_whole(text, cells, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_forecast_after_a_study_of_three_models_never_cuts(width):
    day = pd.DatetimeIndex(["2018-12-26", "2018-12-27", "2018-12-28"])
    frame = pd.DataFrame(index=day)
    rng = np.random.default_rng(0)
    for preset in ("baseline", "lookback"):
        for model in ("lstm", "gru", "mlp"):
            name = f"{preset}:{model}"
            frame[name] = rng.normal(0, 0.01, len(day))
            frame[f"{name}:position"] = np.sign(frame[name]).clip(lower=0)
    frame["lookback:lstm:weight"] = [0.42, np.nan, -0.3]

    def draw(out):
        for table in forecast_tables(frame, out.size.width):
            out.print(table)

    text = render(draw, width)
    cells = [str(c) for c in frame.columns] + ["2018-12-28"]
    cells += [forecast_cell(c, v) for c in frame.columns for v in frame[c]]
    assert_whole(text, cells, width)


@pytest.mark.parametrize("columns", ["80", "100"])
def test_piped_output_takes_columns_from_the_environment_and_pads_no_line(
    columns, monkeypatch, capsys
):
    """In a log or a file (not a terminal) the summary honours $COLUMNS, and the verdict's
    bullets carry no padding after their words (a grid padded them to the widest line)."""
    from lstmbt.cli.show import console

    monkeypatch.setenv("COLUMNS", columns)
    print_summary(study_metrics(), console(), False)
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= int(columns)
    bullets = [line for line in lines if line.startswith("  - ")]
    assert bullets, "the verdict's details are printed as bullets"
    details = [line for line in lines if line.startswith(("  - ", "    "))]
    assert all(line == line.rstrip() for line in details), "a bullet is padded with spaces"
