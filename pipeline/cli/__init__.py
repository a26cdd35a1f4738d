"""The `pipeline` command: `main` (main.py) and one thin module per subcommand.

Each command module offers `add_<command>_arguments(parser)` and `run_<command>(args, ...)`:
parse, call one thing (a composition root in `pipeline.bootstrap`, or a library function),
print. Options shared by several commands are declared once, in options.py.
"""

from pipeline.cli.main import main

__all__ = ["main"]
