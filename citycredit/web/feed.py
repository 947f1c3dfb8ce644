"""Feeds the desk's read model: every partition of the desk topics, from the beginning.

A plain consumer without a group (``group_id=None``) reads all partitions on every
worker, which is what a national ranking and a search need (see ``desk.py``). It
starts from the beginning each time: the compacted topics make that a replay of the
latest state, and the history topics are bounded by their retention.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from citycredit.exceptions import BrokerError
from citycredit.kafka_client import client_args, connect_error
from citycredit.settings import Settings

from .desk import TOPICS, DeskView

log = logging.getLogger(__name__)


def decode(raw: bytes | None) -> Any:
    """Topic bytes -> JSON value; None stays None (a tombstone)."""
    if raw is None:
        return None
    return json.loads(raw)


class DeskFeed:
    def __init__(self, desk: DeskView, settings: Settings, topics: tuple[str, ...] = TOPICS) -> None:
        self.desk = desk
        self.settings = settings
        self.topics = topics
        # Set once the desk holds everything that was on the topics when the feed started;
        # alert routing waits for it so no existing subscription misses an alert.
        self.caught_up = asyncio.Event()
        self.records = 0

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.errors import KafkaError

        consumer = AIOKafkaConsumer(**client_args(self.settings), group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    client_id=f"{self.settings.app_id}-desk")
        try:
            await consumer.start()
        except KafkaError as exc:
            raise BrokerError(f"desk feed: {await connect_error(self.settings, exc)}") from exc
        try:
            # Without a group, subscribe() assigns every partition of the topics to this consumer.
            consumer.subscribe(topics=list(self.topics))
            partitions: list[TopicPartition] = []
            for _ in range(600):
                partitions = sorted(consumer.assignment())
                if {tp.topic for tp in partitions} == set(self.topics):
                    break
                await asyncio.sleep(0.1)
            missing = set(self.topics) - {tp.topic for tp in partitions}
            if missing:
                log.warning("desk feed: topics %s do not exist; the desk shows nothing from them", sorted(missing))
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            pending = {tp for tp in partitions if end[tp] > 0}
            if not pending:
                self.desk.caught_up(tp.topic for tp in partitions)
                self.caught_up.set()
            last_lag = 0.0
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=2000)
                for tp, messages in batch.items():
                    for msg in messages:
                        key = msg.key.decode("utf-8", errors="replace") if msg.key is not None else None
                        try:
                            value = decode(msg.value)
                        except ValueError as exc:
                            self.desk.rejected += 1
                            log.warning("desk feed: %s[%d]@%d is not JSON: %s", tp.topic, tp.partition, msg.offset, exc)
                            continue
                        self.desk.apply(tp.topic, key, value)
                        self.records += 1
                        if msg.offset >= end.get(tp, 0) and msg.timestamp is not None and msg.timestamp >= 0:
                            # appended after the desk started reading (earlier ones are history
                            # re-read, not lag): its Kafka timestamp (CreateTime as the producer
                            # sent it, or LogAppendTime) against now
                            self.desk.record_delay(tp.topic, msg.timestamp / 1000.0)
                if pending:
                    for tp in list(pending):
                        if await consumer.position(tp) >= end[tp]:
                            pending.discard(tp)
                    if not pending:
                        log.info("desk feed caught up: %d records", self.records)
                        self.desk.caught_up(tp.topic for tp in partitions)
                        self.caught_up.set()
                if self.desk.metrics and time.monotonic() - last_lag > 5.0:
                    last_lag = time.monotonic()
                    await self._export_lag(consumer, partitions)
        finally:
            await consumer.stop()

    async def _export_lag(self, consumer: Any, partitions: list[Any]) -> None:
        ends = await consumer.end_offsets(partitions)
        lag: dict[str, int] = {}
        for tp in partitions:
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, ends[tp] - await consumer.position(tp))
        for topic, n in lag.items():
            self.desk.metrics.desk_consumer_lag_messages.labels(topic=topic).set(n)
