"""The Makefiles: every target they declare phony has a rule (`make lint` used to print
"Nothing to be done" and exit 0 without linting anything)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAKEFILES = sorted(ROOT.glob("Makefile*"))


def test_every_phony_target_has_a_rule() -> None:
    text = "\n".join(path.read_text() for path in MAKEFILES)
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for name in line.split()}
    rules = set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))
    assert phony and phony <= rules, sorted(phony - rules)
