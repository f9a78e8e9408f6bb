"""What the CLI prints: the comparison table and verdict, forecasts, the list of runs."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from lstmbt.metrics import Metrics, fmt2, format_cell


def console() -> Console:
    """Piped output (CI logs, files) gets a wide table instead of 80 truncated columns."""
    tty = sys.stdout.isatty()
    return Console(width=None if tty else 160, soft_wrap=not tty)


def print_summary(metrics: Metrics, out: Console) -> None:
    """The comparison table (same numbers and formatting as index.html) and the verdict."""
    span = metrics.span
    table = Table(
        title=f"{span.ticker} out of sample {span.test_start} .. {span.test_end}, after costs"
    )
    frame = metrics.comparison()
    widest = max((len(str(n)) for n in frame.index), default=8)
    # a name is never cut short: up to 22 characters it fits, a longer one folds onto a 2nd line
    table.add_column("Strategy", style="bold", overflow="fold", min_width=min(widest, 22))
    for col in frame.columns:
        table.add_column(col, justify="right")
    for name, row in frame.iterrows():
        style = "cyan" if name == metrics.benchmark else None
        table.add_row(str(name), *[format_cell(h, v) for h, v in row.items()], style=style)
    out.print(table)
    for line in metrics.verdict:
        out.print(f"[bold]Verdict:[/] {line}")


def forecast_cell(column: str, value: float) -> str:
    """A forecast in percent with enough digits to read a daily return; a position in words;
    a sized weight as a share of equity."""
    if column.endswith(":position"):
        return {1.0: "long", 0.0: "flat", -1.0: "short"}[value]
    if column.endswith(":weight"):
        return "-" if value != value else f"{value:+.0%} of equity"
    return f"{value:+.3%}"


def runs_table(rows: list[dict], out_dir: str) -> Table:
    table = Table(title=f"Runs in {out_dir}/")
    for col in (
        "Run",
        "Status",
        "Ticker",
        "Presets",
        "Design",
        "Test span",
        "B&H Sharpe",
        "Best model",
        "Sharpe",
        "p ΔSharpe",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["run"],
            r["status"],
            r["ticker"],
            r["presets"],
            "walk-forward" if r["walk_forward"] else "one split",
            r.get("span", r.get("note", "-")),
            fmt2(r.get("bh_sharpe")),
            r.get("best") or "-",
            fmt2(r.get("best_sharpe")),
            fmt2(r.get("best_p")),
        )
    return table
