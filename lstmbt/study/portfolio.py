"""A universe's ranking portfolios: each day rank the tickers by a forecast made at that close,
hold the top k (or top k long and bottom k short) from the next open, re-weighted only when
membership changes, with the same costs. Each forecaster's portfolio is set beside the
universe bought equal-weight once and held, and beside the same rule driven by naive rankings
that need no model (a portfolio that "beats" equal weight may only be holding the stocks that
drifted up most):

- momentum_20d / 60d / 252d: each ticker's trailing 20/60/252-bar return, known at the close;
- drift: each ticker's training-window mean return (the train_mean baseline: fit on the bars
  before each fold's test block only);
- persistence: today's return (the persistence baseline);
- <preset>:ridge: the ridge baseline's forecasts on the preset's own inputs.

Every ranking is ranked on the same tickers and days as the forecaster (each ticker's
out-of-sample days), through the same engines: Backtrader's multi-data engine gives the
numbers, its panel twin must agree to 1e-9. The forecaster is compared with the best naive
ranking (the highest Sharpe ratio over the same days, chosen after the fact, which favours
the naive side), with a paired block-bootstrap interval of the Sharpe difference. Every
ranking counts as a trial in the portfolio's deflated Sharpe ratio.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.findings import EQUAL_WEIGHT, Overfitting, StepM, TrackRecord
from lstmbt.results import StudyResult
from lstmbt.strategies import (
    equal_weight_weights,
    next_close_returns,
    panel_returns,
    price_panel,
    rank_ic,
    ranking_weights,
    run_portfolio_backtrader,
)
from lstmbt.study.backtests import check_parity, costs_of
from lstmbt.study.evaluation import strategy_metrics
from lstmbt.study.factor import MIN_IC_ASSETS, Factor, factor_analysis
from lstmbt.study.familywise import stepm_or_why
from lstmbt.study.overfitting import DEFAULT_BLOCKS, overfitting_or_why
from lstmbt.study.significance import (
    TRADING_DAYS,
    bootstrap_sharpe,
    deflated_sharpe,
    finite_or_none,
    sharpe,
)
from lstmbt.study.trackrecord import track_record

MOMENTUM_DAYS = (20, 60, 252)
DRIFT = "drift"
PERSISTENCE = "persistence"
# the study's baseline columns a naive ranking reads: ranking name -> predictions column
BASELINE_RANKINGS = {DRIFT: "train_mean", PERSISTENCE: "persistence"}
TEST_COLUMNS = ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value")


def momentum_name(days: int) -> str:
    return f"momentum_{days}d"


@dataclass(frozen=True)
class Versus:
    """A paired Sharpe difference (annualised): `diff` = Sharpe(strategy) - Sharpe(against),
    with its block-bootstrap interval and two-sided p-value (None where untestable)."""

    against: str
    sharpe: float | None
    against_sharpe: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    days: int

    def to_dict(self) -> dict:
        return {
            "against": self.against,
            "sharpe": self.sharpe,
            "against_sharpe": self.against_sharpe,
            "diff": self.diff,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "days": self.days,
        }


@dataclass(frozen=True)
class NaiveRankings:
    """The naive rankings' portfolios over one set of tickers."""

    tickers: tuple[str, ...]
    returns: pd.DataFrame  # one column per naive ranking, on its own span (NaN outside)
    trades: dict[str, int]
    rank_ic: pd.DataFrame  # one column per naive ranking: daily cross-sectional rank IC
    factors: dict[str, Factor] = field(default_factory=dict)  # each read as a factor


@dataclass(frozen=True)
class Portfolio:
    """One forecaster's ranking portfolio beside equal weight and the naive rankings.

    Attributes
    ----------
    returns
        columns: the forecaster's portfolio, the best naive ranking's (when any), and
        equal_weight (always last), on the forecaster's days
    metrics
        strategy metrics of the forecaster, every naive ranking and equal_weight (Sharpe and
        Sortino ratios over the run's cash rate, see over_cash), each with its
        Sharpe difference to equal weight (diff, diff_ci_low, diff_ci_high, diff_p_value); the
        forecaster's row also holds its deflated Sharpe (dsr, dsr_trials)
    rank_ic
        daily Spearman of the forecasts vs next-day returns across tickers
    best_naive, versus_naive
        the naive ranking with the highest Sharpe ratio over the forecaster's days, and the
        forecaster's paired Sharpe difference to it
    trials
        rankings counted in the deflated Sharpe ratio (the universe's per-ticker
        configurations, every forecaster's portfolio and every naive ranking)
    over_cash
        whether the Sharpe ratios, the deflated Sharpe ratio and the track record are measured
        on returns over the run's cash rate (False: the run has none, so over a zero return;
        the portfolio engine itself pays no interest on idle cash)
    track_record
        PSR and minimum track record length against equal weight's Sharpe ratio
    factor, naive_factors
        the forecasts, and each naive ranking's, read as a cross-sectional factor
        (study.factor: quantile returns, spread, IC by horizon and month, turnover)
    """

    forecaster: str
    returns: pd.DataFrame
    metrics: pd.DataFrame
    rank_ic: pd.Series
    trades: int
    best_naive: str | None = None
    versus_naive: Versus | None = None
    naive_returns: pd.DataFrame | None = field(default=None, repr=False)
    trials: int = 0
    factor: Factor | None = field(default=None, repr=False)
    naive_factors: dict[str, Factor] = field(default_factory=dict, repr=False)
    over_cash: bool = False
    track_record: TrackRecord | None = None


@dataclass(frozen=True)
class RankingTests:
    """The universe's rankings as one family (`ranking_returns`, on returns over the cash
    rate where the run has one): PBO over every ranking tried and StepM of each against
    equal weight; `notes` says what could not be computed and why."""

    overfitting: Overfitting | None
    stepm: StepM | None
    days: int = 0
    notes: tuple[str, ...] = ()


def _run(
    panel: pd.DataFrame, weights: pd.DataFrame, config: RunConfig, name: str
) -> tuple[pd.Series, int]:
    costs = costs_of(config)
    result = run_portfolio_backtrader(panel, weights, costs, name=name)
    check_parity(name, result.returns, panel_returns(panel, weights, costs), "panel twin")
    return result.returns, result.n_trades


def _needed(config: RunConfig) -> int:
    return config.top_k * (2 if config.portfolio == "long-short" else 1)


def momentum_forecasts(
    frames: Mapping[str, pd.DataFrame], days: int, on: Mapping[str, pd.DatetimeIndex]
) -> pd.DataFrame:
    """(dates x tickers) each ticker's return over its own last `days` bars, close to close,
    known at the close of each bar; only on the days `on[ticker]` (its out-of-sample days),
    NaN elsewhere and where the history is shorter."""
    cols = {}
    for ticker, dates in on.items():
        close = frames[ticker]["close"].dropna()
        mom = close / close.shift(days) - 1.0
        cols[ticker] = mom.reindex(dates)
    return pd.DataFrame(cols)


def naive_forecasts(
    frames: Mapping[str, pd.DataFrame],
    predictions: Mapping[str, pd.DataFrame],
    ridges: Sequence[str] = (),
) -> dict[str, pd.DataFrame]:
    """Every naive ranking's forecasts (dates x tickers), on each ticker's out-of-sample days
    (its `predictions` rows): momentum from `frames` (prices up to the close), drift and
    persistence from the study's train_mean and persistence columns, and each ridge column
    named in `ridges`. A study column missing for some ticker leaves that ranking out."""
    on = {t: p.index for t, p in predictions.items()}
    out = {momentum_name(d): momentum_forecasts(frames, d, on) for d in MOMENTUM_DAYS}
    for name, column in [*BASELINE_RANKINGS.items(), *((r, r) for r in ridges)]:
        if all(column in p.columns for p in predictions.values()):
            out[name] = pd.DataFrame({t: p[column] for t, p in predictions.items()})
    return out


def _ridge_columns(studies: Mapping[str, StudyResult]) -> list[str]:
    """The ridge baselines every study has (one per preset)."""
    names = None
    for r in studies.values():
        mine = set(r.metrics.names(model="ridge"))
        names = mine if names is None else names & mine
    first = next(iter(studies.values()))
    return [n for n in first.metrics.names(model="ridge") if n in (names or set())]


def naive_rankings(
    config: RunConfig,
    frames: Mapping[str, pd.DataFrame],
    predictions: Mapping[str, pd.DataFrame],
    ridges: Sequence[str] = (),
) -> NaiveRankings:
    """The naive rankings' top-k portfolios over the tickers of `predictions` (each ticker's
    study predictions: its out-of-sample days and baseline columns), through both engines."""
    tickers = list(predictions)
    panel = price_panel({t: frames[t] for t in tickers})
    forecasts = naive_forecasts(frames, predictions, ridges)
    realised = next_close_returns(panel)
    returns, trades, ics, factors = {}, {}, {}, {}
    for name, f in forecasts.items():
        f = f.reindex(index=panel.index, columns=tickers)
        if (f.notna().sum(axis=1) >= _needed(config)).sum() < 2:
            continue  # too short a history for this ranking anywhere (momentum_252d)
        weights = ranking_weights(f, config.top_k, config.portfolio, prices=panel)
        returns[name], trades[name] = _run(panel, weights, config, name)
        ics[name] = rank_ic(f, realised, min_assets=MIN_IC_ASSETS)
        factors[name] = factor_analysis(f, panel["close"], name=name, top_k=config.top_k)
    return NaiveRankings(tuple(tickers), pd.DataFrame(returns), trades, pd.DataFrame(ics), factors)


def _naive_of(
    config: RunConfig,
    frames: Mapping[str, pd.DataFrame],
    studies: Mapping[str, StudyResult],
    tickers: Sequence[str],
) -> NaiveRankings:
    mine = {t: studies[t] for t in tickers}
    preds = {t: r.predictions for t, r in mine.items()}
    return naive_rankings(config, frames, preds, _ridge_columns(mine))


def _versus(returns: pd.DataFrame, name: str, against: str, config: RunConfig) -> Versus:
    """Paired bootstrap of Sharpe(name) - Sharpe(against) on the same resampled days."""
    tests = bootstrap_sharpe(
        returns[[name, against]],
        against,
        reps=config.bootstrap_reps,
        block=config.block_size,
        seed=config.seed,
    )
    row = tests[name]
    return Versus(
        against,
        row["sharpe"],
        tests[against]["sharpe"],
        row.get("diff"),
        row.get("diff_ci_low"),
        row.get("diff_ci_high"),
        row.get("diff_p_value"),
        len(returns),
    )


def _best(returns: pd.DataFrame) -> str | None:
    """The column with the highest Sharpe ratio (ties: the first)."""
    scores = {c: float(sharpe(returns[c].to_numpy(dtype=float))) for c in returns.columns}
    scores = {c: s for c, s in scores.items() if math.isfinite(s)}
    return max(scores, key=scores.get) if scores else None


def ranking_portfolio(
    config: RunConfig,
    frames: dict[str, pd.DataFrame],
    studies: dict[str, StudyResult],
    forecaster: str,
    naive: NaiveRankings | None = None,
    cash: pd.Series | None = None,
) -> Portfolio | None:
    """The top-k portfolio of `forecaster` over the tickers that have it, beside equal weight
    and the naive rankings over the same tickers (`naive`, computed here when not given);
    None when fewer tickers than the portfolio needs. Sharpe and Sortino ratios, their
    differences and the best naive ranking are measured over `cash` (the daily interest on
    cash by date, the run's --cash-rate; none: over a zero return), as in a study's tables."""
    tickers = [t for t in studies if forecaster in studies[t].predictions.columns]
    if len(tickers) < _needed(config):
        return None
    panel = price_panel({t: frames[t] for t in tickers})
    forecasts = pd.DataFrame({t: studies[t].predictions[forecaster] for t in tickers})
    forecasts = forecasts.reindex(panel.index)
    if forecasts.notna().sum(axis=1).max() < _needed(config):  # spans that never overlap enough
        return None
    if naive is None or naive.tickers != tuple(tickers):
        naive = _naive_of(config, frames, studies, tickers)
    weights = ranking_weights(forecasts, config.top_k, config.portfolio, prices=panel)
    bench = equal_weight_weights(panel, weights.index)
    port, trades = _run(panel, weights, config, forecaster)
    eq, eq_trades = _run(panel, bench, config, EQUAL_WEIGHT)
    days = weights.index[1:]  # day 0: nothing held
    # a naive ranking outside its own span (too few tickers ranked yet) holds cash
    naive_r = naive.returns.reindex(days)
    naive_r = naive_r.loc[:, naive_r.notna().any()].fillna(0.0)
    frame = pd.concat(
        [port.rename(forecaster).loc[days], naive_r, eq.rename(EQUAL_WEIGHT).loc[days]], axis=1
    )
    rf = None if cash is None else cash.reindex(days).fillna(0.0)  # as over_cash reads it
    excess = frame if rf is None else frame.sub(rf, axis=0)
    rf = None if rf is None else rf.to_numpy()
    rows = {name: strategy_metrics(frame[name], cash_rate=rf) for name in frame.columns}
    rows[forecaster]["trades"] = trades
    rows[EQUAL_WEIGHT]["trades"] = eq_trades  # the universe page shows every count
    for name in naive_r.columns:
        rows[name]["trades"] = naive.trades[name]
    tests = bootstrap_sharpe(
        excess, EQUAL_WEIGHT, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    for name in rows:
        rows[name].update({k: tests[name].get(k) for k in TEST_COLUMNS})
    best = _best(excess[naive_r.columns])
    versus = _versus(excess, forecaster, best, config) if best is not None else None
    shown = [forecaster, *([best] if best else []), EQUAL_WEIGHT]
    ic = rank_ic(forecasts, next_close_returns(panel), min_assets=MIN_IC_ASSETS)
    return Portfolio(
        forecaster,
        frame[shown],
        pd.DataFrame.from_dict(rows, orient="index"),
        ic,
        trades,
        best,
        versus,
        naive_r,
        factor=factor_analysis(forecasts, panel["close"], name=forecaster, top_k=config.top_k),
        naive_factors={n: naive.factors[n] for n in naive_r.columns if n in naive.factors},
    )


def ranking_portfolios(
    config: RunConfig,
    frames: dict[str, pd.DataFrame],
    studies: dict[str, StudyResult],
    forecasters: Sequence[str],
    earlier_trials: int = 0,
    cash: pd.Series | None = None,
) -> tuple[dict[str, Portfolio], dict[str, str]]:
    """Every forecaster's portfolio (see `ranking_portfolio`), the naive rankings computed once
    per set of tickers, and each forecaster's deflated Sharpe ratio counting every ranking
    tried: the forecasters' portfolios, the naive rankings, and `earlier_trials` (the
    universe's per-ticker configurations, whose Sharpe ratios are not the portfolio's), with
    its track record against equal weight. `cash`: the daily interest on cash by date (the
    run's --cash-rate), which every Sharpe ratio in the tables, the deflated Sharpe ratio and
    the track record are measured over (none: over a zero return; the portfolio engine itself
    pays no interest on idle cash).
    Returns the portfolios and, per forecaster without one, the reason."""
    made: dict[str, Portfolio] = {}
    skipped: dict[str, str] = {}
    naive_by_tickers: dict[tuple[str, ...], NaiveRankings] = {}
    for name in forecasters:
        tickers = tuple(t for t in studies if name in studies[t].predictions.columns)
        if len(tickers) < _needed(config):
            skipped[name] = f"too few tickers for a top-{config.top_k} portfolio"
            continue
        if tickers not in naive_by_tickers:
            naive_by_tickers[tickers] = _naive_of(config, frames, studies, tickers)
        made_one = ranking_portfolio(config, frames, studies, name, naive_by_tickers[tickers], cash)
        if made_one is None:
            skipped[name] = (
                f"too few tickers with forecasts on the same days for a top-{config.top_k} "
                "portfolio"
            )
            continue
        made[name] = made_one
    trial_returns = [p.returns[p.forecaster] for p in made.values()]
    for naive in naive_by_tickers.values():
        trial_returns += [naive.returns[c].dropna() for c in naive.returns.columns]
    per_period = np.array(
        [float(sharpe(over_cash(r, cash).to_numpy(dtype=float))) for r in trial_returns]
    ) / math.sqrt(TRADING_DAYS)
    n_trials = len(trial_returns) + max(int(earlier_trials), 0)
    for name, p in made.items():
        mine = over_cash(p.returns[name], cash).to_numpy(dtype=float)
        dsr = deflated_sharpe(mine, per_period, extra_trials=earlier_trials)
        metrics = p.metrics.copy()
        metrics["dsr"] = None
        metrics["dsr_trials"] = None
        metrics.loc[name, "dsr"] = finite_or_none(dsr["dsr"])
        metrics.loc[name, "dsr_trials"] = n_trials
        record = track_record(mine, over_cash(p.returns[EQUAL_WEIGHT], cash).to_numpy(float))
        made[name] = dataclasses.replace(
            p,
            metrics=metrics,
            trials=n_trials,
            over_cash=cash is not None and bool((cash != 0).any()),
            track_record=record,
        )
    return made, skipped


def over_cash(returns: pd.Series, cash: pd.Series | None) -> pd.Series:
    """Daily returns over the cash rate on their own days (none: as they are)."""
    if cash is None:
        return returns
    return returns - cash.reindex(returns.index).fillna(0.0).to_numpy()


def ranking_tests(
    config: RunConfig, portfolios: Mapping[str, Portfolio], cash: pd.Series | None = None
) -> RankingTests:
    """PBO (CSCV, 16 blocks) over every ranking a universe tried, and Romano-Wolf StepM of
    each against equal weight, on the days they share, over the cash rate (`cash`, as for
    the deflated Sharpe ratio), with the run's bootstrap."""
    family = ranking_returns(portfolios)
    if family.empty:
        return RankingTests(None, None, 0, ("no ranking portfolio: nothing to test as a family",))
    family = family.apply(lambda col: over_cash(col, cash))
    overfitting, pbo_why = overfitting_or_why(family, DEFAULT_BLOCKS)
    found, stepm_why = stepm_or_why(
        family, EQUAL_WEIGHT, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    notes = [
        f"{what} over the rankings {verb}: {why}"
        for what, verb, why in (
            ("Probability of backtest overfitting", "not estimated", pbo_why),
            ("Romano-Wolf StepM", "not run", stepm_why),
        )
        if why
    ]
    return RankingTests(overfitting, found, len(family), tuple(notes))


def ranking_returns(portfolios: Mapping[str, Portfolio]) -> pd.DataFrame:
    """(days x rankings) the daily returns of every ranking tried in a universe: each
    forecaster's portfolio and each naive ranking once, on the days they share (the family
    for the probability of backtest overfitting and StepM against equal weight, which is the
    last column)."""
    if not portfolios:
        return pd.DataFrame()
    cols = {name: p.returns[name] for name, p in portfolios.items()}
    for p in portfolios.values():
        for n in [] if p.naive_returns is None else p.naive_returns.columns:
            cols.setdefault(n, p.naive_returns[n])
    cols[EQUAL_WEIGHT] = next(iter(portfolios.values())).returns[EQUAL_WEIGHT]
    return pd.DataFrame(cols).dropna()
