"""Kafka transport security from the settings, for both clients the pipeline uses.

`PIPELINE_KAFKA_SECURITY_PROTOCOL` is PLAINTEXT, SSL (TLS), SASL_PLAINTEXT (authenticated, not
encrypted) or SASL_SSL (both); SASL uses `PIPELINE_KAFKA_SASL_MECHANISM` (PLAIN, SCRAM-SHA-256,
SCRAM-SHA-512) with `PIPELINE_KAFKA_SASL_USERNAME`/`_PASSWORD`. TLS always verifies the broker's
certificate and host name, against `PIPELINE_KAFKA_SSL_CAFILE` or the system's CAs.

`kafka_python_options` are the keyword arguments of kafka-python's clients (`pipeline
publish`); `faust_credentials` is what faust hands to aiokafka (the worker). `describe` is the
transport in words for messages, without the password. `check_access` connects once, before
either client starts: both clients retry a refused login until their timeout (or forever) and
log it as a lost connection, so a wrong password or an untrusted certificate is named here,
at once, instead.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline.errors import ConfigError, PipelineError, TransportError
from pipeline.kafka_bootstrap import KafkaBootstrap
from pipeline.settings import Settings


def uses_tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol.startswith("SASL_")


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context that verifies the broker (certificate and host name)."""
    cafile = settings.kafka_ssl_cafile
    try:
        return ssl.create_default_context(cafile=str(cafile) if cafile else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"PIPELINE_KAFKA_SSL_CAFILE {cafile} cannot be used: {exc}") from exc


def _credentials(settings: Settings) -> tuple[str, str]:
    username, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if not username or password is None:  # the settings refuse this; kept for other callers
        raise ConfigError(
            "SASL needs PIPELINE_KAFKA_SASL_USERNAME and PIPELINE_KAFKA_SASL_PASSWORD"
        )
    return username, password.get_secret_value()


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Client arguments for the configured transport (kafka-python and aiokafka share them)."""
    options: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if uses_tls(settings):
        options["ssl_context"] = ssl_context(settings)
    if uses_sasl(settings):
        username, password = _credentials(settings)
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return options


def faust_credentials(settings: Settings) -> Any:
    """faust's `broker_credentials` for the configured transport (None for PLAINTEXT)."""
    import faust  # the worker's dependency: only the worker calls this

    context = ssl_context(settings) if uses_tls(settings) else None
    if uses_sasl(settings):
        username, password = _credentials(settings)
        return faust.SASLCredentials(
            username=username,
            password=password,
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def describe(settings: Settings) -> str:
    """e.g. `SASL_SSL (SCRAM-SHA-512 as pipeline)`: the transport, never the password."""
    if uses_sasl(settings):
        return (
            f"{settings.kafka_security_protocol} ({settings.kafka_sasl_mechanism} as "
            f"{settings.kafka_sasl_username})"
        )
    return settings.kafka_security_protocol


def check_access(settings: Settings, bootstrap: KafkaBootstrap, timeout: float) -> None:
    """Connect to one of `bootstrap`'s servers with the configured transport and log in;
    TransportError naming the cause (refused login, certificate, unreachable) otherwise."""
    errors: list[str] = []
    for server in bootstrap.servers:
        try:
            # on a thread of its own: the caller may already run an event loop (a service
            # using the Publisher API from async code)
            with ThreadPoolExecutor(1, thread_name_prefix="kafka-login") as pool:
                login = _login(settings, server.host, server.port, timeout)
                pool.submit(asyncio.run, login).result()
            return
        except PipelineError:
            raise
        except Exception as exc:  # aiokafka and ssl raise many types; the text says enough
            errors.append(f"{server}: {_reason(exc)}")
    raise TransportError(
        f"cannot reach Kafka at {bootstrap} within {timeout:g} s over {describe(settings)} "
        f"({'; '.join(errors)})"
    )


async def _login(settings: Settings, host: str, port: int, timeout: float) -> None:
    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError
    from aiokafka.protocol.metadata import MetadataRequest

    options = kafka_python_options(settings)  # aiokafka's connection takes the same names
    try:
        conn = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(timeout * 1000), **options), timeout
        )
    except (SaslAuthenticationFailed, UnsupportedSaslMechanismError) as exc:
        raise TransportError(
            f"Kafka at {host}:{port} refused the login of {settings.kafka_sasl_username!r} "
            f"({settings.kafka_sasl_mechanism}): {_reason(exc)}; check "
            "PIPELINE_KAFKA_SASL_USERNAME, PIPELINE_KAFKA_SASL_PASSWORD and "
            "PIPELINE_KAFKA_SASL_MECHANISM"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise TransportError(
            f"the certificate of Kafka at {host}:{port} is not trusted ({exc.verify_message}); "
            "set PIPELINE_KAFKA_SSL_CAFILE to the CA that signed it"
        ) from None
    try:
        # A listener can take the connection and still not talk: one that wants a login (or
        # TLS) answers the version probe, then closes at the first request of any other kind.
        await asyncio.wait_for(conn.send(MetadataRequest([])), timeout)
    except Exception as exc:  # closed, reset or timed out: the text says which
        raise TransportError(
            f"Kafka at {host}:{port} took the connection over {describe(settings)} but did "
            f"not answer a request ({_reason(exc)}); does the listener expect another "
            "PIPELINE_KAFKA_SECURITY_PROTOCOL?"
        ) from None
    finally:
        conn.close()


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
