"""The contract's field types (CONTRACT.md §1): timestamps, ids, codes and free text.

Timestamps and event ids are checked as text before pydantic parses them (pydantic alone takes
forms the contract does not); for JSON input the check runs in pydantic-core itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError
from pydantic_core import core_schema as cs

FREE_TEXT_MAX_CHARS = 10_000
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""What a timestamp must look like before it is parsed (the JSON Schemas carry it too)."""
UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
"""The 8-4-4-4-12 form; Python's UUID() would also take braces, `urn:uuid:` or no hyphens."""
_RFC3339 = re.compile(RFC3339_PATTERN)
_UUID = re.compile(UUID_PATTERN)
_WRONG_TIMESTAMP_TYPE = "timestamp must be an RFC 3339 string"
_BAD_TIMESTAMP = "timestamp must be RFC 3339 with seconds and an offset"
_WRONG_UUID_TYPE = "a UUID must be a string"
_BAD_UUID = "UUID must be 32 hex digits in groups of 8, 4, 4, 4 and 12 parted by hyphens"


def _rfc3339_text(value: object) -> object:
    # pydantic alone would take "2024-01-01T10:00+00:00" (no seconds) or a unix number; the
    # contract wants RFC 3339 text. Past this check the field is parsed in lax mode, since strict
    # mode would refuse the (already checked) string once a validator has seen it.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", _WRONG_TIMESTAMP_TYPE)
    if not _RFC3339.fullmatch(value):
        raise ValueError(_BAD_TIMESTAMP)
    return value


def _uuid_text(value: object) -> object:
    # the same two steps as timestamps: check the text strictly, then let pydantic parse it
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", _WRONG_UUID_TYPE)
    if not _UUID.fullmatch(value):
        raise ValueError(_BAD_UUID)
    return value


class _JsonText:
    """The same check as a before-validator above, in pydantic-core alone for JSON input.

    Every event is validated from JSON, and a Python validator per timestamp and id costs a
    call into Python each. For JSON input the text is checked natively instead (a strict
    string, then the pattern, then the same lax parse); the error messages are the Python
    validator's, so a rejection reads the same. Python input keeps the validator.
    """

    def __init__(self, pattern: str, wrong_type: str, bad_text: str) -> None:
        self.pattern, self.wrong_type, self.bad_text = pattern, wrong_type, bad_text

    def __get_pydantic_core_schema__(
        self, source: object, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        python = handler(source)
        assert python["type"] == "function-before"  # the before-validator's schema
        strict_text = cs.str_schema(strict=True)
        # error types of our own (a known type takes no message of ours): decode maps any type
        # ending in "_type" to wrong_type and any other to invalid_value, as it does the
        # validator's "string_type" and "value_error"
        json = cs.chain_schema(
            [
                cs.custom_error_schema(
                    strict_text, custom_error_type="text_type", custom_error_message=self.wrong_type
                ),
                cs.custom_error_schema(
                    cs.str_schema(pattern=self.pattern),
                    custom_error_type="text_value",
                    custom_error_message=f"Value error, {self.bad_text}",
                ),
                python["schema"],
            ]
        )
        return cs.json_or_python_schema(json_schema=json, python_schema=python)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        assert schema["type"] == "json-or-python"
        return handler(schema["python_schema"])  # what the published schemas always said


_TIMESTAMP_TEXT = _JsonText(RFC3339_PATTERN, _WRONG_TIMESTAMP_TYPE, _BAD_TIMESTAMP)
_UUID_TEXT = _JsonText(UUID_PATTERN, _WRONG_UUID_TYPE, _BAD_UUID)
Timestamp = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339_text), Field(strict=False), _TIMESTAMP_TEXT
]
EventId = Annotated[UUID, BeforeValidator(_uuid_text), Field(strict=False), _UUID_TEXT]
OrgId = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{3,10}$")]
UnitId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Source = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ShortLabel = Annotated[str, StringConstraints(max_length=64)]
FreeText = Annotated[str, StringConstraints(max_length=FREE_TEXT_MAX_CHARS)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
ReportRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
