"""Restore from storage written before the step stored its small state: every stored payload,
re-read once (the next batches store the small form, and the next restore uses it)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator

_ORG_ID = re.compile(rb'"org_id"\s*:\s*"([^"\\]{1,64})"')


def org_of_payload(payload: bytes) -> str | None:
    """The organisation of a stored event payload, mostly without decoding it all (a quote
    inside a JSON string is escaped, so the first `"org_id": "…"` is the field itself)."""
    found = _ORG_ID.search(payload)
    if found:
        return found.group(1).decode()
    try:
        document = json.loads(payload)
    except ValueError:
        return None
    org = document.get("org_id") if isinstance(document, dict) else None
    return org if isinstance(org, str) else None


def owned_payloads(payloads: Iterable[bytes], owns: Callable[[str], bool]) -> Iterator[bytes]:
    for payload in payloads:
        org = org_of_payload(payload)
        if org is None or owns(org):
            yield payload
