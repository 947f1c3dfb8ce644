"""alerts -> deliveries (one record per matching subscription) -> webhook_outbox table -> webhooks.

A routing task, an agent and a timer:
- ``route_alerts`` reads ``alerts`` and, for every subscription with a webhook whose
  filters match, sends an ``enqueue`` record to ``deliveries`` keyed by subscription id,
  so one subscription's alerts meet in one partition;
- ``track_webhook_outbox`` keeps the changelogged outbox table from those records
  (``enqueue`` adds, ``done`` removes) and the in-memory index the senders use;
- ``resume_webhook_senders`` keeps one sender per subscription with pending alerts;
- on a rebalance the senders of partitions taken away stop (``stop_moved_senders``), and the
  index of the partitions given is built from the recovered table (``index_assigned_outboxes``),
  their senders held until the agent reads a marker it sent into each, so the previous owner's
  "done" records are read first.
A crash between a POST and its ``done`` record repeats that POST once the worker is
back; the ``Idempotency-Key`` header lets the receiver drop the repeat.
"""
from __future__ import annotations

import json
import logging
import uuid
from types import SimpleNamespace
from typing import Any

from citycredit.app import app, dead_letter, deliveries_topic, alerts_topic, settings
from citycredit.exceptions import InputError
from citycredit.kafka_client import client_args
from citycredit.alerting.delivery import Pending
from citycredit.web.runtime import RUNTIME
from citycredit.alerting.subscriptions import Subscription, idempotency_key
from schemas import Alert, parse_ts

log = logging.getLogger(__name__)

# "<sub_id>" -> {"next_seq": int, "recent": [idempotency keys already delivered]}
# "<sub_id>/<seq>" -> {"key", "seq", "alert"}: one pending alert
webhook_outbox = app.Table("webhook_outbox", default=None, partitions=settings.topic_partitions)
RECENT_KEYS = 2000  # keys remembered per subscription so a re-routed alert is not sent twice


def check_alert(value: Any) -> dict[str, Any]:
    """A record from ``alerts`` -> the alert dict, or InputError with the reason."""
    if not isinstance(value, dict):
        raise InputError(f"alert: expected a JSON object, got {type(value).__name__}")
    try:
        Alert(**value)
    except TypeError as exc:
        raise InputError(f"alert: {exc}") from exc
    parse_ts(value.get("triggered_at"), "triggered_at")
    return value


async def route_alert(raw: bytes | None, appended: float | None, origin: Any) -> list[str]:
    """One record of ``alerts`` -> an ``enqueue`` record per matching subscription; returns their ids."""
    try:
        alert = check_alert(json.loads(raw) if raw is not None else None)
    except (ValueError, InputError) as exc:
        await dead_letter("route_alerts", str(exc), raw or b"", origin)
        return []
    routed = []
    for sub in list(RUNTIME.desk.subscriptions.values()):
        if sub.url and sub.wants_since(appended) and sub.filters.matches(alert, RUNTIME.desk.province_of):
            # {"op": "enqueue", "key", "alert"} keyed by subscription id; wait for the broker's ack
            # so the alert's offset is committed only once its deliveries are safe.
            fut = await deliveries_topic.send(key=sub.id, value={"op": "enqueue", "key": idempotency_key(sub.id, alert),
                                                                 "alert": alert})
            await fut
            routed.append(sub.id)
    return routed


@app.task
async def route_alerts() -> None:
    """alerts -> deliveries, with its own consumer group.

    A plain consumer rather than a Faust agent: it must start only once the desk holds
    every subscription, and commit an alert's offset only after its deliveries are acked.
    (It was also the way around a lost first record of a partition after a restart: Faust
    read records while seeking and then cleared them, fixed since in citycredit.faust_recovery.)
    """
    from aiokafka import AIOKafkaConsumer

    await RUNTIME.feed.caught_up.wait()
    consumer = AIOKafkaConsumer(alerts_topic.get_topic_name(), **client_args(settings),
                                group_id=f"{settings.app_id}-alert-router", enable_auto_commit=False,
                                auto_offset_reset="earliest", client_id=f"{settings.app_id}-alert-router")
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            for messages in batch.values():
                for msg in messages:
                    routed = await route_alert(msg.value, msg.timestamp / 1000.0 if msg.timestamp else None,
                                               SimpleNamespace(message=msg))
                    log.info("alerts[%d]@%d -> %d subscription(s) %s", msg.partition, msg.offset, len(routed), routed[:5])
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()


def _subscription(sub_id: str) -> Subscription | None:
    return RUNTIME.desk.subscriptions.get(sub_id)


async def _done(sub_id: str, entry: Pending, status: str) -> None:
    await deliveries_topic.send(key=sub_id, value={"op": "done", "key": entry.key, "seq": entry.seq, "status": status})


async def _dead(sub_id: str, entry: Pending, reason: str) -> None:
    await dead_letter("deliver_alerts", reason, {"subscription_id": sub_id, "idempotency_key": entry.key,
                                                 "alert": entry.alert}, kind="undeliverable")


def _deliveries_partitions(tps: Any) -> set[int]:
    name = deliveries_topic.get_topic_name()
    return {tp.partition for tp in tps if tp.topic == name}


@app.on_partitions_revoked.connect
async def stop_moved_senders(sender, revoked, **kwargs) -> None:  # noqa: ARG001 - Faust's signal signature
    """A rebalance takes outbox partitions away: their senders stop here at once (the table
    keeps the entries for whichever worker gets the partition)."""
    dropped = RUNTIME.outbox.forget(_deliveries_partitions(revoked))
    if dropped:
        log.info("outbox: %d subscription(s) moved off this worker: %s", len(dropped), dropped[:5])


@app.on_rebalance_complete.connect
async def index_assigned_outboxes(sender, **kwargs) -> None:  # noqa: ARG001 - Faust's signal signature
    """After a rebalance (the first assignment included) the tables are recovered: index the
    outbox entries of the partitions this worker now holds, and hold their senders until the
    agent has read each partition up to a marker sent now. Records before the marker include
    the "done" of every alert the previous owner delivered, so nothing is sent twice."""
    assigned = _deliveries_partitions(app.assignor.assigned_actives())
    for key, value in list(webhook_outbox.items()):
        if "/" not in key or not isinstance(value, dict):
            continue
        sub_id = key.split("/", 1)[0]
        p = value.get("p")
        if p is not None and p not in assigned:
            continue  # a standby copy, or a partition another worker holds
        if value["key"] not in RUNTIME.outbox.pending.get(sub_id, {}):
            RUNTIME.outbox.add(sub_id, Pending(value["key"], int(value["seq"]), value["alert"]))
        if p is not None:
            RUNTIME.outbox.partition_of[sub_id] = p
    RUNTIME.outbox.acked &= {k for entries in RUNTIME.outbox.pending.values() for k in entries}
    tokens = {p: uuid.uuid4().hex for p in sorted(assigned)}
    RUNTIME.outbox.hold(tokens)
    for p, token in tokens.items():
        try:
            await deliveries_topic.send(key=MARK_KEY, value={"op": "mark", "token": token}, partition=p)
        except Exception:  # noqa: BLE001 - without its marker the partition would never send: send at least once
            log.exception("outbox: no marker for deliveries[%d]; its senders start without waiting", p)
            RUNTIME.outbox.release(p, token)


MARK_KEY = "#outbox-mark"  # never a subscription id ([A-Za-z0-9_-], see alerting.subscriptions)


@app.agent(deliveries_topic)
async def track_webhook_outbox(stream):
    async for event in stream.events():
        sub_id, record = event.key, event.value
        partition = event.message.partition
        if sub_id == MARK_KEY and isinstance(record, dict) and record.get("op") == "mark":
            # read up to this worker's marker: its senders may go (another worker's, or an earlier
            # rebalance's marker: nothing to do)
            if RUNTIME.outbox.release(partition, record.get("token")) and RUNTIME.feed.caught_up.is_set():
                RUNTIME.outbox.ensure_senders(_subscription, _done, _dead)
            continue
        if not isinstance(sub_id, str) or not isinstance(record, dict) or record.get("op") not in ("enqueue", "done"):
            await dead_letter("track_webhook_outbox", "not an outbox record", record, event)
            continue
        RUNTIME.outbox.partition_of[sub_id] = partition
        meta = dict(webhook_outbox.get(sub_id) or {"next_seq": 0, "recent": []})
        if record["op"] == "enqueue":
            key = record["key"]
            if key in meta["recent"] or key in RUNTIME.outbox.pending.get(sub_id, {}):
                continue  # routed twice (a replay after a restart): already queued or delivered
            seq = meta["next_seq"]
            meta["next_seq"] = seq + 1
            webhook_outbox[f"{sub_id}/{seq}"] = {"key": key, "seq": seq, "alert": record["alert"], "p": partition}
            RUNTIME.outbox.add(sub_id, Pending(key, seq, record["alert"]))
            oldest = RUNTIME.outbox.enforce_cap(sub_id, settings.webhook_outbox_max)
            if oldest is not None:
                webhook_outbox.pop(f"{sub_id}/{oldest.seq}", None)
                await dead_letter("deliver_alerts", f"outbox of {sub_id} over {settings.webhook_outbox_max} alerts: "
                                                    "oldest dropped undelivered", oldest.alert, event, kind="outbox_full")
        else:
            webhook_outbox.pop(f"{sub_id}/{record.get('seq')}", None)
            RUNTIME.outbox.remove(sub_id, record["key"])
            meta["recent"] = (meta["recent"] + [record["key"]])[-RECENT_KEYS:]
        webhook_outbox[sub_id] = meta
        if RUNTIME.feed.caught_up.is_set():
            RUNTIME.outbox.ensure_senders(_subscription, _done, _dead)
        yield record


@app.timer(interval=1.0)
async def resume_webhook_senders() -> None:
    """Keep one sender per subscription with pending alerts (also after a restart, once subscriptions are known)."""
    if not RUNTIME.feed.caught_up.is_set():
        return  # a sender must not take a not-yet-read subscription for a deleted one
    RUNTIME.outbox.ensure_senders(_subscription, _done, _dead)
