"""Forecasts of many tickers -> ranking-portfolio weights, the equal-weight benchmark, rank IC.

Forecasts are one DataFrame (days x tickers): the value at (t, ticker) is made at the close of
t; NaN means the ticker is not available that day. Weights come out the same shape, decided
at the close of t and traded at the next open by either engine (`run_portfolio_backtrader`
or its twin `panel_returns`, conventions in strategies/panel.py):

    weights = ranking_weights(forecasts, k=2, prices=panel)          # the strategy
    bench = equal_weight_weights(panel, weights.index)               # its benchmark
    panel_returns(panel, weights, costs), panel_returns(panel, bench, costs)
    rank_ic(forecasts, next_close_returns(panel))                    # forecast quality

Tickers without a bar: the calendar is the forecasts' index (normally the union of the tickers'
days; the engines run on the weights' index, which is its span). A ticker is ranked at the
close of t when its forecast there is finite (it then has t's bar): nothing about later days,
not even whether it will trade tomorrow. The engines settle what the calendar does next (see
strategies/panel.py): a new member without a bar at the rebalancing open is not bought (its
weight waits in cash), and a member whose bars stopped is sold at its last close.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstmbt.strategies.panel import field_array

KINDS = ("long", "long-short")


def _bars(prices: pd.DataFrame, index: pd.DatetimeIndex, tickers: list) -> np.ndarray:
    """(days, tickers) True where the price panel has a bar (finite open and close)."""
    open_ = field_array(prices, "open", index, tickers)
    close = field_array(prices, "close", index, tickers)
    return np.isfinite(open_) & np.isfinite(close)


def ranking_weights(
    forecasts: pd.DataFrame,
    k: int,
    kind: str = "long",
    prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Each day, the top `k` tickers by forecast held equally (1/k each, `kind="long"`), or the
    top k long and the bottom k short at 1/(2k) each (`kind="long-short"`: gross 1, net 0).

    Returns weights (days x tickers) over the portfolio's span: the first to the last day with
    at least k (long-short: 2k) tickers ranked. On a day inside the span with fewer, every
    ranked ticker that fits is held at the same weight and the rest stays in cash (long-short:
    n // 2 a side). Ties rank the earlier column first. Membership alone sets the weights, so
    the engines re-weight only when it changes. Every finite forecast is ranked; with `prices`
    (a `price_panel`), a forecast on a day its ticker has no bar is refused (it needs that
    day's close).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer (names held per side), got {k!r}.")
    if not isinstance(forecasts, pd.DataFrame) or not isinstance(forecasts.index, pd.DatetimeIndex):
        raise TypeError("forecasts must be a DataFrame (days x tickers) with a DatetimeIndex.")
    if not (forecasts.index.is_unique and forecasts.index.is_monotonic_increasing):
        raise ValueError("forecasts' dates must be unique and sorted (ascending).")
    tickers = list(forecasts.columns)
    f = forecasts.to_numpy(np.float64)
    if np.isinf(f).any():
        raise ValueError("forecasts must be finite, or NaN where a ticker is not available.")
    ranked = np.isfinite(f)
    if prices is not None:
        bar = _bars(prices, forecasts.index, tickers)
        stray = ranked & ~bar
        if stray.any():
            i, j = np.argwhere(stray)[0]
            raise ValueError(
                f"{tickers[j]} has a forecast on {forecasts.index[i].date()} but no bar that "
                "day; set it to NaN (a forecast needs that day's close)."
            )
    n_ranked = ranked.sum(axis=1)
    need = k if kind == "long" else 2 * k
    enough = np.flatnonzero(n_ranked >= need)
    if len(enough) == 0:
        raise ValueError(
            f"no day has at least {need} tickers ranked (most on one day: "
            f"{n_ranked.max(initial=0)}); lower k or add tickers."
        )
    span = slice(enough[0], enough[-1] + 1)
    f, ranked, n_ranked = f[span], ranked[span], n_ranked[span]
    # position of each ticker in the day's order: best first, ties by column, unranked last
    order = np.argsort(np.where(ranked, -f, np.inf), axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(f.shape[1])[None, :], axis=1)
    weights = np.zeros_like(f)
    if kind == "long":
        weights[place < np.minimum(k, n_ranked)[:, None]] = 1.0 / k
    else:
        side = np.minimum(k, n_ranked // 2)[:, None]
        weights[place < side] = 0.5 / k
        weights[(place >= n_ranked[:, None] - side) & ranked] = -0.5 / k
    return pd.DataFrame(weights, index=forecasts.index[span], columns=forecasts.columns)


def equal_weight_weights(prices: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The benchmark: every ticker with a bar at the close of `index`'s first day (the first
    decision) held at 1/n of equity from the next open to the end, never re-weighted (a ticker
    that joins later is not bought; one without a bar at that open is not bought either, the
    engines' rule; one whose bars end is valued at its last close). Chosen from what that
    close shows, not from which tickers trade the next day."""
    if len(index) < 2:
        raise ValueError("the benchmark needs at least two days (decide, then buy).")
    tickers = list(prices["open"].columns)
    bought = _bars(prices, index[:1], tickers)[0]
    if not bought.any():
        raise ValueError(f"no ticker has a bar on {index[0].date()}, the benchmark's decision.")
    row = np.where(bought, 1.0 / bought.sum(), 0.0)
    return pd.DataFrame(np.tile(row, (len(index), 1)), index=index, columns=prices["open"].columns)


def next_close_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """(days x tickers) return from each bar's close to the ticker's next bar's close: what a
    forecast made at that close is scored on (NaN on days without a bar and on the last)."""
    close = prices["close"]
    out = {}
    for ticker in close.columns:
        own = close[ticker].dropna()
        out[ticker] = (own.shift(-1) / own - 1.0).reindex(close.index)
    return pd.DataFrame(out, index=close.index)


def rank_ic(forecasts: pd.DataFrame, realised: pd.DataFrame, min_assets: int = 3) -> pd.Series:
    """Daily Spearman correlation across tickers between the forecasts made at a close and the
    returns they forecast (`realised`, aligned the same way, e.g. `next_close_returns`). Uses
    the tickers with both numbers that day; NaN with fewer than `min_assets` or no spread.
    A rank correlation needs at least 2 assets a day, so `min_assets` is at least 2 (a
    portfolio of one ticker has no rank IC: every day is NaN)."""
    if min_assets < 2:
        raise ValueError(
            f"a rank IC needs at least 2 assets a day to rank; min_assets must be at least 2, "
            f"got {min_assets}."
        )
    realised = realised.reindex(index=forecasts.index, columns=forecasts.columns)
    both = forecasts.notna() & realised.notna()
    rf = forecasts.where(both).rank(axis=1).to_numpy(np.float64)
    rr = realised.where(both).rank(axis=1).to_numpy(np.float64)
    n = both.sum(axis=1).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        df = rf - np.nansum(rf, axis=1, keepdims=True) / n[:, None]
        dr = rr - np.nansum(rr, axis=1, keepdims=True) / n[:, None]
        ic = np.nansum(df * dr, axis=1) / np.sqrt(
            np.nansum(df * df, axis=1) * np.nansum(dr * dr, axis=1)
        )
    ic[(n < min_assets) | ~np.isfinite(ic)] = np.nan
    return pd.Series(ic, index=forecasts.index, name="rank_ic")
