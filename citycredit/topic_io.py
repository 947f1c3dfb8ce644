"""Kafka I/O for callers outside the worker: every record of some topics up to their end,
and keyed records produced (acks=all, idempotent).

The CLI (``explain``, ``ranking``, ``respond``, ``report``, ``import``, ``file``), the
desk's report download and the disclosure checker use it; the scoring package itself stays
pure (``scoring.inputs`` turns the records read here into scorer inputs).
"""
from __future__ import annotations

import asyncio
import json

from citycredit.exceptions import BrokerError, InputError
from citycredit.kafka_client import client_args, connect_error
from citycredit.scoring.inputs import classify_input, event_time_key, feed
from citycredit.scoring.scorer import CityScorer
from citycredit.settings import Settings
from schemas import Alert, CreditRecord, Item, Response

SCORED_TOPICS = ("items", "alerts", "responses", "records")


async def _read_topics(settings: Settings, topics: tuple[str, ...]) -> list[tuple[str, bytes | None, bytes]]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(*topics, **client_args(settings), group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise await connect_error(settings, exc) from exc
    out: list[tuple[str, bytes | None, bytes]] = []
    try:
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions) if partitions else {}
        todo = {tp for tp in partitions if ends[tp] > 0}
        while todo:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batch.items():
                out += [(tp.topic, m.key, m.value) for m in messages if m.offset < ends[tp]]
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
    finally:
        await consumer.stop()
    return out


def read_topics(settings: Settings, topics: tuple[str, ...]) -> list[tuple[str, bytes | None, bytes]]:
    """Every record of ``topics`` up to their current end: ``[(topic, key, value)]``."""
    return asyncio.run(_read_topics(settings, topics))


async def read_records(settings: Settings) -> tuple[list[Item | Alert | Response | CreditRecord], int]:
    """Every record on the scored topics in event-time order (so the lateness bound never
    bites), and how many could not be read as one."""
    records = []
    rejected = 0
    for _, _, value in await _read_topics(settings, SCORED_TOPICS):
        try:
            records.append(classify_input(json.loads(value)))
        except (ValueError, InputError):
            rejected += 1
    records.sort(key=event_time_key)
    return records, rejected


def records_from_broker(settings: Settings) -> tuple[list[Item | Alert | Response | CreditRecord], int]:
    """``read_records`` for a caller outside an event loop (the CLI)."""
    return asyncio.run(read_records(settings))


def scorer_from_broker(settings: Settings, scorer: CityScorer | None = None) -> tuple[CityScorer, int]:
    """A scorer fed with everything on the scored topics; returns it and the number of
    records it rejected."""
    scorer = scorer or CityScorer()
    records, rejected = records_from_broker(settings)
    for rec in records:
        try:
            feed(scorer, rec)
        except InputError:
            rejected += 1
    return scorer, rejected


async def _produce(settings: Settings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaConnectionError, KafkaError

    producer = AIOKafkaProducer(**client_args(settings), acks="all", enable_idempotence=True)
    try:
        try:
            await producer.start()
        except KafkaConnectionError as exc:
            raise await connect_error(settings, exc) from exc
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    except KafkaError as exc:
        raise BrokerError(f"cannot produce to {topic} at {settings.kafka_bootstrap} ({exc}); is the broker running?") from exc
    finally:
        await producer.stop()


def produce(settings: Settings, topic: str, records: list[Response | CreditRecord]) -> None:
    """Send responses or credit records keyed by city adcode (acks=all, idempotent)."""
    payload = [(r.city_adcode.encode(), json.dumps(r.asdict(), ensure_ascii=False).encode()) for r in records]
    if payload:
        asyncio.run(_produce(settings, topic, payload))
