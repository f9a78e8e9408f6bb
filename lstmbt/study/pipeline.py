"""The experiment as a chain of named steps: features and folds -> forecasts -> positions ->
backtests -> metrics, significance and verdict. Nothing is written here except finished folds
(through the FoldStore the caller passes, for resume).

Every result is out-of-sample: each model and scaler sees only its fold's training block; the
evaluated span (the stitched test blocks) is the same for every model, baseline and buy-and-hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.config import RunConfig
from lstmbt.metrics import BENCHMARK, step_name
from lstmbt.progress import Progress
from lstmbt.results import StudyData, StudyResult
from lstmbt.runs import EarlierTrials
from lstmbt.study.backtests import backtest_all
from lstmbt.study.evaluation import evaluate
from lstmbt.study.folds import FoldStore, TrainerSlot, model_dir
from lstmbt.study.forecasters import fit_forecasters
from lstmbt.study.horizons import with_steps
from lstmbt.study.inputs import model_meta


def prediction_table(
    data: StudyData, dates: pd.DatetimeIndex, forecasts: dict[str, np.ndarray]
) -> pd.DataFrame:
    """predictions.csv: the realised next-day return beside every model's forecast, by date.

    A forecast is (dates,) or (dates, h). With h > 1 (--horizon h) the bare columns stay the
    next day's, and each later day k = 2..h adds `realised@t+k` (the return from close t+k-1
    to close t+k) and `<model>@t+k`, the forecast of it made at the close of t.
    """
    targets = data.targets.loc[dates].to_numpy()
    arrays = {name: np.asarray(f).reshape(len(dates), -1) for name, f in forecasts.items()}
    steps = max((a.shape[1] for a in arrays.values()), default=1)
    columns = {"realised": targets[:, 0], **{name: a[:, 0] for name, a in arrays.items()}}
    for k in range(2, steps + 1):
        columns[step_name("realised", k)] = targets[:, k - 1]
        columns.update({step_name(name, k): a[:, k - 1] for name, a in arrays.items()})
    frame = pd.DataFrame(columns, index=dates)
    frame.index.name = "date"
    return frame


def compute_study(
    config: RunConfig,
    data: StudyData,
    progress: Progress | None = None,
    store: FoldStore | None = None,
    earlier: EarlierTrials | None = None,
    trainer: TrainerSlot | None = None,
) -> StudyResult:
    """Forecast, backtest and evaluate every model on `data`; returns the typed result.
    `earlier`: trials of earlier runs on the same data, for the deflated Sharpe ratio."""
    progress = progress or Progress()
    fc = fit_forecasters(config, data, progress, store, trainer)
    dates = data.dates[fc.eval_pos]
    bt = backtest_all(
        config, data.ohlcv, dates, fc.main, progress, cash=data.cash_rate, sizing=fc.sizing
    )
    progress.stage("significance: bootstrap Sharpe intervals, SPA, Diebold-Mariano, PT")
    metrics = with_steps(evaluate(config, data, fc, bt, BENCHMARK, earlier), data, fc, dates)
    predictions = prediction_table(data, dates, fc.main)
    return StudyResult(
        config=config,
        metrics=metrics,
        predictions=predictions,
        positions=bt.positions,
        returns=bt.returns,
        orders=bt.orders,
        models=fc.models,
        model_meta={
            model_dir(p.name, m): model_meta(config, p, data)
            for p in config.model_presets()
            for m in config.model_names()
        },
        folds=fc.folds,
        data=data,
    )
