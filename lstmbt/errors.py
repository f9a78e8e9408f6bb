"""Errors the CLI turns into one actionable line (no traceback unless --debug)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LstmbtError(ValueError):
    """A problem the user can fix; the message says how."""


class DataError(LstmbtError):
    """Input prices are missing, malformed or too short for the requested run."""


class ConfigError(LstmbtError):
    """An invalid option, preset, feature group or config key."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for a near miss, else ''."""
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> ConfigError:
    """A ConfigError naming the bad value, the valid choices and the nearest one."""
    choices = sorted(str(c) for c in choices)
    return ConfigError(
        f"unknown {kind} {value!r}.{did_you_mean(value, choices)} "
        f"Choose from: {', '.join(choices)}."
    )
