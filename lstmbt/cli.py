"""Command line: `lstmbt run`, `lstmbt compare`, `lstmbt presets`. Errors are one red line."""

from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Annotated, Any

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Does this LSTM forecast make money after costs, out of sample, against buy-and-hold?",
    pretty_exceptions_enable=False,
)

Opt = typer.Option


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


@contextlib.contextmanager
def _interruptible():
    """Ctrl-C: say what was kept and how to continue, exit 130 (typer would swallow the message)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        typer.secho(str(exc) or "interrupted", fg="red", err=True)
        raise typer.Exit(130) from None


def _build_config(options: dict[str, Any], config_file: str | None):
    from lstmbt.config import config_from_mapping, load_config_file

    values: dict[str, Any] = load_config_file(config_file) if config_file else {}
    for key, value in options.items():
        if value is not None:
            values[key] = value
    return config_from_mapping(values)


def _run(options: dict[str, Any], config_file: str | None) -> None:

    from lstmbt.pipeline import run_study
    from lstmbt.progress import RichProgress

    config = _build_config(options, config_file)
    with _interruptible():
        result = run_study(config, progress=RichProgress())
    console = _console()
    print_summary(result.metrics, console)
    console.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")
    sheets = result.metrics.get("tearsheets", {})
    for name in [n for n in sheets if n.endswith(":lstm")]:
        console.print(f"Tear-sheet ({name} vs buy-and-hold): {result.run_dir / sheets[name]}")
    if len(sheets) > 1:
        console.print(f"({len(sheets)} tear-sheets in all, linked from index.html)")


def _console():
    """Piped output (CI logs, files) gets a wide table instead of 80 truncated columns."""
    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(width=None if tty else 160, soft_wrap=not tty)


def print_summary(metrics: dict, console) -> None:
    """The comparison table (same numbers and formatting as index.html) and the verdict."""
    from rich.table import Table

    from lstmbt.report import comparison_table, format_cell

    span = metrics["span"]
    table = Table(
        title=f"{span['ticker']} out of sample {span['test_start']} .. {span['test_end']}, "
        "after costs"
    )
    frame = comparison_table(metrics)
    table.add_column("Strategy", style="bold")
    for col in frame.columns:
        table.add_column(col, justify="right")
    for name, row in frame.iterrows():
        style = "cyan" if name == metrics["benchmark"] else None
        table.add_row(str(name), *[format_cell(h, v) for h, v in row.items()], style=style)
    console.print(table)
    for line in metrics.get("verdict", []):
        console.print(f"[bold]Verdict:[/] {line}")


_OPTION_KEYS = {
    "with_": "companions",
    "with_features": "companion_features",
    "layers": "num_layers",
    "preset": "presets",
}
_LISTS = {"preset", "features", "with_", "with_features"}


@app.command()
def run(
    preset: Annotated[
        str | None, Opt(help="baseline | lookback | multifeature; several: a,b,c.")
    ] = None,
    ticker: Annotated[str | None, Opt(help="Ticker to trade, e.g. ^GSPC, ^IXIC, AAPL.")] = None,
    source: Annotated[
        str | None, Opt(help="sample | yahoo | auto | PATH.csv (default sample).")
    ] = None,
    start: Annotated[str | None, Opt(help="First date, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, Opt(help="Last date, YYYY-MM-DD.")] = None,
    features: Annotated[
        str | None, Opt(help="Feature groups, comma-separated (see `lstmbt presets`).")
    ] = None,
    with_: Annotated[
        str | None, Opt("--with", help="Companion tickers as inputs, comma-separated.")
    ] = None,
    with_features: Annotated[
        str | None,
        Opt("--with-features", help="Feature groups computed on the companions (default returns)."),
    ] = None,
    lookback: Annotated[int | None, Opt(help="Days of history per sample.")] = None,
    horizon: Annotated[
        int | None, Opt(help="Days ahead the model predicts (multi-horizon head).")
    ] = None,
    signal_horizon: Annotated[
        str | None, Opt(help="Trade on the 1-day or summed h-day forecast: 1 | h.")
    ] = None,
    epochs: Annotated[
        int | None, Opt(help="Maximum training epochs (early stopping on validation).")
    ] = None,
    batch_size: Annotated[int | None, Opt(help="Training batch size.")] = None,
    hidden_size: Annotated[int | None, Opt(help="LSTM hidden units.")] = None,
    layers: Annotated[int | None, Opt(help="LSTM layers.")] = None,
    dropout: Annotated[float | None, Opt(help="Dropout between LSTM layers.")] = None,
    lr: Annotated[float | None, Opt(help="Adam learning rate.")] = None,
    patience: Annotated[int | None, Opt(help="Early-stopping patience in epochs.")] = None,
    seed: Annotated[int | None, Opt(help="Seed for initialisation and batch order.")] = None,
    device: Annotated[str | None, Opt(help="auto | cpu | cuda.")] = None,
    threshold: Annotated[float | None, Opt(help="Go long when the forecast exceeds this.")] = None,
    long_short: Annotated[
        bool | None, Opt("--long-short/--long-only", help="Allow shorts.")
    ] = None,
    commission: Annotated[
        float | None, Opt(help="Commission per side, fraction (0.0005 = 5 bps).")
    ] = None,
    slippage: Annotated[float | None, Opt(help="Slippage per side, fraction.")] = None,
    val_frac: Annotated[float | None, Opt(help="Validation fraction of the calendar.")] = None,
    test_frac: Annotated[
        float | None, Opt(help="Test (out-of-sample) fraction of the calendar.")
    ] = None,
    out: Annotated[str | None, Opt(help="Folder for run reports (default reports).")] = None,
    run_id: Annotated[str | None, Opt(help="Name of the run folder (must not exist).")] = None,
    cache_dir: Annotated[
        str | None, Opt(help="Yahoo cache folder (default $LSTMBT_CACHE).")
    ] = None,
    tearsheets: Annotated[
        bool | None, Opt("--tearsheets/--no-tearsheets", help="Write QuantStats tear-sheets.")
    ] = None,
    walk_forward: Annotated[
        bool | None,
        Opt(
            "--walk-forward/--single-split",
            help="Retrain every --refit-every days over the evaluation span.",
        ),
    ] = None,
    refit_every: Annotated[
        int | None, Opt(help="Walk-forward: trading days between refits (default 252).")
    ] = None,
    window: Annotated[
        str | None, Opt(help="Walk-forward training window: expanding | rolling.")
    ] = None,
    train_size: Annotated[int | None, Opt(help="Rolling window length in trading days.")] = None,
    eval_frac: Annotated[
        float | None, Opt(help="Walk-forward: evaluated fraction of the calendar (default 0.5).")
    ] = None,
    seeds: Annotated[
        int | None, Opt(help="Seeds per model; the report shows mean, spread and the ensemble.")
    ] = None,
    seed_batching: Annotated[
        str | None,
        Opt(help="Train a preset's seeds packed in one network: auto | on | off (default auto)."),
    ] = None,
    jobs: Annotated[
        int | None, Opt(help="Training processes (default: all cores when there are several fits).")
    ] = None,
    threads: Annotated[
        int | None, Opt(help="Torch threads per fit (default: all cores for one fit, else 1).")
    ] = None,
    bootstrap_reps: Annotated[
        int | None, Opt(help="Bootstrap repetitions for Sharpe intervals and SPA.")
    ] = None,
    block_size: Annotated[
        int | None, Opt(help="Mean block length (days) of the stationary bootstrap.")
    ] = None,
    config: Annotated[str | None, Opt(help="TOML or JSON file of options (flags win).")] = None,
    resume: Annotated[
        str | None,
        Opt(help="Continue the interrupted run in this folder (other options are taken from it)."),
    ] = None,
    debug: Annotated[bool, Opt(help="Show tracebacks on errors.")] = False,
) -> None:
    """Train, forecast out of sample, backtest after costs and write the report."""
    if resume is not None:
        _resume(resume)
        return
    given = {k: v for k, v in locals().items() if k not in ("config", "debug", "resume")}
    options = {_OPTION_KEYS.get(k, k): (_split(v) if k in _LISTS else v) for k, v in given.items()}
    _run(options, config)


def _with_defaults(fn, doc: str, **defaults):
    """The same command with other defaults (typer reads the signature)."""
    import functools
    import inspect

    sig = inspect.signature(fn, eval_str=True)
    params = [p.replace(default=defaults.get(p.name, p.default)) for p in sig.parameters.values()]

    @functools.wraps(fn)
    def command(**kwargs):
        return fn(**kwargs)

    command.__signature__ = sig.replace(parameters=params)
    command.__doc__ = doc
    return command


app.command("study")(
    _with_defaults(
        run,
        "The full honest study: three presets, walk-forward yearly refits, 5 seeds, baselines, "
        "significance tests.",
        preset="baseline,lookback,multifeature",
        walk_forward=True,
        seeds=5,
    )
)
app.command("compare")(
    _with_defaults(
        run,
        "Train several presets on the same split; compare with buy-and-hold and the baselines.",
        preset="baseline,lookback,multifeature",
    )
)


@app.command()
def resume(
    run_dir: Annotated[str, typer.Argument(help="The run folder of an interrupted run.")],
    debug: Annotated[bool, Opt(help="Show tracebacks on errors.")] = False,
) -> None:
    """Continue an interrupted run: finished folds are reused, the rest trained."""
    _resume(run_dir)


def _resume(run_dir: str) -> None:

    from lstmbt.pipeline import resume_study
    from lstmbt.progress import RichProgress

    with _interruptible():
        result = resume_study(run_dir, progress=RichProgress())
    console = _console()
    print_summary(result.metrics, console)
    console.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")


@app.command()
def forecast(
    run_dir: Annotated[str, typer.Argument(help="A finished run folder (its models/ are used).")],
    preset: Annotated[str | None, Opt(help="Only this preset's model.")] = None,
    source: Annotated[str | None, Opt(help="Price source (default: the run's).")] = None,
    end: Annotated[str | None, Opt(help="Last close to use, YYYY-MM-DD (default: latest).")] = None,
    days: Annotated[int, Opt(help="How many of the latest closes to forecast.")] = 1,
    debug: Annotated[bool, Opt(help="Show tracebacks on errors.")] = False,
) -> None:
    """Forecast the next day with a run's saved model(s), without retraining."""
    from rich.table import Table

    from lstmbt.forecast import forecast_from_run

    frame = forecast_from_run(run_dir, preset, source=source, end=end, days=days)
    table = Table(title="Forecast of the next day's return, decided at each close")
    table.add_column("Close of")
    for col in frame.columns:
        table.add_column(col, justify="right")
    for day, row in frame.iterrows():
        cells = [
            f"{v:+.5f}" if c.endswith(":lstm") else {1.0: "long", 0.0: "flat", -1.0: "short"}[v]
            for c, v in row.items()
        ]
        table.add_row(f"{day:%Y-%m-%d}", *cells)
    _console().print(table)


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="A finished run folder.")],
    tearsheets: Annotated[
        bool, Opt("--tearsheets/--no-tearsheets", help="Redraw QuantStats tear-sheets.")
    ] = True,
    debug: Annotated[bool, Opt(help="Show tracebacks on errors.")] = False,
) -> None:
    """Rebuild a run's report (figures, tear-sheets, index.html) from its saved files."""

    from lstmbt.progress import RichProgress
    from lstmbt.report import build_report

    metrics = build_report(run_dir, RichProgress(), tearsheets=tearsheets)
    console = _console()
    print_summary(metrics, console)
    console.print(f"\nReport: [bold]{run_dir.rstrip('/')}/index.html[/]")


@app.command()
def runs(
    out: Annotated[str, Opt(help="Folder holding the runs.")] = "reports",
    debug: Annotated[bool, Opt(help="Show tracebacks on errors.")] = False,
) -> None:
    """List past runs with their headline numbers."""
    from rich.table import Table

    from lstmbt.report import fmt2
    from lstmbt.runs import list_runs

    rows = list_runs(out)
    console = _console()
    if not rows:
        console.print(f"no runs under {out}/ yet: try `lstmbt run`")
        return
    table = Table(title=f"Runs in {out}/")
    for col in (
        "Run",
        "Status",
        "Ticker",
        "Presets",
        "Design",
        "Test span",
        "B&H Sharpe",
        "Best LSTM",
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
            r.get("span", "-"),
            fmt2(r.get("bh_sharpe")),
            r.get("best") or "-",
            fmt2(r.get("best_sharpe")),
            fmt2(r.get("best_p")),
        )
    console.print(table)


@app.command()
def presets() -> None:
    """List the model presets (the course's three exercises) and the feature groups."""
    from rich.console import Console
    from rich.table import Table

    from features.indicators import list_groups
    from lstmbt.config import PRESETS

    console = Console()
    console.print("[bold]Presets[/] (lstmbt run --preset NAME)")
    for p in PRESETS.values():
        companions = ", ".join(f"{c} ({'+'.join(p.companion_features)})" for c in p.companions)
        console.print(f"  [bold cyan]{p.name}[/]: {p.description}")
        console.print(
            f"      lookback {p.lookback}, features {', '.join(p.features)}, other tickers "
            f"{companions or 'none'}, LSTM {p.num_layers}x{p.hidden_size}"
            + (f", dropout {p.dropout}" if p.dropout else "")
        )
    groups = Table(title="Feature groups (--features a,b)")
    groups.add_column("Group")
    groups.add_column("Features")
    for name, feats in list_groups().items():
        groups.add_row(name, ", ".join(feats))
    console.print(groups)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a repair, an offline fallback) as one yellow line, without source locations."""
    typer.secho(f"warning: {' '.join(str(message).split())}", fg="yellow", err=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning known errors into one red line and exit code 2."""
    from lstmbt import _runtime

    _runtime.start()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _show_warning
    try:
        app(args=args, prog_name="lstmbt")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt as exc:
        typer.secho(str(exc) or "interrupted", fg="red", err=True)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:
        if debug:
            raise
        from lstmbt.errors import LstmbtError

        kind = "error" if isinstance(exc, LstmbtError) else f"error ({type(exc).__name__})"
        typer.secho(f"{kind}: {' '.join(str(exc).split())}", fg="red", err=True)
        return 2
    finally:
        warnings.showwarning = shown
    return 0


if __name__ == "__main__":
    sys.exit(main())
