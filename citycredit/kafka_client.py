"""How every Kafka client of the product connects: the one place that turns settings into
aiokafka's connection arguments (and Faust's credentials), and connection failures into
one clear line.

PLAINTEXT is for the local broker on 127.0.0.1; SASL_SSL (TLS, a SCRAM login) is what the
compose deployment runs. The Faust app, the pollers' publisher, the topic admin, the desk
feed, the alert router, the index reader and the demo all take their arguments from here,
so switching ``CITYCREDIT_KAFKA_SECURITY_PROTOCOL`` switches the whole product.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from contextlib import contextmanager
from typing import Any, Iterator

from .exceptions import BrokerError, ConfigError
from .settings import Settings

SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")


def _protocol(settings: Settings) -> str:
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ConfigError(f"CITYCREDIT_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol!r}: "
                          f"expected one of {', '.join(SECURITY_PROTOCOLS)}")
    return protocol


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client TLS context that verifies the broker's certificate and host name."""
    from aiokafka.helpers import create_ssl_context

    cafile = settings.kafka_ca_file or None
    try:
        return create_ssl_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"CITYCREDIT_KAFKA_CA_FILE={settings.kafka_ca_file!r} is not a readable PEM CA file: {exc}") from exc


def password(settings: Settings) -> str:
    """CITYCREDIT_KAFKA_PASSWORD, or the content of CITYCREDIT_KAFKA_PASSWORD_FILE (a compose secret,
    so the password is in no container's environment)."""
    if settings.kafka_password or not settings.kafka_password_file:
        return settings.kafka_password
    try:
        with open(settings.kafka_password_file, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError as exc:
        raise ConfigError(f"CITYCREDIT_KAFKA_PASSWORD_FILE={settings.kafka_password_file!r} cannot be read: "
                          f"{exc.strerror}") from exc


def _sasl(settings: Settings) -> tuple[str, str, str]:
    mechanism = settings.kafka_sasl_mechanism.strip().upper()
    if mechanism not in SASL_MECHANISMS:
        raise ConfigError(f"CITYCREDIT_KAFKA_SASL_MECHANISM={settings.kafka_sasl_mechanism!r}: "
                          f"expected one of {', '.join(SASL_MECHANISMS)}")
    secret = password(settings)
    if not settings.kafka_username or not secret:
        raise ConfigError("CITYCREDIT_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs CITYCREDIT_KAFKA_USERNAME and "
                          "CITYCREDIT_KAFKA_PASSWORD (or CITYCREDIT_KAFKA_PASSWORD_FILE)")
    return mechanism, settings.kafka_username, secret


def security_args(settings: Settings) -> dict[str, Any]:
    """The security keyword arguments of AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
    if _protocol(settings) == "PLAINTEXT":
        return {"security_protocol": "PLAINTEXT"}
    mechanism, username, password = _sasl(settings)
    return {"security_protocol": "SASL_SSL", "ssl_context": ssl_context(settings), "sasl_mechanism": mechanism,
            "sasl_plain_username": username, "sasl_plain_password": password}


def client_args(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security arguments: ``AIOKafkaConsumer(**client_args(s), ...)``."""
    return {"bootstrap_servers": settings.kafka_bootstrap, **security_args(settings)}


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App``: None on PLAINTEXT, SASL over TLS otherwise."""
    if _protocol(settings) == "PLAINTEXT":
        return None
    import faust

    mechanism, username, password = _sasl(settings)
    # faust.SASLCredentials with an ssl_context is SASL_SSL; its repr shows the user, not the password
    return faust.SASLCredentials(username=username, password=password, ssl_context=ssl_context(settings),
                                 mechanism=mechanism)


def describe(settings: Settings) -> str:
    """Where and how clients connect, for log lines (never the password)."""
    protocol = _protocol(settings)
    if protocol == "PLAINTEXT":
        return settings.kafka_bootstrap
    return f"{settings.kafka_bootstrap} ({protocol} {settings.kafka_sasl_mechanism} as {settings.kafka_username})"


@contextmanager
def quiet_bootstrap() -> Iterator[None]:
    """Mute aiokafka's per-server "Unable connect to ..." line while a client starts: when the
    start fails, connect_error() says why in one line instead (an unconfigured CLI would print
    both, the raw one first)."""
    logger = logging.getLogger("aiokafka")  # aiokafka.client logs under the package name
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def connect_error(settings: Settings, exc: BaseException | None = None) -> BrokerError:
    """The one clear line for a client that could not connect.

    aiokafka's bootstrap logs the reason of each failed connection and then raises only
    "Unable to bootstrap from [...]": a wrong password, an untrusted certificate and a
    broker that is not there all look alike. One direct connection to the first bootstrap
    server tells them apart.
    """
    from aiokafka.conn import create_conn
    from aiokafka.errors import (KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError)

    args = security_args(settings)
    host, _, port = settings.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    no_broker = BrokerError(
        f"no Kafka broker answers at {settings.kafka_bootstrap}: start one with "
        "`citycredit broker start`, or point CITYCREDIT_KAFKA_BOOTSTRAP at yours")
    if args["security_protocol"] == "PLAINTEXT":
        return no_broker
    try:
        conn = await asyncio.wait_for(create_conn(host, int(port), request_timeout_ms=10000, **args), 15)
    except SaslAuthenticationFailed:
        from_file = settings.kafka_password_file and not settings.kafka_password
        return BrokerError(f"Kafka rejected the SASL credentials for user {settings.kafka_username}: "
                           f"check CITYCREDIT_KAFKA_PASSWORD{'_FILE' if from_file else ''}")
    except UnsupportedSaslMechanismError as err:
        return BrokerError(f"the Kafka broker at {settings.kafka_bootstrap} does not offer {settings.kafka_sasl_mechanism}: "
                           f"check CITYCREDIT_KAFKA_SASL_MECHANISM ({err})")
    except ssl.SSLCertVerificationError as err:
        return BrokerError(f"the TLS certificate of the Kafka broker at {settings.kafka_bootstrap} is not trusted "
                           f"({err.verify_message}): check CITYCREDIT_KAFKA_CA_FILE")
    except ssl.SSLError as err:
        return BrokerError(f"TLS with the Kafka broker at {settings.kafka_bootstrap} failed ({err}): is it a SASL_SSL "
                           "listener? check CITYCREDIT_KAFKA_BOOTSTRAP and CITYCREDIT_KAFKA_SECURITY_PROTOCOL")
    except (OSError, KafkaConnectionError, asyncio.TimeoutError):
        return no_broker
    except Exception as err:  # noqa: BLE001 - anything else: name it rather than hide it
        return BrokerError(f"connecting to Kafka at {describe(settings)} failed: {type(err).__name__}: {err}")
    conn.close()
    # the probe got through: the first failure was something else (or passed)
    return BrokerError(f"connecting to Kafka at {describe(settings)} failed: {exc}")
