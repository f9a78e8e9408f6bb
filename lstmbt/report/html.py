"""index.html: a run's self-contained landing page (local images, no network), from its typed
Metrics, its config document and the figures' file names."""

from __future__ import annotations

import html
from pathlib import Path

from lstmbt.findings import STEPM_MEASURED, Overfitting, StepM, noise_pbo
from lstmbt.metrics import (
    Metrics,
    breakeven_interval,
    breakeven_supported,
    breakeven_text,
    finite,
    fmt2,
    format_cell,
)
from lstmbt.metrics import fmt_p as _fmt_p
from lstmbt.metrics import p_equals as _p_equals
from lstmbt.models import model_label


def fmt_p(p: float | None) -> str:
    """A p-value as the tables show it, escaped for HTML ("&lt; 0.001")."""
    return html.escape(_fmt_p(p))


def p_equals(p: float | None) -> str:
    """ "p = 0.048" or "p &lt; 0.001", escaped for HTML."""
    return html.escape(_p_equals(p))


def _fig(figures: dict[str, str], key: str, alt: str) -> str:
    if key not in figures:
        return ""
    return f'<figure><img src="{html.escape(figures[key])}" alt="{html.escape(alt)}"></figure>'


def _fold_table(m: Metrics) -> str:
    if m.folds.empty:
        return "<p>No fold results.</p>"
    shown = m.forecasters
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in (
            ["Fold", "Return days", "Days", "Buy & hold"]
            + [f"{n} return" for n in shown]
            + [f"{n} hit rate" for n in shown]
        )
    )
    body = []
    for k, f in m.folds.iterrows():
        scores = m.fold_scores.xs(k, level="fold")
        first, last = _return_days(m, f["test_start"], f["test_end"])
        cells = [str(k), f"{first} .. {last}", str(int(f["days"]))]
        cells += [f"{scores.at[n, 'total_return']:+.1%}" for n in [m.benchmark, *shown]]
        cells += [_pct1(scores.at[n, "hit_rate"]) for n in shown]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table id="folds"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _return_days(m: Metrics, start: str, end: str) -> tuple[str, str]:
    """A fold's span in return days, as the header counts them: its first decision's close is
    a return day, except the very first decision's (nothing was held before it), so the first
    fold starts at the span's first return day; the days of the folds add up to the span's."""
    return max(start, m.span.test_start), min(end, m.span.test_end)


def _pct1(value) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _interval(point, low, high, fmt: str) -> str:
    if point is None:
        return "-"
    return f"{fmt.format(point)} [{fmt2(low)}, {fmt2(high)}]"


def _significance_table(m: Metrics) -> str:
    head = (
        "<tr><th>Strategy</th><th>Sharpe [95% CI]</th><th>ΔSharpe vs B&amp;H [95% CI]</th>"
        "<th>p ΔSharpe</th><th>Deflated Sharpe (against cash)</th>"
        "<th>DM p, better than RW (sq / abs)</th><th>MSE / RW</th><th>PT p</th>"
        "<th>IC [95% CI]</th><th>corr with r(t)</th></tr>"
    )
    rows = []
    for name in m.strategy_tests.index:
        t = {c: m.value("strategy_tests", name, c) for c in m.strategy_tests.columns}
        sharpe = _interval(t["sharpe"], t["ci_low"], t["ci_high"], "{:.2f}")
        diff = _interval(t["diff"], t["diff_ci_low"], t["diff_ci_high"], "{:+.2f}")
        dm, ratio, pt, ic_txt, lag_txt = "-", "-", "-", "-", "-"
        if name in m.forecast_tests.index:
            f = {c: m.value("forecast_tests", name, c) for c in m.forecast_tests.columns}
            if f.get("dm_p_better") is not None or f.get("dm_abs_p_better") is not None:
                dm = f"{fmt_p(f.get('dm_p_better'))} / {fmt_p(f.get('dm_abs_p_better'))}"
            if f.get("loss_ratio") is not None:
                ratio = f"{f['loss_ratio']:.3f}"
            pt = fmt_p(f["pt_p"])
            if f["ic"] is not None:
                ic_txt = f"{f['ic']:+.3f} [{f['ic_low']:+.3f}, {f['ic_high']:+.3f}]"
            lag = (f["lag_corr"] or [None])[0]
            if lag is not None:
                lag_txt = f"{lag:+.2f}" + (" ⚠" if f["echo"] else "")
        rows.append(
            f"<tr><th>{html.escape(name)}</th><td>{sharpe}</td><td>{diff}</td>"
            f"<td>{fmt_p(t['diff_p_value'])}</td><td>{fmt2(t['dsr'])}</td><td>{dm}</td>"
            f"<td>{ratio}</td><td>{pt}</td><td>{ic_txt}</td><td>{lag_txt}</td></tr>"
        )
    spa = m.spa
    spa_txt = (
        "<p>Hansen's SPA test of 'no strategy has a higher mean daily return than buy-and-hold "
        f"after costs', over {html.escape(spa.scope)}, baselines included: "
        f"{p_equals(spa.p_consistent)} (lower {fmt_p(spa.p_lower)}, upper "
        f"{fmt_p(spa.p_upper)}).</p>"
    )
    spa_txt += "".join(f'<p class="meta">{html.escape(n)}</p>' for n in spa.notes)
    return f'<table id="significance">{head}{"".join(rows)}</table>{spa_txt}'


def _overfitting_html(m: Metrics, figures: dict[str, str]) -> str:
    """PBO with its figures, StepM, the model confidence set and the track records; a run
    written before they were computed says so."""
    parts = [
        overfitting_html(m.overfitting, figures),
        stepm_table(m.stepm),
        _mcs_table(m),
        _track_record_table(m),
    ]
    shown = "".join(p for p in parts if p)
    if not shown:
        return "<p>Not computed in this run (written before lstmbt computed them).</p>"
    return shown


def overfitting_html(o: Overfitting | None, figures: dict[str, str]) -> str:
    """PBO's summary, the configurations it compared, and its two figures."""
    if o is None:
        return ""
    measured, low, high = noise_pbo(len(o.configurations))
    return (
        f'<p id="pbo">{html.escape(o.summary)} Configurations: '
        f"{html.escape(', '.join(o.configurations))}; most often best in sample: "
        f"{html.escape(o.most_chosen)}. One PBO proves nothing alone inside the range pure "
        f"noise gives: in 95% of noise families of {measured} configurations it fell between "
        f"{low:.2f} and {high:.2f}.</p>"
        + _fig(figures, "pbo_logits", "CSCV logits of the in-sample best's rank")
        + _fig(figures, "pbo_degradation", "in-sample against out-of-sample Sharpe")
    )


def stepm_table(s: StepM | None) -> str:
    """StepM's answer for every strategy (or ranking) it tested, and why the others were not."""
    if s is None:
        return ""
    rows = [
        f"<tr><th>{html.escape(n)}</th><td>{'yes' if n in s.superior else 'no'}</td></tr>"
        for n in s.tested
    ] + [
        f"<tr><th>{html.escape(n)}</th><td>not tested: it {html.escape(why)}</td></tr>"
        for n, why in s.left_out.items()
    ]
    return (
        f'<table id="stepm"><tr><th>Strategy</th><th>Beats {html.escape(s.benchmark)} '
        f"(StepM, {s.size:.0%} family-wise)</th></tr>{''.join(rows)}</table>"
        '<p class="meta">Romano-Wolf StepM on mean daily returns after costs (not Sharpe '
        f"ratios), stationary bootstrap ({s.reps} resamples, mean block {s.block} days, seed "
        f"{s.seed}): family-wise, naming even one strategy that does not beat the benchmark "
        f"happens in at most {s.size:.0%} of samples in theory, however many were tried; "
        f"measured on pure noise: {STEPM_MEASURED}, so on a short span read a yes as a "
        "candidate.</p>"
    )


def _mcs_table(m: Metrics) -> str:
    c = m.confidence_set
    if c is None:
        return ""
    rows = "".join(
        f"<tr><th>{html.escape(n)}</th><td>{fmt_p(p)}</td>"
        f"<td>{'in' if n in c.included else 'out: significantly less accurate'}</td></tr>"
        for n, p in sorted(c.pvalues.items(), key=lambda kv: -kv[1])
    )
    return (
        '<table id="mcs"><tr><th>Forecast</th><th>MCS p</th>'
        f"<th>In the {1 - c.size:.0%} model confidence set</th></tr>{rows}</table>"
        f'<p class="meta">Hansen\'s model confidence set over the daily {c.loss} forecast '
        f"errors (method R, {c.reps} resamples, mean block {c.block} days): a forecast with "
        f"MCS p at or below {c.size:.2f} is significantly less accurate than the best; a "
        f"set so built contains the most accurate in at least {1 - c.size:.0%} of samples.</p>"
    )


def _track_record_table(m: Metrics) -> str:
    if not m.track_records:
        return ""
    rows = []
    for name, t in m.track_records.items():
        p = None if t.psr is None else max(0.0, 1.0 - t.psr)
        more = "never" if t.more_years is None else f"{t.more_years:.1f}"
        cells = [
            f"{t.sharpe:.2f}",
            f"{t.benchmark_sharpe:.2f}",
            str(t.days),
            fmt_p(p),
            "-" if t.min_days is None else f"{t.min_days:,.0f}",
            more,
        ]
        rows.append(
            f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    return (
        '<table id="track_records"><tr><th>Strategy</th><th>Sharpe</th><th>B&amp;H Sharpe</th>'
        "<th>Days</th><th>p (PSR vs B&amp;H Sharpe)</th><th>Minimum track record (days)</th>"
        f"<th>More years needed</th></tr>{''.join(rows)}</table>"
        '<p class="meta">Minimum track record length: the days of daily data at which the '
        "probabilistic Sharpe ratio against buy-and-hold's Sharpe ratio, taken as a known "
        "number, would reach 95% with the skewness and kurtosis seen so far (p: its one-sided "
        'p-value now). "never": the Sharpe ratio does not exceed buy-and-hold\'s. A rough '
        "guide to how much longer, not a test (the bootstrap difference is the test).</p>"
    )


def _seed_table(m: Metrics) -> str:
    summary = m.seeds_summary()
    if summary.empty:
        return ""

    def ms(row, key: str, fmt: str) -> str:
        mean, std = row[f"{key}_mean"], row[f"{key}_std"]
        if mean is None or mean != mean:
            return "-"
        return fmt.format(mean) + ("" if std is None or std != std else " ± " + fmt.format(std))

    rows = [
        f"<tr><th>{html.escape(name)}</th><td>{int(row['n_seeds'])}</td>"
        f"<td>{ms(row, 'sharpe', '{:.2f}')}</td><td>{ms(row, 'total_return', '{:+.1%}')}</td>"
        f"<td>{ms(row, 'rmse', '{:.5f}')}</td><td>{ms(row, 'hit_rate', '{:.1%}')}</td></tr>"
        for name, row in summary.iterrows()
    ]
    return (
        '<table id="seeds"><tr><th>Model</th><th>Seeds</th><th>Sharpe</th><th>Total return</th>'
        f"<th>RMSE</th><th>Hit rate</th></tr>{''.join(rows)}</table>"
        "<p>Each seed's strategy is scored separately (mean ± standard deviation); the rows in "
        "the comparison table are the seed ensembles (averaged forecasts).</p>"
    )


def _costs_table(m: Metrics) -> str:
    """What costs take from each strategy: turnover, gross against net, the break-even cost."""
    if "turnover" not in m.strategy.columns or m.strategy["turnover"].isna().all():
        return "<p>No cost analysis in this run (written before lstmbt computed one).</p>"
    head = (
        "<tr><th>Strategy</th><th>Turnover a year</th><th>Gross return</th><th>Net return</th>"
        "<th>Gross Sharpe</th><th>Net Sharpe</th><th>Cost drag a year</th>"
        "<th>Share of the gross edge eaten</th><th>Break-even (Sharpe) [95% CI]</th>"
        "<th>Break-even (total return)</th></tr>"
    )
    names = [m.benchmark] + [n for n in m.strategy.index if n != m.benchmark]
    rows = []
    for name in names:
        v = {c: m.value("strategy", name, c) for c in m.strategy.columns}
        t = {c: m.value("strategy_tests", name, c) for c in m.strategy_tests.columns}
        be, be_ret = "-", "-"
        if name != m.benchmark:
            supported = breakeven_supported(t.get("breakeven_low"))
            be = breakeven_text(t.get("breakeven"), t.get("breakeven_bps"), supported)
            interval = breakeven_interval(t.get("breakeven_low"), t.get("breakeven_high"))
            if interval and t.get("breakeven") in ("crosses", "beyond"):
                be += f" {interval}"
            be_ret = breakeven_text(t.get("breakeven_return"), t.get("breakeven_return_bps"))
        cells = [
            _fmt(v["turnover"], "{:.1f}×"),
            _fmt(v["gross_return"], "{:+.1%}"),
            _fmt(v["total_return"], "{:+.1%}"),
            _fmt(v["gross_sharpe"], "{:.2f}"),
            _fmt(v["sharpe"], "{:.2f}"),
            _fmt(v["cost_drag"], "{:.2%}"),
            _fmt(v["cost_share"], "{:.0%}"),
            html.escape(be),
            html.escape(be_ret),
        ]
        cls = ' class="bench"' if name == m.benchmark else ""
        rows.append(
            f"<tr{cls}><th>{html.escape(name)}</th>"
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return f'<table id="costs">{head}{"".join(rows)}</table>'


def _fmt(value, fmt: str) -> str:
    x = finite(value)
    return "-" if x is None else fmt.format(x)


def _costs_words(m: Metrics, cfg: dict) -> str:
    """The costs a run paid and what its Sharpe ratios are measured over, in words."""
    per_side = m.span.costs_per_side
    other = m.span.costs or {}
    text = (
        f"Costs per side: {m.span.cost_bps:.1f} bps (commission "
        f"{per_side.get('commission', 0) * 1e4:.1f} bps, slippage "
        f"{per_side.get('slippage', 0) * 1e4:.1f} bps, half-spread "
        f"{per_side.get('half_spread', 0) * 1e4:.1f} bps)"
    )
    if other.get("min_fee"):
        text += f"; at least {other['min_fee']:g} per order on a capital of {other['capital']:,.0f}"
    if other.get("borrow_fee"):
        text += f"; shorts pay {other['borrow_fee'] * 1e4:.0f} bps a year to borrow"
    text += (
        f". Cash earns {m.span.cash_rate} (interest and fees accrue per trading day at "
        "annual / 252; short-sale proceeds earn nothing). Sharpe ratios, of every strategy "
        "and of buy-and-hold alike, are on excess returns over that cash rate."
    )
    if m.span.ticker.startswith("^"):
        text += (
            f" {m.span.ticker} is an index: the costs model a fund tracking it, traded at the "
            "index's prices."
        )
    return text


def _sizing_html(m: Metrics, cfg: dict) -> str:
    """With --sizing vol-target: how the @sized rows were sized, and each fold's scale."""
    if not m.sizing_scales:
        return ""
    folds = max(len(ks) for ks in m.sizing_scales.values())
    head = "".join(f"<th>fold {k}</th>" for k in range(folds))
    rows = "".join(
        f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{k:.3g}</td>" for k in ks) + "</tr>"
        for name, ks in m.sizing_scales.items()
    )
    short = "long or short" if cfg.get("long_short") else "long-only"
    return f"""<h2>Sized positions</h2>
<p class="meta">Each <code>@sized</code> row trades its forecast by strength: weight = k ×
forecast / the EWMA volatility known at the close (half-life 20 days), {short}, capped at
{cfg.get("leverage", 1):g} × equity, traded only when the target is more than
{cfg.get("rebalance_band", 0):g} away from the drifted weight. k is fit on each fold's training
block, from the fold's own model's forecasts there, so that those weights would have had
{cfg.get("vol_target", 0):.0%} volatility a year; it never sees the block it trades. Each sized
row is one more trial in the deflated Sharpe ratio and one more strategy in SPA.</p>
<table id="sizing"><tr><th>k</th>{head}</tr>{rows}</table>"""


def _answers_html(m: Metrics) -> str:
    """The answer first: one line per forecaster, 'No — <headline>'."""
    lines = "".join(
        f'<p class="answer"><strong class="{html.escape(v.answer)}">{html.escape(v.answer)}'
        f"</strong> — {html.escape(v.headline)}</p>"
        if v.answer
        else f"<p>{html.escape(v.headline)}</p>"
        for v in m.verdict.models
    )
    return f'<section id="answer">{lines}</section>'


def _verdict_details_html(m: Metrics) -> str:
    """Each forecaster's details, one fact per item, then what holds for the whole run."""
    parts = [
        f"<h3>{html.escape(v.name)}</h3><ul>"
        + "".join(f"<li>{html.escape(d)}</li>" for d in v.details)
        + "</ul>"
        for v in m.verdict.models
        if v.details
    ]
    run = "".join(f"<li>{html.escape(line)}</li>" for line in m.verdict.run)
    if run:
        parts.append(f"<h3>{'Whole run' if m.verdict.models else 'Verdict'}</h3><ul>{run}</ul>")
    return f'<h2>Verdict</h2><div id="verdict">{"".join(parts)}</div>'


def comparison_html(m: Metrics) -> str:
    """The comparison table (benchmark first) as an HTML table, formatted as in the terminal."""
    table = m.comparison()
    answers = m.verdict.answers
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Strategy", *table.columns, "Answer"])
    body = []
    for name, row in table.iterrows():
        cls = ' class="bench"' if name == m.benchmark else ""
        cells = "".join(
            f"<td{' class=nowrap' if h == 'Break-even' else ''}>{html.escape(format_cell(h, v))}"
            "</td>"
            for h, v in row.items()
        )
        answer = html.escape(answers.get(str(name), ""))
        body.append(f"<tr{cls}><th>{html.escape(str(name))}</th>{cells}<td>{answer}</td></tr>")
    return (
        f'<table id="comparison"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def write_index(run_dir: Path, m: Metrics, cfg_doc: dict, figures: dict[str, str]) -> Path:
    """index.html: the run's self-contained landing page (local images, no network)."""
    cfg = cfg_doc["config"]
    links = (
        "".join(
            f'<li><a href="{html.escape(p)}">{html.escape(n)} vs buy-and-hold (QuantStats)</a></li>'
            for n, p in m.tearsheets.items()
        )
        or "<li>none</li>"
    )
    files = "".join(
        f'<li><a href="{f}">{f}</a></li>'
        for f in (
            "metrics.json",
            "config.json",
            "predictions.csv",
            "positions.csv",
            "returns.csv",
            "orders.csv",
        )
    )
    span = m.span
    data = "".join(
        f"<li>{html.escape(t)}: {d['first']} to {d['last']} ({d['rows']} rows, "
        f"{html.escape(d['source'])}, fingerprint {d['fingerprint']})</li>"
        for t, d in cfg_doc.get("data", {}).items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in m.notes) or "<li>none</li>"
    judged = cfg_doc.get("judge")
    if judged:
        title = f"judged forecasts: {', '.join(judged['columns'])}"
        design = (
            f"{'positions' if judged['positions'] else 'forecasts'} brought by the user, "
            f"beside baselines refit every 252 days on earlier data only"
        )
    else:
        title = ", ".join(cfg["presets"])
        labels = [model_label(name) for name in cfg.get("models", ["lstm"])]
        if labels != ["lstm"]:
            title += f" × {', '.join(labels)}"
        design = (
            f"walk-forward, {span.folds} folds refit every {cfg['refit_every']} days "
            f"({cfg['window']} window)"
            if span.walk_forward
            else "one chronological split"
        )
        design += f", {cfg['seeds']} seed(s) from {cfg['seed']}, at most {cfg['epochs']} epochs"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lstmbt: {html.escape(run_dir.name)}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:76rem;color:#222;padding:0 1rem}}
table{{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0 1rem}}
th,td{{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:right;font-size:.92rem}}
tr th:first-child{{text-align:left}} tr.bench{{background:#f3f6fb;font-weight:600}}
figure{{margin:0 0 1rem}} img{{max-width:100%;height:auto}} .meta{{color:#555}}
#verdict li{{margin-bottom:.4rem}} td.nowrap{{white-space:nowrap}}
#comparison th,#comparison td{{padding:.3rem;font-size:.8rem}}
#comparison td{{white-space:nowrap}}
#answer p{{font-size:1.15rem;margin:.3rem 0}} .Yes{{color:#17702e}} .No{{color:#a4161a}}
.Inconclusive{{color:#8a5a00}}
</style></head><body>
<h1>{html.escape(m.span.ticker)}: {html.escape(title)}</h1>
{_answers_html(m)}
<p class="meta">Out of sample: {span.test_days} trading days, {span.test_start} to
{span.test_end}, each held on a position decided at the previous close (the first at
{span.first_decision}) and traded at that day's open; {html.escape(design)}.
{html.escape(_costs_words(m, cfg))} Run <code>{html.escape(run_dir.name)}</code>.</p>
{_verdict_details_html(m)}
<h2>Comparison (after costs, same span)</h2>
{comparison_html(m)}
<p class="meta">ΔSharpe: Sharpe ratio minus buy-and-hold's. p ΔSharpe: two-sided
block-bootstrap p-value of that difference. Break-even: the cost per side, paid by the strategy
and buy-and-hold alike, above which its Sharpe ratio would no longer beat buy-and-hold's
("none": it does not even before costs; "&gt; 100 bps": still ahead at the search's limit).
DM p (better than RW): one-sided Diebold-Mariano p-value of a lower squared loss than the random
walk's; MSE / RW: the forecast's mean squared error over the random walk's (below 1: more
accurate). PT p: Pesaran-Timmermann test of direction. R² vs RW: 1 - MSE / MSE of a zero
forecast.</p>
{_fig(figures, "equity", "cumulative returns of every strategy and buy-and-hold")}
{_fig(figures, "drawdown", "drawdowns")}
<h2>Costs</h2>{_costs_table(m)}
<p class="meta">Gross: no commission, slippage, spread, minimum fee or borrowing fee (interest
on cash stays). Turnover: value traded a year, in multiples of equity. Cost drag: mean return a
year that costs take. Share of the gross edge eaten: how much of the strategy's gross Sharpe
edge over buy-and-hold (its Sharpe ratio minus buy-and-hold's, before costs) costs take ("-"
where it has none; above 100%: costs more than erase it). Break-even: the per-side cost
rate, in place of commission, slippage and spread for every strategy and buy-and-hold alike,
at which the strategy's Sharpe ratio (or
total return) falls to buy-and-hold's, from the exact engine; the interval is a block
bootstrap of an approximation (returns minus cost × turnover).</p>
{_fig(figures, "cost_sweep", "Sharpe ratio of every strategy against the cost per side")}
{_sizing_html(m, cfg)}
<h2>Significance</h2>{_significance_table(m)}
{_seed_table(m)}
<h2>Overfitting and family-wise tests</h2>{_overfitting_html(m, figures)}
<h2>Forecast diagnostics</h2>
{_fig(figures, "scatter", "predicted vs realised")}
{_fig(figures, "forecast_time", "forecasts over time")}
{_fig(figures, "rolling", "rolling hit rate and information coefficient")}
{_fig(figures, "distribution", "distribution of forecasts")}
{_fig(figures, "lag_check", "lag check")}{steps_html(m)}
<h2>Per-fold results</h2>{_fold_table(m)}
<h2>Tear-sheets</h2><ul id="tearsheets">{links}</ul>
<h2>Data</h2><ul>{data}</ul>
<h2>Files</h2><ul>{files}</ul>
<h2>Notes</h2><ul id="notes">{notes}</ul>
</body></html>
"""
    path = run_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


# --- multi-step forecasts (--horizon h > 1) ---------------------------------------------------
_STEP_ROWS = (
    ("RMSE", "rmse", "{:.5f}".format),
    ("Hit rate", "hit_rate", "{:.1%}".format),
    ("IC", "ic", "{:+.3f}".format),
    ("R² vs RW", "r2_vs_zero", "{:+.4f}".format),
    ("MSE / RW MSE", "loss_ratio", "{:.3f}".format),
    ("DM p (better than RW)", "dm_p_better", fmt_p),
)


def steps_html(m: Metrics) -> str:
    """With --horizon h > 1: every forecast scored at each of its h days and over the path
    (the sum of its h daily forecasts against the h realised returns' sum); empty otherwise.
    The DM p is one-sided (small only where the forecast beats the random walk), beside the
    ratio of the two MSEs, so a forecast far worse than the random walk never reads as
    significant."""
    if m.steps.empty:
        return ""
    steps = list(dict.fromkeys(m.steps.index.get_level_values("step")))
    names = list(dict.fromkeys(m.steps.index.get_level_values("name")))
    head = "".join(f"<th>{html.escape(s)}</th>" for s in ["Forecast", *steps])
    body = []
    for title, column, fmt in _STEP_ROWS:
        body.append(f'<tr class="group"><th colspan="{len(steps) + 1}">{title}</th></tr>')
        for name in names:
            values = (m.steps.at[(name, s), column] for s in steps)
            cells = "".join(f"<td>{'-' if v != v else fmt(v)}</td>" for v in values)
            body.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    horizon = len(steps) - 1
    return f"""<h2>Forecasts step by step ({horizon} days ahead)</h2>
<table id="steps"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>
<p class="meta">t+k: the forecast made at the close of t of the return from close t+k-1 to
close t+k (its column <code>&lt;model&gt;@t+k</code> in predictions.csv; t+1 is the bare
column, the one the comparison table scores). path: the sum of the {horizon} daily forecasts
against the sum of the {horizon} realised returns (what <code>--signal-horizon h</code>
trades). MSE / RW MSE: the forecast's mean squared error over the random walk's (below 1: more
accurate). DM p: Diebold-Mariano, one-sided, for "the forecast's squared error is lower than
the random walk's" (a forecast worse than the random walk gets a p near 1); a k-day forecast's
errors overlap, so its variance spans k-1 lags (HLN-corrected).</p>"""
