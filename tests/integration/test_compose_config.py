"""Compose's own validation of docker-compose.yml (schema, interpolation, anchors), when a Compose
binary is installed (`docker compose` or Debian's `docker-compose`); skipped otherwise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.compose import SECRETS

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "pipeline" / "compose.env.example"


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_accepts_the_file(tmp_path: Path) -> None:
    """Compose's own validation (schema, interpolation, anchors), when a Compose is installed."""
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose / docker-compose here")
    env_file = tmp_path / "compose.env"
    filled = ENV_EXAMPLE.read_text()
    for name, value in SECRETS.items():
        filled = filled.replace(f"{name}=\n", f"{name}={value}\n")
    env_file.write_text(filled)
    result = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    # Without the secrets (the example leaves them empty), Compose refuses to start anything.
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode != 0
    assert "PIPELINE_PSEUDONYMISATION_KEY" in result.stderr
