"""mkdocs hook: the option table and the CLI reference, generated from the code at build time.

Each option is documented once, in its RunConfig field's metadata (lstmbt/config.py); the CLI's
`--help` is built from the same text (lstmbt/cli/options.py). This hook writes the docs' tables
from the same sources, so neither can drift from the code:

    <!-- options-table -->   RunConfig's fields, grouped by metadata["group"]: flag, field,
                             type, default (per command where study/compare differ), help
    <!-- cli-reference -->   the typer app's command tree: every command's help, usage,
                             arguments and options (RunConfig options point at the table)
    <!-- presets-table -->   the model presets (lstmbt.config.PRESETS)
    <!-- feature-groups -->  the feature groups and their columns (lstmbt.features)

A page that documents the report's fields must name every column of the Metrics tables; a
missing one is a warning, which fails `mkdocs build --strict`.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from typing import Any

log = logging.getLogger("mkdocs.hooks.lstmbt")

GROUP_TITLES = {
    "data": "Data",
    "model": "Model",
    "strategy": "Strategy and costs",
    "training": "Training",
    "evaluation": "Evaluation and statistics",
    "output": "Output",
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    for placeholder, make in PLACEHOLDERS.items():
        if placeholder in markdown:
            markdown = markdown.replace(placeholder, make())
    if page.file.src_uri == "report-fields.md":
        _check_report_fields(markdown)
    return markdown


# --- helpers -----------------------------------------------------------------------------------
def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _type_name(hint: Any) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _flags(field: dataclasses.Field) -> list[str]:
    """'--walk-forward/--single-split' -> ['--walk-forward', '--single-split']."""
    flag = field.metadata.get("flag") or field.name.replace("_", "-")
    return ["--" + part.removeprefix("--") for part in flag.split("/")]


def _run_defaults() -> dict[str, dict[str, Any]]:
    """The run commands (run, study, compare) and the RunConfig defaults each overrides."""
    from lstmbt.cli.main import COMMANDS

    return {name: defaults for name, (defaults, _doc) in COMMANDS.items()}


def _default_cell(name: str, commands: dict[str, dict[str, Any]]) -> str:
    """The default as `lstmbt <command> --help` shows it; per command where they differ."""
    from lstmbt.cli.options import default_of, show_default

    shown: dict[str, list[str]] = {}
    for command, defaults in commands.items():
        text = show_default(default_of(name, defaults), name)
        shown.setdefault(text, []).append(command)
    if len(shown) == 1:
        return _default_text(name, next(iter(shown)))
    return "<br>".join(
        f"{', '.join(cmds)}: {_default_text(name, text)}" for text, cmds in shown.items()
    )


def _default_text(name: str, text: str) -> str:
    from lstmbt.config import FIELDS

    if FIELDS[name].type in (bool, "bool"):
        return f"`--{text}`"
    if text in ("none", "each preset's own"):
        return _cell(text)
    return _code(text)


# --- <!-- options-table --> --------------------------------------------------------------------
def options_table() -> str:
    from lstmbt.config import FIELDS, RunConfig

    hints = typing.get_type_hints(RunConfig)
    commands = _run_defaults()
    groups: dict[str, list[dataclasses.Field]] = {}
    for f in FIELDS.values():
        groups.setdefault(f.metadata.get("group", "run"), []).append(f)
    out = []
    for group, fields in groups.items():
        out.append(f"### {GROUP_TITLES.get(group, group.title())} {{#{group}}}\n")
        out.append("| Flag | Field / config key | Type | Default | Description |")
        out.append("|---|---|---|---|---|")
        for f in fields:
            flags = " / ".join(_code(x) for x in _flags(f))
            if f.name == "preset_options":
                flags = "`--set PRESET.KEY=VALUE` (repeatable)"
            elif f.name == "model_options":
                flags = "`--set MODEL.KEY=VALUE` (repeatable)"
            out.append(
                f"| {flags} | `{f.name}` | `{_type_name(hints[f.name])}` "
                f"| {_default_cell(f.name, commands)} | {_cell(f.metadata['help'])} |"
            )
        out.append("")
    return "\n".join(out)


# --- <!-- cli-reference --> --------------------------------------------------------------------
def cli_reference() -> str:
    import typer
    from typer._click.core import Context

    from lstmbt.cli.main import app
    from lstmbt.config import FIELDS

    group = typer.main.get_command(app)
    root = Context(group, info_name="lstmbt")
    commands = _run_defaults()
    out = [
        f"`lstmbt` — {_cell(group.help)}\n",
        "| Command | What it does |",
        "|---|---|",
    ]
    for name, cmd in group.commands.items():
        out.append(f"| [`lstmbt {name}`](#lstmbt-{name}) | {_cell(cmd.help)} |")
    out.append("")
    for name, cmd in group.commands.items():
        ctx = Context(cmd, info_name=name, parent=root)
        params = cmd.get_params(ctx)
        args = [p for p in params if p.param_type_name == "argument"]
        # run, study and compare take RunConfig's fields (documented in the option table);
        # other commands' options may share a name (forecast --source) but are their own
        shared = set(FIELDS) if name in commands else set()
        run_options = [p for p in params if p.name in shared]
        own = [p for p in params if p.param_type_name == "option" and p.name not in shared]
        usage = " ".join(["lstmbt", name, "[OPTIONS]", *(a.name.upper() for a in args)])
        out += [f"## lstmbt {name} {{#lstmbt-{name}}}\n", _cell(cmd.help) + "\n"]
        out += ["```text", usage, "```\n"]
        if args:
            out += ["| Argument | Type | Description |", "|---|---|---|"]
            for a in args:
                required = " (required)" if a.required else ""
                out.append(
                    f"| `{a.name.upper()}` | {_cell(_click_type(a, ctx))} "
                    f"| {_cell(a.help)}{required} |"
                )
            out.append("")
        if run_options:
            from lstmbt.cli.options import CLI_SHARED

            missing = set(FIELDS) - {p.name for p in run_options} - set(CLI_SHARED)
            if missing:
                log.warning("lstmbt %s lacks the run options %s", name, sorted(missing))
            first, last = (
                _flags(FIELDS[run_options[0].name])[0],
                _flags(FIELDS[run_options[-1].name])[0],
            )
            text = (
                f"Takes every [run option](options.md) ({len(run_options)} of them, `{first}` "
                f"to `{last}`), plus the options in the last table below."
            )
            differ = [
                n
                for n in FIELDS
                if _default_cell(n, {name: commands[name]}) != _default_cell(n, {"run": {}})
            ]
            if differ:
                text += " Its defaults differ from `lstmbt run`'s for:"
            out.append(text + "\n")
            if differ:
                out += [f"| Option | `lstmbt run` | `lstmbt {name}` |", "|---|---|---|"]
                for n in differ:
                    flag = " / ".join(_code(x) for x in _flags(FIELDS[n]))
                    out.append(
                        f"| {flag} | {_default_cell(n, {'run': {}})} "
                        f"| {_default_cell(n, {name: commands[name]})} |"
                    )
            out.append("")
        out += ["| Option | Type | Default | Description |", "|---|---|---|---|"]
        for p in own:
            flags = " / ".join(_code(x) for x in [*p.opts, *p.secondary_opts])
            out.append(
                f"| {flags} | {_cell(_click_type(p, ctx))} | {_click_default(p)} "
                f"| {_cell(p.help)} |"
            )
        out.append("")
    return "\n".join(out)


def _click_type(param, ctx) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    return param.display_type(ctx).strip("<>")


def _click_default(param) -> str:
    default = param.default
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return _code(param.opts[0] if default else param.secondary_opts[0])
    if default is None:
        return ""
    return _code(str(default))


# --- <!-- presets-table --> and <!-- feature-groups --> ----------------------------------------
def presets_table() -> str:
    from lstmbt.config import PRESETS

    out = [
        "| Preset | What | Lookback | Features | Other tickers (their features) | LSTM |",
        "|---|---|---|---|---|---|",
    ]
    for p in PRESETS.values():
        companions = ", ".join(f"`{c}` ({', '.join(p.companion_features)})" for c in p.companions)
        size = f"{p.num_layers} × {p.hidden_size}" + (f", dropout {p.dropout}" if p.dropout else "")
        out.append(
            f"| `{p.name}` | {_cell(p.description)} | {p.lookback} "
            f"| {', '.join(p.features)} | {companions or 'none'} | {size} |"
        )
    return "\n".join(out) + "\n"


def feature_groups() -> str:
    from lstmbt.features import list_groups

    out = ["| Group | Columns |", "|---|---|"]
    for group, names in list_groups().items():
        out.append(f"| `{group}` | {_cell(', '.join(names))} |")
    return "\n".join(out) + "\n"


PLACEHOLDERS = {
    "<!-- options-table -->": options_table,
    "<!-- cli-reference -->": cli_reference,
    "<!-- presets-table -->": presets_table,
    "<!-- feature-groups -->": feature_groups,
}


# --- the report-fields page names every column -------------------------------------------------
def _check_report_fields(markdown: str) -> None:
    from lstmbt import metrics

    names = {
        *metrics.STRATEGY_COLUMNS,
        *metrics.FORECAST_COLUMNS,
        *metrics.STRATEGY_TEST_COLUMNS,
        *metrics.FORECAST_TEST_COLUMNS,
        *metrics.SEED_KEYS,
        *(f.name for f in dataclasses.fields(metrics.Metrics)),
        *(f.name for f in dataclasses.fields(metrics.Span)),
        *(f.name for f in dataclasses.fields(metrics.Spa)),
    }
    missing = sorted(n for n in names if f"`{n}`" not in markdown)
    headers = sorted(h for _, _, h, _ in metrics.COLUMNS if h not in markdown)
    if missing or headers:
        log.warning(
            "report-fields.md does not explain %s; document them there",
            ", ".join(missing + headers),
        )
