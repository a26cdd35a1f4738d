"""The SASL_SSL listener of the local broker (localkafka.py): certificate, users, properties.

The certificate is made by the JDK's ``keytool`` (self-signed, for ``localhost`` and
``127.0.0.1``) and exported as PEM for clients to trust; SCRAM users are written into the
cluster metadata by Kafka's own ``kafka-storage format --add-scram``, PLAIN users into the
listener's JAAS configuration. Standard library only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

LISTENER = "SASL_SSL"
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
KEYSTORE = "broker.p12"
CA_PEM = "broker-ca.pem"


class TlsError(RuntimeError):
    """The certificate could not be made; the message says why."""


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener on ``port`` for ``users`` (name -> password), every mechanism."""

    port: int
    users: dict[str, str] = field(default_factory=dict)


def keytool() -> str | None:
    """The JDK's keytool (JAVA_HOME first, then PATH), or None."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "keytool").is_file():
        return str(Path(home) / "bin" / "keytool")
    return shutil.which("keytool")


def make_certificate(state_dir: Path) -> tuple[Path, str, Path]:
    """A PKCS12 keystore with a fresh self-signed certificate for localhost/127.0.0.1, its
    password, and the certificate as PEM (what clients trust). Raises TlsError."""
    tool = keytool()
    if tool is None:
        raise TlsError("keytool is not installed (it comes with the JDK)")
    keystore, pem = state_dir / KEYSTORE, state_dir / CA_PEM
    keystore.unlink(missing_ok=True)
    password = secrets.token_urlsafe(18)
    common = ["-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password]
    steps = [
        [tool, "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048",
         "-validity", "30", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,ip:127.0.0.1",
         "-keypass", password, *common],
        [tool, "-exportcert", "-rfc", "-alias", "broker", "-file", str(pem), *common],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise TlsError(f"keytool failed ({done.returncode}): {done.stdout}{done.stderr}")
    return keystore, password, pem


def _jaas_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_properties(listener: SaslSsl, keystore: Path, password: str) -> str:
    """The lines server.properties needs for the listener (appended to the plain ones)."""
    prefix = f"listener.name.{LISTENER.lower()}"
    plain_users = " ".join(
        f"user_{name}={_jaas_quote(secret)}" for name, secret in sorted(listener.users.items())
    )
    lines = [
        f"{prefix}.sasl.enabled.mechanisms={','.join(MECHANISMS)}",
        f"{prefix}.plain.sasl.jaas.config="
        f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        *(
            f"{prefix}.{m.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            for m in MECHANISMS[1:]
        ),
        f"{prefix}.ssl.keystore.location={keystore}",
        f"{prefix}.ssl.keystore.type=PKCS12",
        f"{prefix}.ssl.keystore.password={password}",
        f"{prefix}.ssl.key.password={password}",
    ]
    return "\n".join(lines) + "\n"


def scram_format_arguments(listener: SaslSsl) -> list[str]:
    """``kafka-storage format`` arguments that create every user for both SCRAM mechanisms."""
    arguments = []
    for name, secret in sorted(listener.users.items()):
        for mechanism in MECHANISMS[1:]:
            arguments += ["--add-scram", f"{mechanism}=[name={name},password={secret}]"]
    return arguments
