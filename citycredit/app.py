"""The one Faust application: built from settings, topics declared from ``topics.ALL``.

Agents live one per module under ``agents/`` and are found by autodiscovery, so
importing this module never imports agent code (tests import agents directly).
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any

import faust

from . import faust_recovery, topics
from .kafka_client import faust_credentials
from .metrics import METRICS
from .settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()
# Faust's end of recovery drops the records it reads while seeking; see faust_recovery.
faust_recovery.install()

# How every agent produces, consumes and keeps tables; bench/faust_floor.py measures bare Faust with the same.
WORKER_SETTINGS: dict[str, Any] = {
    # acks=all + idempotence: a broker restart neither loses nor doubles what agents send.
    "producer_acks": -1,
    "producer_enable_idempotence": True,
    # Tables are rebuilt from changelogs on a new machine; keep recovery snappy.
    "table_standby_replicas": 0,
    # An event-time system has no use for Faust's wall-clock table cleanup of windows.
    "table_cleanup_interval": 3600.0,
    "consumer_auto_offset_reset": "earliest",
    # Every table write is a changelog record, so a worker produces at least one record per
    # input. With idempotence aiokafka keeps one request in flight per partition and a full
    # batch blocks further sends until it is acknowledged: Faust's 16 KB batches (about 15
    # table states) made the broker round trip, not the CPU, the limit (~700 items/s, the
    # worker idle half the time). Bigger batches carry a whole round trip's worth of records,
    # and a 5 ms linger lets them fill instead of going out one request per record; alert
    # latency grows by at most those 5 ms.
    "producer_max_batch_size": 512 * 1024,
    "producer_linger": 0.005,
}

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
    # None on PLAINTEXT; SASL (SCRAM) over TLS with CITYCREDIT_KAFKA_SECURITY_PROTOCOL=SASL_SSL
    broker_credentials=faust_credentials(settings),
    store=settings.store,
    datadir=str(settings.data_dir / "worker" / settings.app_id),
    autodiscover=["agents"],
    origin="citycredit",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_in_thread=False,
    **WORKER_SETTINGS,
    # A crashed worker's partitions (and so its stories' windows) are frozen until its
    # session times out; Faust's 60 s default would delay alerts by a minute after a crash.
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
    logging_config=None,
)


class DeadLetteringTopic(faust.Topic):
    """A topic whose undecodable records go to the dead-letter topic instead of crashing the agent.

    Faust acks a record whose key or value its codec cannot decode and then throws the error
    into the agent, which dies and is restarted by its supervisor: the record vanished with
    no trace but a log line, and the restart may drop the agent's buffered events. Here the
    record is kept on ``deadletter`` with the reason and the agent never sees it.
    """

    async def on_key_decode_error(self, exc: Exception, message: Any) -> None:
        await _undecodable(self, "key", exc, message)

    async def on_value_decode_error(self, exc: Exception, message: Any) -> None:
        await _undecodable(self, "value", exc, message)


async def _undecodable(topic: faust.Topic, part: str, exc: Exception, message: Any) -> None:
    class _Origin:  # what dead_letter reads from an event
        pass
    origin = _Origin()
    origin.message = message  # type: ignore[attr-defined]
    name = getattr(message, "topic", None) or topic.get_topic_name()
    payload = message.key if part == "key" else message.value
    await dead_letter(f"decode {name}", f"{part} not decodable as {topic.value_serializer if part == 'value' else topic.key_serializer}: {exc}",
                      payload if payload is not None else b"", origin, kind="undecodable")


# Every topic an agent reads, declared here or in an agent module with app.topic(), gets it.
app.conf.Topic = DeadLetteringTopic


def _topic(spec: topics.TopicSpec, **kwargs: Any) -> faust.TopicT:
    return app.topic(spec.name, partitions=spec.partition_count(settings), config=dict(spec.config),
                     internal=False, **kwargs)


# Sightings arrive as raw bytes: parsing happens in the agent so a bad record goes to
# the dead-letter topic with its reason instead of crashing the consumer.
sightings_topic = _topic(topics.SIGHTINGS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
items_topic = _topic(topics.ITEMS, key_type=str, value_serializer="json")
alerts_topic = _topic(topics.ALERTS, key_type=str, value_serializer="json")
responses_topic = _topic(topics.RESPONSES, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
city_index_topic = _topic(topics.CITY_INDEX, key_type=str, value_serializer="json")
deliveries_topic = _topic(topics.DELIVERIES, key_type=str, value_serializer="json")
trend_events_topic = _topic(topics.TREND_EVENTS, key_type=str, value_serializer="json")
deadletter_topic = _topic(topics.DEADLETTER, key_type=str, value_serializer="json")
classified_topic = _topic(topics.CLASSIFIED, key_type=str, value_serializer="json")


def record_processing_delay(event: Any, now: float | None = None) -> None:
    """``citycredit_pipeline_lag_seconds{topic}`` of the record an agent is about to process:
    now minus its arrival on the topic (the Kafka timestamp Faust gives as
    ``event.message.timestamp``, in seconds). Not the observation's event time: the recorded
    day the demo replays happened days ago and is processed within seconds."""
    message = getattr(event, "message", None)
    appended = getattr(message, "timestamp", None)
    if not appended or appended <= 0:  # no timestamp (a record from before message format v1)
        return
    now = time.time() if now is None else now
    METRICS.pipeline_lag_seconds.labels(topic=message.topic).set(max(0.0, now - appended))


# The reason classes of citycredit_deadletter_total{stage,reason} (the reason itself is free
# text, kept on the dead-letter record): bounded so the series stay few.
DEADLETTER_REASONS = ("invalid", "undecodable", "late", "internal_error", "outbox_full", "undeliverable")


async def dead_letter(stage: str, reason: str, payload: Any, event: Any = None, kind: str = "invalid") -> None:
    """Send a rejected record to the dead-letter topic with the reason and where it came from.

    Every dead-lettered record passes here, so here it is counted: ``kind`` is the reason's
    class (one of DEADLETTER_REASONS; "invalid" = the record broke the input contract)."""
    if kind not in DEADLETTER_REASONS:
        raise ValueError(f"dead-letter reason class {kind!r} is not one of {', '.join(DEADLETTER_REASONS)}")
    if isinstance(payload, (bytes, bytearray)):
        text = bytes(payload).decode("utf-8", errors="replace")
    elif isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    message = getattr(event, "message", None)
    record = {
        "stage": stage,
        "reason": reason,
        "payload": text,
        "topic": getattr(message, "topic", None),
        "partition": getattr(message, "partition", None),
        "offset": getattr(message, "offset", None),
    }
    log.warning("dead-letter %s: %s (topic=%s partition=%s offset=%s)", stage, reason,
                record["topic"], record["partition"], record["offset"])
    await deadletter_topic.send(key=stage, value=record)
    METRICS.deadletter_total.labels(stage=stage, reason=kind).inc()


async def dead_letter_unexpected(stage: str, exc: BaseException, event: Any) -> None:
    """A bug met one record: log it with where the record is, and keep the record with the reason.

    One bad record must not stop an agent for every other key; the traceback is in the log
    and the record on the dead-letter topic, so it can be replayed once the bug is fixed.
    """
    message = getattr(event, "message", None)
    log.error("%s failed on %s[%s]@%s", stage, getattr(message, "topic", None), getattr(message, "partition", None),
              getattr(message, "offset", None), exc_info=exc)
    await dead_letter(stage, f"internal error: {exc!r}", event.value, event, kind="internal_error")
