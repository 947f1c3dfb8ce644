"""Major-event detection on the real broker, with workers as their own processes.

Items are produced straight to ``items`` keyed by story id (as ``classify_sightings``
does), so these tests exercise the windows, tables and changelogs, not the
classifier. Every test uses its own story ids and city code: the topics are
shared by the session and every new worker (a new consumer group) reads them from
the beginning.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid

import pytest

from citycredit.detection import Detection, load_config
from schemas import Item

from tests.unit.detection_helpers import item

pytestmark = pytest.mark.broker


async def _produce(bootstrap: str, items: list[Item], pause: float = 0.0) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for it in items:
            await producer.send_and_wait("items", it.dumps(serializer="json"), key=it.story_id.encode())
            if pause:
                await asyncio.sleep(pause)
    finally:
        await producer.stop()


def produce(bootstrap: str, items: list[Item], pause: float = 0.0) -> None:
    asyncio.run(_produce(bootstrap, items, pause))


async def _read(bootstrap: str, topic: str, until, timeout: float, linger: float) -> list[tuple[bytes, bytes]]:
    """Read ``topic`` from the start until ``until(records)`` holds (then ``linger`` s more) or ``timeout``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or
                                                    await _partitions(consumer, topic))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        done_at = None
        while time.monotonic() < deadline and (done_at is None or time.monotonic() < done_at):
            batch = await consumer.getmany(timeout_ms=200)
            for msgs in batch.values():
                records += [(m.key, m.value) for m in msgs]
            if done_at is None and until(records):
                done_at = time.monotonic() + linger
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def alerts_for(records: list[tuple[bytes, bytes]], story_ids: set[str] | None = None,
               adcode: str | None = None) -> list[dict]:
    out = []
    for _key, value in records:
        # Other tests share the session's alerts topic, including deliberately malformed records.
        try:
            alert = json.loads(value)
        except ValueError:
            continue
        if not isinstance(alert, dict):
            continue
        if (story_ids is None or alert.get("story_id") in story_ids) and (adcode is None or alert.get("city_adcode") == adcode):
            out.append(alert)
    return out


def read(bootstrap: str, topic: str, until, timeout: float = 60.0, linger: float = 3.0):
    return asyncio.run(_read(bootstrap, topic, until, timeout, linger))


@pytest.mark.restart_race
def test_worker_killed_after_the_second_site_alerts_once_after_restart(kafka, worker_factory):
    """A worker SIGKILLed with a story's two-site state in its changelog: the restarted worker
    raises the story's alert once, on the third site, and dead-letters a late sighting.

    Rerun (restart_race) only when a worker start ran past its bound (tests/conftest.py): the
    first worker's start on a fresh broker (``__consumer_offsets`` and every changelog topic
    are created first), and the restart, which cannot join the group before the killed
    member's 10 s session expires and then reads every changelog from offset 0. An alert
    lost or doubled fails at once."""
    story = f"s-kill-{uuid.uuid4().hex[:8]}"
    first = worker_factory().start()
    first.wait_ready()
    sightings = [item(0, "people", story=story), item(5, "xinhua", story=story)]
    produce(kafka.kafka_bootstrap, sightings)

    # Wait until the worker has written the two-site state to the table's changelog, then kill -9.
    changelog = f"{first.app_id}-story-windows-changelog"

    def has_two_sites(records):
        states = [json.loads(v) for k, v in records if json.loads(k) == story and v]
        return bool(states) and len(states[-1]["home"]) == 2

    assert has_two_sites(read(kafka.kafka_bootstrap, changelog, has_two_sites, linger=0)), first.log()[-3000:]
    first.kill()

    second = worker_factory(app_id=first.app_id).start()  # state comes back from the changelog alone
    second.wait_ready()
    late = item(-20, "sohu", story=story)  # 25 h behind the story's latest sighting: beyond the 6 h lateness
    produce(kafka.kafka_bootstrap, [item(10, "cctv", story=story), late])

    records = read(kafka.kafka_bootstrap, "alerts", lambda r: alerts_for(r, {story}), linger=5)
    alerts = alerts_for(records, {story})
    assert [(a["type"], a["trigger"], a["sites"]) for a in alerts] == [
        ("major_dishonesty", "homepages", ["people", "xinhua", "cctv"])], second.log()[-3000:]

    # The live alert is byte for byte what the replay logic computes from the same items.
    detection = Detection(load_config())
    expected = [a for it in sightings + [item(10, "cctv", story=story)] for a in detection.observe(it).alerts]
    own_bytes = [v for k, v in records if alerts_for([(k, v)], {story})]
    assert own_bytes == [a.dumps(serializer="json") for a in expected]

    def late_dead(records):
        return [json.loads(v) for _k, v in records
                if json.loads(v)["stage"] == "detect_major_events" and story in json.loads(v)["payload"]]

    dead = late_dead(read(kafka.kafka_bootstrap, "deadletter", late_dead, linger=0))
    assert len(dead) == 1 and dead[0]["reason"].startswith("late:"), second.log()[-3000:]
    assert json.loads(dead[0]["payload"])["ts"] == late.ts


@pytest.mark.restart_race
def test_two_workers_share_partitions_and_one_stops_mid_stream(kafka, worker_factory):
    """Two workers of one app share the partitions; one stops with a SIGTERM half-way through
    the sightings: every story alerts once, and the new city raises one early warning.

    Rerun (restart_race) only when a worker start ran past its bound (tests/conftest.py): the
    two workers start together on a fresh broker (``__consumer_offsets`` and every changelog
    topic are created first), and the second's join rebalances the first in the middle of
    its first recovery, which Faust then starts again for the new generation. A story that
    does not alert, or alerts twice, fails at once."""
    run = uuid.uuid4().hex[:6]
    adcode = f"9{int(run, 16) % 100000:05d}"  # a city code no other test uses
    stories = [f"s-share-{run}-{n}" for n in range(60)]
    a = worker_factory().start()
    b = worker_factory(app_id=a.app_id).start()
    a.wait_ready()
    b.wait_ready()
    # Four sightings a story, round by round: the third completes the rule, the fourth must not re-alert.
    rounds = [(0, "people"), (1, "xinhua"), (2, "cctv"), (3, "sohu")]
    timeline = [item(h, site, story=s, adcode=adcode, city="测试市") for h, site in rounds for s in stories]

    producer = threading.Thread(target=produce, args=(kafka.kafka_bootstrap, timeline, 0.01))
    producer.start()
    time.sleep(1.2)  # about half of the 240 items are out
    a.stop()
    producer.join()

    def complete(records):
        return len(alerts_for(records, set(stories))) >= len(stories) + 1

    alerts = alerts_for(read(kafka.kafka_bootstrap, "alerts", complete, timeout=90, linger=5), adcode=adcode)
    majors = [x["story_id"] for x in alerts if x["type"] == "major_dishonesty"]
    warnings = [x for x in alerts if x["type"] == "early_warning"]
    assert sorted(majors) == sorted(stories), b.log()[-3000:]  # every story once: none lost, none doubled
    assert len(warnings) == 1  # 60 food-safety stories of one new city in one day: one warning (cooldown)
    assert warnings[0]["evidence"]["count"] >= 5
