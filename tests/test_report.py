"""Reports: content matches metrics.json, links and images exist, rebuilt from disk, browsable."""

from __future__ import annotations

import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lstmbt.study.folds as folds_mod
from lstmbt import run_study
from lstmbt.cli import main
from lstmbt.errors import LstmbtError
from lstmbt.metrics import Metrics, fmt_p, format_cell
from lstmbt.models import LSTMForecaster, training
from lstmbt.report import build_report
from lstmbt.runs import list_runs
from lstmbt.study.verdict import verdict

WF = dict(
    walk_forward=True,
    refit_every=252,
    eval_frac=0.4,
    start="2010-01-01",
    bootstrap_reps=200,
    presets=("baseline", "lookback"),
    lookback=5,
    tearsheets=True,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from lstmbt.config import RunConfig
    from tests.conftest import TINY

    out = tmp_path_factory.mktemp("reports")
    config = RunConfig(**{**TINY, **WF, "out": str(out), "run_id": "r"})
    return run_study(config, write=True).run_dir


def page_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    text = (run_dir / "index.html").read_text()
    return {
        tid: pd.read_html(io.StringIO(text), attrs={"id": tid})[0]
        for tid in ("comparison", "significance", "folds", "seeds")
    }


@pytest.mark.slow
def test_tables_hold_the_numbers_of_metrics_json(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    tables = page_tables(run_dir)
    comp = tables["comparison"].set_index(tables["comparison"].columns[0])
    expected = Metrics.from_json(metrics).comparison()
    assert list(comp.index) == list(expected.index)
    for name, row in expected.iterrows():
        for header, value in row.items():
            assert str(comp.loc[name, header]) == format_cell(header, value), (name, header)
    folds = tables["folds"]
    assert len(folds) == len(metrics["folds"])
    for (_, row), fold in zip(folds.iterrows(), metrics["folds"], strict=True):
        assert row["Buy & hold"] == f"{fold['total_return']['buy_and_hold']:+.1%}"
        assert row["Days"] == fold["days"]
    sig = tables["significance"].set_index(tables["significance"].columns[0])
    for name, t in metrics["strategy_tests"].items():
        assert str(sig.loc[name, "p ΔSharpe"]) == fmt_p(t.get("diff_p_value"))
    assert "SPA" in (run_dir / "index.html").read_text()


@pytest.mark.slow
def test_the_page_opens_with_the_answers_and_counts_days_one_way(run_dir):
    text = (run_dir / "index.html").read_text()
    m = Metrics.from_json(json.loads((run_dir / "metrics.json").read_text()))
    body = text[text.index("<body>") :]
    answers = re.findall(r'<p class="answer"><strong class="(\w+)">', body)
    assert answers == [v.answer for v in m.verdict.models] and len(answers) == 2
    # the answers come first: right after the title, before the header and every table
    assert body.index('<section id="answer">') < body.index('<p class="meta">')
    assert body.index('<section id="answer">') < body.index("<table")
    # one count of test days: the header's, the sum of the fold table's, the span's first day
    span = m.span
    assert f"{span.test_days} trading days, {span.test_start} to" in body
    folds = page_tables(run_dir)["folds"]
    assert folds["Days"].sum() == span.test_days
    assert folds.iloc[0, 1].startswith(span.test_start)
    assert folds.iloc[-1, 1].endswith(span.test_end)
    # costs in bps per side, not in percent
    assert f"Costs per side: {span.cost_bps:.1f} bps (commission" in body


def test_every_link_exists_and_every_image_is_a_real_png(run_dir):
    text = (run_dir / "index.html").read_text()
    targets = re.findall(r'(?:href|src)="([^"]+)"', text)
    assert any(t.endswith(".png") for t in targets) and any("tearsheet" in t for t in targets)
    for target in targets:
        assert not target.startswith(("http:", "https:", "//")), "the report must work offline"
        path = run_dir / target
        assert path.is_file() and path.stat().st_size > 0, target
        if target.endswith(".png"):
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, target


@pytest.mark.slow
def test_report_is_rebuilt_from_disk_without_training(run_dir, tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    (copy / "index.html").unlink()
    shutil.rmtree(copy / "figures")
    saved = json.loads((run_dir / "metrics.json").read_text())
    for target in (LSTMForecaster, "fit"), (training, "train_group"), (folds_mod, "run_tasks"):
        monkeypatch.setattr(*target, lambda *a, **k: pytest.fail("retrained"))
    metrics = build_report(copy, tearsheets=False)
    assert (copy / "index.html").is_file() and len(list((copy / "figures").glob("*.png"))) >= 6
    # the verdict is a pure function of the saved metrics: recomputed, it is the saved one
    assert list(verdict(metrics)) == saved["verdict"] and len(saved["verdict_models"]) == 2
    # metrics.json round-trips through the typed Metrics unchanged (tear-sheets not redrawn)
    rebuilt = json.loads((copy / "metrics.json").read_text())
    assert rebuilt["tearsheets"] == {} and saved["tearsheets"]
    assert {**rebuilt, "tearsheets": saved["tearsheets"], "notes": saved["notes"]} == saved
    # PBO's figures are drawn from what metrics.json keeps: the rebuilt ones are the same
    for name in ("pbo_logits.png", "pbo_degradation.png"):
        assert (copy / "figures" / name).read_bytes() == (run_dir / "figures" / name).read_bytes()


def test_a_study_carries_pbo_stepm_the_confidence_set_and_track_records(run_dir):
    """Issue 24's acceptance on a real (small) study: all four in metrics.json, on the page
    and in the verdict, each worded by docs/statistics.md's rules."""
    doc = json.loads((run_dir / "metrics.json").read_text())
    m = Metrics.from_json(doc)
    o, s, c = m.overfitting, m.stepm, m.confidence_set
    # PBO over every distinct configuration tried: each seed of each preset, the baselines
    assert doc["overfitting"]["pbo"] == o.pbo and 0 <= o.pbo <= 1 and o.combinations == 12870
    seeds = {f"{n} seed {k}" for n in m.forecasters for k in range(m.span.seeds)}
    others = set(m.strategy.index) - set(m.forecasters)  # ensembles average their seeds
    assert set(o.configurations) <= seeds | others and "baseline:lstm seed 0" in o.configurations
    assert len(o.configurations) >= len(m.trials.this_run)  # the DSR's trials, and flat ones
    assert sum(o.logit_counts) == o.combinations and o.grid().sum() == o.combinations
    # StepM over every strategy against buy-and-hold, with the run's bootstrap
    assert s.benchmark == "buy_and_hold" and (s.reps, s.block) == (200, 20)
    assert set(s.tested) | set(s.left_out) == set(m.strategy.index) - {"buy_and_hold"}
    assert set(c.pvalues) == set(m.forecast.index)  # every forecaster and baseline
    assert set(m.track_records) <= set(m.forecasters) and doc["track_records"]
    text = (run_dir / "index.html").read_text()
    for tid in ("pbo", "stepm", "mcs", "track_records"):
        assert f'id="{tid}"' in text, tid
    assert 'src="figures/pbo_logits.png"' in text and 'src="figures/pbo_degradation.png"' in text
    significance = text[text.index('<table id="significance">') :]
    assert f"over {html.escape(m.spa.scope)}, baselines included" in significance
    run = m.verdict.run
    assert (
        sum(line.startswith("Probability of backtest overfitting, estimated") for line in run) == 1
    )
    assert sum(line.startswith("Romano-Wolf StepM") for line in run) == 1
    assert sum(line.startswith("Hansen's model confidence set") for line in run) == 1
    for name in m.forecasters:  # MinTRL exactly where the difference is positive, not significant
        diff = m.value("strategy_tests", name, "diff")
        p = m.value("strategy_tests", name, "diff_p_value")
        said = any("minimum track record" in d for d in m.verdict.of(name).details)
        wanted = diff is not None and p is not None and diff > 0 and p >= 0.05
        assert said == (wanted and name in m.track_records), name


def test_metrics_of_a_format_1_run_are_read_and_a_newer_format_is_refused(run_dir):
    doc = json.loads((run_dir / "metrics.json").read_text())
    legacy = {k: v for k, v in doc.items() if k not in ("format", "models")}
    m = Metrics.from_json(legacy)
    assert m.lstms == ["baseline:lstm", "lookback:lstm"]
    assert m.to_json()["strategy"] == doc["strategy"] and list(verdict(m)) == doc["verdict"]
    with pytest.raises(LstmbtError, match="format 99"):
        Metrics.from_json({**doc, "format": 99})


@pytest.mark.slow
def test_report_and_runs_commands(run_dir, capsys):
    assert main(["report", str(run_dir), "--no-tearsheets"]) == 0
    out = capsys.readouterr().out
    assert "buy_and_hold" in out and "index.html" in out
    assert main(["runs", "--out", str(run_dir.parent)]) == 0
    out = capsys.readouterr().out
    assert "walk-forward" in out and "complete" in out
    rows = list_runs(run_dir.parent)
    assert rows[0]["run"] == "r" and rows[0]["best"] in ("baseline:lstm", "lookback:lstm")


def test_report_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished lstmbt run" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
@pytest.mark.slow
def test_report_opens_in_a_headless_browser_without_console_errors(run_dir, tmp_path):
    shot = tmp_path / "first_screen.png"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,900",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            (run_dir / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console
    tear = tmp_path / "tearsheet.png"
    sheet = next(run_dir.glob("tearsheet_*.html"))
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'p2'}",
            f"--screenshot={tear}",
            sheet.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tear.is_file() and tear.stat().st_size > 20_000


def test_terminal_summary_matches_the_report_table(run_dir):
    from rich.console import Console

    from lstmbt.cli.show import print_summary

    metrics = Metrics.from_json(json.loads((run_dir / "metrics.json").read_text()))
    console = Console(record=True, width=250)
    print_summary(metrics, console, wide=True)
    lines = console.export_text().splitlines()
    html_table = page_tables(run_dir)["comparison"]
    assert list(html_table.columns)[-1] == "Answer"
    for _, row in html_table.iterrows():
        name = row.iloc[0]
        line = next(line for line in lines if line.strip("│ ").startswith(name + " "))
        cells = [c.strip() for c in line.split("│") if c.strip()]
        assert cells == [str(v) for v in row.tolist() if v == v], name  # no answer: empty


# --- the universe page -------------------------------------------------------------------


@pytest.fixture(scope="module")
def universe_page(sp500, tmp_path_factory):
    """A small universe run (two resampled random walks, tiny LSTMs) and its page."""
    import numpy as np

    from lstmbt.api import run_universe
    from lstmbt.config import RunConfig
    from tests.conftest import TINY, yahoo_csv
    from tests.test_universe import _bars

    src = tmp_path_factory.mktemp("universe_src")
    real = sp500["adj_close"].pct_change().dropna().to_numpy()
    real = real - real.mean()
    for k in range(2):
        draw = np.random.default_rng(30 + k).choice(real, 900)
        yahoo_csv(_bars(sp500, draw), src / f"walk{k}.csv")
    out = tmp_path_factory.mktemp("universe_out")
    config = RunConfig(
        **{**TINY, "epochs": 1, "hidden_size": 4},
        universe=str(src),
        out=str(out),
        run_id="u",
        presets=("baseline",),
        threshold=0.0,
        bootstrap_reps=100,
        top_k=1,
    )
    result = run_universe(config, write=True)
    return result, out / "u" / "index.html"


def _cells(text: str, table_id: str | None = None, cls: str | None = None) -> list[str]:
    """The text of every <td> of the table(s) with this id or class."""
    attr = f'id="{table_id}"' if table_id else f'class="{cls}"'
    tables = re.findall(rf"<table {attr}>(.*?)</table>", text, flags=re.S)
    return [
        re.sub(r"<[^>]+>", "", c).strip()
        for t in tables
        for c in re.findall(r"<td>(.*?)</td>", t, re.S)
    ]


@pytest.mark.slow
def test_the_universe_page_formats_every_number_and_leaves_no_hole(universe_page):
    result, page = universe_page
    text = page.read_text()
    body = text[text.index("<body>") :]
    assert not re.search(r"\bnan\b", body, flags=re.I), "a nan on the universe page"
    # the answers first, one line per strategy, then the details
    answers = re.findall(r'<p class="answer"><strong class="(\w+)">', body)
    assert answers == [v.answer for v in result.verdict.models] and answers
    assert body.index('id="answer"') < body.index("<table")
    number = re.compile(r"^[+-]?\d+\.\d{2,3}$|^< 0\.001$")
    pooled = _cells(body, "pooled")
    assert pooled[0] in ("Yes", "No", "Inconclusive") and number.match(pooled[1]), pooled
    assert re.match(r"^\[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]$", pooled[2]) and pooled[4] == "2"
    assert re.match(r"^\d+$", pooled[5]), pooled  # idle tickers, counted with a Sharpe of 0
    portfolio = _cells(body, cls="portfolio")
    assert portfolio and "-" not in portfolio, portfolio
    assert re.match(r"^[+-]\d+\.\d%$", portfolio[0]) and re.match(r"^\d+$", portfolio[4])
    assert not any(re.match(r"^\d+\.\d\d$", c) and c.endswith(".00") for c in portfolio)
    tickers = _cells(body, "tickers")
    assert tickers and not any(c in ("", "nan") for c in tickers)
    for line in result.verdict:
        assert "nan" not in line.lower()


@pytest.mark.slow
def test_a_universe_carries_pbo_and_stepm_over_its_rankings_and_the_four_per_ticker(
    universe_page,
):
    """Issue 24's acceptance on a real (small) universe: PBO and StepM over every ranking
    tried (universe.json, the page, the verdict), each ticker's study with all four, the
    confidence set counted across tickers, DM adjusted as one one-sided family."""
    from lstmbt.study.crosssection import benjamini_hochberg, holm

    result, page = universe_page
    folder = page.parent
    doc = json.loads((folder / "universe.json").read_text())
    pbo, stepm = doc["rankings"]["overfitting"], doc["rankings"]["stepm"]
    name = "baseline:lstm"
    port = result.portfolios[name]
    assert set(pbo["names"]) == {name, *port.naive_returns.columns, "equal_weight"}
    assert pbo["combinations"] == 12870 and stepm["benchmark"] == "equal_weight"
    assert result.overfitting.to_dict() == pbo and result.stepm.to_dict() == stepm
    text = page.read_text()
    assert "The rankings as one family" in text and 'id="pbo"' in text and 'id="stepm"' in text
    assert (folder / "figures" / "pbo_logits.png").is_file()
    run = result.verdict.run
    assert any(x.startswith("Romano-Wolf StepM") and "rankings of this run" in x for x in run)
    assert any("tried in this universe's rankings" in x for x in run)
    # the portfolio's deflated Sharpe: this run has no cash rate, so against a zero return
    assert doc["portfolios"][name]["dsr_over"] == "zero"
    assert any("against a zero return (this run has no cash rate)" in x for x in run)
    assert not any("Deflated Sharpe ratio against cash" in x for x in run)
    for ticker in result.tickers.values():  # every ticker's own study has all four
        saved = json.loads((ticker.run_dir / "metrics.json").read_text())
        assert saved["overfitting"] and saved["stepm"] and saved["mcs"], ticker.run_dir
        assert "track_records" in saved
    details = result.verdict.of(name).details
    assert any("model confidence set of its ticker's forecasts" in d for d in details)
    # one family for DM, one-sided (better than the random walk)
    table = result.table
    assert not {"dm_p_bh", "dm_p_holm"} & set(table.columns)
    p = table["dm_p_better"].to_numpy(float)
    np.testing.assert_allclose(table["dm_p_better_bh"], benjamini_hochberg(p))
    np.testing.assert_allclose(table["dm_p_better_holm"], holm(p))


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)
def test_the_universe_page_opens_in_a_headless_browser(universe_page, tmp_path):
    _, page = universe_page
    shot = tmp_path / "universe.png"
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,900",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.is_file() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == [], console


def test_the_stepm_note_gives_the_measured_error_beside_the_nominal_five_percent():
    """The report's StepM note promised "at most 5%" flatly; it was measured liberal on short
    spans, so the note gives the measured rates and says a yes there is a candidate."""
    from lstmbt.findings import StepM
    from lstmbt.report.html import stepm_table

    note = stepm_table(StepM("buy_and_hold", ("a",), ("a", "b")))
    assert "at most 5% of samples in theory" in note
    assert "12.7% on 500 days, 8.7% on 1,500 and 5.0% on 2,500" in note
    assert "read a yes as a candidate" in note


def test_only_equal_weight_is_labelled_the_benchmark_in_a_portfolio_table():
    """A naive ranking that differs from equal weight on too few days has no p-value: it is
    "not tested", not "(benchmark)"."""
    from lstmbt.report.universe import _portfolio_cell

    assert _portfolio_cell("equal_weight", "m", "diff_p_value", None, "p") == "(benchmark)"
    assert _portfolio_cell("momentum_20d", "m", "diff_p_value", None, "p") == "not tested"
    assert _portfolio_cell("momentum_20d", "m", "diff", None, "{:+.2f}") == "not tested"
    assert _portfolio_cell("momentum_20d", "m", "diff", 0.25, "{:+.2f}") == "+0.25"


def test_the_rolling_hit_rate_figure_counts_the_days_the_table_counts():
    """The table's hit rate leaves out days with a zero forecast or a zero return; the figure
    counted them as misses (a flat forecaster drew a hit rate of 0, not a gap)."""
    from lstmbt.report.figures import WINDOW, rolling_figure
    from lstmbt.study.evaluation import forecast_metrics

    rng = np.random.default_rng(3)
    days = pd.bdate_range("2020-01-01", periods=4 * WINDOW)
    realised = pd.Series(rng.normal(0, 0.01, len(days)), index=days)
    realised.iloc[::5] = 0.0  # closed days
    forecast = realised + rng.normal(0, 0.01, len(days))
    forecast.iloc[::3] = 0.0  # no opinion
    preds = pd.DataFrame({"realised": realised, "m": forecast})
    fig = rolling_figure(preds, ["m"])
    drawn = fig.axes[0].lines[0].get_ydata()
    tail = slice(len(days) - WINDOW, len(days))
    want = forecast_metrics(forecast.iloc[tail], realised.iloc[tail])["hit_rate"]
    assert drawn[-1] == pytest.approx(want, abs=1e-12)


def test_an_untested_sharpe_difference_is_drawn_hollow_not_as_a_zero_width_interval():
    from lstmbt.report.universe import sharpe_difference_figure

    table = pd.DataFrame(
        {
            "ticker": ["A", "B"],
            "forecaster": ["m", "m"],
            "diff": [0.3, -0.1],
            "diff_ci_low": [0.1, np.nan],  # B differs on too few days: no interval
            "diff_ci_high": [0.5, np.nan],
        }
    ).set_index(["ticker", "forecaster"])
    ax = sharpe_difference_figure(table).axes[0]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "none"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == [-0.1]
    assert "not tested" in hollow[0].get_label()
