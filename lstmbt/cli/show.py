"""What the CLI prints: the answer and the comparison table, the universe's table and verdict,
forecasts, the list of runs.

Tables fit the terminal without cutting a number or an id: each column is as wide as its widest
cell, and a table too wide for the terminal is folded into parts that repeat its key column (the
strategy, the run, the date), never cut with an ellipsis. The default comparison table is the
compact one (fits 100 columns); `--wide` shows every column.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lstmbt.metrics import (
    Metrics,
    finite,
    fmt2,
    fmt_p,
    fmt_signed,
    forecast_strategies,
    format_cell,
)

COMPACT = ("Total return", "Sharpe", "ΔSharpe", "p ΔSharpe", "Break-even")
ANSWER = "Answer"
ANSWER_STYLE = {"Yes": "bold green", "No": "bold red", "Inconclusive": "bold yellow"}
PROSE_WIDTH, PROSE_MAX = 24, 40  # a column of words (a note) wraps when space is short


def console() -> Console:
    """A terminal's own width; piped output (CI logs, files) gets $COLUMNS when it is set, else
    160 columns instead of rich's 80."""
    tty = sys.stdout.isatty()
    fixed = tty or os.environ.get("COLUMNS", "").strip().isdigit()
    return Console(width=None if fixed else 160, soft_wrap=not fixed)


@dataclass(frozen=True)
class Column:
    """A column of a fitted table: `key` columns are repeated in every part of a folded table;
    `prose` columns hold words that may wrap (notes), never numbers or ids."""

    header: str
    justify: str = "right"
    key: bool = False
    prose: bool = False


def fitted_tables(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    width: int,
    styles: Sequence[str | None] | None = None,
) -> list[Table]:
    """`rows` as one rich Table, or as several that each fit `width` (the key columns repeated
    in each): every cell is shown whole, at the width of the column's widest cell; where even
    one column beside the keys is too wide, a cell of several words wraps between them (a
    number or an id, which has no space, is never split)."""

    def tokens(k: int) -> list[str]:
        return [w for r in rows for w in str(r[k]).split()] + columns[k].header.split()

    full, least = [], []
    for k, col in enumerate(columns):
        widest = max([cell_len(str(r[k])) for r in rows] or [0])
        longest = max((cell_len(w) for w in tokens(k)), default=1)
        full.append(max(widest, longest))
        # a prose column wraps its words (a word longer than PROSE_MAX, a path, folds); every
        # other column keeps each cell on one line
        least.append(
            min(full[k], max(PROSE_WIDTH, min(longest, PROSE_MAX))) if col.prose else full[k]
        )
    keys = [k for k, c in enumerate(columns) if c.key]
    others = [k for k, c in enumerate(columns) if not c.key]

    def span(ks: list[int], w: Sequence[int] | dict[int, int]) -> int:  # cells, padding, borders
        return sum(w[k] for k in ks) + 3 * len(ks) + 1

    parts: list[list[int]] = []
    current = list(keys)
    for k in others:
        if len(current) > len(keys) and span([*current, k], least) > width:
            parts.append(current)
            current = list(keys)
        current.append(k)
    parts.append(current)
    tables = []
    for i, ks in enumerate(parts):
        shown = {k: least[k] for k in ks}
        for k in ks:  # room to spare: prose keeps more on a line
            room = width - span(ks, shown)
            if room > 0:
                shown[k] += min(room, full[k] - shown[k])
        suffix = f" ({i + 1}/{len(parts)})" if len(parts) > 1 else ""
        table = Table(title=escape(title) + suffix, title_justify="left")
        for k in ks:
            col = columns[k]
            table.add_column(
                escape(col.header),
                justify=col.justify,
                width=shown[k],
                overflow="fold",  # never an ellipsis
            )
        for r, row in enumerate(rows):
            style = styles[r] if styles else None
            table.add_row(*(escape(str(row[k])) for k in ks), style=style)
        tables.append(table)
    return tables


def _width(out: Console) -> int:
    return out.size.width


def comparison_tables(metrics: Metrics, width: int, wide: bool = False) -> list[Table]:
    """The comparison table (same cells as index.html): compact by default (return, Sharpe,
    its difference to buy-and-hold with p, break-even, the answer), every column with `wide`."""
    span = metrics.span
    frame = metrics.comparison()
    headers = list(frame.columns) if wide else [h for h in COMPACT if h in frame.columns]
    answers = metrics.verdict.answers
    columns = [Column("Strategy", "left", key=True), *(Column(h) for h in headers)]
    if answers:
        columns.append(Column(ANSWER, "left"))
    rows = []
    for name, row in frame.iterrows():
        cells = [str(name), *(format_cell(h, row[h]) for h in headers)]
        if answers:
            cells.append(answers.get(str(name), ""))
        rows.append(cells)
    styles = ["cyan" if name == metrics.benchmark else None for name in frame.index]
    title = f"{span.ticker}: every strategy after costs, on the same days"
    return fitted_tables(title, columns, rows, width, styles)


def span_words(metrics: Metrics) -> str:
    """The out-of-sample span as the report's header says it: the return days and the costs
    (and any fee beyond them)."""
    span = metrics.span
    other = span.costs or {}
    fees = "".join(
        (
            f", at least {other['min_fee']:g} per order" if other.get("min_fee") else "",
            f", {other['borrow_fee'] * 1e4:.0f} bps a year to borrow for shorts"
            if other.get("borrow_fee")
            else "",
        )
    )
    return (
        f"{span.ticker} out of sample {span.test_start} to {span.test_end} ({span.test_days} "
        f"trading days), after costs of {span.cost_bps:.1f} bps per side{fees}"
    )


def table_notes(metrics: Metrics) -> str:
    """What the comparison table's Sharpe ratios are measured over and, where the answer
    corrects for several forecast strategies, that its p is each one's own."""
    cash = metrics.span.cash_rate
    notes = [
        "Sharpe ratios over a zero return (no cash rate)"
        if cash in ("", "none")
        else f"Sharpe ratios over the cash rate ({cash})"
    ]
    family = sum(  # the answer's Holm family: the forecast strategies with a p-value
        finite(metrics.value("strategy_tests", n, "diff_p_value")) is not None
        for n in forecast_strategies(metrics)
    )
    if metrics.verdict.models and family > 1:
        notes.append(
            f"p ΔSharpe is each strategy's own two-sided p; the answer reads it after Holm's "
            f"correction over the run's {family} forecast strategies"
        )
    return "(" + "; ".join(notes) + ")"


def print_summary(metrics: Metrics, out: Console, wide: bool = False) -> None:
    """The answer per forecaster, the comparison table, then each verdict's details and the
    facts about the whole run."""
    v = metrics.verdict
    out.print(f"[bold]{escape(span_words(metrics))}[/]")
    if v.models:
        out.print("Does it beat buy-and-hold after costs?")
        for m in v.models:
            out.print(_answer_line(m.answer, m.headline))
    for table in comparison_tables(metrics, _width(out), wide):
        out.print(table)
    out.print(f"[dim]{escape(table_notes(metrics))}[/]")
    if not wide:
        out.print("[dim](--wide shows every column: CAGR, drawdown, forecast accuracy, DM, PT)[/]")
    _print_details(v, out)


def _answer_line(answer: str, headline: str) -> str:
    if not answer:
        return escape(headline)
    return f"[{ANSWER_STYLE.get(answer, 'bold')}]{answer}[/] — {escape(headline)}"


def _print_details(v, out: Console) -> None:
    for m in v.models:
        if m.details:
            out.print(f"[bold]{escape(m.name)}[/]")
            _bullets(m.details, out)
    if v.run:
        out.print("[bold]Whole run[/]" if v.models else "[bold]Verdict[/]")
        _bullets(v.run, out)


def _bullets(lines: Sequence[str], out: Console) -> None:
    """One fact per item, wrapped under its own text (a hanging indent), with no padding after
    the words (a grid would pad every line to the widest one, which shows in a log or a file)."""
    width = max(40, _width(out))
    for line in lines:
        text = textwrap.fill(
            line,
            width=width,
            initial_indent="  - ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.print(escape(text), soft_wrap=True)


def universe_tables(result, width: int) -> list[Table]:
    """Each ticker against its buy-and-hold: Sharpe ratios, the difference with its raw, BH and
    Holm p-values."""
    columns = [
        Column("Ticker", "left", key=True),
        Column("Strategy", "left", key=True),
        Column("Span", "left"),
        Column("B&H Sharpe"),
        Column("Sharpe"),
        Column("ΔSharpe"),
        Column("p"),
        Column("p BH"),
        Column("p Holm"),
    ]
    rows = [
        [
            str(ticker),
            str(name),
            f"{r['test_start']} .. {r['test_end']}",
            fmt2(finite(r["bh_sharpe"])),
            fmt2(finite(r["sharpe"])),
            fmt_signed(r["diff"]),
            *(fmt_p(finite(r[c])) for c in ("diff_p", "diff_p_bh", "diff_p_holm")),
        ]
        for (ticker, name), r in result.table.iterrows()
    ]
    title = f"Universe {result.universe}: each ticker against its buy-and-hold, after costs"
    return fitted_tables(title, columns, rows, width)


def print_universe(result, out: Console) -> None:
    """The universe's answers, its per-ticker table, then the details."""
    v = result.verdict
    models = getattr(v, "models", ())
    if models:
        out.print("[bold]Does it beat buy-and-hold after costs, across the tickers?[/]")
        for m in models:
            out.print(_answer_line(m.answer, m.headline))
    for table in universe_tables(result, _width(out)):
        out.print(table)
    for ticker, why in result.skipped.items():
        out.print(f"[yellow]skipped {escape(ticker)}:[/] {escape(why)}")
    if models:
        _print_details(v, out)
    else:
        for line in v:
            out.print(f"[bold]Verdict:[/] {escape(line)}")


def forecast_cell(column: str, value: float) -> str:
    """A forecast in percent with enough digits to read a daily return; a position in words;
    a sized weight as a share of equity."""
    if column.endswith(":position"):
        return {1.0: "long", 0.0: "flat", -1.0: "short"}[value]
    if column.endswith(":weight"):
        return "-" if value != value else f"{value:+.0%} of equity"
    return f"{value:+.3%}"


def forecast_tables(frame: pd.DataFrame, width: int) -> list[Table]:
    """The forecasts of `lstmbt forecast`: one row per close (per ticker and close for a
    universe run), one column per model (its forecast, position and weight), folded by the
    close's date when too wide."""
    universe = frame.index.nlevels == 2  # a universe run: (ticker, date)
    keys = [Column("Ticker", "left", key=True)] if universe else []
    keys.append(Column("Close of", "left", key=True))
    columns = [*keys, *(Column(str(c)) for c in frame.columns)]
    rows = [
        [
            *([key[0], f"{key[1]:%Y-%m-%d}"] if universe else [f"{key:%Y-%m-%d}"]),
            *(forecast_cell(c, v) for c, v in row.items()),
        ]
        for key, row in frame.iterrows()
    ]
    title = "Forecast of the next day's return (%), decided at each close"
    if any(str(c).endswith(":path") for c in frame.columns):
        title += "; :path, the forecast return over the next h days, decides the position"
    return fitted_tables(title, columns, rows, width)


def runs_table(rows: list[dict], out_dir: str, width: int = 160) -> list[Table]:
    """`lstmbt runs`: each run's id (whole, to copy into resume or forecast), status and
    headline numbers; an unfinished run's note says what to do."""
    columns = [
        Column("Run", "left", key=True),
        Column("Status", "left"),
        Column("Ticker", "left"),
        Column("B&H Sharpe"),
        Column("Best model", "left"),
        Column("Sharpe"),
        Column("Answer", "left"),
        Column("Test span or note", "left", prose=True),
        Column("Presets and design", "left", prose=True),
    ]
    cells = [
        [
            r["run"],
            r["status"],
            r["ticker"],
            fmt2(r.get("bh_sharpe")),
            r.get("best") or "-",
            fmt2(r.get("best_sharpe")),
            r.get("best_answer") or "-",
            r.get("span", r.get("note", "-")),
            f"{r['presets']}, {'walk-forward' if r['walk_forward'] else 'one split'}",
        ]
        for r in rows
    ]
    return fitted_tables(f"Runs in {out_dir}/", columns, cells, width)
