"""A universe's rankings as one family (issue 24): PBO over every ranking tried and StepM
against equal weight, the portfolio's deflated Sharpe ratio over the cash rate (the portfolio
engine pays no interest), its track record against equal weight, and their sentences. Real
prices and the causal stand-in studies of tests/test_portfolio.py."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from lstmbt import RunConfig
from lstmbt.metrics import p_equals
from lstmbt.study.portfolio import (
    EQUAL_WEIGHT,
    naive_forecasts,
    over_cash,
    ranking_portfolios,
    ranking_returns,
    ranking_tests,
)
from lstmbt.study.significance import TRADING_DAYS, deflated_sharpe, sharpe
from lstmbt.study.trackrecord import track_record
from tests.test_portfolio import SPAN, causal_predictions, fake_studies, frames  # noqa: F401

RATE = 0.04  # a year, on every day


@pytest.fixture(scope="module")
def ranked(frames):  # noqa: F811 - the fixture imported above
    """A copycat of momentum_20d and an oracle, ranked with a 4% cash rate; every call of
    the deflated Sharpe ratio recorded."""
    import lstmbt.study.portfolio as portfolio

    preds = causal_predictions(frames, *SPAN)
    momentum = naive_forecasts(frames, preds)["momentum_20d"]
    for t, p in preds.items():
        p["copycat"] = momentum[t]
        p["oracle"] = p["realised"]
    days = pd.DatetimeIndex(sorted(set().union(*(f.index for f in frames.values()))))
    cash = pd.Series(RATE / TRADING_DAYS, index=days)
    config = RunConfig(top_k=2, bootstrap_reps=200, block_size=10, seed=0)
    calls = []

    def spy(returns, trial_sharpes, extra_trials=0):
        calls.append((np.array(returns), np.array(trial_sharpes), extra_trials))
        return deflated_sharpe(returns, trial_sharpes, extra_trials)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(portfolio, "deflated_sharpe", spy)
        made, _ = ranking_portfolios(
            config, frames, fake_studies(preds), ["copycat", "oracle"], 5, cash=cash
        )
    return config, made, cash, calls


@pytest.mark.slow
def test_the_portfolio_deflated_sharpe_is_measured_over_the_cash_rate(ranked):
    _, made, cash, calls = ranked
    assert len(calls) == 2  # one per portfolio, in order
    for (returns, per_period, extra), (name, p) in zip(calls, made.items(), strict=True):
        excess = p.returns[name].to_numpy() - RATE / TRADING_DAYS
        np.testing.assert_allclose(returns, excess, rtol=0, atol=1e-15)
        assert extra == 5 and p.metrics.at[name, "dsr"] == pytest.approx(
            deflated_sharpe(excess, per_period, 5)["dsr"], abs=1e-15
        )
        # the trials' Sharpe ratios are over the cash rate too: the portfolios' own first
        for k, (other, q) in enumerate(made.items()):
            own = float(sharpe(q.returns[other].to_numpy() - RATE / TRADING_DAYS))
            assert per_period[k] == pytest.approx(own / math.sqrt(TRADING_DAYS), rel=1e-12)
        raw = deflated_sharpe(p.returns[name].to_numpy(), per_period, 5)["dsr"]
        assert abs(raw - p.metrics.at[name, "dsr"]) > 1e-9, "not over a zero return"
        assert p.over_cash


@pytest.mark.slow
def test_the_portfolio_track_record_is_against_equal_weight_over_cash(ranked):
    _, made, cash, _ = ranked
    p = made["copycat"]
    want = track_record(
        over_cash(p.returns["copycat"], cash).to_numpy(),
        over_cash(p.returns[EQUAL_WEIGHT], cash).to_numpy(),
    )
    assert p.track_record == want


def test_the_rankings_as_one_family_find_the_oracle(ranked):
    config, made, cash, _ = ranked
    family = ranking_tests(config, made, cash)
    assert family.days == len(ranking_returns(made)) and not family.notes
    o = family.overfitting
    assert o.most_chosen == "oracle" and o.pbo < 0.05
    assert set(o.configurations) == set(ranking_returns(made).columns)  # equal weight too
    assert "oracle" in family.stepm.superior and family.stepm.benchmark == EQUAL_WEIGHT
    assert family.stepm.reps == 200 and family.stepm.block == 10


def test_the_portfolio_sentences_say_what_the_deflated_sharpe_is_measured_against(ranked):
    from lstmbt.api import _naive_line, _portfolio_verdict

    config, made, cash, _ = ranked
    p = made["copycat"]
    line = _naive_line(p)
    dsr = p.metrics.at["copycat", "dsr"]
    assert (
        f"Deflated Sharpe ratio {dsr:.2f}, over the cash rate (which the portfolio engine does "
        "not pay on idle cash), not against equal weight" in line
    )
    assert f"one-sided {p_equals(max(0.0, 1 - dsr))}." in line
    assert "against cash" not in line
    zero = _naive_line(dataclasses.replace(p, over_cash=False))
    assert "against a zero return (this run has no cash rate)" in zero
    lines = _portfolio_verdict(made, config, ranking_tests(config, made, cash))
    stepm = next(x for x in lines if x.startswith("Romano-Wolf StepM"))
    assert "5% family-wise error over all 8 rankings of this run" in stepm
    assert "against equal_weight" in stepm and "names" in stepm and "oracle" in stepm
    pbo = next(x for x in lines if x.startswith("Probability of backtest overfitting"))
    assert "tried in this universe's rankings" in pbo and "estimated by CSCV" in pbo


def test_a_portfolio_ahead_of_equal_weight_but_not_significantly_gets_its_track_record(ranked):
    from lstmbt.api import _portfolio_verdict

    config, made, _, _ = ranked
    p = made["copycat"]
    metrics = p.metrics.copy()
    metrics.loc["copycat", ["diff", "diff_p_value"]] = [0.2, 0.4]
    record = dataclasses.replace(p.track_record, sharpe=0.9, benchmark_sharpe=0.6, min_days=4000.0)
    ahead = dataclasses.replace(p, metrics=metrics, track_record=record)
    lines = _portfolio_verdict({"copycat": ahead}, config)
    said = [x for x in lines if "track record" in x]
    assert len(said) == 1
    assert said[0].startswith("copycat portfolio against equal weight: At this Sharpe difference")
    assert "equal weight's Sharpe ratio taken as a known number" in said[0]
    metrics.loc["copycat", "diff_p_value"] = 0.01  # significant: no track record sentence
    sig = dataclasses.replace(ahead, metrics=metrics)
    assert not any("track record" in x for x in _portfolio_verdict({"copycat": sig}, config))
