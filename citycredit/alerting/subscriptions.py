"""Alert subscriptions: the value object, its filters, the SSRF guard and webhook signing.

A subscription is stored as JSON on the compacted ``subscriptions`` topic keyed by its
id (a tombstone deletes it), its webhook secret sealed (``citycredit/secretbox.py``): the
topic never holds it in clear. Filters are lists; an empty list means "any".

Webhooks are signed by the Standard Webhooks scheme (https://www.standardwebhooks.com), so
a receiver can verify with a library of its language instead of code of ours: headers
``webhook-id`` (the ``Idempotency-Key``: one per subscription and alert, the same on every
retry), ``webhook-timestamp`` (Unix seconds of this try) and ``webhook-signature:
v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``. Signing the id and the time, not
only the body, means a captured delivery cannot be replayed later or under another id; the
receiver refuses timestamps more than ``SIGNATURE_TOLERANCE_S`` away (``verify``).
Generated secrets have the scheme's form ``whsec_<base64 of 32 random bytes>`` and the key
is those bytes; a secret the subscriber chose in another form is its UTF-8 bytes (Standard
Webhooks libraries then need it in the ``whsec_`` form).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import SplitResult, urlsplit

from citycredit.exceptions import InputError
from citycredit.ids import ALERT_TYPES, DOMAINS, SUBFIELDS
from citycredit.netguard import PinnedTarget, first_refusal, pin, system_resolve
from citycredit.secretbox import SecretBox

from .exceptions import SubscriptionURLRefused, WebhookVerificationError
from .mail import recipients
from .robots import ROBOT_KINDS
from .schedule import minutes, parse_quiet

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"   # equal to webhook-id, for receivers that dedupe by it
SIGNATURE_TOLERANCE_S = 300.0            # the Standard Webhooks recommendation: 5 minutes either way
SECRET_PREFIX = "whsec_"
MAX_URL_CHARS = 2000
MAX_FILTER_VALUES = 700  # every prefecture-level city fits; more is a malformed request
_ADCODE = re.compile(r"^\d{6}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

FILTER_FIELDS = ("cities", "provinces", "domains", "subfields", "types")
# how an alert is sent: a signed webhook, a group robot (robots.py), an email (mail.py)
KINDS = ("webhook", *ROBOT_KINDS, "email")


@dataclass(frozen=True)
class Filters:
    """Which alerts a subscription wants; an empty tuple matches anything."""

    cities: tuple[str, ...] = ()      # city adcodes (6 digits) or full city names
    provinces: tuple[str, ...] = ()   # province names, or 2-digit province codes
    domains: tuple[str, ...] = ()
    subfields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def matches(self, alert: Mapping[str, Any], province_of: Callable[[str | None], str | None] = lambda _c: None) -> bool:
        if self.types and alert.get("type") not in self.types:
            return False
        if self.domains and alert.get("domain") not in self.domains:
            return False
        if self.subfields and alert.get("subfield") not in self.subfields:
            return False
        adcode = alert.get("city_adcode")
        if self.cities and adcode not in self.cities and alert.get("city") not in self.cities:
            return False
        if self.provinces:
            province = alert.get("province") or province_of(adcode)
            code = adcode[:2] if isinstance(adcode, str) else None
            if province not in self.provinces and code not in self.provinces:
                return False
        return True


@dataclass(frozen=True)
class Subscription:
    id: str
    # The HMAC key of its webhooks, sealed with CITYCREDIT_SECRET_KEY: opened only to sign a
    # delivery (``secret(box)``). Not in repr either, so a log line or traceback has not even the token.
    sealed_secret: str = field(repr=False)
    url: str | None          # None: stream-only subscriber (Server-Sent Events)
    filters: Filters = field(default_factory=Filters)
    created_at: str = ""
    label: str = ""
    # webhook (signed, Standard Webhooks), wecom (企业微信 group robot), dingtalk (钉钉 group
    # robot, 加签) or email (url mailto:…): how an alert is sent (robots.py, mail.py); the
    # outbox is the same
    kind: str = "webhook"
    # "HH:MM" China time: one digest a day instead of each alert at once (schedule.py); "" at once
    digest_at: str = ""
    # "HH:MM-HH:MM" China time: nothing is sent in these hours, it waits (schedule.py); "" none
    quiet_hours: str = ""

    def created_epoch(self) -> float:
        """Wall-clock second the subscription was created; 0 when unknown."""
        from datetime import datetime

        try:
            return datetime.fromisoformat(self.created_at).timestamp()
        except ValueError:
            return 0.0

    def wants_since(self, appended_epoch: float | None) -> bool:
        """A subscription gets the alerts appended to the log after it was made, not the year before it.

        This is about delivery, so the log's append time is the right clock here; scoring
        and windows never look at it.
        """
        return appended_epoch is None or appended_epoch >= self.created_epoch() - 1.0

    def secret(self, box: SecretBox) -> str:
        """The clear secret, for signing one delivery; SecretKeyError if the key cannot open it."""
        return box.open(self.sealed_secret)

    def to_json(self) -> dict[str, Any]:
        """The record on the ``subscriptions`` topic: the secret only sealed."""
        data = asdict(self)
        data["filters"] = {k: list(v) for k, v in data["filters"].items()}
        return data

    def public(self) -> dict[str, Any]:
        """What the API shows after creation: everything but the secret, not even sealed."""
        data = self.to_json()
        data.pop("sealed_secret")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Subscription":
        if "sealed_secret" not in data and "secret" in data:
            # written before secrets were sealed: refuse rather than carry a clear secret on
            raise InputError(f"subscription {data.get('id')!r} holds its webhook secret in clear (written before "
                             "secrets were sealed): delete it and create it again")
        f = data.get("filters") or {}
        return cls(id=data["id"], sealed_secret=data["sealed_secret"], url=data.get("url"),
                   filters=Filters(**{k: tuple(f.get(k) or ()) for k in FILTER_FIELDS}),
                   created_at=data.get("created_at", ""), label=data.get("label", ""),
                   kind=data.get("kind") or "webhook", digest_at=data.get("digest_at") or "",
                   quiet_hours=data.get("quiet_hours") or "")


def parse_filters(raw: Any) -> Filters:
    if raw is None:
        return Filters()
    if not isinstance(raw, Mapping):
        raise InputError("filters: expected an object with cities, provinces, domains, subfields, types")
    unknown = set(raw) - set(FILTER_FIELDS)
    if unknown:
        raise InputError(f"filters: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(FILTER_FIELDS)}")
    values: dict[str, tuple[str, ...]] = {}
    for name in FILTER_FIELDS:
        v = raw.get(name) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and 0 < len(x) <= 40 for x in v):
            raise InputError(f"filters.{name}: expected a list of short strings")
        if len(v) > MAX_FILTER_VALUES:
            raise InputError(f"filters.{name}: {len(v)} values, more than {MAX_FILTER_VALUES}")
        values[name] = tuple(dict.fromkeys(x.strip() for x in v))
    for name, allowed in (("types", ALERT_TYPES), ("domains", tuple(DOMAINS)), ("subfields", tuple(SUBFIELDS))):
        bad = [x for x in values[name] if x not in allowed]
        if bad:
            raise InputError(f"filters.{name}: {', '.join(bad)} not one of {', '.join(allowed)}")
    return Filters(**values)


def check_url(url: str, allow_private: bool, resolve: Callable[[str, int], list[str]] | None = None) -> str:
    """Refuse webhook URLs that would make the product call into its own network (SSRF).

    Every address the host name resolves to is checked, so a public name pointing at
    127.0.0.1 is refused too; delivery checks again before each POST and connects to the
    address it checked (``webhook_target``).
    """
    parts, port = _parsed(url)
    if not allow_private:  # on a closed network a name may be resolvable only where the worker runs
        _addresses(parts, port, allow_private, resolve)
    return url


def webhook_target(url: str, allow_private: bool, resolve: Callable[[str, int], list[str]] | None = None) -> PinnedTarget:
    """Check ``url`` as ``check_url`` does and pin the connection to the first address checked.

    Without the pin the HTTP client would resolve the name again after the check, and a name
    re-pointed in between (DNS rebinding, TTL 0) would reach an internal address.
    """
    parts, port = _parsed(url)
    return pin(parts, port, _addresses(parts, port, allow_private, resolve)[0])


def _parsed(url: str) -> tuple[SplitResult, int]:
    """(parts, port) of a syntactically acceptable webhook URL, or InputError."""
    if not isinstance(url, str) or not url:
        raise InputError("url: expected an http(s) URL")
    if len(url) > MAX_URL_CHARS:
        raise InputError(f"url: longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"url: only http:// and https:// URLs with a host are accepted, got {url!r}")
    if parts.username or parts.password:
        raise InputError("url: credentials in the URL are not accepted; use the signature header to authenticate")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InputError(f"url: bad port: {exc}") from exc
    return parts, port


def _addresses(parts: SplitResult, port: int, allow_private: bool,
               resolve: Callable[[str, int], list[str]] | None) -> list[str]:
    """Every address the URL's host resolves to, each one global unless ``allow_private``; or SubscriptionURLRefused."""
    assert parts.hostname
    addresses = (resolve or _resolve)(parts.hostname, port)
    if not addresses:
        raise SubscriptionURLRefused(f"url: host {parts.hostname!r} does not resolve")
    if allow_private:
        return addresses
    refusal = first_refusal(addresses)
    if refusal:
        raise SubscriptionURLRefused(f"url: {parts.hostname} resolves to {refusal}; "
                                     "refused (set CITYCREDIT_WEBHOOK_ALLOW_PRIVATE=true only on a closed network)")
    return addresses


def _resolve(host: str, port: int) -> list[str]:
    try:
        return system_resolve(host, port)
    except socket.gaierror as exc:
        raise SubscriptionURLRefused(f"url: host {host!r} does not resolve: {exc}") from exc


# Hand-written, not pydantic models: most rules cross fields by kind (a 钉钉 secret, no wecom
# secret, mailto recipients) or need I/O (the SSRF check resolves the host), and each error names
# its field in the words the desk shows; the shape checks pydantic would take are a few lines.
def parse_subscription(raw: Any, *, allow_private: bool, now_iso: str, box: SecretBox,
                       resolve: Callable[[str, int], list[str]] | None = None) -> tuple[Subscription, str | None]:
    """API body -> (Subscription with its secret sealed, the clear secret to answer once, None
    for a group robot: its credential is the subscriber's), or InputError naming the field.
    A new id, and for a webhook a new secret unless one is given."""
    if not isinstance(raw, Mapping):
        raise InputError("body: expected a JSON object")
    unknown = set(raw) - {"url", "filters", "secret", "label", "kind", "digest_at", "quiet_hours"}
    if unknown:
        raise InputError(f"body: unknown field(s) {', '.join(sorted(unknown))}; "
                         "allowed: url, filters, secret, label, kind, digest_at, quiet_hours")
    digest_at, quiet = raw.get("digest_at") or "", raw.get("quiet_hours") or ""
    if digest_at:
        minutes(digest_at, "digest_at")
    if quiet:
        parse_quiet(quiet)
    kind = raw.get("kind", "webhook")
    if kind not in KINDS:
        raise InputError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    url = raw.get("url")
    if kind == "email":
        recipients(url)  # mailto: addresses; the SMTP server is the operator's setting, not the subscriber's
    elif url is not None:
        url = check_url(url, allow_private, resolve)
    elif kind in ROBOT_KINDS:
        raise InputError(f"url: a {kind} subscription needs its robot's webhook URL")
    secret = raw.get("secret")
    if kind in ("wecom", "email"):
        if secret is not None:
            raise InputError(f"secret: an {kind} subscription has none" + (" (its key is in the URL)" if kind == "wecom" else ""))
        secret = ""
    elif kind == "dingtalk":
        if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
            raise InputError("secret: a dingtalk subscription needs its robot's 加签 secret (SEC…, 16 to 200 characters)")
    elif secret is None:
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    elif not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise InputError("secret: expected a string of 16 to 200 characters (or omit it to get one)")
    else:
        signing_key(secret)  # a whsec_ secret must decode, or no receiver could verify its webhooks
    label = raw.get("label") or ""
    if not isinstance(label, str) or len(label) > 200:
        raise InputError("label: expected a string of at most 200 characters")
    sub = Subscription(id="sub-" + secrets.token_hex(8), sealed_secret=box.seal(secret), url=url,
                       filters=parse_filters(raw.get("filters")), created_at=now_iso, label=label, kind=kind,
                       digest_at=digest_at, quiet_hours=quiet)
    return sub, (secret if kind == "webhook" else None)


def valid_subscription_id(text: str) -> bool:
    return bool(_ID.match(text))


def alert_key(alert: Mapping[str, Any]) -> str:
    """One alert per story and type (design.md), so this names an alert everywhere."""
    return f"{alert.get('type')}:{alert.get('story_id')}"


def idempotency_key(subscription_id: str, alert: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{subscription_id}|{alert_key(alert)}".encode()).hexdigest()[:32]


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: the bytes a ``whsec_`` secret encodes, else its UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"secret: a {SECRET_PREFIX} secret must be base64 after the prefix: {exc}") from exc
    if len(key) < 16:
        raise InputError(f"secret: a {SECRET_PREFIX} secret must encode at least 16 bytes, got {len(key)}")
    return key


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 over ``<id>.<timestamp>.<body>``."""
    mac = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def verify(secret: str, headers: Mapping[str, str], body: bytes, *, tolerance_s: float = SIGNATURE_TOLERANCE_S,
           now: float | None = None) -> str:
    """Check a received webhook as a receiver would; returns its ``webhook-id`` (to dedupe on), or
    raises WebhookVerificationError saying what failed.

    ``headers``: the request's headers, any case; ``body``: the raw bytes as received (parsed and
    re-serialised JSON would not match). The signature header may list several space-separated
    signatures (a sender rotating its secret); one match is enough.
    """
    h = {k.lower(): v for k, v in headers.items()}
    missing = [name for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) if not h.get(name)]
    if missing:
        raise WebhookVerificationError(f"missing header(s) {', '.join(missing)}")
    msg_id, timestamp = h[ID_HEADER], h[TIMESTAMP_HEADER]
    try:
        sent = int(timestamp)
    except ValueError as exc:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER}: expected Unix seconds, got {timestamp!r}") from exc
    skew = (time.time() if now is None else now) - sent
    if abs(skew) > tolerance_s:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is {abs(skew):.0f}s {'old' if skew > 0 else 'in the future'}, "
                                       f"beyond the tolerance of {tolerance_s:g}s (a replay, or a clock off)")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in h[SIGNATURE_HEADER].split()):
        raise WebhookVerificationError("signature does not match: another secret, or the id, timestamp or body "
                                       "was changed on the way")
    return msg_id
