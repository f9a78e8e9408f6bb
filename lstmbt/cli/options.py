"""The run options of `lstmbt run/study/compare`, generated from RunConfig's fields: each
option's help text and default come from the one description in lstmbt.config."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Annotated, Any

import typer

from lstmbt.config import FIELDS, PRESET_KEYS, base_type


def _flag(f: dataclasses.Field) -> str:
    return "--" + (f.metadata.get("flag") or f.name.replace("_", "-"))


def _cli_type(name: str) -> Any:
    if name == "preset_options":
        return list[str] | None
    kind = base_type(name)
    return (kind if kind in (bool, int, float) else str) | None  # tuples: comma-separated text


# fields without a flag of their own: --set NAME.KEY=VALUE fills preset_options or
# model_options by NAME (lstmbt.config._settings)
CLI_SHARED = ("model_options",)


def show_default(value: Any, name: str) -> str:
    """The default as a user would type it."""
    if value is None:
        shown = FIELDS[name].metadata.get("default_text")
        return shown or ("each preset's own" if name in PRESET_KEYS else "none")
    if isinstance(value, bool):
        flag = FIELDS[name].metadata.get("flag") or name.replace("_", "-")
        on, _, off = flag.partition("/--")
        return on if value else (off or f"no-{on}")
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, dict):
        return "none" if not value else str(value)
    return str(value)


def default_of(name: str, defaults: dict[str, Any] | None = None) -> Any:
    """A field's default, or the command's own where it has one."""
    f = FIELDS[name]
    if defaults and name in defaults:
        return defaults[name]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def option_help(name: str, defaults: dict[str, Any] | None = None) -> str:
    """An option's one description with its default (the command's, where it differs)."""
    default = show_default(default_of(name, defaults), name)
    return f"{FIELDS[name].metadata['help']} (default: {default})"


def run_parameters(
    defaults: dict[str, Any], names: tuple[str, ...] | None = None
) -> list[inspect.Parameter]:
    """One keyword parameter per RunConfig field (or per field in `names`), typed and documented
    for typer. Every parameter's own default is None, so only the flags a user gives override a
    config file."""
    params = []
    for name, f in FIELDS.items():
        if names is not None and name not in names:
            continue
        if name in CLI_SHARED:
            continue  # given through another field's flag (--set)
        extra = {"metavar": "NAME.KEY=VALUE"} if name == "preset_options" else {}
        option = typer.Option(
            _flag(f), help=option_help(name, defaults), show_default=False, **extra
        )
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[_cli_type(name), option],
            )
        )
    return params


def given_values(values: dict[str, Any]) -> dict[str, Any]:
    """The run options a user gave on the command line (None or [] = not given)."""
    return {k: v for k, v in values.items() if k in FIELDS and v not in (None, [])}
