"""Getting inputs into a scorer outside the worker: records from dicts, JSONL logs, the broker.

The CLI (``explain``, ``ranking``, ``respond``) rebuilds what it needs from the topics
themselves — items, alerts, responses, records, read from the beginning to the end
offsets — so it gives the same answer as a replay of the same log, with no worker.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Iterable

from citycredit.exceptions import BrokerError, InputError
from citycredit.kafka_client import client_args, connect_error
from citycredit.settings import Settings
from schemas import Alert, CreditRecord, Item, Response

from .scorer import CityScorer

SCORED_TOPICS = ("items", "alerts", "responses", "records")


def record_from(cls: type, data: Any) -> Any:
    """A faust Record of ``cls`` from a topic/JSON dict, or InputError naming what is wrong."""
    name = cls.__name__.lower()
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(data).__name__}")
    fields = cls._options.fields
    missing = [f for f in fields if f not in data and f not in cls._options.defaults]
    if missing:
        raise InputError(f"{name}: missing {', '.join(missing)}")
    try:
        return cls(**{f: data[f] for f in fields if f in data})
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: {exc}") from exc


def classify_input(data: Any) -> Item | Alert | Response | CreditRecord:
    """A JSON object of a log -> the record it is, recognised by its fields."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}")
    if "record_id" in data:
        return record_from(CreditRecord, data)
    if "response_id" in data:
        return record_from(Response, data)
    if "trigger" in data and "triggered_at" in data:
        return record_from(Alert, data)
    if "story_id" in data and "polarity" in data:
        return record_from(Item, data)
    raise InputError("neither an item, an alert, a response nor a credit record")


def feed(scorer: CityScorer, record: Item | Alert | Response | CreditRecord) -> set[int]:
    if isinstance(record, Item):
        return scorer.on_item(record)
    if isinstance(record, Alert):
        return scorer.on_alert(record)
    if isinstance(record, Response):
        return scorer.on_response(record.asdict())  # re-validated like a topic record
    return scorer.on_record(record)


def feed_lines(scorer: CityScorer, lines: Iterable[str]) -> list[tuple[int, str]]:
    """Feed a JSONL log; returns ``[(line number, reason)]`` for lines that were rejected."""
    rejected = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            feed(scorer, classify_input(json.loads(line)))
        except ValueError as exc:
            rejected.append((number, f"not JSON: {exc}"))
        except InputError as exc:
            rejected.append((number, str(exc)))
    return rejected


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
    records.sort(key=_event_time_key)
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


def _event_time_key(rec: Any) -> tuple[str, str]:
    from .periods import epoch

    ts = rec.triggered_at if isinstance(rec, Alert) else rec.ts
    try:
        return (f"{epoch(ts):012d}", type(rec).__name__)
    except InputError:
        return ("", type(rec).__name__)


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
