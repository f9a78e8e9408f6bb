"""Out-of-sample forecast metrics and after-cost strategy metrics (annualised with
TRADING_DAYS; Sharpe and Sortino ratios on excess returns over the cash rate, the Sharpe ratio
by the one `significance.sharpe`), their significance tests, what costs take
(lstmbt/study/costs.py), and the study's typed Metrics (a pure function of the forecasts and
backtests; the verdict is a pure function of the Metrics)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from scipy import stats

from lstmbt.config import RunConfig
from lstmbt.features.returns import simple_returns
from lstmbt.findings import ConfidenceSet, Overfitting, StepM, TrackRecord
from lstmbt.metrics import (
    Metrics,
    Spa,
    Span,
    Trials,
    fold_score_table,
    fold_table,
    forecast_test_row,
    models_table,
    seed_table,
    sized_name,
)
from lstmbt.runs import SAME_SHARPE, EarlierTrials
from lstmbt.strategies import forecast_positions, vectorised_returns
from lstmbt.study.backtests import Backtests, costs_of
from lstmbt.study.costs import analyse_costs
from lstmbt.study.familywise import forecast_losses, model_confidence_set, stepm_or_why
from lstmbt.study.forecasters import BASELINE_FOLDS, Forecasts
from lstmbt.study.inputs import StudyData
from lstmbt.study.leaks import known_returns, leak_check
from lstmbt.study.overfitting import DEFAULT_BLOCKS, overfitting_or_why
from lstmbt.study.significance import (
    TRADING_DAYS,
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    distinct_trials,
    finite_or_none,
    information_coefficient,
    lag_check,
    pesaran_timmermann,
    sharpe,
    spa_test,
)
from lstmbt.study.trackrecord import track_record
from lstmbt.study.verdict import verdict


def forecast_metrics(forecast: np.ndarray, realised: np.ndarray) -> dict[str, float | None]:
    """RMSE, MAE, directional hit rate, Spearman IC and out-of-sample R² against a zero forecast.

    The hit rate counts days with a non-zero forecast and a non-zero realised return; a forecaster
    that never commits to a direction (the random walk) has no hit rate.
    """
    f = np.asarray(forecast, dtype=np.float64)
    r = np.asarray(realised, dtype=np.float64)
    err = f - r
    mse = float(np.mean(err**2))
    decided = (f != 0) & (r != 0)
    hit = float(np.mean(np.sign(f[decided]) == np.sign(r[decided]))) if decided.any() else math.nan
    ic = math.nan
    if np.ptp(f) > 0 and np.ptp(r) > 0:
        ic = float(stats.spearmanr(f, r).statistic)
    return {
        "rmse": finite_or_none(math.sqrt(mse)),
        "mae": finite_or_none(float(np.mean(np.abs(err)))),
        "hit_rate": finite_or_none(hit),
        "ic": finite_or_none(ic),
        "r2_vs_zero": finite_or_none(1.0 - mse / float(np.mean(r**2))),
        "n": int(len(f)),
    }


def strategy_metrics(
    returns: pd.Series,
    positions_held: pd.Series | None = None,
    n_trades: int | None = None,
    cash_rate: np.ndarray | None = None,
) -> dict[str, float | int | None]:
    """Total return, CAGR, Sharpe, Sortino, volatility, max drawdown, exposure, trades.

    Sharpe and Sortino ratios are on the excess returns over `cash_rate` (the daily interest
    on cash, each day; none: zero)."""
    r = returns.to_numpy(dtype=np.float64)
    n = len(r)
    x = r if cash_rate is None else r - cash_rate  # excess returns
    equity = np.cumprod(1.0 + r)
    total = equity[-1] - 1.0 if n else math.nan
    years = n / TRADING_DAYS
    cagr = equity[-1] ** (1.0 / years) - 1.0 if n and equity[-1] > 0 else math.nan
    sd = np.std(r, ddof=1) if n > 1 else math.nan
    sharpe_ratio = float(sharpe(x)) if n > 1 else math.nan
    downside = np.sqrt(np.mean(np.minimum(x, 0.0) ** 2)) if n else math.nan
    sortino = np.mean(x) / downside * math.sqrt(TRADING_DAYS) if n and downside > 0 else math.nan
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))
    max_dd = float(np.min(np.concatenate([[1.0], equity]) / peak - 1.0))
    out = {
        "total_return": finite_or_none(total),
        "cagr": finite_or_none(cagr),
        "sharpe": finite_or_none(sharpe_ratio),
        "sortino": finite_or_none(sortino),
        "volatility": finite_or_none(sd * math.sqrt(TRADING_DAYS)) if n > 1 else None,
        "max_drawdown": finite_or_none(max_dd),
        "days": n,
    }
    if positions_held is not None:
        out["exposure"] = finite_or_none(float((positions_held.to_numpy() != 0).mean()))
    if n_trades is not None:
        out["trades"] = int(n_trades)
    return out


def evaluate(
    config: RunConfig,
    data: StudyData,
    fc: Forecasts,
    bt: Backtests,
    benchmark: str,
    earlier: EarlierTrials | None = None,
    declared_trials: int = 0,
    kind: str = "study",
) -> Metrics:
    """Forecast and after-cost strategy metrics, seed spread, per-fold results, significance
    and the verdict, all on the same out-of-sample span. `earlier`: the trials of earlier runs
    on the same data, counted by the deflated Sharpe ratio too."""
    dates = data.dates[fc.eval_pos]
    realised = data.targets.loc[dates].to_numpy()[:, 0]
    forecast, forecast_tests = forecast_tables(config, data, fc, dates, realised)
    rf = bt.rf
    excess = bt.returns.sub(rf, axis=0)  # Sharpe ratios are measured over the cash rate
    strategy = pd.DataFrame.from_dict(
        {
            name: strategy_metrics(bt.returns[name], bt.held[name], bt.trades[name], rf.to_numpy())
            for name in bt.returns.columns
        },
        orient="index",
    )
    costs = analyse_costs(
        data.ohlcv,
        bt.positions,
        bt.returns,
        rf,
        bt.annual_rate,
        costs_of(config),
        benchmark,
        reps=config.bootstrap_reps,
        block=config.block_size,
        seed=config.seed,
        bands=bt.bands,
        turnover=bt.turnover,
    )
    strategy = strategy.join(costs.columns)
    seed_scores, seed_returns = seed_score_table(config, data, fc, dates, realised, bt)
    earlier = earlier or EarlierTrials()
    family = trial_returns(seed_returns, excess, set(fc.per_seed))
    this_run = trial_sharpes(family)
    before = tuple(  # a configuration this run has too (a baseline on this data) counts once
        s for s in earlier.sharpes if not any(abs(s - t) <= SAME_SHARPE for t in this_run)
    )
    trials = Trials(tuple(float(s) for s in this_run), before, earlier.runs, declared_trials)
    tests = strategy_test_table(
        config,
        excess,
        benchmark,
        np.array([*trials.this_run, *trials.earlier]),
        declared_trials,
    )
    tests = tests.join(costs.breakeven)
    spa = Spa.from_dict(
        spa_test(
            bt.returns,
            benchmark,
            reps=config.bootstrap_reps,
            block=config.block_size,
            seed=config.seed,
        )
    )
    folds, fold_scores = fold_tables(data, fc, bt.returns, dates, realised)
    overfitting, pbo_note = overfitting_of(family)
    stepm_result, stepm_note = stepm_of(config, excess, benchmark)
    mcs, mcs_note = confidence_set_of(config, fc, dates, realised)
    models = models_table([*fc.entries, *bt.entries])
    metrics = Metrics(
        benchmark=benchmark,
        span=_span(config, data, fc, bt.returns, dates, kind),
        models=models,
        strategy=strategy,
        forecast=forecast,
        strategy_tests=tests,
        forecast_tests=forecast_tests,
        spa=spa,
        seed_scores=seed_scores,
        folds=folds,
        fold_scores=fold_scores,
        notes=tuple(data.notes)
        + _cost_notes(config)
        + tuple(n for n in (pbo_note, stepm_note, mcs_note) if n),
        trials=trials,
        cost_sweep=costs.sweep,
        sizing_scales=(
            {}
            if fc.sizing is None
            else {sized_name(n): tuple(ks) for n, ks in fc.sizing.per_fold.items()}
        ),
        overfitting=overfitting,
        stepm=stepm_result,
        confidence_set=mcs,
        track_records=track_records(excess, benchmark, forecast_rules(models, excess)),
    )
    return dataclasses.replace(metrics, verdict=verdict(metrics))


def _cost_notes(config: RunConfig) -> tuple[str, ...]:
    """What the costs model, where that needs saying."""
    if not config.label.startswith("^"):
        return ()
    return (
        f"{config.label} is an index, which cannot be traded itself: the costs (commission, "
        "slippage, spread, fees) and the interest on cash model a fund that tracks it, traded "
        "at the index's prices",
    )


def forecast_tables(
    config: RunConfig,
    data: StudyData,
    fc: Forecasts,
    dates: pd.DatetimeIndex,
    realised: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per forecaster: accuracy metrics, and its tests against the random walk and chance."""
    today = simple_returns(data.ohlcv["close"])
    sel = np.ones(len(dates), bool) if fc.tested is None else fc.tested
    dates, realised = dates[sel], realised[sel]
    known = known_returns(today, dates)
    metrics, tests = {}, {}
    for name, full in fc.main.items():
        f = full[sel]
        metrics[name] = forecast_metrics(f[:, 0], realised)
        tests[name] = forecast_tests(
            pd.Series(f[:, 0], index=dates), realised, today, known, config.horizon
        )
    return (
        pd.DataFrame.from_dict(metrics, orient="index"),
        pd.DataFrame.from_dict(tests, orient="index"),
    )


def forecast_tests(
    forecast: pd.Series,
    realised: np.ndarray,
    today: pd.Series,
    known: np.ndarray,
    horizon: int = 1,
) -> dict:
    """One row of `Metrics.forecast_tests`: the forecast made at each date's close (index: the
    dates) against the random walk's (no change) and chance, the lag check against `today`
    (each trading day's close-to-close return) and the leak checks against `known` (the
    returns known at each date, `leaks.known_returns`). The DM tests take the forecast's error
    first, so a negative statistic and a small `p_better` mean a lower loss than the random
    walk's."""
    f = forecast.to_numpy(dtype=np.float64)
    err, rw_err = f - realised, 0.0 - realised
    return forecast_test_row(
        diebold_mariano(err, rw_err, "squared", horizon),
        diebold_mariano(err, rw_err, "absolute", horizon),
        pesaran_timmermann(f, realised),
        information_coefficient(f, realised),
        lag_check(forecast, today),
        leak_check(f, realised, known),
    )


def trial_returns(
    seed_returns: pd.DataFrame, returns: pd.DataFrame, lstms: set[str]
) -> pd.DataFrame:
    """Daily excess returns over cash of every configuration tried: each trained forecaster's
    seeds (not their ensembles, which average them) and every other strategy, a configuration
    with identical returns counted once (an always-long baseline is buy-and-hold again, not
    a second trial). The family of the deflated Sharpe ratio and of PBO."""
    others = returns[[c for c in returns.columns if c not in lstms]]
    both = others if seed_returns.empty else pd.concat([seed_returns, others], axis=1)
    return distinct_trials(both)


def trial_sharpes(trials: pd.DataFrame) -> np.ndarray:
    """Annualised Sharpe ratios of the configurations tried (`trial_returns`), those that
    have one (a configuration that never holds a position has none)."""
    values = sharpe(trials.to_numpy(dtype=float), axis=0) if trials.shape[1] else np.array([])
    return np.array([s for s in np.atleast_1d(values) if _finite(s)])


def overfitting_of(family: pd.DataFrame) -> tuple[Overfitting | None, str]:
    """PBO by CSCV (16 blocks) over the configurations tried, or None and a note saying why
    it could not be estimated."""
    found, why = overfitting_or_why(family, DEFAULT_BLOCKS)
    return found, why and f"Probability of backtest overfitting not estimated: {why}"


def stepm_of(config: RunConfig, excess: pd.DataFrame, benchmark: str) -> tuple[StepM | None, str]:
    """Romano-Wolf StepM of every strategy against the benchmark (excess returns over cash;
    the loss differentials are those of the raw returns), with the run's bootstrap, or None
    and a note saying why it could not run."""
    found, why = stepm_or_why(
        excess, benchmark, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    return found, why and f"Romano-Wolf StepM not run: {why}"


def confidence_set_of(
    config: RunConfig, fc: Forecasts, dates: pd.DatetimeIndex, realised: np.ndarray
) -> tuple[ConfidenceSet | None, str]:
    """Hansen's model confidence set over the squared forecast errors of every forecaster and
    baseline, on the days the forecast tests use, with the run's bootstrap."""
    sel = np.ones(len(dates), bool) if fc.tested is None else fc.tested
    names = list(fc.main)
    frame = pd.DataFrame({n: fc.main[n][sel, 0] for n in names}, index=dates[sel])
    frame["realised"] = realised[sel]
    try:
        return (
            model_confidence_set(
                forecast_losses(frame, names),
                reps=config.bootstrap_reps,
                block=config.block_size,
                seed=config.seed,
            ),
            "",
        )
    except ValueError as exc:
        return None, f"Model confidence set not computed: {exc}"


def forecast_rules(models: pd.DataFrame, returns: pd.DataFrame) -> list[str]:
    """The strategies built from the run's forecasts: each forecaster's sign rule and, with
    --sizing vol-target, its sized rule (the verdict's Holm family)."""
    names = [n for n in models.index[models["role"] == "forecaster"] if n in returns.columns]
    return [*names, *(sized_name(n) for n in names if sized_name(n) in returns.columns)]


def track_records(excess: pd.DataFrame, benchmark: str, names: list[str]) -> dict[str, TrackRecord]:
    """PSR and minimum track record length of each of `names` against the benchmark's Sharpe
    ratio on the same days (excess returns over cash); a strategy with no Sharpe ratio (it
    never held a position) has none."""
    out = {}
    for name in names:
        found = track_record(excess[name], excess[benchmark])
        if found is not None:
            out[name] = found
    return out


def seed_score_table(
    config: RunConfig,
    data: StudyData,
    fc: Forecasts,
    dates: pd.DatetimeIndex,
    realised: np.ndarray,
    bt: Backtests,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every seed's strategy scored with the vectorised twin (the same engine rules, costs and
    interest on cash as Backtrader) and its forecast scored on its own: one row per (LSTM,
    seed), and the seeds' daily excess returns over cash (one column per seed)."""
    costs = costs_of(config)
    rate = 0.0 if bt.annual_rate is None else bt.annual_rate
    rf = bt.rf
    rows, returns = [], {}
    for name, runs in fc.per_seed.items():
        pos = pd.DataFrame(
            {
                f"seed{k}": forecast_positions(
                    f, dates, config.signal_horizon, config.threshold, config.long_short
                )
                for k, f in enumerate(runs)
            }
        )
        rets = vectorised_returns(data.ohlcv, pos, costs, cash_rate=rate).iloc[1:]
        for k, (col, f) in enumerate(zip(rets.columns, runs, strict=True)):
            returns[f"{name} seed {k}"] = rets[col] - rf
            s = strategy_metrics(rets[col], cash_rate=rf.to_numpy())
            m = forecast_metrics(f[:, 0], realised)
            rows.append(
                {
                    "name": name,
                    "seed": k,
                    "sharpe": s["sharpe"],
                    "total_return": s["total_return"],
                    "rmse": m["rmse"],
                    "hit_rate": m["hit_rate"],
                }
            )
    return seed_table(rows), pd.DataFrame(returns)


def strategy_test_table(
    config: RunConfig,
    returns: pd.DataFrame,
    benchmark: str,
    trial_sharpes: np.ndarray,
    extra_trials: int = 0,
) -> pd.DataFrame:
    """Bootstrap Sharpe intervals, the difference to the benchmark, and the deflated Sharpe
    over every configuration tried (`trial_sharpes`, annualised); `returns`: excess returns
    over the cash rate."""
    boot = bootstrap_sharpe(
        returns, benchmark, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    per_period = trial_sharpes / np.sqrt(TRADING_DAYS)
    rows = {}
    for name in returns.columns:
        dsr = deflated_sharpe(returns[name].to_numpy(), per_period, extra_trials)
        rows[name] = {
            **boot[name],
            "dsr": dsr["dsr"],
            "dsr_sr0_annual": dsr["sr0_annual"],
            "dsr_n_trials": dsr["n_trials"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def fold_tables(
    data: StudyData,
    fc: Forecasts,
    returns: pd.DataFrame,
    dates: pd.DatetimeIndex,
    realised: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-fold results: the same stitched series cut at the fold boundaries (the return days
    start one day after the first decision, so fold 0 has one day fewer than it tests)."""
    lstms = set(fc.per_seed)
    spans, scores = [], []
    for k, f in enumerate(fc.folds[BASELINE_FOLDS]):
        fdates = data.dates[f.test]
        days = returns.index[(returns.index >= fdates[0]) & (returns.index <= fdates[-1])]
        spans.append(
            {
                "fold": k,
                "test_start": f"{fdates[0]:%Y-%m-%d}",
                "test_end": f"{fdates[-1]:%Y-%m-%d}",
                "days": int(len(days)),
            }
        )
        sel = np.isin(dates, fdates)
        for name in returns.columns:
            row = {"fold": k, "name": name, "rmse": None, "hit_rate": None}
            row["total_return"] = float((1 + returns.loc[days, name]).prod() - 1)
            if name in lstms:
                m = forecast_metrics(fc.main[name][sel, 0], realised[sel])
                row["rmse"], row["hit_rate"] = m["rmse"], m["hit_rate"]
            scores.append(row)
    return fold_table(spans), fold_score_table(scores)


def _span(
    config: RunConfig,
    data: StudyData,
    fc: Forecasts,
    returns: pd.DataFrame,
    dates: pd.DatetimeIndex,
    kind: str = "study",
) -> Span:
    return Span(
        ticker=config.label,
        test_start=f"{returns.index[0]:%Y-%m-%d}",
        test_end=f"{returns.index[-1]:%Y-%m-%d}",
        test_days=len(returns),
        first_decision=f"{dates[0]:%Y-%m-%d}",
        train_start=f"{data.dates[0]:%Y-%m-%d}",
        walk_forward=config.walk_forward,
        folds=len(fc.folds[BASELINE_FOLDS]),
        seeds=config.seeds,
        costs_per_side={
            "commission": config.commission,
            "slippage": config.slippage,
            "half_spread": config.half_spread,
        },
        kind=kind,
        costs={
            "min_fee": config.min_fee,
            "capital": config.capital,
            "borrow_fee": config.borrow_fee,
        },
        cash_rate=data.cash_rate.source if data.cash_rate is not None else "none",
    )


def _finite(x: object) -> bool:
    return x is not None and bool(pd.notna(x)) and math.isfinite(float(x))
