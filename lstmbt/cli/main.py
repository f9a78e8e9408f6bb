"""Command line: `lstmbt run | study | compare | resume | forecast | report | runs | presets`.

Errors the user can fix are one red line and exit 2; anything else is reported as a bug in
one line that says how to see the traceback (--debug). Ctrl-C and SIGTERM stop a run the same
way (its state saved, the resume command printed; exit 130 and 143). Process-wide settings
(malloc tuning, quiet third-party warnings, the SIGTERM handler) are applied here, never on
`import lstmbt`. The study, judge and forecast code (torch, scipy, quantstats) is imported by
the command that runs it, so `--help`, `lstmbt runs` and `lstmbt presets` start fast
(tests/test_imports.py).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lstmbt import _runtime
from lstmbt.cli.options import given_values, run_parameters
from lstmbt.cli.show import console, forecast_tables, print_summary, print_universe, runs_table
from lstmbt.config import FROM_RUN, PRESETS, config_from_mapping, load_config_file
from lstmbt.errors import ConfigError, LstmbtError
from lstmbt.features.indicators import list_groups
from lstmbt.models.registry import is_dotted_path
from lstmbt.progress import RichProgress
from lstmbt.runs import RunComplete, list_runs, read_config, read_config_doc

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Does this LSTM forecast make money after costs, out of sample, against buy-and-hold?",
    pretty_exceptions_enable=False,
)
Opt = typer.Option
Debug = Annotated[bool, Opt(help="Show tracebacks on errors.")]
Wide = Annotated[
    bool, Opt("--wide", help="Show every column of the comparison table (default: compact).")
]

STUDY_DEFAULTS = {
    "presets": ("baseline", "lookback", "multifeature"),
    "walk_forward": True,
    "seeds": 5,
    "cash_rate": "risk-free",
}
COMMANDS = {
    "run": ({}, "Train, forecast out of sample, backtest after costs and write the report."),
    "study": (
        STUDY_DEFAULTS,
        "The full honest study: three presets, walk-forward yearly refits, 5 seeds, "
        "baselines, significance tests.",
    ),
    "compare": (
        {"presets": STUDY_DEFAULTS["presets"]},
        "Train several presets on the same split; compare with buy-and-hold and the baselines.",
    ),
}


class _EndOfFile(Exception):
    """An EOFError raised inside a command (a file that ended early). Typer would print only
    'Aborted!' for it, as for a user's Ctrl-D; main() reports it like any other error."""


def _eof_is_an_error(command):
    """Wrap a command so an EOFError reaches main() instead of becoming typer's 'Aborted!'."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EOFError as exc:
            raise _EndOfFile(str(exc)) from exc

    return wrapper


def _command(name: str | None = None):
    """app.command, with EOFError kept an error (see _EndOfFile)."""
    return lambda fn: app.command(name)(_eof_is_an_error(fn))


_STOPPED_BY: list[int] = []  # the signal that stopped this command (SIGTERM), if one did


class _Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, CI cancel, docker stop, systemd), handled like Ctrl-C."""


class _Stop:
    """Where this command's stop stands. `raised`: a SIGTERM raised _Terminated; `lost`: that
    exception was swallowed where Python cannot pass it on (a weakref callback, a __del__ or a
    gc callback print "Exception ignored" and carry on), so it must be raised again; `in_hook`:
    the unraisable hook is running (an exception raised there would be swallowed too)."""

    raised = False
    lost = False
    in_hook = False
    active = False
    asker: threading.Thread | None = None


def _on_sigterm(signum: int, frame: object) -> None:
    """Stop the command as Ctrl-C would (the run saves its state and says how to resume). A
    second SIGTERM while that stop unwinds is ignored, so the clean-up is not cut short; but the
    handler stays installed (never SIG_IGN) and a stop that was swallowed is raised again (see
    `_lost`)."""
    _STOPPED_BY[:] = _STOPPED_BY or [signum]
    if _Stop.in_hook:  # raising here would be swallowed: raise it once the hook is done
        _lost()
        return
    if _Stop.raised and not _Stop.lost:
        return
    _Stop.raised, _Stop.lost = True, False
    raise _Terminated


def _lost() -> None:
    """The stop was swallowed: send the main thread SIGTERM again every 20 ms (from a thread, so
    it lands after the code that swallowed it, and as a real signal, so it also ends a blocking
    wait) until one raises it and is not swallowed in turn; `_checkpoint` raises it too at the
    next stage or finished fold."""
    _Stop.raised = _Stop.lost = True
    if _Stop.asker is not None and _Stop.asker.is_alive():
        return  # already asking

    main = threading.main_thread().ident

    def ask() -> None:
        while _Stop.lost and _Stop.active:
            signal.pthread_kill(main, signal.SIGTERM)
            time.sleep(0.02)  # the handler raised meanwhile; swallowed again, lost is True

    _Stop.asker = threading.Thread(target=ask, name="lstmbt-sigterm", daemon=True)
    _Stop.asker.start()


def _unraisable(previous):
    """sys.unraisablehook for one command: SIGTERM's _Terminated swallowed by a callback is
    raised again (`_lost`); anything else goes to `previous`."""

    def hook(unraisable) -> None:
        _Stop.in_hook = True
        try:
            if isinstance(unraisable.exc_value, _Terminated):
                _lost()
            else:
                previous(unraisable)
        finally:
            _Stop.in_hook = False

    return hook


def _checkpoint() -> None:
    """A safe point in the command's normal flow (each stage, note, finished fold and epoch):
    a stop raised earlier that is not unwinding now was swallowed somewhere; raise it again."""
    if _Stop.raised:
        _Stop.lost = False
        raise _Terminated


@contextlib.contextmanager
def _sigterm_like_ctrl_c() -> Iterator[None]:
    """The CLI's SIGTERM handler (and the unraisable hook that keeps a stop from being
    swallowed), installed for one main() and then put back (never on import and never by the
    library: a notebook or service keeps its own)."""
    _STOPPED_BY.clear()
    _Stop.raised = _Stop.lost = _Stop.in_hook = False
    _Stop.asker = None
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    before, hook = signal.signal(signal.SIGTERM, _on_sigterm), sys.unraisablehook
    sys.unraisablehook, _Stop.active = _unraisable(hook), True
    try:
        yield
    finally:
        _Stop.active = _Stop.lost = False  # a late signal is ignored, the asker stops
        if _Stop.asker is not None:  # and sends nothing once the handler is put back
            _Stop.asker.join()
        signal.signal(signal.SIGTERM, before)
        sys.unraisablehook = hook


def _exit_code(code: int) -> int:
    """130 after Ctrl-C, 143 after SIGTERM (128 + the signal), else `code`."""
    return 128 + _STOPPED_BY[0] if _STOPPED_BY else code


@contextlib.contextmanager
def _interruptible():
    """Ctrl-C or SIGTERM: say what was kept and how to continue, exit 130 or 143 (typer would
    swallow the message)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        typer.secho(str(exc) or "interrupted", fg="red", err=True)
        raise typer.Exit(_exit_code(130)) from None


def _run_command(defaults: dict[str, Any], options: dict[str, Any]) -> None:
    """Command defaults < config file < the flags given."""
    from lstmbt.api import run_study, run_universe

    config_file, resume = options.pop("config", None), options.pop("resume", None)
    options.pop("debug", None)
    wide = options.pop("wide", False)
    if resume is not None:
        given = given_values(options)
        _refuse_changed_options(resume, given)
        _resume(resume, given.get("models"), wide)
        return
    values: dict[str, Any] = dict(defaults)
    if config_file:
        values.update(load_config_file(config_file))
    values.update(given_values(options))
    config = config_from_mapping(values)
    if config.universe is not None:
        with _interruptible():
            universe = run_universe(config, progress=RichProgress(_checkpoint), write=True)
        _print_universe(universe)
        return
    with _interruptible():
        result = run_study(config, progress=RichProgress(_checkpoint), write=True)
    out = console()
    print_summary(result.metrics, out, wide)
    out.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")
    sheets = result.metrics.tearsheets
    for name in [n for n in result.metrics.forecasters if n in sheets]:
        out.print(f"Tear-sheet ({name} vs buy-and-hold): {result.run_dir / sheets[name]}")
    if len(sheets) > 1:
        out.print(f"({len(sheets)} tear-sheets in all, linked from index.html)")


def _refuse_changed_options(run_dir: str, given: dict[str, Any]) -> None:
    """`--resume` continues a run with the options it started with (config.json): a flag that
    would change one (a new --cash-rate, say) is refused rather than silently ignored. Naming
    the run's own classes again (`--models pkg.mod:Cls`, as `lstmbt resume RUN --models`
    takes them: a run folder never names code to import) changes nothing."""
    if not given:
        return
    saved = read_config(run_dir)
    asked = config_from_mapping({**saved.to_dict(), **given, "run_id": None}, import_models=False)
    changed = [k for k in given if getattr(asked, k) != getattr(saved, k)]
    # the user's classes the run recorded, named again to be loaded: not a change
    recorded = bool(asked.models) and all(
        is_dotted_path(m) and m in saved.models for m in asked.models
    )
    if "models" in changed and recorded:
        changed.remove("models")
    if "preset_options" in given and asked.model_options != saved.model_options:
        changed.append("model_options")  # --set MODEL.KEY=VALUE
    if changed:
        shown = ", ".join(
            f"--{k.replace('_', '-')} (the run's: {getattr(saved, k)})" for k in changed
        )
        raise ConfigError(
            f"--resume continues {run_dir} with the options it started with; {shown} would "
            "change them. Start a new run instead."
        )


def _make_run_command(name: str, defaults: dict[str, Any], doc: str):
    """`run`, `study` and `compare`: the same options (from RunConfig), other defaults."""

    def command(**options: Any) -> None:
        _run_command(defaults, options)

    extra = [
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[str | None, Opt(help="TOML or JSON file of options (flags win).")],
        ),
        inspect.Parameter(
            "resume",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                str | None,
                Opt(help="Continue the interrupted run in this folder (its options are used)."),
            ],
        ),
        inspect.Parameter("wide", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Wide),
        inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Debug),
    ]
    command.__signature__ = inspect.Signature(run_parameters(defaults) + extra)
    command.__doc__ = doc
    command.__name__ = name
    return command


for _name, (_defaults, _doc) in COMMANDS.items():
    _command(_name)(_make_run_command(_name, _defaults, _doc))


# the run options that mean something for a judged forecast: those a run's predictions.csv
# brings along, and how the judging itself runs
JUDGE_OPTIONS = (
    *FROM_RUN,
    "seed",
    "bootstrap_reps",
    "block_size",
    "out",
    "run_id",
    "cache_dir",
    "tearsheets",
    "date_format",
    "rebalance_band",
)


def _judge_command(forecasts: str, options: dict[str, Any]) -> None:
    from lstmbt.judge import judge

    options.pop("debug", None)
    wide = options.pop("wide", False)
    positions, trials = options.pop("positions"), options.pop("trials")
    weights = options.pop("weights")
    date_format = options.pop("date_format", None)
    given = given_values(options)
    config = config_from_mapping(given) if given else None
    with _interruptible():
        result = judge(
            forecasts,
            config=config,
            positions=positions or weights,
            weights=weights,
            trials=trials,
            progress=RichProgress(_checkpoint),
            write=True,
            date_format=date_format,
        )
    out = console()
    print_summary(result.metrics, out, wide)
    out.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")


def _make_judge_command():
    def command(**options: Any) -> None:
        _judge_command(options.pop("forecasts"), options)

    params = [
        inspect.Parameter(
            "forecasts",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[
                str,
                typer.Argument(
                    help="CSV: a Date column and one or more forecast columns (each row: the "
                    "forecast made at that close of the next day's simple return). A run's "
                    "predictions.csv works as it is."
                ),
            ],
        ),
        *run_parameters({}, JUDGE_OPTIONS),
        inspect.Parameter(
            "positions",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[
                bool,
                Opt(
                    "--positions/--forecasts",
                    help="The columns are positions (-1, 0, 1) to hold from the next open, "
                    "not forecasts.",
                ),
            ],
        ),
        inspect.Parameter(
            "weights",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[
                bool,
                Opt(
                    "--weights",
                    help="The columns are sized positions, fractions of equity to hold from the "
                    "next open, traded when the drifted weight leaves --rebalance-band "
                    "(implies --positions).",
                ),
            ],
        ),
        inspect.Parameter(
            "trials",
            inspect.Parameter.KEYWORD_ONLY,
            default=0,
            annotation=Annotated[
                int,
                Opt(help="Variants you tried before these (the deflated Sharpe counts them)."),
            ],
        ),
        inspect.Parameter("wide", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Wide),
        inspect.Parameter("debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Debug),
    ]
    command.__signature__ = inspect.Signature(params)
    command.__doc__ = (
        "Judge anyone's forecasts: the same backtest, costs, baselines, significance tests, "
        "leak checks and report as a study."
    )
    return command


_command("judge")(_make_judge_command())


UserModels = Annotated[
    str | None,
    Opt(
        "--models",
        help="Your own classes the run used, package.module:Class, comma-separated: a run "
        "folder never names code to import, so you name them again.",
    ),
]


@_command()
def resume(
    run_dir: Annotated[str, typer.Argument(help="The run folder of an interrupted run.")],
    models: UserModels = None,
    force: Annotated[
        bool,
        Opt(
            "--force",
            help="Resume although an input changed since the run recorded it (config.json, "
            "prices, rates, a fold or result file): recompute what depends on it.",
        ),
    ] = False,
    wide: Wide = False,
    debug: Debug = False,
) -> None:
    """Continue an interrupted run: finished folds are reused, the rest trained. Its inputs
    are checked first: a change is refused (or, with --force, what depends on it recomputed);
    a complete run with unchanged inputs is left as it is (one line, exit 0)."""
    _resume(run_dir, models, wide, force)


def _print_universe(result) -> None:
    out = console()
    print_universe(result, out)
    out.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")


def _resume(run_dir: str, models: Any = None, wide: bool = False, force: bool = False) -> None:
    from lstmbt.api import resume_study, resume_universe

    progress = RichProgress(_checkpoint)
    try:
        if "universe" in read_config_doc(run_dir):
            with _interruptible():
                _print_universe(
                    resume_universe(run_dir, progress=progress, models=models, force=force)
                )
            return
        with _interruptible():
            result = resume_study(run_dir, progress=progress, models=models, force=force)
    except RunComplete as done:  # not an error: there is nothing to do
        console().print(str(done), soft_wrap=True, markup=False, highlight=False)
        return
    out = console()
    print_summary(result.metrics, out, wide)
    out.print(f"\nReport: [bold]{result.run_dir / 'index.html'}[/]")


@_command()
def forecast(
    run_dir: Annotated[str, typer.Argument(help="A finished run folder (its models/ are used).")],
    preset: Annotated[str | None, Opt(help="Only this preset's models.")] = None,
    model: Annotated[
        str | None,
        Opt(help="Only this model (lstm, gru, mlp, lightgbm or your class's name)."),
    ] = None,
    models: UserModels = None,
    source: Annotated[str | None, Opt(help="Price source (default: the run's).")] = None,
    end: Annotated[str | None, Opt(help="Last close to use, YYYY-MM-DD (default: latest).")] = None,
    days: Annotated[int, Opt(help="How many of the latest closes to forecast.")] = 1,
    debug: Debug = False,
) -> None:
    """Forecast the next day with a run's saved model(s), without retraining (a universe run:
    each ticker's)."""
    from lstmbt.forecast import forecast_from_run

    frame = forecast_from_run(  # refuses a run edited after it was written
        run_dir, preset, source=source, end=end, days=days, model=model, models=models
    )
    out = console()
    for table in forecast_tables(frame, out.size.width):
        out.print(table)
    for ticker, why in frame.attrs.get("skipped", {}).items():
        out.print(f"[yellow]not forecast {ticker}:[/] {why}")


@_command()
def report(
    run_dir: Annotated[str, typer.Argument(help="A finished run folder.")],
    tearsheets: Annotated[
        bool, Opt("--tearsheets/--no-tearsheets", help="Redraw QuantStats tear-sheets.")
    ] = True,
    wide: Wide = False,
    debug: Debug = False,
) -> None:
    """Rebuild a run's report (figures, tear-sheets, index.html) from its saved files; the run
    is then complete (run.json says so)."""
    from lstmbt.api import rebuild_report

    metrics = rebuild_report(run_dir, RichProgress(_checkpoint), tearsheets=tearsheets)
    out = console()
    print_summary(metrics, out, wide)
    out.print(f"\nReport: [bold]{Path(run_dir) / 'index.html'}[/]")


@_command()
def runs(
    out: Annotated[str, Opt(help="Folder holding the runs.")] = "reports",
    debug: Debug = False,
) -> None:
    """List past runs with their headline numbers."""
    rows = list_runs(out)
    if not rows:
        console().print(f"no runs under {out}/ yet: try `lstmbt run`")
        return
    shown = console()
    for table in runs_table(rows, out, shown.size.width):
        shown.print(table)


@_command()
def presets() -> None:
    """List the model presets (the course's three exercises) and the feature groups."""
    out = console()
    out.print("[bold]Presets[/] (lstmbt run --preset NAME)")
    for p in PRESETS.values():
        companions = ", ".join(f"{c} ({'+'.join(p.companion_features)})" for c in p.companions)
        out.print(f"  [bold cyan]{p.name}[/]: {p.description}")
        out.print(
            f"      lookback {p.lookback}, features {', '.join(p.features)}, other tickers "
            f"{companions or 'none'}, LSTM {p.num_layers}x{p.hidden_size}"
            + (f", dropout {p.dropout}" if p.dropout else "")
        )
    groups = Table(title="Feature groups (--features a,b)")
    groups.add_column("Group")
    groups.add_column("Features")
    for name, feats in list_groups().items():
        groups.add_row(name, ", ".join(feats))
    out.print(groups)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a repair, an offline fallback) as one yellow line, without source locations."""
    typer.secho(f"warning: {' '.join(str(message).split())}", fg="yellow", err=True)


def _one_line(exc: BaseException) -> str:
    """The message and any notes (e.g. 'run marked failed; ... lstmbt resume DIR') in one line."""
    notes = "; ".join(getattr(exc, "__notes__", []))
    return " ".join(f"{exc}{f' ({notes})' if notes else ''}".split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; errors the user can fix are one red line and exit code 2."""
    _runtime.start()
    _runtime.import_from_cwd()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _show_warning
    try:
        with _sigterm_like_ctrl_c():
            app(args=args, prog_name="lstmbt")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return _exit_code(code) if code == 130 else code
    except KeyboardInterrupt as exc:
        typer.secho(str(exc) or "interrupted", fg="red", err=True)
        return _exit_code(130)
    except LstmbtError as exc:
        if debug:
            raise
        typer.secho(f"error: {_one_line(exc)}", fg="red", err=True)
        return 2
    except OSError as exc:  # the machine's answer (disk full, permission): the user's to fix
        if debug:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        notes = "; ".join(getattr(exc, "__notes__", []))
        text = f"{exc.strerror}{where}{f'; {notes}' if notes else ''}" if exc.strerror else None
        typer.secho(f"error: {text or _one_line(exc)}", fg="red", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - anything else is our bug, said so in one line
        if debug:
            raise
        if isinstance(exc, _EndOfFile):
            exc = exc.__cause__
        typer.secho(
            f"internal error ({type(exc).__name__}: {_one_line(exc)[:300]}). This is a bug in "
            "lstmbt, not in your input: rerun with --debug for the traceback and report it.",
            fg="red",
            err=True,
        )
        return 3
    finally:
        warnings.showwarning = shown
    return 0


if __name__ == "__main__":
    sys.exit(main())
