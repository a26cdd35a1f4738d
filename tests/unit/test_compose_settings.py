"""docker-compose.yml agrees with the settings, the secrets it requires and the other configs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipeline.settings import Settings
from tests.support.compose import (
    BROKER_SCRIPT,
    COMPOSE,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    ENV_EXAMPLE,
    INTERPOLATION,
    PROMETHEUS,
    SECRETS,
    USERS,
    bind_mounts,
    interpolate,
    load_yaml,
    pipeline_env,
    service_env,
    url_port,
)

# --------------------------------------------------------------------------------------------
# Agreement with the settings and the other configs
# --------------------------------------------------------------------------------------------


def test_every_pipeline_variable_is_a_setting(services: dict[str, dict[str, Any]]) -> None:
    fields = {f"PIPELINE_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        for variable in service_env(service):
            if variable.startswith("PIPELINE_"):
                assert variable in fields, f"{name} sets {variable}, which is not a setting"


def test_the_pipeline_environment_makes_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("pipeline-migrate", "pipeline-worker"):  # the same but for the DSN's user
        for variable, value in service_env(services[name]).items():
            monkeypatch.setenv(variable, interpolate(value, SECRETS))
        settings = Settings()
        assert settings.pseudonymisation_key is not None
        assert settings.metrics_port > 0
        assert settings.alertmanager_url
        assert settings.clickhouse_dsn and settings.clickhouse_dsn.scheme == "http"
        assert settings.kafka_security_protocol == "SASL_SSL"
        assert settings.kafka_sasl_password is not None
        assert settings.kafka_sasl_password.get_secret_value() == SECRETS["KAFKA_PIPELINE_PASSWORD"]


def test_the_pseudonymisation_key_is_required(services: dict[str, dict[str, Any]]) -> None:
    value = pipeline_env(services)["PIPELINE_PSEUDONYMISATION_KEY"]
    with pytest.raises(KeyError, match="PIPELINE_PSEUDONYMISATION_KEY is required"):
        interpolate(value)
    assert "PIPELINE_PSEUDONYMISATION_KEY=" in ENV_EXAMPLE.read_text()


def test_every_secret_is_required_and_has_no_default() -> None:
    text = COMPOSE.read_text()
    found: dict[str, set[str]] = {}
    for match in INTERPOLATION.finditer(text):
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
        for value in service_env(service).values():
            try:
                interpolate(value, given)
            except KeyError:
                refused.append(name)
    assert refused, f"nothing needs {secret}"


def test_metrics_port_is_what_prometheus_scrapes(services: dict[str, dict[str, Any]]) -> None:
    port = int(pipeline_env(services)["PIPELINE_METRICS_PORT"])
    assert port == Settings.model_fields["metrics_port"].default
    worker = services["pipeline-worker"]
    assert [str(p) for p in worker.get("expose", [])] == [str(port)]
    assert "ports" not in worker, "workers are scaled: they must not publish a fixed host port"
    assert f"localhost:{port}/healthz" in " ".join(worker["healthcheck"]["test"])
    scrape = {job["job_name"]: job for job in load_yaml(PROMETHEUS)["scrape_configs"]}
    (discovery,) = scrape["pipeline-worker"]["dns_sd_configs"]
    assert discovery["names"] == ["pipeline-worker"]
    assert discovery["port"] == port


def test_kafka_is_inside_the_network_over_sasl_ssl(services: dict[str, dict[str, Any]]) -> None:
    pipeline = pipeline_env(services)
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
    kafka_env = service_env(services["kafka"])
    assert interpolate(kafka_env["KAFKA_PIPELINE_PASSWORD"], SECRETS) == interpolate(
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
    pipeline = pipeline_env(services)
    topics = service_env(services["kafka-topics"])
    for name in ("PIPELINE_TOPIC_PREFIX", "PIPELINE_TOPIC_PARTITIONS"):
        assert topics[name] == pipeline[name]
        assert "$${" + name + "}" in services["kafka-topics"]["command"][0]
    assert int(service_env(services["kafka"])["KAFKA_NUM_PARTITIONS"]) == int(
        pipeline["PIPELINE_TOPIC_PARTITIONS"]
    )


def test_clickhouse_dsn_uses_the_writer_user(services: dict[str, dict[str, Any]]) -> None:
    env = pipeline_env(services)
    dsn = urlsplit(interpolate(env["PIPELINE_CLICKHOUSE_DSN"], SECRETS))
    assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123)
    assert dsn.username == "pipeline"
    assert dsn.path.strip("/") == env["PIPELINE_CLICKHOUSE_DATABASE"]
    users = ET.parse(USERS).getroot().find("users")
    assert users is not None and users.find("pipeline") is not None
    assert (
        service_env(services["clickhouse"])["CLICKHOUSE_DB"] == env["PIPELINE_CLICKHOUSE_DATABASE"]
    )


def test_migrations_run_as_the_migrator_with_the_workers_settings_otherwise(
    services: dict[str, dict[str, Any]],
) -> None:
    """Only `pipeline migrate` may drop tables (rebuilding migrations): its DSN names the
    migrator; every other setting is the workers'."""
    worker, migrate = pipeline_env(services), service_env(services["pipeline-migrate"])
    assert services["pipeline-migrate"]["command"] == ["migrate"]
    assert urlsplit(interpolate(migrate["PIPELINE_CLICKHOUSE_DSN"], SECRETS)).username == (
        "pipeline_migrator"
    )
    worker_dsn = urlsplit(interpolate(worker["PIPELINE_CLICKHOUSE_DSN"], SECRETS))
    migrate_dsn = urlsplit(interpolate(migrate["PIPELINE_CLICKHOUSE_DSN"], SECRETS))
    assert (migrate_dsn.hostname, migrate_dsn.port, migrate_dsn.path) == (
        worker_dsn.hostname,
        worker_dsn.port,
        worker_dsn.path,
    )
    del worker["PIPELINE_CLICKHOUSE_DSN"], migrate["PIPELINE_CLICKHOUSE_DSN"]
    assert migrate == worker


def test_clickhouse_gets_every_password_its_users_read(services: dict[str, dict[str, Any]]) -> None:
    env = service_env(services["clickhouse"])
    needed = {e.get("from_env") for e in ET.parse(USERS).getroot().iter() if e.get("from_env")}
    assert needed == {
        "CLICKHOUSE_PIPELINE_PASSWORD",
        "CLICKHOUSE_MIGRATOR_PASSWORD",
        "CLICKHOUSE_GRAFANA_PASSWORD",
    }
    for name in needed:
        assert name in env
    # Each user's password in its DSN and in ClickHouse is the same variable.
    for service, variable in (
        ("pipeline-worker", "CLICKHOUSE_PIPELINE_PASSWORD"),
        ("pipeline-migrate", "CLICKHOUSE_MIGRATOR_PASSWORD"),
    ):
        dsn = service_env(services[service])["PIPELINE_CLICKHOUSE_DSN"]
        password = interpolate(env[variable], SECRETS)
        assert password == urlsplit(interpolate(dsn, SECRETS)).password
    mounted = dict(bind_mounts(services["clickhouse"]))
    assert mounted["./deploy/clickhouse/users.d/quality-users.xml"].startswith(
        "/etc/clickhouse-server/users.d/"
    )


def test_alertmanager_address(services: dict[str, dict[str, Any]]) -> None:
    host, port = url_port(pipeline_env(services)["PIPELINE_ALERTMANAGER_URL"], 80)
    assert (host, port) == ("alertmanager", 9093)
    (target,) = load_yaml(PROMETHEUS)["alerting"]["alertmanagers"][0]["static_configs"][0][
        "targets"
    ]
    assert target == f"{host}:{port}"


def test_grafana_provisioning(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    env = service_env(grafana)
    assert "grafana-clickhouse-datasource" in env["GF_INSTALL_PLUGINS"].split(",")[0]
    mounts = dict(bind_mounts(grafana))
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert mounts["./deploy/grafana/dashboards"] == provider["options"]["path"]
    assert env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"].startswith(provider["options"]["path"])
    # Every ${VAR} the provisioned data sources read is in Grafana's environment.
    wanted = set(re.findall(r"\$\{(\w+)\}", DATASOURCES.read_text()))
    assert wanted and wanted <= set(env)
    sources = {d["type"]: d for d in load_yaml(DATASOURCES)["datasources"]}
    clickhouse = sources["grafana-clickhouse-datasource"]
    assert env[clickhouse["jsonData"]["host"].strip("${}")] == "clickhouse"
    assert interpolate(env["CLICKHOUSE_GRAFANA_PASSWORD"], SECRETS) == interpolate(
        service_env(services["clickhouse"])["CLICKHOUSE_GRAFANA_PASSWORD"], SECRETS
    )
    host, port = url_port(env["PROMETHEUS_URL"], 80)
    assert (host, port) == ("prometheus", 9090)


def test_only_grafana_publishes_a_port_on_loopback_unless_set(
    services: dict[str, dict[str, Any]],
) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"grafana"}
    (mapping,) = services["grafana"]["ports"]
    assert interpolate(str(mapping)) == "127.0.0.1:3000:3000"
    assert interpolate(str(mapping), {"GRAFANA_BIND_ADDRESS": "10.0.0.5"}) == "10.0.0.5:3000:3000"
