"""docker-compose.yml: the production stack's structure, and its agreement with the settings.

No Docker engine is needed: the file is read as YAML and checked against the pipeline's own
Settings, the Prometheus scrape config, the ClickHouse users and the Grafana provisioning. When a
Compose binary is installed (`docker compose` or Debian's `docker-compose`), it validates the
file as well.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.cli import main as pipeline_main
from tests.support.compose import (
    DOCKERFILE,
    ONE_SHOTS,
    REPO,
    SERVICES,
)

# --------------------------------------------------------------------------------------------
# Structure
# --------------------------------------------------------------------------------------------


def test_the_stack_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_long_running_services_have_healthchecks_and_restart(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service.get("restart") == "no", name
            assert "healthcheck" not in service, name
            continue
        assert service.get("restart") == "unless-stopped", name
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"


def _dependencies(service: dict[str, Any]) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_start_order(services: dict[str, dict[str, Any]]) -> None:
    worker = _dependencies(services["pipeline-worker"])
    assert worker == {
        "kafka": "service_healthy",
        "kafka-topics": "service_completed_successfully",
        "clickhouse": "service_healthy",
        "pipeline-migrate": "service_completed_successfully",
        "alertmanager": "service_healthy",
    }
    assert _dependencies(services["pipeline-migrate"]) == {"clickhouse": "service_healthy"}
    assert _dependencies(services["kafka-topics"]) == {"kafka": "service_healthy"}
    assert _dependencies(services["grafana"]) == {
        "clickhouse": "service_healthy",
        "prometheus": "service_healthy",
    }
    # A condition on a one-shot is "completed", on a long-running service "healthy": a
    # dependency on something without a healthcheck would never start.
    for name, service in services.items():
        for dependency, condition in _dependencies(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if dependency in ONE_SHOTS:
                assert condition == "service_completed_successfully", (name, dependency)
            else:
                assert condition == "service_healthy", (name, dependency)


def test_no_dependency_cycle(services: dict[str, dict[str, Any]]) -> None:
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        assert state.get(name) != "visiting", f"dependency cycle through {name}"
        if state.get(name) == "done":
            return
        state[name] = "visiting"
        for dependency in _dependencies(services[name]):
            visit(dependency)
        state[name] = "done"
        order.append(name)

    for name in sorted(services):
        visit(name)
    assert order.index("pipeline-migrate") < order.index("pipeline-worker")


def test_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"
                assert str(volume).endswith(":ro"), f"{name}: config mount {source} not read-only"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared
    # Everything stateful keeps its data in a named volume.
    for name, path in {
        "kafka": "/var/lib/kafka/data",
        "clickhouse": "/var/lib/clickhouse",
        "prometheus": "/prometheus",
        "alertmanager": "/alertmanager",
        "grafana": "/var/lib/grafana",
    }.items():
        targets = [str(v).split(":")[1] for v in services[name].get("volumes", [])]
        assert path in targets, f"{name} keeps no data volume at {path}"


def test_the_pipeline_image_runs_the_worker(services: dict[str, dict[str, Any]]) -> None:
    text = DOCKERFILE.read_text()
    assert [line for line in text.splitlines() if line.startswith("FROM ")] == [
        "FROM python:3.11-slim"
    ]
    assert 'ENTRYPOINT ["pipeline"]' in text
    assert 'CMD ["worker"]' in text
    assert "USER " in text, "the image runs as root"
    for name in ("pipeline-migrate", "pipeline-worker"):
        build = services[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert services["pipeline-migrate"]["command"] == ["migrate"]
    assert services["pipeline-worker"]["command"] == ["worker"]


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_the_commands_the_stack_runs_exist(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        pipeline_main([command, "--help"])
    assert exit_.value.code == 0
    assert command in capsys.readouterr().out
