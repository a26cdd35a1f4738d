"""What the compose tests share: the files, a value for every secret docker-compose.yml requires,
and what Compose makes of a service's environment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

# Every secret the stack needs: each must be required (${NAME:?...}) and have no default.
SECRETS = {
    "PIPELINE_PSEUDONYMISATION_KEY": "3f9a1c7e5b2d48a06e1f9c3b7d5a2e84",
    "CLICKHOUSE_PIPELINE_PASSWORD": "ch-pipeline-Pw1",
    "CLICKHOUSE_GRAFANA_PASSWORD": "ch-grafana-Pw2",
    "CLICKHOUSE_MIGRATOR_PASSWORD": "ch-migrator-Pw8",
    "GRAFANA_ADMIN_PASSWORD": "grafana-admin-Pw3",
    "KAFKA_ADMIN_PASSWORD": "kafka-admin-Pw4",
    "KAFKA_PIPELINE_PASSWORD": "kafka-pipeline-Pw5",
    "KAFKA_SSL_KEYSTORE_PASSWORD": "kafka-keystore-Pw6",
}

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "pipeline" / "compose.env.example"
DOCKERFILE = REPO / "deploy" / "pipeline" / "Dockerfile"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
USERS = REPO / "deploy" / "clickhouse" / "users.d" / "quality-users.xml"
DATASOURCES = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "quality.yml"
DASHBOARD_PROVIDERS = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "quality.yml"
BROKER_SCRIPT = REPO / "deploy" / "kafka" / "compose-broker.sh"

SERVICES = {
    "kafka",
    "kafka-topics",
    "clickhouse",
    "pipeline-migrate",
    "pipeline-worker",
    "prometheus",
    "alertmanager",
    "grafana",
}
ONE_SHOTS = {"kafka-topics", "pipeline-migrate"}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def service_env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """What Compose makes of ${...}: the variable from `env`, else its default."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if name in env:
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise KeyError(f"{name} is required: {arg}")
        return ""

    return INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def pipeline_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return service_env(services["pipeline-worker"])


def bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            yield source, target


def url_port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or default
