"""Option help states each default once: the description says what an option does, the default
(the command's own where it has one) is appended from the field's value or `default_text`."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from lstmbt.cli.main import COMMANDS, app
from lstmbt.cli.options import option_help
from lstmbt.config import FIELDS


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_every_option_states_its_default_once(name):
    for defaults, _doc in COMMANDS.values():
        text = option_help(name, defaults)
        assert len(re.findall(r"\bdefault\b", text, flags=re.I)) == 1, text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_shows_no_option_with_two_defaults(command):
    out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output
    twice = [line for line in out.splitlines() if len(re.findall(r"\(default", line)) > 1]
    assert "--seed " in out and not twice, twice
