"""Foundation, end to end on the real broker: a sighting produced with aiokafka is consumed
by a Faust worker running as its own process and read back from ``items`` with Kafka's own
console consumer (a client none of us wrote)."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.integration.kafka_console import console_consume

pytestmark = pytest.mark.broker


async def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def _consume_until(settings, topic: str, match, timeout: float = 60.0) -> list[str]:
    """Lines of ``topic`` (read from the start by the console consumer) whose value matches."""
    deadline = time.monotonic() + timeout
    while True:
        lines = console_consume(settings, topic, max_messages=1_000_000, timeout_ms=3000)
        found = [line for line in lines if match(line.split("\t", 1)[1])]
        if found or time.monotonic() > deadline:
            return found


def test_sighting_becomes_item_read_by_console_consumer(kafka, worker_factory):
    obs = {"ts": "2026-02-03T08:00:00+08:00", "site": "people", "surface": "homepage", "rank": None,
           "title": "苏州一食品企业使用过期原料被立案调查", "url": "http://society.people.com.cn/n1/2026/0203/c1008-1.html",
           "summary": None}
    bad = b'{"ts": "yesterday", "site": "people"}'
    asyncio.run(_produce(kafka.kafka_bootstrap, "sightings",
                         [(b"k1", json.dumps(obs, ensure_ascii=False).encode()), (b"k2", bad)]))
    worker = worker_factory().start()
    worker.wait_ready()

    # Other tests of the session share the topics: find this test's records among theirs.
    lines = _consume_until(kafka, "items", lambda v: json.loads(v)["url"] == obs["url"])
    assert len(lines) == 1, worker.log()[-3000:]
    key, value = lines[0].split("\t", 1)
    item = json.loads(value)
    assert key == item["story_id"]
    for field in ("ts", "site", "surface", "rank", "title", "url", "summary"):
        assert item[field] == obs[field]
    assert "__faust" not in item  # the topic carries exactly the design.md contract

    dead = _consume_until(kafka, "deadletter", lambda v: json.loads(v)["payload"] == bad.decode())
    assert len(dead) == 1
    record = json.loads(dead[0].split("\t", 1)[1])
    assert record["stage"] == "classify_sightings" and record["reason"].startswith("ts:")
