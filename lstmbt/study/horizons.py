"""Multi-step forecasts (--horizon h > 1) scored step by step.

A model with an h-day head forecasts, at the close of t, each of the next h daily returns
(close t+k-1 to close t+k, k = 1..h). The comparison table scores the next day's forecast (what
--signal-horizon 1 trades); this table scores every step, and the h-day path (the sum of the h
daily forecasts, what --signal-horizon h trades) against the sum of the h realised returns, so
a reader sees how quickly the forecasts' skill fades with the distance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from lstmbt.metrics import PATH, Metrics, step_table
from lstmbt.study.evaluation import forecast_metrics
from lstmbt.study.forecasters import Forecasts
from lstmbt.study.inputs import StudyData
from lstmbt.study.significance import diebold_mariano


def step_labels(horizon: int) -> list[str]:
    """The per-step table's steps: "t+1" .. "t+h", then "path" (the h days' sum)."""
    return [f"t+{k}" for k in range(1, horizon + 1)] + [PATH]


def step_metrics(forecasts: Mapping[str, np.ndarray], realised: np.ndarray) -> pd.DataFrame:
    """Each (dates, h) forecast against the (dates, h) realised daily returns, step by step and
    over the path: RMSE, hit rate, Spearman IC, R² against a zero forecast, and the
    Diebold-Mariano test against the random walk (squared loss; a k-day forecast's errors
    overlap over k-1 days, so its long-run variance spans k-1 lags: HLN-corrected): the
    statistic, the two-sided p, the one-sided p of "the forecast's loss is lower than the
    random walk's" (what the report shows, as the forecast tests' `dm_p_better`) and the loss
    ratio (the forecast's MSE over the random walk's)."""
    realised = np.asarray(realised, dtype=np.float64)
    h = realised.shape[1]
    rows = []
    for name, forecast in forecasts.items():
        f = np.asarray(forecast, dtype=np.float64).reshape(len(realised), -1)
        if f.shape[1] != h:
            raise ValueError(f"{name}: {f.shape[1]} forecast steps for {h} realised ones")
        pairs = [(f[:, k], realised[:, k], k + 1) for k in range(h)]
        pairs.append((f.sum(axis=1), realised.sum(axis=1), h))
        for step, (fk, rk, lags) in zip(step_labels(h), pairs, strict=True):
            scores = forecast_metrics(fk, rk)
            dm = diebold_mariano(fk - rk, -rk, "squared", lags)  # what forecast_tests reads
            rows.append(
                {
                    "name": name,
                    "step": step,
                    **{c: scores[c] for c in ("rmse", "hit_rate", "ic", "r2_vs_zero", "n")},
                    "dm_stat": dm["stat"],
                    "dm_p": dm["p_value"],
                    "dm_p_better": dm["p_better"],
                    "loss_ratio": dm["loss_ratio"],
                }
            )
    return step_table(rows)


def with_steps(
    metrics: Metrics, data: StudyData, fc: Forecasts, dates: pd.DatetimeIndex
) -> Metrics:
    """`metrics` with its per-step table when the forecasts span several days (else as it
    is): every forecaster and baseline, on the dates the forecast tests use."""
    if data.targets.shape[1] < 2:
        return metrics
    sel = np.ones(len(dates), bool) if fc.tested is None else fc.tested
    realised = data.targets.loc[dates].to_numpy(dtype=np.float64)[sel]
    table = step_metrics({name: f[sel] for name, f in fc.main.items()}, realised)
    return dataclasses.replace(metrics, steps=table)
