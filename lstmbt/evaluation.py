"""Out-of-sample forecast metrics and after-cost strategy metrics (annualised with 252 days)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from features.returns import simple_returns
from lstmbt.significance import (
    TRADING_DAYS,
    bootstrap_sharpe,
    deflated_sharpe,
    diebold_mariano,
    finite_or_none,
    information_coefficient,
    lag_check,
    pesaran_timmermann,
    sharpe,
    spa_test,
)
from strategies import Costs, forecast_positions, vectorised_returns

if TYPE_CHECKING:
    from lstmbt.config import RunConfig
    from lstmbt.pipeline import Forecasts, StudyData


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
    returns: pd.Series, positions_held: pd.Series | None = None, n_trades: int | None = None
) -> dict[str, float | int | None]:
    """Total return, CAGR, Sharpe, Sortino, volatility, max drawdown, exposure, trades."""
    r = returns.to_numpy(dtype=np.float64)
    n = len(r)
    equity = np.cumprod(1.0 + r)
    total = equity[-1] - 1.0 if n else math.nan
    years = n / TRADING_DAYS
    cagr = equity[-1] ** (1.0 / years) - 1.0 if n and equity[-1] > 0 else math.nan
    sd = np.std(r, ddof=1) if n > 1 else math.nan
    sharpe_ratio = float(sharpe(r)) if n > 1 else math.nan
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) if n else math.nan
    sortino = np.mean(r) / downside * math.sqrt(TRADING_DAYS) if n and downside > 0 else math.nan
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
    positions: pd.DataFrame,
    returns: pd.DataFrame,
    backtests: dict[str, dict],
    benchmark: str,
) -> dict:
    """Forecast and after-cost strategy metrics, seed spread, per-fold results and significance."""
    dates = data.dates[fc.eval_pos]
    realised = data.targets.loc[dates].to_numpy()[:, 0]
    today = simple_returns(data.ohlcv["close"])
    rw_err = 0.0 - realised
    forecast, forecast_tests = {}, {}
    for name, f in fc.main.items():
        forecast[name] = forecast_metrics(f[:, 0], realised)
        err = f[:, 0] - realised
        ic = information_coefficient(f[:, 0], realised)
        pt = pesaran_timmermann(f[:, 0], realised)
        dm_sq = diebold_mariano(err, rw_err, "squared", config.horizon)
        forecast_tests[name] = {
            "dm_squared_vs_rw": dm_sq,
            "dm_absolute_vs_rw": diebold_mariano(err, rw_err, "absolute", config.horizon),
            "dm_p": dm_sq["p_value"],
            "pt": pt,
            "pt_p": pt["p_value"],
            "ic": ic,
            "lag": lag_check(pd.Series(f[:, 0], index=dates), today),
        }
    strategy = {
        name: strategy_metrics(returns[name], backtests[name]["held"], backtests[name]["n_trades"])
        for name in returns.columns
    }
    # every seed's strategy, scored with the vectorised twin (same engine rules as Backtrader)
    costs = Costs(commission=config.commission, slippage=config.slippage)
    seeds: dict[str, dict] = {}
    trial_sharpes = []
    for preset, runs in fc.per_seed.items():
        pos = pd.DataFrame(
            {
                f"seed{k}": forecast_positions(
                    f, dates, config.signal_horizon, config.threshold, config.long_short
                )
                for k, f in enumerate(runs)
            }
        )
        rets = vectorised_returns(data.ohlcv, pos, costs).iloc[1:]
        per = [strategy_metrics(rets[c]) for c in rets.columns]
        fcm = [forecast_metrics(f[:, 0], realised) for f in runs]
        summary = {}
        for key, rows in (("sharpe", per), ("total_return", per), ("rmse", fcm), ("hit_rate", fcm)):
            vals = np.array([r[key] for r in rows if r[key] is not None], dtype=float)
            summary[key] = {
                "mean": float(vals.mean()) if len(vals) else None,
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
                "values": [r[key] for r in rows],
            }
        seeds[f"{preset}:lstm"] = {"n_seeds": len(runs), **summary}
        trial_sharpes += [r["sharpe"] for r in per if r["sharpe"] is not None]
    trial_sharpes += [
        m["sharpe"]
        for n, m in strategy.items()
        if m["sharpe"] is not None and not n.endswith(":lstm")
    ]
    trials_per_period = np.array(trial_sharpes) / np.sqrt(TRADING_DAYS)
    boot = bootstrap_sharpe(
        returns, benchmark, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    for name in returns.columns:
        boot[name]["dsr"] = deflated_sharpe(returns[name].to_numpy(), trials_per_period)
    spa = spa_test(
        returns, benchmark, reps=config.bootstrap_reps, block=config.block_size, seed=config.seed
    )
    # per-fold results: the same stitched series, cut at the fold boundaries (the return days
    # start one day after the first decision, so fold 0 has one day fewer than it tests)
    fold_rows = []
    held_index = returns.index
    for k, f in enumerate(fc.folds["_baselines"]):
        fdates = data.dates[f.test]
        days = held_index[(held_index >= fdates[0]) & (held_index <= fdates[-1])]
        row = {
            "fold": k,
            "test_start": f"{fdates[0]:%Y-%m-%d}",
            "test_end": f"{fdates[-1]:%Y-%m-%d}",
            "days": int(len(days)),
            "total_return": {},
            "rmse": {},
            "hit_rate": {},
        }
        sel = np.isin(dates, fdates)
        for name in returns.columns:
            row["total_return"][name] = float((1 + returns.loc[days, name]).prod() - 1)
        for name, fmat in fc.main.items():
            if name.endswith(":lstm"):
                m = forecast_metrics(fmat[sel, 0], realised[sel])
                row["rmse"][name], row["hit_rate"][name] = m["rmse"], m["hit_rate"]
        fold_rows.append(row)
    return {
        "span": {
            "ticker": config.ticker,
            "test_start": f"{returns.index[0]:%Y-%m-%d}",
            "test_end": f"{returns.index[-1]:%Y-%m-%d}",
            "test_days": len(returns),
            "first_decision": f"{dates[0]:%Y-%m-%d}",
            "train_start": f"{data.dates[0]:%Y-%m-%d}",
            "walk_forward": config.walk_forward,
            "folds": len(fc.folds["_baselines"]),
            "seeds": config.seeds,
            "costs_per_side": {"commission": config.commission, "slippage": config.slippage},
        },
        "forecast": forecast,
        "forecast_tests": forecast_tests,
        "strategy": strategy,
        "strategy_tests": boot,
        "spa": spa,
        "seeds": seeds,
        "folds": fold_rows,
        "benchmark": benchmark,
        "notes": data.notes,
    }
