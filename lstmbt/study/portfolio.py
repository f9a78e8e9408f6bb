"""A universe's ranking portfolio: each day rank the tickers by a forecaster's forecast made at
that close, hold the top k (or top k long and bottom k short) from the next open, re-weighted only
when membership changes, with the same costs; against the same universe bought equal-weight once
and held. Backtrader's multi-data engine gives the numbers; its panel twin must agree to 1e-9."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lstmbt.config import RunConfig
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
from lstmbt.study.significance import bootstrap_sharpe

EQUAL_WEIGHT = "equal_weight"


@dataclass(frozen=True)
class Portfolio:
    """One forecaster's ranking portfolio beside the equal-weight benchmark."""

    forecaster: str
    returns: pd.DataFrame  # columns: the forecaster's portfolio, equal_weight
    metrics: pd.DataFrame  # strategy metrics of both rows, with the Sharpe difference test
    rank_ic: pd.Series  # daily Spearman of forecasts vs next-day returns across tickers
    trades: int


def _run(
    panel: pd.DataFrame, weights: pd.DataFrame, config: RunConfig, name: str
) -> tuple[pd.Series, int]:
    costs = costs_of(config)
    result = run_portfolio_backtrader(panel, weights, costs, name=name)
    check_parity(name, result.returns, panel_returns(panel, weights, costs), "panel twin")
    return result.returns, result.n_trades


def ranking_portfolio(
    config: RunConfig,
    frames: dict[str, pd.DataFrame],
    studies: dict[str, StudyResult],
    forecaster: str,
) -> Portfolio | None:
    """The top-k portfolio of `forecaster` over the tickers that have it (None when fewer
    tickers than the portfolio needs)."""
    tickers = [t for t in studies if forecaster in studies[t].predictions.columns]
    need = config.top_k * (2 if config.portfolio == "long-short" else 1)
    if len(tickers) < need:
        return None
    panel = price_panel({t: frames[t] for t in tickers})
    forecasts = pd.DataFrame({t: studies[t].predictions[forecaster] for t in tickers})
    forecasts = forecasts.reindex(panel.index)
    if forecasts.notna().sum(axis=1).max() < need:  # test spans that never overlap enough
        return None
    weights = ranking_weights(forecasts, config.top_k, config.portfolio, prices=panel)
    bench = equal_weight_weights(panel, weights.index)
    port, trades = _run(panel, weights, config, forecaster)
    eq, _ = _run(panel, bench, config, EQUAL_WEIGHT)
    returns = pd.DataFrame({forecaster: port, EQUAL_WEIGHT: eq}).iloc[1:]  # day 0: nothing held
    rows = {name: strategy_metrics(returns[name]) for name in returns.columns}
    rows[forecaster]["trades"] = trades
    tests = bootstrap_sharpe(
        returns,
        EQUAL_WEIGHT,
        reps=config.bootstrap_reps,
        block=config.block_size,
        seed=config.seed,
    )
    for name in rows:
        rows[name].update(
            {k: tests[name].get(k) for k in ("diff", "diff_ci_low", "diff_ci_high", "diff_p_value")}
        )
    ic = rank_ic(forecasts, next_close_returns(panel), min_assets=min(3, len(tickers)))
    return Portfolio(forecaster, returns, pd.DataFrame.from_dict(rows, orient="index"), ic, trades)
