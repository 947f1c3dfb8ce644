"""Webhook delivery: the per-subscription outbox and the sender that drains it in order.

Signed webhooks, group robots (企业微信, 钉钉: ``robots.py``) and email (``mail.py``) share
everything here; only what one try sends differs.

The durable state is the ``webhook_outbox`` Faust table (changelogged), written only
by the agent in ``agents/deliver_alerts.py``; this module keeps the in-memory index of
it that senders work from, and the senders themselves. A sender posts the oldest
pending alert of its subscription (event time, then arrival), and only after a 2xx
moves on, so a receiver that was down gets the backlog once, in order. After
``webhook_max_attempts`` failed tries a dead-letter record says so and the subscription
is marked down; its alerts stay queued and the head is retried every
``webhook_backoff_max`` seconds until the receiver answers again. The waits between tries
are the project's retry policy (``citycredit.retrying``).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timezone
from typing import Any, Awaitable, Callable, Iterator, Mapping

import httpx

from citycredit.metrics import Metrics
from citycredit.netguard import PinnedTarget
from citycredit.retrying import backoff, retrying
from citycredit.secretbox import SecretBox, SecretKeyError
from citycredit.settings import Settings
from schemas import parse_ts

from .mail import send_alert
from .robots import ROBOT_KINDS, message_text, robot_answer, robot_request
from .schedule import due, last_boundary, quiet_left
from .subscriptions import (ID_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, Subscription, sign,
                            webhook_target)

log = logging.getLogger(__name__)
USER_AGENT = "citycredit-webhook/1"
SCHEDULE_RECHECK_S = 30.0  # a sender holding for quiet hours or a digest looks again this often
REASON_BODY_CHARS = 200  # of a refusing receiver's answer, in the failed try's reason (dead letter, log)


def entry_order(alert: Mapping[str, Any], seq: int) -> tuple[str, int]:
    """Delivery order: the alert's event time (UTC), then the order it was routed in."""
    try:
        when = parse_ts(alert.get("triggered_at"), "triggered_at").astimezone(timezone.utc).isoformat()
    except Exception:  # noqa: BLE001 - an alert without a usable time goes by arrival
        when = "9999"
    return (when, seq)


class _FailedTry(Exception):
    """A try the receiver did not take; the message is why. The retry loop of ``drain`` keeps it."""


def _failed_try(exc: BaseException) -> bool:
    return isinstance(exc, _FailedTry)


def webhook_body(alert: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(alert), ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def webhook_headers(sub: Subscription, secret: str, key: str, body: bytes, now: float) -> dict[str, str]:
    """Standard Webhooks headers; the id is the idempotency key, so the signature covers it."""
    ts = str(int(now))
    return {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
            ID_HEADER: key, IDEMPOTENCY_HEADER: key, TIMESTAMP_HEADER: ts, SIGNATURE_HEADER: sign(secret, key, ts, body),
            "X-CityCredit-Subscription": sub.id}


@dataclass
class Pending:
    key: str          # the idempotency key: one per subscription and alert
    seq: int
    alert: dict[str, Any]
    order: tuple[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.order = entry_order(self.alert, self.seq)


class Outbox:
    """In-memory index of the outbox table: pending alerts per subscription, and their senders."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, box: SecretBox | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.box = box or SecretBox.from_settings(settings)  # opens a subscription's secret to sign, nowhere else
        self.pending: dict[str, dict[str, Pending]] = {}
        self.acked: set[str] = set()      # delivered here, the agent has not yet removed it
        self.down: set[str] = set()       # subscriptions whose receiver failed every try
        self.tasks: dict[str, asyncio.Task] = {}
        # Which outbox partition each subscription lives in, and the partitions this worker holds
        # but whose records it has not yet read up to its own marker, with that marker's token (see
        # forget / hold): a sender of a moved subscription must neither keep going on the worker
        # that lost it nor start on the one that gained it before the other's "done" records are read.
        self.partition_of: dict[str, int] = {}
        self.held: dict[int, str] = {}
        if metrics:  # both outcomes have a series from the start: a board shows 0, not "no data"
            for result in ("delivered", "failed_try"):
                metrics.webhook_deliveries_total.labels(result=result)
            # counted when scraped, not on every add and remove: a queue of 10,000 made each a loop over it
            metrics.webhook_outbox_alerts.set_function(self.undelivered)

    # ---- bookkeeping (called by the outbox agent) --------------------------------
    def add(self, sub_id: str, entry: Pending) -> None:
        self.pending.setdefault(sub_id, {})[entry.key] = entry

    def remove(self, sub_id: str, key: str) -> None:
        self.pending.get(sub_id, {}).pop(key, None)
        self.acked.discard(key)

    def forget(self, partitions: set[int]) -> list[str]:
        """The worker no longer holds ``partitions`` (a rebalance took them): stop the senders of
        their subscriptions and drop their entries here (the table keeps them for the next owner).
        Keys delivered here stay in ``acked``, so if the partition comes back they are not sent
        again before their ``done`` record is read. Returns the subscriptions dropped."""
        subs = sorted(s for s, p in self.partition_of.items() if p in partitions)
        for sub_id in subs:
            task = self.tasks.pop(sub_id, None)
            if task is not None:
                task.cancel()
            self.pending.pop(sub_id, None)
            self.down.discard(sub_id)
            del self.partition_of[sub_id]
        return subs

    def hold(self, tokens: Mapping[int, str]) -> None:
        """Hold the senders of these partitions until the agent reads each one's marker (``token``);
        replaces the holds of an earlier rebalance."""
        self.held = dict(tokens)

    def release(self, partition: int, token: Any) -> bool:
        """The agent read a marker in ``partition``: True if it is the one awaited, and the
        partition's senders may go; False for another worker's or an earlier rebalance's."""
        if token is None or self.held.get(partition) != token:
            return False
        del self.held[partition]
        return True

    def size(self, sub_id: str) -> int:
        return len(self.pending.get(sub_id, ()))

    def _undelivered(self, sub_id: str) -> Iterator[Pending]:
        return (e for e in self.pending.get(sub_id, {}).values() if e.key not in self.acked)

    def waiting(self, sub_id: str) -> list[Pending]:
        """The subscription's entries not yet delivered here, in delivery order (a digest's)."""
        return sorted(self._undelivered(sub_id), key=lambda e: e.order)

    def head(self, sub_id: str) -> Pending | None:
        return min(self._undelivered(sub_id), key=lambda e: e.order, default=None)

    def oldest(self, sub_id: str) -> Pending | None:
        entries = list(self.pending.get(sub_id, {}).values())
        return min(entries, key=lambda e: e.order) if entries else None

    def enforce_cap(self, sub_id: str, cap: int) -> Pending | None:
        """Keep a subscription's queue within ``cap`` alerts (``webhook_outbox_max``): past it,
        its oldest entry in delivery order is removed here and returned, for the caller to drop
        from the outbox table and dead-letter; None while the queue is within the cap."""
        if self.size(sub_id) <= cap:
            return None
        oldest = self.oldest(sub_id)
        assert oldest is not None
        self.remove(sub_id, oldest.key)
        return oldest

    def undelivered(self) -> int:
        """Alerts waiting here (acked may also hold keys of a forgotten partition: not counted)."""
        return sum(1 for p in self.pending.values() for k in p if k not in self.acked)

    # ---- sending -----------------------------------------------------------------
    def ensure_senders(self, subscription: Callable[[str], Subscription | None],
                       done: Callable[[str, Pending, str], Awaitable[None]],
                       dead: Callable[[str, Pending, str], Awaitable[None]]) -> None:
        for sub_id, entries in self.pending.items():
            if self.partition_of.get(sub_id) in self.held:
                continue  # its partition just came to this worker: not before the earlier records are read
            task = self.tasks.get(sub_id)
            if entries and (task is None or task.done()):
                self.tasks[sub_id] = asyncio.ensure_future(self.drain(sub_id, subscription, done, dead))

    async def drain(self, sub_id: str, subscription: Callable[[str], Subscription | None],
                    done: Callable[[str, Pending, str], Awaitable[None]],
                    dead: Callable[[str, Pending, str], Awaitable[None]]) -> None:
        s = self.settings
        wait = backoff(s.webhook_backoff_base, s.webhook_backoff_max, steady_after=s.webhook_max_attempts)
        async with httpx.AsyncClient(timeout=s.webhook_timeout, follow_redirects=False) as client:
            more = True
            while more:  # each delivery ends a run of tries: the next failure backs off from the start again
                async for attempt in retrying(_failed_try, wait):
                    with attempt:
                        more = await self._deliver_next(client, sub_id, subscription, done, dead,
                                                        attempt.retry_state.attempt_number)

    async def _deliver_next(self, client: httpx.AsyncClient, sub_id: str,
                            subscription: Callable[[str], Subscription | None],
                            done: Callable[[str, Pending, str], Awaitable[None]],
                            dead: Callable[[str, Pending, str], Awaitable[None]], tries: int) -> bool:
        """One try at the head of the queue (or the digest due), after any hold for quiet hours or
        the digest time: True once delivered, False when nothing is left, ``_FailedTry`` when the
        receiver did not take it (the ``tries``-th failure in a row)."""
        s = self.settings
        while True:
            entry = self.head(sub_id)
            if entry is None:
                return False
            sub = subscription(sub_id)
            if sub is None or not sub.url:
                await done(sub_id, entry, "cancelled")  # the subscription was deleted
                self.acked.add(entry.key)
                continue
            now = time.time()
            hold = quiet_left(sub.quiet_hours, now)
            batch = [entry]
            if not hold and sub.digest_at:
                batch = due(sub.digest_at, [(e, e.alert) for e in self.waiting(sub_id)], now)
                if not batch:  # nothing waiting since before the last digest time: until the next one
                    hold = last_boundary(sub.digest_at, now) + 86400.0 - now
            if not hold:
                break
            await asyncio.sleep(min(hold, SCHEDULE_RECHECK_S))  # re-read: the subscription may change
        if sub.digest_at:
            ok, reason = await self.post_digest(client, sub, batch)
        else:
            ok, reason = await self.post(client, sub, entry)
        if not ok:
            if tries == s.webhook_max_attempts:
                self.down.add(sub_id)
                await dead(sub_id, entry, f"webhook {sub_id} failed {tries} tries, last: {reason}; "
                                          f"subscription marked down, {self.size(sub_id)} alert(s) kept and retried "
                                          f"every {s.webhook_backoff_max:g}s")
            raise _FailedTry(reason)
        self.acked.update(e.key for e in batch)
        if sub_id in self.down:
            log.info("webhook %s is back: delivering %d queued alert(s)", sub_id, self.size(sub_id))
            self.down.discard(sub_id)
        for e in batch:
            await done(sub_id, e, "delivered")
        return True

    async def post(self, client: httpx.AsyncClient, sub: Subscription, entry: Pending) -> tuple[bool, str]:
        """One try of one alert."""
        return await self._post(client, sub, entry.key, [entry.alert], digest=False)

    async def post_digest(self, client: httpx.AsyncClient, sub: Subscription, entries: list[Pending]) -> tuple[bool, str]:
        """One try of a digest: the alerts of ``entries`` as one message. Its key (the
        Idempotency-Key, the Message-ID) is derived from theirs, the same on every retry."""
        key = "digest-" + hashlib.sha256("|".join(e.key for e in entries).encode()).hexdigest()[:24]
        return await self._post(client, sub, key, [e.alert for e in entries], digest=True)

    async def _post(self, client: httpx.AsyncClient, sub: Subscription, key: str, alerts: list[dict[str, Any]],
                    digest: bool) -> tuple[bool, str]:
        assert sub.url is not None
        try:
            secret = sub.secret(self.box)
        except SecretKeyError as exc:  # a key mix-up: every try fails the same way, the dead letter says why
            return self._count(False, f"{sub.id}: {exc}")
        if sub.kind == "email":  # the operator's SMTP server, in a thread: smtplib blocks
            return self._count(*await asyncio.get_running_loop().run_in_executor(
                None, send_alert, self.settings, sub.url, alerts, key, digest))
        robot = sub.kind in ROBOT_KINDS
        if robot:  # 企业微信 / 钉钉: their message format; 钉钉 signs in the URL
            title, text = message_text(alerts, self.settings.desk_url, digest)
            url, body, headers = robot_request(sub.kind, sub.url, secret, title, text, time.time())
            headers[IDEMPOTENCY_HEADER] = key
        else:
            url = sub.url
            body = webhook_body({"type": "digest", "alerts": alerts} if digest else alerts[0])
            headers = webhook_headers(sub, secret, key, body, time.time())
        try:
            # Check the address on every try (a host name may have been re-pointed since) and
            # connect to the address checked, not to a fresh lookup of the name.
            target = await asyncio.get_running_loop().run_in_executor(
                None, webhook_target, url, self.settings.webhook_allow_private)
        except Exception as exc:  # noqa: BLE001 - refused or unresolvable: a failed try with its reason
            return self._count(False, f"refused: {exc}")
        # identity: the body read is capped in bytes on the wire, and a compressed one could not be shown
        headers = {**headers, "User-Agent": USER_AGENT, "Host": target.host_header, "Accept-Encoding": "identity"}
        started = time.monotonic()
        try:
            # httpx's timeout bounds each read, not the whole answer: a receiver trickling bytes would
            # hold the sender (and the subscription's queue) indefinitely without this deadline.
            status, answer = await asyncio.wait_for(self._send(client, target, body, headers), self.settings.webhook_timeout)
        except httpx.HTTPError as exc:
            return self._count(False, f"{type(exc).__name__}: {exc}")
        except asyncio.TimeoutError:
            return self._count(False, f"no complete answer within {self.settings.webhook_timeout:g}s")
        finally:
            if self.metrics:
                self.metrics.webhook_delivery_seconds.observe(time.monotonic() - started)
        if 200 <= status < 300:
            # a robot says "not taken" in a 200 (errcode ≠ 0: wrong key or signature, rate limit)
            return self._count(*robot_answer(answer)) if robot else self._count(True, "")
        text = answer[:REASON_BODY_CHARS * 4].decode("utf-8", errors="replace")[:REASON_BODY_CHARS].strip()
        return self._count(False, f"HTTP {status}" + (f": {text!r}" if text else ""))

    async def _send(self, client: httpx.AsyncClient, target: PinnedTarget, body: bytes,
                    headers: dict[str, str]) -> tuple[int, bytes]:
        """POST and read at most ``webhook_max_response_bytes`` of the answer.

        Only the status matters; a receiver (or whatever the URL really points at) answering
        with an endless or huge body would otherwise be read whole into memory. Leaving the
        stream early closes the connection instead of returning it to the pool.
        """
        most = self.settings.webhook_max_response_bytes
        async with client.stream("POST", target.url, content=body, headers=headers,
                                 extensions=target.extensions) as response:
            parts: list[bytes] = []
            size = 0
            async for chunk in response.aiter_raw():
                parts.append(chunk[:most - size])
                size += len(parts[-1])
                if size >= most:
                    break
            return response.status_code, b"".join(parts)

    def _count(self, ok: bool, reason: str) -> tuple[bool, str]:
        if self.metrics:
            self.metrics.webhook_deliveries_total.labels(result="delivered" if ok else "failed_try").inc()
        return ok, reason
