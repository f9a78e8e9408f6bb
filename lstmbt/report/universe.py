"""A universe study's landing page: the cross-ticker verdict, the pooled and per-ticker tables
with raw and adjusted p-values, a figure of per-ticker Sharpe differences with intervals, the
span each ticker covers, skipped tickers, and links to every ticker's own report."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lstmbt.findings import EQUAL_WEIGHT, Overfitting, StepM
from lstmbt.metrics import finite, fmt_p
from lstmbt.report.figures import drawdown_figure, equity_figure, save_figures, style
from lstmbt.report.html import overfitting_html, stepm_table
from lstmbt.report.overfitting_figures import overfitting_figures


def sharpe_difference_figure(table: pd.DataFrame) -> Figure:
    """Each (ticker, forecaster)'s Sharpe difference to buy-and-hold with its 95% interval; one
    without an interval (not tested) as a hollow grey point, never a zero-width bar."""
    with style():
        rows = table.reset_index()
        fig = Figure(figsize=(10, 0.35 * len(rows) + 1.5))
        ax = fig.subplots()
        y = np.arange(len(rows))
        diff = rows["diff"].astype(float).to_numpy()
        lo = diff - rows["diff_ci_low"].astype(float).to_numpy()
        hi = rows["diff_ci_high"].astype(float).to_numpy() - diff
        tested = np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(diff[tested], y[tested], xerr=[lo[tested], hi[tested]], fmt="o", capsize=3)
        if (~tested).any():  # a difference without an interval is no precise estimate
            ax.plot(
                diff[~tested],
                y[~tested],
                "o",
                mfc="none",
                color="grey",
                label="not tested (differs from buy-and-hold on too few days)",
            )
            ax.legend(fontsize=8)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(
            y, [f"{t} {f}" for t, f in zip(rows["ticker"], rows["forecaster"], strict=True)]
        )
        ax.invert_yaxis()
        ax.set_xlabel("Sharpe ratio minus buy-and-hold's, after costs (95% bootstrap interval)")
        ax.set_title("Per ticker: the strategy's Sharpe difference to buy-and-hold")
        fig.tight_layout()
    return fig


def _f(value, fmt: str) -> str:
    """A number by the single-ticker page's formats ("p": a p-value); "-" only for a value
    that could not be computed (a ticker whose strategy never traded has no Sharpe ratio)."""
    x = finite(value)
    if x is None:
        return "-"
    if fmt == "p":
        return fmt_p(x)
    if fmt == "int":
        return f"{int(round(x)):d}"
    return fmt.format(x)


def _interval(point, low, high) -> str:
    text = _f(point, "{:+.2f}")
    if finite(low) is None or finite(high) is None:
        return text
    return f"{text} [{_f(low, '{:+.2f}')}, {_f(high, '{:+.2f}')}]"


def ticker_table_html(table: pd.DataFrame, links: dict[str, str]) -> str:
    """The per-ticker table: spans, Sharpe ratios, the difference to buy-and-hold with its
    interval and raw, BH and Holm p-values, Diebold-Mariano (one-sided, better than the
    random walk, raw and adjusted as one family, with the loss ratio), deflated Sharpe."""
    head = (
        "<tr><th>Ticker</th><th>Strategy</th><th>Test span</th><th>Days</th>"
        "<th>B&amp;H Sharpe</th><th>Sharpe</th><th>ΔSharpe [95% CI]</th><th>p</th><th>p BH</th>"
        "<th>p Holm</th><th>DM p (better than RW)</th><th>DM p BH</th><th>DM p Holm</th>"
        "<th>MSE / RW</th><th>Deflated Sharpe, against cash (ticker / universe)</th></tr>"
    )
    body = []
    for (ticker, forecaster), r in table.iterrows():
        link = links.get(ticker)
        name = html.escape(str(ticker))
        cell = f'<a href="{html.escape(link)}">{name}</a>' if link else name
        cells = [
            f"{r['test_start']} .. {r['test_end']}",
            _f(r.get("days"), "int"),
            _f(r["bh_sharpe"], "{:.2f}"),
            _f(r["sharpe"], "{:.2f}"),
            _interval(r["diff"], r["diff_ci_low"], r["diff_ci_high"]),
            _f(r["diff_p"], "p"),
            _f(r["diff_p_bh"], "p"),
            _f(r["diff_p_holm"], "p"),
            _f(r.get("dm_p_better"), "p"),
            _f(r.get("dm_p_better_bh"), "p"),
            _f(r.get("dm_p_better_holm"), "p"),
            _f(r.get("loss_ratio"), "{:.3f}"),
            f"{_f(r['dsr_ticker'], '{:.2f}')} / {_f(r['dsr_universe'], '{:.2f}')}",
        ]
        body.append(
            f"<tr><th>{cell}</th><td>{html.escape(str(forecaster))}</td>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
        )
    return f'<table id="tickers">{head}{"".join(body)}</table>'


def _pooled_html(pooled: pd.DataFrame, answers: dict[str, str]) -> str:
    rows = []
    for name, r in pooled.iterrows():
        low, high = finite(r["ci_low"]), finite(r["ci_high"])
        interval = f"[{low:+.2f}, {high:+.2f}]" if low is not None and high is not None else "-"
        cells = [
            answers.get(name, ""),
            _f(r["diff"], "{:+.2f}"),
            interval,
            _f(r["p_value"], "p"),
            _f(r["tickers"], "int"),
            _f(r.get("idle"), "int"),
        ]
        rows.append(
            f"<tr><th>{html.escape(str(name))}</th>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "</tr>"
        )
    return (
        '<table id="pooled"><tr><th>Strategy</th><th>Answer</th><th>Mean ΔSharpe</th>'
        f"<th>95% CI</th><th>p</th><th>Tickers</th><th>Idle</th></tr>{''.join(rows)}</table>"
        '<p class="meta">Idle: tickers on which the strategy never held a position; they count '
        "in the mean with a Sharpe ratio of 0 (its decision there), while the per-ticker table "
        'shows "-" for them.</p>'
    )


def verdict_html(verdict) -> str:
    """The answers first (one line per strategy), then each one's details, then the lines that
    hold for the whole run; the plain sentences of a run written before answers existed."""
    models = getattr(verdict, "models", ())
    run = getattr(verdict, "run", tuple(verdict))
    answers = "".join(
        f'<p class="answer"><strong class="{html.escape(m.answer)}">{html.escape(m.answer)}'
        f"</strong> — {html.escape(m.headline)}</p>"
        for m in models
    )
    details = "".join(
        f"<h3>{html.escape(m.name)}</h3><ul>"
        + "".join(f"<li>{html.escape(d)}</li>" for d in m.details)
        + "</ul>"
        for m in models
        if m.details
    )
    run_html = "".join(f"<li>{html.escape(line)}</li>" for line in run)
    return (
        f'<section id="answer">{answers}</section>'
        f'<div id="verdict">{details}<ul>{run_html}</ul></div>'
    )


def write_universe_page(
    run_dir: Path,
    name: str,
    table: pd.DataFrame,
    pooled: pd.DataFrame,
    verdict,
    skipped: dict[str, str],
    links: dict[str, str],
    trials: int,
    portfolios: dict[str, tuple[pd.DataFrame, pd.DataFrame]] | None = None,
    sheets: dict[str, str] | None = None,
    notes: tuple[str, ...] = (),
    overfitting: Overfitting | None = None,
    stepm: StepM | None = None,
) -> Path:
    """index.html of the universe run folder; `portfolios`: forecaster -> (metrics, returns)
    of its ranking portfolio beside the equal-weight universe; `verdict`: the run's Verdict;
    `overfitting` and `stepm`: the rankings as one family (PBO, StepM against equal
    weight)."""
    portfolios, sheets = portfolios or {}, sheets or {}
    figures = {"sharpe_differences": sharpe_difference_figure(table)}
    if overfitting is not None and overfitting.grid_cells:
        figures.update(overfitting_figures(overfitting))
    for forecaster, (_, returns) in portfolios.items():  # (never `name`: the page's title)
        key = "portfolio_" + "".join(c if c.isalnum() else "_" for c in forecaster)
        figures[key + "_equity"] = equity_figure(returns, returns.columns[-1], [forecaster])
        figures[key + "_drawdown"] = drawdown_figure(returns, returns.columns[-1], [forecaster])
    files = save_figures(figures, run_dir / "figures")
    portfolio_html = _portfolio_section(portfolios, sheets, files)
    family_html = overfitting_html(overfitting, files) + stepm_table(stepm)
    skipped_html = (
        "".join(f"<li>{html.escape(t)}: {html.escape(why)}</li>" for t, why in skipped.items())
        or "<li>none</li>"
    )
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in notes) or "<li>none</li>"
    answers = getattr(verdict, "answers", {})
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lstmbt universe: {html.escape(name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0 1rem}}
th,td{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right;font-size:.9rem}}
tr th:first-child{{text-align:left}} img{{max-width:100%;height:auto}} .meta{{color:#555}}
#answer p{{font-size:1.1rem;margin:.3rem 0}} .Yes{{color:#17702e}} .No{{color:#a4161a}}
.Inconclusive{{color:#8a5a00}}
</style></head><body>
<h1>Universe {html.escape(name)}: {len(links)} tickers</h1>
{verdict_html(verdict)}
<p class="meta">Each ticker is studied on its own calendar and out-of-sample span, against its
own buy-and-hold with the same costs. {trials} (ticker, configuration) trials in all.</p>
<h2>Pooled across tickers</h2>
{_pooled_html(pooled, answers)}
<h2>Ranking portfolios</h2>{portfolio_html}
<h2>The rankings as one family: overfitting and StepM</h2>
{family_html or "<p>Not computed (no ranking portfolio, or a run written before).</p>"}
<p class="meta">Every ranking tried (each forecaster's portfolio, each naive ranking, equal
weight) on the days they share, over the cash rate: PBO estimated by CSCV over all of them,
and Romano-Wolf StepM of each against equal weight.</p>
<p><a href="factor.html">Each forecast across tickers: quantiles, spread, IC, turnover</a></p>
<h2>Per ticker</h2>{ticker_table_html(table, links)}
<p class="meta">Test span: the ticker's return days. p: two-sided block-bootstrap p-value of
the Sharpe difference to buy-and-hold; BH: Benjamini-Hochberg (false-discovery rate) and Holm
(family-wise) adjusted over every row. DM p (better than RW): one-sided Diebold-Mariano
p-value of a lower squared loss than the random walk's; MSE / RW: the forecast's mean squared
error over the random walk's (below 1: more accurate). Deflated Sharpe: measured against
cash, over the ticker's own trials and over all {trials} of the universe. "-": a number that
cannot be computed (a strategy that never held a position has no Sharpe ratio).</p>
<figure><img src="{files["sharpe_differences"]}" alt="per-ticker Sharpe differences"></figure>
<h2>Skipped tickers</h2><ul id="skipped">{skipped_html}</ul>
<h2>Notes</h2><ul>{note_html}</ul>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# a portfolio's rows: (metrics column, header, format)
PORTFOLIO_COLUMNS = (
    ("total_return", "Total return", "{:+.1%}"),
    ("cagr", "CAGR", "{:+.1%}"),
    ("sharpe", "Sharpe", "{:.2f}"),
    ("max_drawdown", "Max DD", "{:.1%}"),
    ("trades", "Trades", "int"),
    ("diff", "ΔSharpe vs equal weight", "{:+.2f}"),
    ("diff_p_value", "p ΔSharpe", "p"),
)


def _portfolio_section(portfolios, sheets: dict[str, str], files: dict[str, str]) -> str:
    if not portfolios:
        return "<p>No portfolio: too few tickers for the top k.</p>"
    parts = []
    for name, (metrics, _) in portfolios.items():
        head = "".join(
            f"<th>{html.escape(h)}</th>"
            for h in ("Strategy", *(h for _, h, _ in PORTFOLIO_COLUMNS))
        )
        rows = "".join(
            f"<tr><th>{html.escape(str(n))}</th>"
            + "".join(
                f"<td>{html.escape(_portfolio_cell(n, name, c, r.get(c), fmt))}</td>"
                for c, _, fmt in PORTFOLIO_COLUMNS
            )
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


def _portfolio_cell(row: str, portfolio: str, column: str, value, fmt: str) -> str:
    """The benchmark row (equal weight) is what the difference is measured against: its own
    difference is zero by definition, shown as such; another ranking without a difference or
    p-value was not tested (it differs from equal weight on too few days)."""
    if column in ("diff", "diff_p_value") and finite(value) is None:
        if row == EQUAL_WEIGHT:
            return "(benchmark)"
        if row != portfolio:
            return "not tested"
    return _f(value, fmt)
