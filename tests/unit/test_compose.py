"""docker-compose.yml: the production stack's structure, and its agreement with the settings.

No Docker engine is needed: the file is read as YAML and checked against the pipeline's own
Settings, the Prometheus scrape config, the ClickHouse users and the Grafana provisioning. When a
Compose binary is installed (`docker compose` or Debian's `docker-compose`), it validates the
file as well.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.cli import main as pipeline_main
from pipeline.settings import Settings
from tests.support.compose import SECRETS

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
_INTERPOLATION = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = _load(COMPOSE)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _env(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
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

    return _INTERPOLATION.sub(substitute, value.replace("$$", "\0")).replace("\0", "$")


def _pipeline_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return _env(services["pipeline-worker"])


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


def _bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith((".", "/")):
            yield source, target


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


# --------------------------------------------------------------------------------------------
# Agreement with the settings and the other configs
# --------------------------------------------------------------------------------------------


def test_every_pipeline_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    fields = {f"PIPELINE_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        for variable in _env(service):
            if variable.startswith("PIPELINE_"):
                assert variable in fields, f"{name} sets {variable}, which is not a setting"


def test_the_pipeline_environment_makes_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("pipeline-migrate", "pipeline-worker"):
        env = _env(services[name])
        assert env == _pipeline_env(services), "migrate and worker must share their settings"
    env = _pipeline_env(services)
    for variable, value in env.items():
        monkeypatch.setenv(variable, _interpolate(value, SECRETS))
    settings = Settings()
    assert settings.pseudonymisation_key is not None
    assert settings.metrics_port > 0
    assert settings.alertmanager_url
    assert settings.clickhouse_dsn and settings.clickhouse_dsn.scheme == "http"
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == SECRETS["KAFKA_PIPELINE_PASSWORD"]


def test_the_pseudonymisation_key_is_required(services: dict[str, dict[str, Any]]) -> None:
    value = _pipeline_env(services)["PIPELINE_PSEUDONYMISATION_KEY"]
    with pytest.raises(KeyError, match="PIPELINE_PSEUDONYMISATION_KEY is required"):
        _interpolate(value)
    assert "PIPELINE_PSEUDONYMISATION_KEY=" in ENV_EXAMPLE.read_text()


def test_every_secret_is_required_and_has_no_default() -> None:
    text = COMPOSE.read_text()
    found: dict[str, set[str]] = {}
    for match in _INTERPOLATION.finditer(text):
        found.setdefault(match.group(1), set()).add(match.group(2) or "")
    assert set(SECRETS) <= set(found)
    for name in SECRETS:
        assert found[name] == {":?"}, f"{name} must be ${{{name}:?...}} everywhere"
    # nothing else that looks like a secret is interpolated with a default
    for name in found:
        if re.search(r"PASSWORD|SECRET|TOKEN|KEY$", name):
            assert name in SECRETS, f"{name} is a secret the tests do not know"
    assert "change-me" not in text
    example = ENV_EXAMPLE.read_text()
    for name in SECRETS:
        assert re.search(rf"^{name}=$", example, re.M), f"{name} must be empty in the example"
    assert "change-me" not in example


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_the_stack_refuses_to_start_without_each_secret(
    secret: str, services: dict[str, dict[str, Any]]
) -> None:
    given = {name: value for name, value in SECRETS.items() if name != secret}
    refused = []
    for name, service in services.items():
        for value in _env(service).values():
            try:
                _interpolate(value, given)
            except KeyError:
                refused.append(name)
    assert refused, f"nothing needs {secret}"


def _port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or default


def test_metrics_port_is_what_prometheus_scrapes(services: dict[str, dict[str, Any]]) -> None:
    port = int(_pipeline_env(services)["PIPELINE_METRICS_PORT"])
    assert port == Settings.model_fields["metrics_port"].default
    worker = services["pipeline-worker"]
    assert [str(p) for p in worker.get("expose", [])] == [str(port)]
    assert "ports" not in worker, "workers are scaled: they must not publish a fixed host port"
    assert f"localhost:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    scrape = {job["job_name"]: job for job in _load(PROMETHEUS)["scrape_configs"]}
    (discovery,) = scrape["pipeline-worker"]["dns_sd_configs"]
    assert discovery["names"] == ["pipeline-worker"]
    assert discovery["port"] == port


def test_kafka_is_inside_the_network_over_sasl_ssl(services: dict[str, dict[str, Any]]) -> None:
    pipeline = _pipeline_env(services)
    host, port = pipeline["PIPELINE_KAFKA_BOOTSTRAP"].split(":")
    assert host == "kafka"
    assert "ports" not in services["kafka"], "Kafka must not be published on the host"
    script = BROKER_SCRIPT.read_text()
    assert f"listeners=INTERNAL://:{port},CONTROLLER://localhost:9093" in script
    assert f"advertised.listeners=INTERNAL://kafka:{port}" in script
    assert "listener.security.protocol.map=INTERNAL:SASL_SSL,CONTROLLER:PLAINTEXT" in script
    mechanism = pipeline["PIPELINE_KAFKA_SASL_MECHANISM"]
    assert pipeline["PIPELINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert f"listener.name.internal.sasl.enabled.mechanisms={mechanism}" in script
    # the pipeline's user is created with the password the workers are given
    user = pipeline["PIPELINE_KAFKA_SASL_USERNAME"]
    assert f'--add-scram "{mechanism}=[name={user},password=${{KAFKA_PIPELINE_PASSWORD:?}}]"' in (
        script
    )
    kafka_env = _env(services["kafka"])
    assert _interpolate(kafka_env["KAFKA_PIPELINE_PASSWORD"], SECRETS) == _interpolate(
        pipeline["PIPELINE_KAFKA_SASL_PASSWORD"], SECRETS
    )
    # the CA file the workers trust is the PEM the broker exports, on the shared volume
    cafile = Path(pipeline["PIPELINE_KAFKA_SSL_CAFILE"])
    assert f'-file "${{TLS}}/{cafile.name}"' in script and "TLS=/etc/kafka/tls" in script
    worker_mounts = [str(v) for v in services["pipeline-worker"].get("volumes", [])]
    assert f"kafka-tls:{cafile.parent}:ro" in worker_mounts
    assert "kafka-tls:/etc/kafka/tls" in [str(v) for v in services["kafka"]["volumes"]]
    assert '-ext "SAN=dns:kafka"' in script  # the host name the clients verify
    topics = services["kafka-topics"]["command"][0]
    assert f"--bootstrap-server kafka:{port} --command-config /tmp/client.properties" in topics
    assert "security.protocol=SASL_SSL" in script


def test_topics_follow_the_pipeline_settings(services: dict[str, dict[str, Any]]) -> None:
    pipeline = _pipeline_env(services)
    topics = _env(services["kafka-topics"])
    for name in ("PIPELINE_TOPIC_PREFIX", "PIPELINE_TOPIC_PARTITIONS"):
        assert topics[name] == pipeline[name]
        assert "$${" + name + "}" in services["kafka-topics"]["command"][0]
    assert int(_env(services["kafka"])["KAFKA_NUM_PARTITIONS"]) == int(
        pipeline["PIPELINE_TOPIC_PARTITIONS"]
    )


def test_clickhouse_dsn_uses_the_writer_user(services: dict[str, dict[str, Any]]) -> None:
    env = _pipeline_env(services)
    dsn = urlsplit(_interpolate(env["PIPELINE_CLICKHOUSE_DSN"], SECRETS))
    assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123)
    assert dsn.username == "pipeline"
    assert dsn.path.strip("/") == env["PIPELINE_CLICKHOUSE_DATABASE"]
    users = ET.parse(USERS).getroot().find("users")
    assert users is not None and users.find("pipeline") is not None
    assert _env(services["clickhouse"])["CLICKHOUSE_DB"] == env["PIPELINE_CLICKHOUSE_DATABASE"]


def test_clickhouse_gets_every_password_its_users_read(services: dict[str, dict[str, Any]]) -> None:
    env = _env(services["clickhouse"])
    needed = {e.get("from_env") for e in ET.parse(USERS).getroot().iter() if e.get("from_env")}
    assert needed == {"CLICKHOUSE_PIPELINE_PASSWORD", "CLICKHOUSE_GRAFANA_PASSWORD"}
    for name in needed:
        assert name in env
    # The writer's password in the DSN and in ClickHouse are the same variable.
    dsn = _pipeline_env(services)["PIPELINE_CLICKHOUSE_DSN"]
    password = _interpolate(env["CLICKHOUSE_PIPELINE_PASSWORD"], SECRETS)
    assert password == urlsplit(_interpolate(dsn, SECRETS)).password
    mounted = dict(_bind_mounts(services["clickhouse"]))
    assert mounted["./deploy/clickhouse/users.d/quality-users.xml"].startswith(
        "/etc/clickhouse-server/users.d/"
    )


def test_alertmanager_address(services: dict[str, dict[str, Any]]) -> None:
    host, port = _port(_pipeline_env(services)["PIPELINE_ALERTMANAGER_URL"], 80)
    assert (host, port) == ("alertmanager", 9093)
    (target,) = _load(PROMETHEUS)["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == f"{host}:{port}"


def test_grafana_provisioning(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    env = _env(grafana)
    assert "grafana-clickhouse-datasource" in env["GF_INSTALL_PLUGINS"].split(",")[0]
    mounts = dict(_bind_mounts(grafana))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = _load(DASHBOARD_PROVIDERS)["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(provider["options"]["path"])
    # Every ${VAR} the provisioned data sources read is in Grafana's environment.
    wanted = set(re.findall(r"\$\{(\w+)\}", DATASOURCES.read_text()))
    assert wanted and wanted <= set(env)
    sources = {d["type"]: d for d in _load(DATASOURCES)["datasources"]}
    clickhouse = sources["grafana-clickhouse-datasource"]
    assert env[clickhouse["jsonData"]["host"].strip("${}")] == "clickhouse"
    assert _interpolate(env["CLICKHOUSE_GRAFANA_PASSWORD"], SECRETS) == _interpolate(
        _env(services["clickhouse"])["CLICKHOUSE_GRAFANA_PASSWORD"], SECRETS
    )
    host, port = _port(env["PROMETHEUS_URL"], 80)
    assert (host, port) == ("prometheus", 9090)


def test_only_grafana_publishes_a_port_on_loopback_unless_set(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"grafana"}
    (mapping,) = services["grafana"]["ports"]
    assert _interpolate(str(mapping)) == "127.0.0.1:3000:3000"
    assert _interpolate(str(mapping), {"GRAFANA_BIND_ADDRESS": "10.0.0.5"}) == "10.0.0.5:3000:3000"
