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
from lstmbt.metrics import BENCHMARK
from lstmbt.progress import Progress
from lstmbt.results import StudyData, StudyResult
from lstmbt.runs import EarlierTrials
from lstmbt.study.backtests import backtest_all
from lstmbt.study.evaluation import evaluate
from lstmbt.study.folds import FoldStore, model_dir
from lstmbt.study.forecasters import fit_forecasters
from lstmbt.study.inputs import model_meta


def prediction_table(
    data: StudyData, dates: pd.DatetimeIndex, forecasts: dict[str, np.ndarray]
) -> pd.DataFrame:
    """predictions.csv: the realised next-day return beside every model's forecast, by date."""
    realised = data.targets.loc[dates].to_numpy()[:, 0]
    frame = pd.DataFrame({"realised": realised, **forecasts}, index=dates)
    frame.index.name = "date"
    return frame


def compute_study(
    config: RunConfig,
    data: StudyData,
    progress: Progress | None = None,
    store: FoldStore | None = None,
    earlier: EarlierTrials | None = None,
) -> StudyResult:
    """Forecast, backtest and evaluate every model on `data`; returns the typed result.
    `earlier`: trials of earlier runs on the same data, for the deflated Sharpe ratio."""
    progress = progress or Progress()
    fc = fit_forecasters(config, data, progress, store)
    dates = data.dates[fc.eval_pos]
    bt = backtest_all(
        config, data.ohlcv, dates, fc.main, progress, cash=data.cash_rate, sizing=fc.sizing
    )
    progress.stage("significance: bootstrap Sharpe intervals, SPA, Diebold-Mariano, PT")
    metrics = evaluate(config, data, fc, bt, BENCHMARK, earlier)
    predictions = prediction_table(data, dates, {n: f[:, 0] for n, f in fc.main.items()})
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
