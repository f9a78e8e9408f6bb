"""Strategies: forecast -> target position -> next-open execution with costs.

Strategies read a precomputed position series (-1, 0, +1, or fractional target weights traded
with a rebalance band: `rebalance.py`); they never hold a model. `backtest.py` is the
Backtrader engine used for reported results; `vectorised.py` is its numpy twin (same numbers,
~8000x faster) for sweeps and for a parity check on every run. Nothing here imports `lstmbt`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public names, for type checkers and the API docs
    from lstmbt.strategies.backtest import BacktestError, BacktestResult, run_backtrader
    from lstmbt.strategies.costs import Costs, StrategyRuined
    from lstmbt.strategies.panel import panel_returns, price_panel
    from lstmbt.strategies.portfolio import (
        equal_weight_weights,
        next_close_returns,
        rank_ic,
        ranking_weights,
    )
    from lstmbt.strategies.portfolio_backtest import PortfolioResult, run_portfolio_backtrader
    from lstmbt.strategies.signals import (
        buy_and_hold_positions,
        ewma_volatility,
        fit_vol_scale,
        forecast_positions,
        ma_crossover_positions,
        positions_from_forecast,
        signal_from_forecast,
        vol_target_weights,
    )
    from lstmbt.strategies.vectorised import held_positions, rebalanced_turnover, vectorised_returns

# each public name's module, imported when the name is first used (PEP 562)
_EXPORTS = {
    "lstmbt.strategies.backtest": ("BacktestError", "BacktestResult", "run_backtrader"),
    "lstmbt.strategies.costs": ("Costs", "StrategyRuined"),
    "lstmbt.strategies.panel": ("panel_returns", "price_panel"),
    "lstmbt.strategies.portfolio": (
        "equal_weight_weights",
        "next_close_returns",
        "rank_ic",
        "ranking_weights",
    ),
    "lstmbt.strategies.portfolio_backtest": ("PortfolioResult", "run_portfolio_backtrader"),
    "lstmbt.strategies.signals": (
        "buy_and_hold_positions",
        "ewma_volatility",
        "fit_vol_scale",
        "forecast_positions",
        "ma_crossover_positions",
        "positions_from_forecast",
        "signal_from_forecast",
        "vol_target_weights",
    ),
    "lstmbt.strategies.vectorised": ("held_positions", "rebalanced_turnover", "vectorised_returns"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "BacktestError",
    "BacktestResult",
    "Costs",
    "StrategyRuined",
    "buy_and_hold_positions",
    "ewma_volatility",
    "fit_vol_scale",
    "forecast_positions",
    "held_positions",
    "ma_crossover_positions",
    "positions_from_forecast",
    "run_backtrader",
    "signal_from_forecast",
    "vectorised_returns",
    "PortfolioResult",
    "equal_weight_weights",
    "next_close_returns",
    "panel_returns",
    "price_panel",
    "rank_ic",
    "ranking_weights",
    "run_portfolio_backtrader",
    "vol_target_weights",
    "rebalanced_turnover",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
