"""Fixtures of the unit tests: docker-compose.yml, read once per module."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.compose import COMPOSE, load_yaml


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = load_yaml(COMPOSE)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])
