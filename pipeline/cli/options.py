"""Options more than one command takes, declared once."""

from __future__ import annotations

import argparse


class HelpFormatter(argparse.HelpFormatter):
    """Every required argument's help ends with "(required)" (an option marked so, a
    positional argument that must be given, the command), every other option's with its
    default, unless the help already says it or there is none to say (no default, or a flag
    that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.required:
            return f"{text} (required)" if text else "(required)"
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or default == []
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def add_clickhouse_option(parser: argparse.ArgumentParser) -> None:
    """`--clickhouse DSN`: where the command's ClickHouse is (embedded chDB or a server)."""
    parser.add_argument(
        "--clickhouse",
        metavar="DSN",
        default=None,
        help="chdb:///path or http://user:password@host:8123 (default: PIPELINE_CLICKHOUSE_DSN, "
        "else ./data/clickhouse)",
    )
