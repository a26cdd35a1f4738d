"""Secrets in settings: DSNs and URLs parsed once and shown masked, credentials as settings,
the pseudonymisation key's strength. No network here."""

from __future__ import annotations

import base64
import os
import random
import string
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.adapters.alertmanager import AlertmanagerAuth, AlertmanagerClient
from pipeline.adapters.clickhouse import client_arguments
from pipeline.cli.main import main
from pipeline.core.pseudonyms import MIN_KEY_BITS, estimated_key_bits, key_strength_problem
from pipeline.endpoints import ClickHouseDsn, HttpEndpoint, mask_url
from pipeline.errors import ConfigError, UsageError
from pipeline.settings import Settings, load_settings

SECRET = "s3cr@t:pa/ss?w#rd"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in [n for n in os.environ if n.startswith("PIPELINE_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        # a password holding "@": the host is after the last "@", not the first
        ("http://pipeline:p@ss@word@clickhouse:8123/quality", "http://pipeline:***@clickhouse:8123/quality"),
        ("https://u:pw%40x@ch.example.nhs.uk/db", "https://u:***@ch.example.nhs.uk/db"),
        ("http://clickhouse:8123/q?password=hunter2&user=pipeline", "http://clickhouse:8123/q?password=***&user=***"),
        ("http://[::1]:8123/", "http://[::1]:8123/"),
        ("http://only-user@host:8123", "http://only-user@host:8123"),
        ("chdb:///var/lib/pipeline", "chdb:///var/lib/pipeline"),
    ],
)  # fmt: skip
def test_dsns_are_shown_masked(dsn: str, masked: str) -> None:
    parsed = ClickHouseDsn.parse(dsn)
    assert str(parsed) == masked
    assert masked in repr(parsed)
    for secret in ("p@ss@word", "pw%40x", "pw@x", "hunter2"):
        assert secret not in str(parsed) and secret not in repr(parsed)


def test_a_dsn_is_parsed_into_its_parts_once() -> None:
    dsn = ClickHouseDsn.parse("https://pipeline:p%40ss@ch.example:8443/quality?compress=false")
    assert (dsn.scheme, dsn.host, dsn.port, dsn.username, dsn.database) == (
        "https",
        "ch.example",
        8443,
        "pipeline",
        "quality",
    )
    assert dsn.password is not None and dsn.password.get_secret_value() == "p@ss"
    arguments = client_arguments(dsn, Path("/etc/ca.pem"))
    assert arguments["interface"] == "https"
    assert arguments["secure"] is True and arguments["verify"] is True
    assert arguments["ca_cert"] == "/etc/ca.pem"
    assert arguments["password"] == "p@ss"
    assert arguments["generic_args"] == {"compress": "false"}
    assert "dsn" not in arguments
    plain = client_arguments(ClickHouseDsn.parse("http://ch:8123?password=x"), Path("/ca"))
    assert plain["interface"] == "http" and "ca_cert" not in plain and plain["password"] == "x"
    assert client_arguments(ClickHouseDsn.parse("chdb:///data/ch")) == {
        "interface": "chdb",
        "path": "/data/ch",
    }


@pytest.mark.parametrize("option", ["secure=false", "verify=0", "ca_cert=/tmp/x", "interface=http"])
def test_tls_cannot_be_changed_by_dsn_options(option: str) -> None:
    with pytest.raises(ValueError, match="PIPELINE_CLICKHOUSE_CA_FILE"):
        ClickHouseDsn.parse(f"https://u:p%2Fw@ch:8443/q?{option}")


def test_a_bad_dsn_is_refused_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_CLICKHOUSE_DSN", "ftp://u:pw@Secret-9@host/db")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "PIPELINE_CLICKHOUSE_DSN" in str(raised.value)
    assert "ftp://u:***@host/db" in str(raised.value)
    assert "Secret-9" not in str(raised.value)
    # unencoded "/" and "?" in a password break the URL: refused, and not shown either
    monkeypatch.setenv("PIPELINE_CLICKHOUSE_DSN", f"http://u:{SECRET}@host/db")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "s3cr" not in str(raised.value) and "w#rd" not in str(raised.value)
    monkeypatch.delenv("PIPELINE_CLICKHOUSE_DSN")
    with pytest.raises(UsageError) as malformed:
        Settings().resolved_clickhouse_dsn(f"gopher://u:{SECRET}@host")
    assert "s3cr" not in str(malformed.value)


@pytest.mark.parametrize(
    ("dsn", "why"),
    [
        ("chdb://", "a chdb:// DSN needs a path, e.g. chdb:///var/lib/pipeline"),
        ("ftp://x", "must start with chdb://, http:// or https:// (got ftp://x)"),
    ],
)
def test_a_malformed_clickhouse_option_is_a_usage_error(
    dsn: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's exit status 2 for a malformed option; it was 1, and the message read
    `--clickhouse DSN a chdb:// DSN needs a path` (found by the black-box check)."""
    assert main(["stats", "--clickhouse", dsn]) == 2
    assert capsys.readouterr().err == f"pipeline stats: error: --clickhouse: {why}\n"


def test_settings_never_show_a_dsn_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_CLICKHOUSE_DSN", "http://pipeline:Zx9-secret@ch:8123/quality")
    settings = load_settings()
    assert "Zx9-secret" not in repr(settings) and "Zx9-secret" not in str(settings)
    assert "Zx9-secret" not in settings.model_dump_json()
    assert str(settings.resolved_clickhouse_dsn()) == "http://pipeline:***@ch:8123/quality"


def test_mask_url_hides_what_is_not_a_url() -> None:
    assert mask_url("just-a-secret") == "***"
    assert mask_url("http://host:99999") == "***"  # a bad port: not parsed, not shown


def test_an_alertmanager_url_with_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_URL", "http://oncall:Am-secret-1@alertmanager:9093")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "must not carry credentials" in message
    assert "PIPELINE_ALERTMANAGER_USERNAME" in message
    assert "PIPELINE_ALERTMANAGER_BEARER_TOKEN" in message
    assert "Am-secret-1" not in message
    with pytest.raises(ValueError, match="must not carry credentials"):
        AlertmanagerClient("https://u:p@am.example")


def test_alertmanager_credentials_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_URL", "https://am.example/")
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_USERNAME", "oncall")
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_PASSWORD", "Am-secret-2")
    settings = load_settings()
    assert settings.alertmanager_url is not None
    assert settings.alertmanager_url.url == HttpEndpoint.parse("https://am.example").url
    assert "Am-secret-2" not in repr(settings)
    auth = AlertmanagerAuth(
        username=settings.alertmanager_username, password=settings.alertmanager_password
    )
    assert auth.header() == "Basic " + base64.b64encode(b"oncall:Am-secret-2").decode()
    assert "Am-secret-2" not in repr(auth)
    monkeypatch.setenv("PIPELINE_ALERTMANAGER_BEARER_TOKEN", "tok")
    with pytest.raises(ConfigError, match="either"):
        load_settings()


def test_sasl_needs_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="PIPELINE_KAFKA_SASL_USERNAME"):
        load_settings()
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_USERNAME", "pipeline")
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_PASSWORD", "Kafka-secret-3")
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    settings = load_settings()
    assert "Kafka-secret-3" not in repr(settings)
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ConfigError, match="PIPELINE_KAFKA_SASL_MECHANISM"):
        load_settings()


# -- the pseudonymisation key ----------------------------------------------------------------


@pytest.mark.parametrize(
    "weak",
    [
        "k" * 64,  # one repeated character
        "ab" * 32,
        "0123456789abcdef" * 2,  # 128 bits by length, but a sequence
        "0123456789abcdef",  # 64 bits
        "Password1!Password1!Password1!",
        "short-key-123456",
    ],
)
def test_weak_keys_are_refused_with_a_clear_message(
    weak: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert key_strength_problem(weak) is not None
    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_KEY", weak)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith("invalid settings: PIPELINE_PSEUDONYMISATION_KEY")
    assert "too weak" in message and "openssl rand" in message
    assert weak not in message


def test_random_keys_of_the_documented_forms_are_accepted() -> None:
    rng = random.Random(12)
    forms: dict[str, Callable[[], str]] = {
        "openssl rand -hex 16": lambda: rng.randbytes(16).hex(),
        "openssl rand -hex 32": lambda: rng.randbytes(32).hex(),
        "openssl rand -base64 32": lambda: base64.b64encode(rng.randbytes(32)).decode(),
        "openssl rand -base64 48": lambda: base64.b64encode(rng.randbytes(48)).decode(),
        "24 printable": lambda: "".join(rng.choice(string.printable[:94]) for _ in range(24)),
    }
    for form, make in forms.items():
        refused = [key for key in (make() for _ in range(3000)) if key_strength_problem(key)]
        assert refused == [], form


def test_the_estimate_is_length_times_the_alphabet() -> None:
    assert estimated_key_bits("a1" * 16) == 32 * 4  # hex digits only: 4 bits each
    assert estimated_key_bits("Ab3$" * 5) == pytest.approx(20 * 6.570, abs=0.01)  # 95 symbols
    assert estimated_key_bits("") == 0
    assert MIN_KEY_BITS == 128


def test_validation_errors_never_repeat_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even pydantic's own error text (were anyone to print it) leaves the input out."""
    from pydantic import ValidationError

    monkeypatch.setenv("PIPELINE_PSEUDONYMISATION_KEY", "q" * 40)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "q" * 40 not in str(raised.value)


def test_kafka_clients_get_the_configured_transport(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ssl

    from pipeline.kafka_transport import describe, faust_credentials, kafka_python_options

    assert kafka_python_options(load_settings()) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(load_settings()) is None
    monkeypatch.setenv("PIPELINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_USERNAME", "pipeline")
    monkeypatch.setenv("PIPELINE_KAFKA_SASL_PASSWORD", "Kafka-secret-4")
    settings = load_settings()
    options = kafka_python_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "pipeline",
        "Kafka-secret-4",
    )
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    credentials = faust_credentials(settings)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "Kafka-secret-4" not in repr(credentials)
    assert describe(settings) == "SASL_SSL (SCRAM-SHA-512 as pipeline)"
    monkeypatch.setenv("PIPELINE_KAFKA_SSL_CAFILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="PIPELINE_KAFKA_SSL_CAFILE"):
        kafka_python_options(load_settings())


@pytest.mark.parametrize("line", ["PIPELINE_KAFKA_BOOTSTRAPP=kafka:9092", "FOO=1"])
def test_a_name_in_dotenv_that_is_no_setting_is_named_as_written(line: str, tmp_path: Path) -> None:
    """Found by the black-box check: it was shown as PIPELINE_PIPELINE_KAFKA_BOOTSTRAPP (and
    PIPELINE_FOO), a variable nobody wrote."""
    (tmp_path / ".env").write_text(line + "\n")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    name = line.split("=")[0]
    assert str(raised.value) == (
        f"invalid settings: {name} in .env is not a pipeline setting (a typo? the README "
        "lists them)"
    )
