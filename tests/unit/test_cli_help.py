"""Every option of every command says what it does, and its default where it has one: the
value, also where the default is a setting's (PIPELINE_…, else the setting's own default)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from pipeline.cli.main import _parser
from pipeline.cli.options import HelpFormatter
from pipeline.settings import Settings

PARSER = _parser()
COMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help_and_shows_its_default(name: str) -> None:
    command = COMMANDS[name]
    assert command.formatter_class is HelpFormatter, f"pipeline {name} appends no defaults"
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
        expanded = " ".join(command._get_formatter()._expand_help(action).split())
        assert f"default: {default}" in expanded, f"pipeline {name} {action.option_strings[0]}"
        assert "default" in text


SETTING_DEFAULT = re.compile(r"default: PIPELINE_(\w+)(?:, else ([^;)]+))?")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_option_defaulting_to_a_setting_shows_that_setting_s_default_value(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file here
    for variable in [v for v in os.environ if v.startswith("PIPELINE_")]:
        monkeypatch.delenv(variable)
    unset = Settings()
    for action in COMMANDS[name]._actions:
        for setting, shown in SETTING_DEFAULT.findall(" ".join((action.help or "").split())):
            option = f"pipeline {name} {action.option_strings[0]}"
            assert shown, f"{option} names PIPELINE_{setting} as its default, not the value"
            field = setting.lower()
            if field == "clickhouse_dsn":  # unset: an embedded database at that path
                assert unset.resolved_clickhouse_dsn().path == str(Path(shown).resolve())
            else:
                assert getattr(Settings(**{field: shown}), field) == getattr(unset, field), option


@pytest.mark.parametrize("name", [None, *sorted(COMMANDS)])
def test_every_required_argument_says_so_and_no_other(name: str | None) -> None:
    command = PARSER if name is None else COMMANDS[name]
    formatter = command._get_formatter()
    for action in command._actions:
        if action.help == argparse.SUPPRESS:
            continue
        argument = f"pipeline {name or ''} {action.option_strings or action.metavar or action.dest}"
        assert action.help or not action.required, f"{argument} is required and says nothing"
        shown = " ".join(formatter._expand_help(action).split()) if action.help else ""
        assert shown.endswith("(required)") == action.required, argument
    assert ("(required)" in command.format_help()) == any(a.required for a in command._actions)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_s_help_says_what_it_does(name: str) -> None:
    """`pipeline X --help` opens with what X is for (its one-line help, or a longer account),
    not only with its usage and options."""
    command = COMMANDS[name]
    assert command.description, f"pipeline {name} --help does not say what it is for"
    before_options = " ".join(command.format_help().partition("options:")[0].split())
    assert " ".join(command.description.split()) in before_options, f"pipeline {name}"
