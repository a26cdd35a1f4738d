"""Redaction runs in time linear in the text, by construction of its patterns.

A timed test would be flaky on a shared machine, so the work bound is checked structurally:
every unbounded repetition in every pattern run over input text is possessive (the engine never
backtracks into it), and every pattern that could fail after scanning a run cannot start again
inside that run. `bench/redaction_cost.py` measures the outcome: the cost of 10x longer
adversarial text is about 10x (the old email pattern took 90x).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core import privacy, textview
from pipeline.core.privacy import PATTERNS, redact_free_text, redact_rejected

ALL = {
    **{f"privacy.PATTERNS[{i}]": p for i, p in enumerate(PATTERNS)},
    "textview._SPECIAL_TEXT": textview._SPECIAL_TEXT,
    "textview._SPECIAL_JSON": textview._SPECIAL_JSON,
}
# the parser `re` itself uses (private, untyped; its public alias sre_parse is deprecated)
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")
UNBOUNDED = sre_constants.MAXREPEAT
GREEDY = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}


def _nodes(tree: Any) -> Any:
    """Every (opcode, argument) in a parsed pattern, depth first."""
    for op, arg in tree:
        yield op, arg
        if op in GREEDY or op is sre_constants.POSSESSIVE_REPEAT:
            yield from _nodes(arg[2])
        elif op is sre_constants.SUBPATTERN:
            yield from _nodes(arg[3])
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                yield from _nodes(branch)
        elif op in {sre_constants.ASSERT, sre_constants.ASSERT_NOT}:
            yield from _nodes(arg[1])
        elif op is sre_constants.ATOMIC_GROUP:
            yield from _nodes(arg)


def test_every_pattern_run_over_input_is_listed() -> None:
    listed = {p.pattern for p in ALL.values()}
    found = 0
    for module in (privacy, textview):
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                found += 1
                assert value.pattern in listed, f"{module.__name__}.{name} is not checked"
    assert found >= 7


@pytest.mark.parametrize("name", sorted(ALL))
def test_no_unbounded_repetition_can_backtrack(name: str) -> None:
    pattern = ALL[name]
    for op, arg in _nodes(sre_parse.parse(pattern.pattern, pattern.flags)):
        if op in GREEDY:
            low, high, _ = arg
            assert high is not UNBOUNDED and high <= 10, (
                f"{name}: {pattern.pattern!r} has a backtracking repetition {{{low},{high}}}"
            )


def test_the_email_pattern_cannot_start_inside_a_run_of_its_characters() -> None:
    email = next(p for p in PATTERNS if "@" in p.pattern)
    tree = sre_parse.parse(email.pattern, email.flags)
    assert tree[0][0] is sre_constants.ASSERT_NOT  # a lookbehind for the local part's class


@pytest.mark.parametrize(
    "text",
    [
        "a." * 20_000,
        "a@" + "b" * 40_000,
        "9\u200b" * 20_000,
        '"patient' + '\\"' * 20_000,
        "1 -" * 13_000,
    ],
)
def test_adversarial_text_is_redacted_without_raising(text: str) -> None:
    # not timed: the structural tests above bound the work; this checks nothing breaks
    assert isinstance(redact_free_text(text).text, str)
    assert isinstance(redact_rejected(text.encode()), bytes)


@given(st.text(st.characters(max_codepoint=0x7F)) | st.text(alphabet="ab 0123456789@.-/\\+"))
def test_text_cleared_at_a_glance_is_redacted_as_a_close_look_redacts_it(text: str) -> None:
    # the quick pass (plain ASCII without a digit, `@` or backslash) changes nothing
    assert redact_free_text(text) == privacy._redact_looking_closely(text)
    for tricky in (f"{text}9434765919", f"{text}a@b.nhs.uk", f"{text}\\u0039434765919"):
        assert redact_free_text(tricky) == privacy._redact_looking_closely(tricky)
