"""The one Faust application: built from settings, topics declared from ``topics.ALL``.

Agents live one per module under ``agents/`` and are found by autodiscovery, so
importing this module never imports agent code (tests import agents directly).
"""
from __future__ import annotations

import json
import logging
from typing import Any

import faust

from . import topics
from .settings import get_settings

log = logging.getLogger(__name__)
settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
    store=settings.store,
    datadir=str(settings.data_dir / "worker" / settings.app_id),
    autodiscover=["agents"],
    origin="citycredit",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication,
    web_host=settings.web_host,
    web_port=settings.web_port,
    web_in_thread=False,
    # acks=all + idempotence: a broker restart neither loses nor doubles what agents send.
    producer_acks=-1,
    producer_enable_idempotence=True,
    # Tables are rebuilt from changelogs on a new machine; keep recovery snappy.
    table_standby_replicas=0,
    # An event-time system has no use for Faust's wall-clock table cleanup of windows.
    table_cleanup_interval=3600.0,
    consumer_auto_offset_reset="earliest",
    logging_config=None,
)


def _topic(spec: topics.TopicSpec, **kwargs: Any) -> faust.TopicT:
    return app.topic(spec.name, partitions=spec.partition_count(settings), config=dict(spec.config),
                     internal=False, **kwargs)


# Sightings arrive as raw bytes: parsing happens in the agent so a bad record goes to
# the dead-letter topic with its reason instead of crashing the consumer.
sightings_topic = _topic(topics.SIGHTINGS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
items_topic = _topic(topics.ITEMS, key_type=str, value_serializer="json")
alerts_topic = _topic(topics.ALERTS, key_type=str, value_serializer="json")
responses_topic = _topic(topics.RESPONSES, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
records_topic = _topic(topics.RECORDS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
city_index_topic = _topic(topics.CITY_INDEX, key_type=str, value_serializer="json")
source_health_topic = _topic(topics.SOURCE_HEALTH, key_type=str, value_serializer="json")
subscriptions_topic = _topic(topics.SUBSCRIPTIONS, key_type=str, value_serializer="json")
deliveries_topic = _topic(topics.DELIVERIES, key_type=str, value_serializer="json")
deadletter_topic = _topic(topics.DEADLETTER, key_type=str, value_serializer="json")


async def dead_letter(stage: str, reason: str, payload: Any, event: Any = None) -> None:
    """Send a rejected record to the dead-letter topic with the reason and where it came from."""
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
