"""factor.html of a universe run: each forecast read as a cross-sectional factor (alphalens'
tear sheet, in short): returns by forecast quantile with standard errors, the top-minus-bottom
spread, the rank IC at 1/5/10/21 days and by month, the top k's turnover; the naive rankings'
numbers beside the forecasters' for scale.

It draws a `lstmbt.findings.Factor`, which the study computes (lstmbt.study.factor)."""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lstmbt.findings import Factor
from lstmbt.report.figures import save_figures, style


def _key(name: str) -> str:
    return "factor_" + "".join(c if c.isalnum() else "_" for c in name)


def quantile_figure(f: Factor) -> Figure:
    """Mean forward return per day by forecast quantile, one bar group per horizon, with
    1.96 standard errors."""
    with style():
        fig = Figure(figsize=(8, 3.6))
        ax = fig.subplots()
        horizons = list(f.quantile_mean.columns)
        width = 0.8 / len(horizons)
        x = np.arange(f.quantiles)
        for i, h in enumerate(horizons):
            mean = f.quantile_mean[h].to_numpy(float) * 1e4
            err = 1.96 * np.nan_to_num(f.quantile_se[h].to_numpy(float)) * 1e4
            ax.bar(x + i * width, mean, width, yerr=err, capsize=2, label=f"{h}-day")
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(x + 0.4 - width / 2, [f"Q{q}" for q in f.quantile_mean.index])
        ax.set_ylabel("bps per day")
        ax.set_title(f"{f.name}: forward return by forecast quantile (Q1 lowest; 95% intervals)")
        ax.legend(fontsize=8, ncol=len(horizons))
        fig.tight_layout()
    return fig


def spread_figure(f: Factor) -> Figure:
    """Growth of 1 from the daily top-minus-bottom quantile return (no costs: a measure of the
    ranking, not a strategy)."""
    with style():
        fig = Figure(figsize=(8, 3.2))
        ax = fig.subplots()
        s = f.spread_daily
        ax.plot(s.index, (1 + s).cumprod(), lw=1.2)
        ax.axhline(1, color="black", lw=0.8)
        ax.set_title(f"{f.name}: top-minus-bottom quantile, 1-day returns compounded (no costs)")
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def ic_figure(f: Factor) -> Figure:
    """The 1-day rank IC by month, and the mean IC by horizon with 95% intervals."""
    with style():
        fig = Figure(figsize=(11, 3.4))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        m = f.ic_by_month
        left.bar(m.index, m.to_numpy(float), width=20, color=np.where(m > 0, "tab:blue", "tab:red"))
        left.axhline(0, color="black", lw=0.8)
        left.set_title(f"{f.name}: mean daily rank IC by month (1-day)")
        s = f.ic_summary
        right.bar(
            [str(h) for h in s.index],
            s["mean"].to_numpy(float),
            yerr=1.96 * np.nan_to_num(s["se"].to_numpy(float)),
            capsize=3,
        )
        right.axhline(0, color="black", lw=0.8)
        right.set_xlabel("horizon (days)")
        right.set_title("mean rank IC")
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def turnover_figure(f: Factor) -> Figure:
    """The share of the top k replaced each day, as a 21-day mean."""
    with style():
        fig = Figure(figsize=(8, 2.8))
        ax = fig.subplots()
        t = f.turnover
        ax.plot(t.index, t.rolling(21, min_periods=1).mean(), lw=1)
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.set_title(f"{f.name}: top-{f.top_k} turnover (share replaced a day, 21-day mean)")
        fig.autofmt_xdate()
        fig.tight_layout()
    return fig


def factor_figures(f: Factor) -> dict[str, Figure]:
    """Every figure of one forecast's section, keyed by file stem."""
    key = _key(f.name)
    return {
        f"{key}_quantiles": quantile_figure(f),
        f"{key}_spread": spread_figure(f),
        f"{key}_ic": ic_figure(f),
        f"{key}_turnover": turnover_figure(f),
    }


def _num(x, scale: float = 1.0, spec: str = ".2f") -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "-"
    return format(x * scale, spec) if math.isfinite(x) else "-"


def _quantile_table(f: Factor) -> str:
    head = "".join(f"<th>{h}-day</th>" for h in f.quantile_mean.columns)
    rows = "".join(
        f"<tr><th>Q{q}</th>"
        + "".join(
            f"<td>{_num(f.quantile_mean.at[q, h], 1e4, '+.1f')} ± "
            f"{_num(f.quantile_se.at[q, h], 1e4, '.1f')}</td>"
            for h in f.quantile_mean.columns
        )
        + "</tr>"
        for q in f.quantile_mean.index
    )
    sp = f.spread
    spread = "".join(
        f"<td>{_num(sp.at[h, 'mean'], 1e4, '+.1f')} ± {_num(sp.at[h, 'se'], 1e4, '.1f')}"
        f" (t {_num(sp.at[h, 't'], 1, '.1f')})</td>"
        for h in f.quantile_mean.columns
    )
    ic = "".join(
        f"<td>{_num(f.ic_summary.at[h, 'mean'], 1, '+.3f')} ± "
        f"{_num(f.ic_summary.at[h, 'se'], 1, '.3f')} (t {_num(f.ic_summary.at[h, 't'], 1, '.1f')})"
        "</td>"
        for h in f.quantile_mean.columns
    )
    return (
        f'<table class="factor"><tr><th>bps per day ± s.e.</th>{head}</tr>{rows}'
        f"<tr><th>top − bottom</th>{spread}</tr><tr><th>rank IC</th>{ic}</tr></table>"
    )


def _comparison(factors: dict[str, Factor], naive: dict[str, Factor]) -> str:
    rows = []
    for kind, group in (("forecaster", factors), ("naive ranking", naive)):
        for name, f in group.items():
            ic, sp = f.ic_summary, f.spread
            rows.append(
                f"<tr><th>{html.escape(name)}</th><td>{kind}</td>"
                + "".join(
                    f"<td>{_num(ic.at[h, 'mean'], 1, '+.3f')} (t {_num(ic.at[h, 't'], 1, '.1f')})"
                    "</td>"
                    for h in ic.index
                )
                + f"<td>{_num(sp.at[1, 'mean'], 1e4, '+.1f')} (t {_num(sp.at[1, 't'], 1, '.1f')})"
                f"</td><td>{_num(f.turnover.mean(), 100, '.0f')}%</td></tr>"
            )
    any_f = next(iter({**factors, **naive}.values()))
    head = "".join(f"<th>IC {h}-day</th>" for h in any_f.ic_summary.index)
    return (
        f'<table id="factor-comparison"><tr><th>Ranking</th><th>Kind</th>{head}'
        f"<th>Spread 1-day (bps)</th><th>Top-k turnover</th></tr>{''.join(rows)}</table>"
    )


def write_factor_page(
    run_dir: Path,
    universe: str,
    factors: dict[str, Factor],
    naive: dict[str, Factor] | None = None,
) -> Path:
    """factor.html in `run_dir` (figures under figures/): a section per forecaster in
    `factors`, and a table setting them beside the `naive` rankings."""
    naive = naive or {}
    figures: dict[str, Figure] = {}
    for f in factors.values():
        figures.update(factor_figures(f))
    files = save_figures(figures, run_dir / "figures") if figures else {}
    sections = []
    for name, f in factors.items():
        key = _key(f.name)
        imgs = "".join(
            f'<figure><img src="{html.escape(files[f"{key}_{part}"])}" alt="{part}"></figure>'
            for part in ("quantiles", "spread", "ic", "turnover")
        )
        sections.append(
            f"<h2>{html.escape(name)}</h2><p>{html.escape(f.summary)}</p>{_quantile_table(f)}{imgs}"
        )
    body = (
        _comparison(factors, naive) + "".join(sections)
        if factors
        else "<p>No forecaster was ranked: too few tickers for the portfolio's top k.</p>"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>lstmbt universe: {html.escape(universe)}: forecasts across tickers</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0 1rem}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right;font-size:.9rem}}
tr th:first-child{{text-align:left}} img{{max-width:100%;height:auto}} .meta{{color:#555}}
</style></head><body>
<p><a href="index.html">← universe page</a></p>
<h1>Universe {html.escape(universe)}: each forecast across tickers</h1>
<p class="meta">Each day the tickers are sorted by the forecast made at that close. Forward
returns (each ticker's close h bars later over its close that day) are what is measured,
never an input; an h-day return is shown per day (divided by h), and its standard error is
Newey-West with h − 1 lags, as the h-day windows overlap. Rank IC: the daily Spearman
correlation across tickers (days with at least 3 tickers). These are close-to-close returns
from the close the forecast was made at, so they include the move from that close to the next
open, which the ranking portfolios on the universe page (trading at that open) cannot earn; and
no costs here, which the portfolios carry. A factor that looks strong here can still make
nothing there. Naive rankings need no model (trailing returns,
the training-window mean, today's return, the ridge baseline).</p>
{body}
</body></html>
"""
    path = run_dir / "factor.html"
    path.write_text(page, encoding="utf-8")
    return path
