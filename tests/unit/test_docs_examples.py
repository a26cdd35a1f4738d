"""What the docs tell an operator to type is accepted by the code it is typed into."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.core.pseudonyms import key_strength_problem

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KEY_EXAMPLE = re.compile(
    r"PIPELINE_PSEUDONYMISATION_KEY=(\$\(openssl rand [^)]*\)|'[^']*'|\"[^\"]*\"|[^\s`|]+)"
)
OPENSSL_RAND = re.compile(r"\$\(openssl rand -(?:hex|base64) (\d+)\)")


def _key_examples() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for match in KEY_EXAMPLE.finditer(path.read_text(encoding="utf-8")):
            found.append((path.relative_to(ROOT).as_posix(), match.group(1)))
    return found


def test_the_docs_show_how_to_set_the_key() -> None:
    assert any(doc == "docs/worker.md" for doc, _ in _key_examples())


@pytest.mark.parametrize(("doc", "example"), _key_examples())
def test_every_pseudonymisation_key_a_doc_shows_is_one_the_worker_accepts(
    doc: str, example: str
) -> None:
    """A literal key must pass the settings' strength check (`pipeline worker` exits 1
    otherwise); a generated one must carry at least 128 bits."""
    if generated := OPENSSL_RAND.fullmatch(example):
        assert int(generated.group(1)) * 8 >= 128, f"{doc}: {example} makes too short a key"
    else:
        key = example.strip("'\"")
        assert key_strength_problem(key) is None, f"{doc} shows a key the settings refuse: {key!r}"
