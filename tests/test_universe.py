"""Universe studies: the multiple-testing layer on known answers, a small end-to-end universe
where only the planted predictable series survives FDR control, bad input (pool = Ray on two
nodes, and resume: tests/test_ray.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from lstmbt import RunConfig
from lstmbt.api import resume_universe, run_universe
from lstmbt.cli import main
from lstmbt.data.universe import resolve_universe
from lstmbt.errors import ConfigError
from lstmbt.study.crosssection import benjamini_hochberg, holm, pooled_sharpe_difference
from tests.conftest import yahoo_csv

# --- the multiple-testing layer on synthetic inputs (fast) --------------------------------------


def test_bh_and_holm_match_statsmodels_and_keep_nans():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 50):
        p = rng.uniform(size=n) ** 2
        np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1])
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    p = np.array([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(benjamini_hochberg(p)[1]) and np.isnan(holm(p)[1])
    np.testing.assert_allclose(benjamini_hochberg(p)[[0, 2, 3]], [0.03, 0.04, 0.04])


def test_fdr_control_on_null_p_values_rejects_about_alpha_of_the_time():
    rng = np.random.default_rng(4)
    runs = [(benjamini_hochberg(rng.uniform(size=20)) < 0.05).any() for _ in range(400)]
    assert np.mean(runs) < 0.08, "under the global null BH's family-wise rate is at most alpha"


def _returns(n, seed, mu=0.0003, sd=0.01, start="2010-01-01"):
    idx = pd.bdate_range(start, periods=n)
    return pd.Series(np.random.default_rng(seed).normal(mu, sd, n), index=idx)


def test_pooled_difference_of_copies_is_zero_and_a_planted_edge_is_found():
    bench = {f"t{k}": _returns(750, k) for k in range(4)}
    same = pooled_sharpe_difference(bench, bench, reps=300)
    assert same["diff"] == 0 and same["p_value"] == 1.0 and same["tickers"] == 4
    edge = {k: v + 0.002 for k, v in bench.items()}  # +50% a year on every ticker
    found = pooled_sharpe_difference(edge, bench, reps=300)
    assert found["diff"] > 1 and found["p_value"] < 0.01 and found["ci_low"] > 0
    noise = {k: _returns(750, 100 + i) for i, k in enumerate(bench)}
    null = pooled_sharpe_difference(noise, bench, reps=300)
    assert null["ci_low"] < null["diff"] < null["ci_high"]


def test_pooled_test_resamples_the_same_days_for_every_ticker():
    """Two tickers with identical returns on overlapping spans: the pooled interval must be as
    wide as one ticker's (perfectly correlated, nothing to average away)."""
    a = _returns(600, 1)
    s = a + 0.0005 * np.sign(np.random.default_rng(9).normal(size=600))
    one = pooled_sharpe_difference({"a": s}, {"a": a}, reps=400, seed=1)
    two = pooled_sharpe_difference({"a": s, "b": s}, {"a": a, "b": a}, reps=400, seed=1)
    assert two["ci_high"] - two["ci_low"] == pytest.approx(one["ci_high"] - one["ci_low"])


# --- universe input -------------------------------------------------------------------------------


def test_universe_specs_and_their_errors(tmp_path):
    sample = resolve_universe("sample")
    assert [m.label for m in sample.members] == ["^GSPC", "^IXIC", "AAPL", "IBM", "MSFT", "GOOG"]
    listing = tmp_path / "mine.txt"
    listing.write_text("# my list\naapl\n\nIBM  # a comment\nAAPL\n")
    assert [m.ticker for m in resolve_universe(str(listing), "yahoo").members] == ["AAPL", "IBM"]
    with pytest.raises(ConfigError, match="Did you mean 'sample'"):
        resolve_universe("sampel")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_universe(str(tmp_path / "empty.txt"))
    (tmp_path / "nocsv").mkdir()
    with pytest.raises(ConfigError, match="holds no .csv files"):
        resolve_universe(str(tmp_path / "nocsv"))


def test_sample_stocks_keep_their_own_spans():
    from lstmbt.data import load_one

    aapl, goog, gspc = (load_one(t, "sample") for t in ("AAPL", "GOOG", "^GSPC"))
    assert aapl.index[-1].year == 2013 and goog.index[0].year == 2004
    assert gspc.index[-1].year == 2018 and aapl.attrs["source"].startswith("sample:bokeh")


# --- a small end-to-end universe -----------------------------------------------------------------


def _bars(sp500: pd.DataFrame, returns: np.ndarray) -> pd.DataFrame:
    """Bars whose closes follow `returns` close to close, with the real S&P 500's overnight gaps
    and intraday ranges (so the next open comes before the next day's move, as it does)."""
    src = sp500.iloc[: len(returns) + 1]
    close = 100 * np.cumprod(np.concatenate([[1.0], 1 + returns]))
    gap = (src["open"] / src["close"].shift(1)).fillna(1.0).to_numpy()
    open_ = np.concatenate([[close[0]], close[:-1]]) * gap
    top = np.maximum(src["open"], src["close"]).to_numpy()
    bottom = np.minimum(src["open"], src["close"]).to_numpy()
    out = pd.DataFrame(index=src.index)
    out["open"], out["close"] = open_, close
    out["high"] = np.maximum(open_, close) * np.maximum(src["high"].to_numpy() / top, 1.0)
    out["low"] = np.minimum(open_, close) * np.minimum(src["low"].to_numpy() / bottom, 1.0)
    out["adj_close"] = out["close"]
    out["volume"] = src["volume"].to_numpy()
    return out[["open", "high", "low", "close", "adj_close", "volume"]]


@pytest.fixture(scope="module")
def universe_dir(sp500, tmp_path_factory):
    """Three resampled random walks and one series with a planted next-day predictability."""
    folder = tmp_path_factory.mktemp("universe")
    real = sp500["adj_close"].pct_change().dropna().to_numpy()
    real = real - real.mean()
    n = 1500
    for k in range(3):
        draw = np.random.default_rng(10 + k).choice(real, n)
        yahoo_csv(_bars(sp500, draw), folder / f"rw{k}.csv")
    shocks = np.random.default_rng(20).choice(real, n)
    planted = np.zeros(n)
    for t in range(1, n):  # strong mean reversion: tomorrow undoes half of today
        planted[t] = -0.5 * planted[t - 1] + shocks[t]
    yahoo_csv(_bars(sp500, planted), folder / "planted.csv")
    short = sp500.iloc[:25]
    yahoo_csv(short, folder / "tiny.csv")  # too short for any split: skipped with a reason
    return folder


UNIVERSE = dict(
    epochs=8,
    hidden_size=8,
    lr=0.01,
    batch_size=128,
    patience=3,
    tearsheets=False,
    device="cpu",
    bootstrap_reps=300,
    presets=("baseline",),
    threshold=0.0,
)


@pytest.mark.slow
def test_planted_series_survives_fdr_and_random_walks_do_not(universe_dir, tmp_path):
    config = RunConfig(universe=str(universe_dir), out=str(tmp_path), run_id="u", **UNIVERSE)
    result = run_universe(config, write=True)
    table = result.table.xs("baseline:lstm", level="forecaster")
    assert "too few" in result.skipped["tiny"], result.skipped
    assert table.loc["planted", "diff"] > 0 and table.loc["planted", "diff_p_bh"] < 0.05
    for k in range(3):
        assert not (table.loc[f"rw{k}", "diff"] > 0 and table.loc[f"rw{k}", "diff_p_bh"] < 0.05)
    assert "; 1 after Benjamini-Hochberg" in result.verdict[0]
    page = (tmp_path / "u" / "index.html").read_text()
    assert 'href="tickers/planted/index.html"' in page and "Survivorship" in page
    # the page is titled by the universe, not by its last portfolio's forecaster
    assert f"<title>lstmbt universe: {result.universe}</title>" in page
    assert (tmp_path / "u" / "tickers" / "rw0" / "index.html").is_file()
    doc = json.loads((tmp_path / "u" / "universe.json").read_text())
    assert doc["skipped"] and len(doc["table"]) == 4
    port = doc["portfolios"]["baseline:lstm"]["metrics"]
    naive = {"momentum_20d", "momentum_60d", "momentum_252d", "drift", "persistence"}
    assert set(port) == {"baseline:lstm", "equal_weight", "baseline:ridge", *naive}
    assert "Ranking portfolios" in page and 'href="factor.html"' in page
    assert "baseline:lstm: mean daily rank IC" in (tmp_path / "u" / "factor.html").read_text()
    assert any("top-2 long portfolio" in v for v in result.verdict)
    # the portfolio is set beside the best naive ranking, with an interval
    best = doc["portfolios"]["baseline:lstm"]["best_naive"]
    assert best["against"] in port and best["ci_low"] <= best["diff"] <= best["ci_high"]
    said = [v for v in result.verdict if "the best of 6 naive rankings" in v]
    assert len(said) == 1 and best["against"] in said[0]
    # the universe-wide deflated Sharpe is measured over the cash rate, as each ticker's is
    from lstmbt.study.significance import TRADING_DAYS, deflated_sharpe
    from lstmbt.study.universe import cross_section

    rate = {t: pd.Series(0.0004, index=r.returns.index) for t, r in result.tickers.items()}
    paid = cross_section(result.tickers, cash=rate, reps=50)
    per_period = np.array(
        [s for r in result.tickers.values() for s in r.metrics.trials.this_run]
    ) / np.sqrt(TRADING_DAYS)
    over = result.tickers["planted"].returns["baseline:lstm"] - 0.0004
    expected = deflated_sharpe(over.to_numpy(), per_period)["dsr"]
    got = paid.table.loc[("planted", "baseline:lstm"), "dsr_universe"]
    assert got == pytest.approx(expected, rel=1e-12)
    assert got != pytest.approx(table.loc["planted", "dsr_universe"], rel=1e-6)


def test_cli_universe_errors_are_one_line(tmp_path, capsys):
    assert main(["run", "--universe", "sampel", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown universe 'sampel'" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "none").mkdir()
    assert main(["run", "--universe", str(tmp_path / "none"), "--out", str(tmp_path)]) == 2
    assert "holds no .csv files" in capsys.readouterr().err


@pytest.mark.slow
def test_no_look_ahead_in_a_universe_changing_one_tickers_prices_after_t(universe_dir, tmp_path):
    from lstmbt.data import load_one
    from tests.test_features import perturb_after

    base_dir, moved_dir = tmp_path / "base", tmp_path / "moved"
    for d in (base_dir, moved_dir):
        d.mkdir()
    planted = load_one(str(universe_dir / "planted.csv"), "sample")
    t_pos = len(planted) - 150
    t = planted.index[t_pos]
    for name in ("rw1.csv", "planted.csv"):
        (base_dir / name).write_bytes((universe_dir / name).read_bytes())
    (moved_dir / "rw1.csv").write_bytes((universe_dir / "rw1.csv").read_bytes())
    yahoo_csv(perturb_after(planted, t_pos, 5), moved_dir / "planted.csv")
    # sized positions too: each ticker's sized rules, and the universe family that tests them
    kw = dict(UNIVERSE, epochs=1, bootstrap_reps=50, jobs=1, top_k=1, sizing="vol-target")
    base = run_universe(RunConfig(universe=str(base_dir), **kw))
    moved = run_universe(RunConfig(universe=str(moved_dir), **kw))
    assert "baseline:lstm@sized" in base.tickers["planted"].positions.columns
    assert ("planted", "baseline:lstm@sized") in base.table.index
    for part in ("predictions", "positions", "returns"):
        a, b = getattr(base.tickers["planted"], part), getattr(moved.tickers["planted"], part)
        cols = [c for c in a.columns if c != "realised"]
        pd.testing.assert_frame_equal(a.loc[:t, cols], b.loc[:t, cols], check_exact=True)
        pd.testing.assert_frame_equal(
            getattr(base.tickers["rw1"], part), getattr(moved.tickers["rw1"], part)
        )
    # the ranking portfolios, the forecaster's and every naive ranking's, up to t
    for name, p in base.portfolios.items():
        q = moved.portfolios[name]
        pd.testing.assert_frame_equal(p.returns.loc[:t], q.returns.loc[:t], check_exact=True)
        pd.testing.assert_frame_equal(
            p.naive_returns.loc[:t], q.naive_returns.loc[:t], check_exact=True
        )
    assert (
        not base.tickers["planted"]
        .returns.loc[t:]
        .iloc[2:]
        .equals(moved.tickers["planted"].returns.loc[t:].iloc[2:])
    )


# --- universe folders and run state ---------------------------------------------------------

SMALL = dict(
    epochs=1,
    hidden_size=4,
    batch_size=512,
    patience=1,
    tearsheets=False,
    device="cpu",
    jobs=1,
    bootstrap_reps=50,
    presets=("baseline",),
    top_k=1,
)


def test_ticker_folders_never_collide_and_clashing_files_are_refused(tmp_path, sp500, capsys):
    """Regression: GSPC.csv and ^GSPC.csv shared tickers/GSPC (the second was "finished earlier,
    read back" with the first's numbers), é.csv and ü.csv both became tickers/run, A.csv and
    A.CSV made one row, and `...csv` resolved to the universe folder itself."""
    import re

    def label_of(name: str) -> str:  # '_' and two hex digits per byte, the rest as it is
        raw = re.sub(r"_([0-9A-F]{2})", lambda m: f"\\x{m.group(1)}", name)
        return (
            raw.encode("latin-1", "backslashreplace")
            .decode("unicode_escape")
            .encode("latin-1")
            .decode()
        )

    folder = tmp_path / "odd"
    folder.mkdir()
    for name in ("GSPC", "^GSPC", "é", "ü", "..", ".", "BRK.B", "a b"):
        yahoo_csv(sp500.iloc[:30], folder / f"{name}.csv")
    members = resolve_universe(str(folder)).members
    labels = sorted(m.label for m in members)
    assert labels == sorted(["GSPC", "^GSPC", "é", "ü", "..", ".", "BRK.B", "a b"])
    folders = [m.folder for m in members]
    assert len({f.casefold() for f in folders}) == len(folders), folders
    assert all(not f.startswith(".") and "/" not in f for f in folders), folders
    assert all(label_of(m.folder) == m.label for m in members), "one label, one folder"
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) for f in folders), "a run id's characters"
    assert {m.label: m.folder for m in members}["GSPC"] == "GSPC", "plain names stay as they are"
    for names, line in [
        (("A.csv", "A.CSV"), "holds A.CSV and A.csv, which both give the ticker label 'A'"),
        (("a.csv", "A.csv"), "holds A.csv and a.csv, whose labels 'A' and 'a' differ only in"),
    ]:
        clash = tmp_path / names[0].replace(".", "-") / "u"
        clash.mkdir(parents=True)
        for name in names:
            yahoo_csv(sp500.iloc[:30], clash / name)
        out = tmp_path / "out"
        assert main(["run", "--universe", str(clash), "--out", str(out)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and line in lines[0], lines
        assert not out.exists() or not any(out.iterdir()), "refused before any run folder"


@pytest.mark.slow
def test_tickers_whose_names_would_collide_are_studied_apart_and_resume(
    tmp_path, sp500, nasdaq, capsys
):
    """GSPC.csv, ^GSPC.csv (other prices) and ...csv: three tickers, three folders, each with
    its own numbers under its exact label; a resume reads them back (`...csv` used to resolve
    to the universe folder itself and break every resume)."""
    prices = tmp_path / "odd"
    prices.mkdir()
    yahoo_csv(sp500.loc["2012":"2015"], prices / "GSPC.csv")
    yahoo_csv(nasdaq.loc["2012":"2015"], prices / "^GSPC.csv")
    yahoo_csv(sp500.loc["2011":"2014"], prices / "...csv")
    kw = dict(SMALL, top_k=2)
    config = RunConfig(universe=str(prices), out=str(tmp_path / "runs"), run_id="u", **kw)
    result = run_universe(config, write=True)
    assert set(result.tickers) == {"GSPC", "^GSPC", ".."} and not result.skipped
    bh = {t: r.returns["buy_and_hold"].sum() for t, r in result.tickers.items()}
    assert len(set(bh.values())) == 3, "each ticker's own prices"
    for label, r in result.tickers.items():
        assert r.run_dir.parent == tmp_path / "runs" / "u" / "tickers"
        assert r.metrics.span.ticker == label
    assert main(["resume", str(tmp_path / "runs" / "u")]) == 0
    assert "is complete and its inputs are unchanged" in capsys.readouterr().out


@pytest.fixture(scope="module")
def finished_universe(sp500, nasdaq, tmp_path_factory):
    """A finished universe of AAPL.csv and IBM.csv (S&P 500 and NASDAQ slices), copied by each
    test that changes it."""
    root = tmp_path_factory.mktemp("finished_universe")
    prices = root / "prices"
    prices.mkdir()
    yahoo_csv(sp500.loc["2012":"2015"], prices / "AAPL.csv")
    yahoo_csv(nasdaq.loc["2012":"2015"], prices / "IBM.csv")
    config = RunConfig(universe=str(prices), out=str(root / "runs"), **SMALL)
    return run_universe(config, write=True).run_dir


@pytest.fixture
def universe_copy(finished_universe, tmp_path):
    """The finished universe and its prices folder, copied (config.json names the folder)."""
    import shutil

    shutil.copytree(finished_universe.parents[1] / "prices", tmp_path / "prices")
    target = tmp_path / "runs" / finished_universe.name
    shutil.copytree(finished_universe, target)
    doc = json.loads((target / "config.json").read_text())
    doc["config"]["universe"] = str(tmp_path / "prices")
    for m in doc["universe"]:
        m["source"] = str(tmp_path / "prices" / Path(m["source"]).name)
    (target / "config.json").write_text(json.dumps(doc))
    for ticker in (target / "tickers").iterdir():  # each study's source: the copied file
        if not ticker.is_dir():  # the earlier-trials index (.trials.json) lives here too
            continue
        cfg = ticker / "config.json"
        sub = json.loads(cfg.read_text())
        sub["config"]["source"] = str(tmp_path / "prices" / Path(sub["config"]["source"]).name)
        cfg.write_text(json.dumps(sub))
    return target


@pytest.mark.slow
def test_a_universe_folder_is_named_after_it_and_listed_by_tickers_done(finished_universe, capsys):
    """Regression: the universe folder was named `...-GSPC-universe-...` and `lstmbt runs`
    listed it as ticker ^GSPC with 0 folds."""
    import re

    from lstmbt import runs

    assert re.fullmatch(r"\d{8}-\d{6}-universe-prices", finished_universe.name)
    assert not (finished_universe / ".lock").exists()
    (row,) = runs.list_runs(finished_universe.parent)
    assert row["status"] == "complete" and row["ticker"] == "universe prices: 2/2 tickers"
    assert row["span"].count("..") == 1 and "note" not in row
    assert main(["runs", "--out", str(finished_universe.parent)]) == 0
    assert "universe prices: 2/2" in capsys.readouterr().out


@pytest.mark.slow
def test_resume_of_a_complete_universe_says_so(universe_copy, capsys):
    from lstmbt.runs import RunComplete

    before = sorted((p, p.stat().st_mtime_ns) for p in universe_copy.rglob("*") if p.is_file())
    with pytest.raises(RunComplete, match="is complete and its inputs are unchanged"):
        resume_universe(universe_copy)
    assert main(["resume", str(universe_copy)]) == 0
    assert "is complete and its inputs are unchanged" in capsys.readouterr().out
    after = sorted((p, p.stat().st_mtime_ns) for p in universe_copy.rglob("*") if p.is_file())
    assert after == before, "nothing recomputed or rewritten"


@pytest.mark.slow
def test_resume_refuses_replaced_prices_and_an_added_file_and_force_equals_a_fresh_run(
    universe_copy, sp500, nasdaq, tmp_path, capsys
):
    """Regression: after a universe finished, AAPL.csv replaced with other prices and MSFT.csv
    added gave rc 0: AAPL's old results read back while the ranking portfolio was rebuilt from
    the new prices."""
    prices = tmp_path / "prices"
    status = (universe_copy / "run.json").read_bytes()
    yahoo_csv(nasdaq.loc["2013":"2016"], prices / "AAPL.csv")
    assert main(["resume", str(universe_copy)]) == 2
    assert err(capsys) == (
        f"error: the prices of AAPL ({prices / 'AAPL.csv'}) differ from those the run started "
        f"with; resuming would mix two data sets; start a new run, or `lstmbt resume "
        f"{universe_copy} --force` to study AAPL again."
    )
    yahoo_csv(sp500.loc["2013":"2016"], prices / "MSFT.csv")
    assert main(["resume", str(universe_copy)]) == 2
    assert err(capsys) == (
        "error: the universe 'prices' now has MSFT (MSFT.csv), which the run did not start "
        f"with; start a new run, or `lstmbt resume {universe_copy} --force` to study the "
        "universe as it is now."
    )
    assert (universe_copy / "run.json").read_bytes() == status, "refused: run.json as it was"
    assert main(["resume", str(universe_copy), "--force"]) == 0
    fresh = RunConfig(universe=str(prices), out=str(tmp_path / "f"), **SMALL)
    fresh = run_universe(fresh, write=True)
    names = ["universe.json", "portfolio_baseline_lstm.csv"] + [
        f"tickers/{t}/{f}"
        for t in ("AAPL", "IBM", "MSFT")
        for f in ("predictions.csv", "returns.csv", "metrics.json")
    ]
    for name in names:
        assert (universe_copy / name).read_bytes() == (fresh.run_dir / name).read_bytes(), name
    assert main(["resume", str(universe_copy)]) == 0, "complete on its new inputs"


def err(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(lines), lines
    return errors[0]


@pytest.mark.slow
def test_a_universe_has_a_study_s_lock_heartbeat_and_failure_record(
    universe_copy, monkeypatch, capsys
):
    """Regression: a refused second resume overwrote the universe's run.json with its own pid;
    a universe had no heartbeat and no failure record."""
    import os
    import socket

    import lstmbt.api
    from lstmbt import Interrupted, runs

    run = universe_copy
    runs.write_status(run, "interrupted")
    (run / "tickers" / "IBM" / "run.json").write_text('{"status": "interrupted"}')
    status = (run / "run.json").read_bytes()
    with runs.locked(run):
        assert main(["resume", str(run)]) == 2
        assert err(capsys) == (
            f"error: '{run}' is in use by another lstmbt process (pid {os.getpid()} on "
            f"{socket.gethostname()}); wait for it to finish or stop it, then try again."
        )
    assert (run / "run.json").read_bytes() == status, "the refused resume wrote nothing"
    (row,) = runs.list_runs(run.parent)
    assert (row["status"], row["ticker"]) == ("interrupted", "universe prices: 1/2 tickers")
    assert row["note"] == f"1 of 2 tickers finished: lstmbt resume {run}"
    # stopped (Ctrl-C or SIGTERM) while studying IBM: interrupted, with the way on
    real = lstmbt.api.run_study

    def stopped(config, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstmbt.api, "run_study", stopped)
    with pytest.raises(Interrupted, match=f"Continue with: lstmbt resume {run}"):
        resume_universe(run)
    assert runs.read_status(run) == "interrupted"
    # an error after the checks: failed, with the error and the way on; heartbeats meanwhile
    beats = []
    monkeypatch.setattr(lstmbt.api, "run_study", real)
    monkeypatch.setattr(runs, "heartbeat", lambda d: beats.append(Path(d)))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lstmbt.api, "cross_section", broken)
    with pytest.raises(RuntimeError):
        resume_universe(run)
    (row,) = runs.list_runs(run.parent)
    assert row["status"] == "failed" and row["ticker"] == "universe prices: 2/2 tickers"
    assert (
        row["note"]
        == f"RuntimeError: a bug (fix the cause, then continue with: lstmbt resume {run})"
    )
    assert run in beats and run / "tickers" / "IBM" in beats, "both folders beat"
    monkeypatch.undo()
    assert main(["resume", str(run)]) == 0 and runs.read_status(run) == "complete"
    assert not list(run.rglob(".lock"))


def test_a_universe_that_studied_nothing_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """Regression: a universe offline with --source auto failed and left a "stale" folder."""
    from lstmbt.data import prices
    from lstmbt.data.yahoo import YahooUnavailable

    def offline(ticker, *args, **kwargs):
        raise YahooUnavailable(f"could not reach Yahoo Finance for {ticker!r} (DNSError).")

    monkeypatch.setattr(prices, "load_yahoo", offline)
    listing = tmp_path / "mine.txt"
    listing.write_text("AAPL\nIBM\n")
    out = tmp_path / "runs"
    assert main(["run", "--universe", str(listing), "--source", "yahoo", "--out", str(out)]) == 2
    assert "no ticker of the universe 'mine' could be studied" in err(capsys)
    assert list(out.iterdir()) == [], "nothing saved, no folder"


@pytest.mark.slow
def test_a_killed_universe_is_stale_and_resumes_to_the_same_files(tmp_path, sp500, nasdaq):
    """kill -9 in the middle of a universe (two folds of its first ticker saved): `lstmbt runs`
    shows it stale with its tickers done; resume finishes it, byte-identical to an
    uninterrupted run."""
    import signal

    from lstmbt import runs
    from tests.test_cli import start_held_at_two_folds

    (tmp_path / "prices").mkdir()
    yahoo_csv(sp500.loc["2012":"2015"], tmp_path / "prices" / "AAPL.csv")
    yahoo_csv(nasdaq.loc["2012":"2015"], tmp_path / "prices" / "IBM.csv")
    out = tmp_path / "killed"
    flags = ["--preset", "baseline", "--epochs", "1", "--hidden-size", "4", "--batch-size"]
    flags += ["512", "--patience", "1", "--no-tearsheets", "--device", "cpu", "--jobs", "1"]
    flags += ["--bootstrap-reps", "50", "--top-k", "1", "--walk-forward", "--refit-every", "252"]
    proc, _, _ = start_held_at_two_folds(
        tmp_path,
        *("run", "--universe", str(tmp_path / "prices"), *flags, "--out", str(out)),
        *("--run-id", "u"),
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (row,) = runs.list_runs(out)
    assert row["status"] == "stale" and row["ticker"] == "universe prices: 0/2 tickers"
    assert row["note"].startswith(f"its process (pid {proc.pid} on ")
    assert row["note"].endswith(f"0 of 2 tickers finished: lstmbt resume {out / 'u'}")
    assert main(["resume", str(out / "u")]) == 0
    (row,) = runs.list_runs(out)
    assert row["status"] == "complete" and row["ticker"] == "universe prices: 2/2 tickers"
    whole = RunConfig(
        universe=str(tmp_path / "prices"),
        out=str(tmp_path / "whole"),
        run_id="u",
        walk_forward=True,
        refit_every=252,
        **SMALL,
    )
    run_universe(whole, write=True)
    for name in ["universe.json"] + [f"tickers/{t}/returns.csv" for t in ("AAPL", "IBM")]:
        assert (out / "u" / name).read_bytes() == (tmp_path / "whole" / "u" / name).read_bytes()
