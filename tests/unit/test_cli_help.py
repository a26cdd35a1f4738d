"""Every option of every command says what it does, and its default where it has one."""

from __future__ import annotations

import argparse

import pytest

from pipeline.cli.main import _parser

PARSER = _parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_shows_its_default(name: str) -> None:
    command = COMMANDS[name]
    text = command.format_help()
    for action in command._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        assert action.help, f"pipeline {name} {action.option_strings[0]} has no help"
        default = action.default
        if default is None or default is False or default is argparse.SUPPRESS or default == []:
            continue  # nothing to show: an option left out, a flag that is off
        shown = command._get_formatter()._get_help_string(action) or ""
        assert "default" in shown, f"pipeline {name} {action.option_strings[0]}"
        assert "default" in text
