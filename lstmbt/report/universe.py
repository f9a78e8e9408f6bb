"""A universe study's landing page: the cross-ticker verdict, the pooled and per-ticker tables
with raw and adjusted p-values, a figure of per-ticker Sharpe differences with intervals, the
span each ticker covers, skipped tickers, and links to every ticker's own report."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lstmbt.metrics import fmt2
from lstmbt.report.figures import drawdown_figure, equity_figure, save_figures, style


def sharpe_difference_figure(table: pd.DataFrame) -> Figure:
    """Each (ticker, forecaster)'s Sharpe difference to buy-and-hold with its 95% interval."""
    with style():
        rows = table.reset_index()
        fig = Figure(figsize=(10, 0.35 * len(rows) + 1.5))
        ax = fig.subplots()
        y = np.arange(len(rows))
        diff = rows["diff"].astype(float).to_numpy()
        lo = diff - rows["diff_ci_low"].astype(float).to_numpy()
        hi = rows["diff_ci_high"].astype(float).to_numpy() - diff
        ax.errorbar(diff, y, xerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o", capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(
            y, [f"{t} {f}" for t, f in zip(rows["ticker"], rows["forecaster"], strict=True)]
        )
        ax.invert_yaxis()
        ax.set_xlabel("Sharpe ratio minus buy-and-hold's, after costs (95% bootstrap interval)")
        ax.set_title("Per ticker: the strategy's Sharpe difference to buy-and-hold")
        fig.tight_layout()
    return fig


def write_universe_page(
    run_dir: Path,
    name: str,
    table: pd.DataFrame,
    pooled: pd.DataFrame,
    verdict: tuple[str, ...],
    skipped: dict[str, str],
    links: dict[str, str],
    trials: int,
    portfolios: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    sheets: dict[str, str] | None = None,
    notes: tuple[str, ...] = (),
) -> Path:
    """index.html of the universe run folder; `portfolios`: forecaster -> (metrics, returns)
    of its ranking portfolio beside the equal-weight universe."""
    portfolios, sheets = portfolios or {}, sheets or {}
    figures = {"sharpe_differences": sharpe_difference_figure(table)}
    for forecaster, (_, returns) in portfolios.items():  # (never `name`: the page's title)
        key = "portfolio_" + "".join(c if c.isalnum() else "_" for c in forecaster)
        figures[key + "_equity"] = equity_figure(returns, returns.columns[-1], [forecaster])
        figures[key + "_drawdown"] = drawdown_figure(returns, returns.columns[-1], [forecaster])
    files = save_figures(figures, run_dir / "figures")
    portfolio_html = _portfolio_section(portfolios, sheets, files)
    head = (
        "<tr><th>Ticker</th><th>Forecaster</th><th>Span</th><th>B&amp;H Sharpe</th>"
        "<th>Sharpe</th><th>ΔSharpe [95% CI]</th><th>p</th><th>p BH</th><th>p Holm</th>"
        "<th>DM p</th><th>DM p BH</th><th>DM p Holm</th><th>Deflated Sharpe (ticker / "
        "universe)</th></tr>"
    )
    body = []
    for (ticker, forecaster), r in table.iterrows():
        link = links.get(ticker)
        cell = f'<a href="{html.escape(link)}">{html.escape(ticker)}</a>' if link else ticker
        body.append(
            f"<tr><th>{cell}</th><td>{html.escape(forecaster)}</td>"
            f"<td>{r['test_start']} .. {r['test_end']}</td><td>{fmt2(r['bh_sharpe'])}</td>"
            f"<td>{fmt2(r['sharpe'])}</td><td>{fmt2(r['diff'])} [{fmt2(r['diff_ci_low'])}, "
            f"{fmt2(r['diff_ci_high'])}]</td><td>{fmt2(r['diff_p'])}</td>"
            f"<td>{fmt2(r['diff_p_bh'])}</td><td>{fmt2(r['diff_p_holm'])}</td>"
            f"<td>{fmt2(r['dm_p'])}</td><td>{fmt2(r['dm_p_bh'])}</td>"
            f"<td>{fmt2(r['dm_p_holm'])}</td><td>{fmt2(r['dsr_ticker'])} / "
            f"{fmt2(r['dsr_universe'])}</td></tr>"
        )
    pooled_rows = "".join(
        f"<tr><th>{html.escape(n)}</th><td>{fmt2(r['diff'])}</td><td>[{fmt2(r['ci_low'])}, "
        f"{fmt2(r['ci_high'])}]</td><td>{fmt2(r['p_value'])}</td><td>{int(r['tickers'])}</td></tr>"
        for n, r in pooled.iterrows()
    )
    skipped_html = (
        "".join(f"<li>{html.escape(t)}: {html.escape(why)}</li>" for t, why in skipped.items())
        or "<li>none</li>"
    )
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in verdict)
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lstmbt universe: {html.escape(name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0 1rem}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right;font-size:.9rem}}
tr th:first-child{{text-align:left}} img{{max-width:100%;height:auto}} .meta{{color:#555}}
</style></head><body>
<h1>Universe {html.escape(name)}: {len(links)} tickers</h1>
<p class="meta">Each ticker is studied on its own calendar and out-of-sample span, against its
own buy-and-hold with the same costs. {trials} (ticker, configuration) trials in all.</p>
<h2>Verdict</h2><ul id="verdict">{verdicts}</ul>
<h2>Pooled across tickers</h2>
<table id="pooled"><tr><th>Forecaster</th><th>Mean ΔSharpe</th><th>95% CI</th><th>p</th>
<th>Tickers</th></tr>{pooled_rows}</table>
<h2>Ranking portfolios</h2>{portfolio_html}
<p><a href="factor.html">Each forecast across tickers: quantiles, spread, IC, turnover</a></p>
<h2>Per ticker</h2><table id="tickers">{head}{"".join(body)}</table>
<p class="meta">p: block-bootstrap p-value of the Sharpe difference to buy-and-hold; BH:
Benjamini-Hochberg (false-discovery rate) and Holm (family-wise) adjusted over every row.</p>
<figure><img src="{files["sharpe_differences"]}" alt="per-ticker Sharpe differences"></figure>
<h2>Skipped tickers</h2><ul id="skipped">{skipped_html}</ul>
<h2>Notes</h2><ul>{note_html}</ul>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def _portfolio_section(portfolios, sheets: dict[str, str], files: dict[str, str]) -> str:
    if not portfolios:
        return "<p>No portfolio: too few tickers for the top k.</p>"
    parts = []
    cols = ("total_return", "cagr", "sharpe", "max_drawdown", "trades", "diff", "diff_p_value")
    for name, (metrics, _) in portfolios.items():
        head = "".join(f"<th>{c}</th>" for c in ("Strategy", *cols))
        rows = "".join(
            f"<tr><th>{html.escape(str(n))}</th>"
            + "".join(f"<td>{fmt2(r.get(c))}</td>" for c in cols)
            + "</tr>"
            for n, r in metrics.iterrows()
        )
        key = "portfolio_" + "".join(c if c.isalnum() else "_" for c in name)
        sheet = (
            f'<p><a href="{html.escape(sheets[name])}">QuantStats tear-sheet: {html.escape(name)}'
            " portfolio vs equal weight</a></p>"
            if name in sheets
            else ""
        )
        parts.append(
            f'<h3>{html.escape(name)}</h3><table class="portfolio">{head}{rows}</table>{sheet}'
            f'<figure><img src="{files[key + "_equity"]}" alt="portfolio equity"></figure>'
            f'<figure><img src="{files[key + "_drawdown"]}" alt="portfolio drawdown"></figure>'
        )
    return "".join(parts)
