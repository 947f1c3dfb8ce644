"""Webhook secrets at rest: sealed with a Fernet key from ``CITYCREDIT_SECRET_KEY``.

A subscription's secret travels on the ``subscriptions`` topic and sits in the desk's
memory only as a Fernet token (AES-128-CBC + HMAC-SHA256, with its time of sealing); the
clear secret exists when the API creates the subscription (it is answered once) and for
the moment delivery signs a webhook. Anyone who can read the topic, or a dump of the
worker's state, learns nothing without the key, and cannot forge a sealed secret either.

``CITYCREDIT_SECRET_KEY`` holds one key, or several separated by commas for a rotation:
the first seals, every one opens, so records sealed with the old key stay readable while
the new key takes over.

Without a key: in production (``CITYCREDIT_DEPLOYMENT=production``) the worker refuses to
start, because a key made up on the spot would be lost at the next restart and with it
every subscription's secret. In development and tests an ephemeral key is generated once
per process, with a warning: subscriptions created before a restart can no longer be
delivered (their deliveries fail with "sealed with another key"), which is fine for a
demo and a test but not for a product.
"""
from __future__ import annotations

import logging
import threading

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .exceptions import ConfigError, SecretKeyError
from .settings import Settings

log = logging.getLogger(__name__)
DEPLOYMENTS = ("development", "production")
KEY_HINT = ("generate one with: python -c \"from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())\"")

_ephemeral: bytes | None = None
_ephemeral_lock = threading.Lock()


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError(f"CITYCREDIT_SECRET_KEY: no key; {KEY_HINT}")
        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                # the key itself is never echoed: it is a secret even when malformed
                raise SecretKeyError(f"CITYCREDIT_SECRET_KEY: key {i} of {len(keys)} is not a Fernet key "
                                     f"(32 bytes in url-safe base64, 44 characters): {exc}; {KEY_HINT}") from exc
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    @classmethod
    def from_settings(cls, settings: Settings) -> "SecretBox":
        if settings.deployment not in DEPLOYMENTS:
            raise ConfigError(f"CITYCREDIT_DEPLOYMENT={settings.deployment!r}: expected one of {', '.join(DEPLOYMENTS)}")
        keys = [k.strip().encode() for k in settings.secret_key.split(",") if k.strip()]
        if keys:
            return cls(keys)
        if settings.deployment == "production":
            raise SecretKeyError("CITYCREDIT_SECRET_KEY is not set: in production webhook secrets are sealed with a key "
                                 f"that must outlive the worker; {KEY_HINT}")
        return cls([_ephemeral_key()])

    def seal(self, clear: str) -> str:
        return self._fernet.encrypt(clear.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError) as exc:
            raise SecretKeyError("a webhook secret cannot be opened with CITYCREDIT_SECRET_KEY: it was sealed with "
                                 "another key (was the key replaced? list the old key after the new one, "
                                 "comma-separated) or the record is damaged") from exc


def _ephemeral_key() -> bytes:
    """One key per process, so the API that seals and the delivery that opens agree."""
    global _ephemeral
    with _ephemeral_lock:
        if _ephemeral is None:
            _ephemeral = Fernet.generate_key()
            log.warning("CITYCREDIT_SECRET_KEY is not set: webhook secrets are sealed with an ephemeral key; "
                        "subscriptions made before a restart will not be delivered (set the key, required "
                        "with CITYCREDIT_DEPLOYMENT=production)")
        return _ephemeral
