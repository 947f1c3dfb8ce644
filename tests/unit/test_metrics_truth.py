"""Metrics that tell the truth (issue 14, item 8): each series moves when, and only when,
the thing it names happened, and the worker's /metrics (what Prometheus scrapes) shows it."""
from __future__ import annotations

import asyncio
import types

import pytest
from prometheus_client import CollectorRegistry

from citycredit.metrics import REGISTRY, build_metrics
from citycredit.web.desk import DeskView
from schemas import Observation
from streams.health import SurfaceHealth
from streams.poller import Poller
from streams.publisher import Publisher, health_record, observation_record

PUBLISHED = "citycredit_poll_observations_published_total"


def obs(n: int) -> Observation:
    return Observation(ts="2026-02-03T10:00:00+08:00", site="people", surface="homepage", title=f"标题{n}",
                       url=f"http://people.example/{n}", rank=1)


class _Producer:
    """Acknowledges the first ``acks`` records it is given, then fails every other one."""

    def __init__(self, acks: int) -> None:
        self.acks = acks
        self.sent: list[tuple[str, bytes]] = []

    async def send(self, topic, value, key=None):
        self.sent.append((topic, value))
        fut = asyncio.get_running_loop().create_future()
        if len(self.sent) <= self.acks:
            fut.set_result(None)
        else:
            fut.set_exception(ConnectionError("broker went away"))
        return fut


def _publish(publisher: Publisher, acks: int) -> None:
    async def run() -> None:
        publisher._producer = _Producer(acks)
        try:
            await publisher._send_batch()
        except ConnectionError:
            pass
    asyncio.run(run())


def test_published_counts_only_what_the_broker_acknowledged_per_surface(tmp_path):
    publisher = Publisher("127.0.0.1:1", spool=None)
    health = SurfaceHealth(site="people", surface="home", url="http://people.example/")
    publisher.enqueue([observation_record(obs(n), "people/home") for n in range(3)] + [health_record(health.record())])
    _publish(publisher, acks=2)  # the third observation is not acknowledged
    assert publisher.published("people/home") == 2
    assert len(publisher.pending) == 2  # the unacknowledged observation and the health record stay
    # the pollers' own /metrics: the live count of their publisher
    assert REGISTRY.get_sample_value(PUBLISHED, {"site": "people", "surface": "home"}) == 2
    _publish(publisher, acks=2)
    assert publisher.published("people/home") == 3  # a health record is not an observation
    assert REGISTRY.get_sample_value(PUBLISHED, {"site": "people", "surface": "home"}) == 3


def test_the_health_record_carries_the_surface_acknowledged_count():
    publisher = Publisher("127.0.0.1:1", spool=None)
    health = SurfaceHealth(site="people", surface="home", url="http://people.example/")
    poller = types.SimpleNamespace(publisher=publisher)
    Poller._publish(poller, [obs(n) for n in range(4)], health)
    _publish(publisher, acks=10)
    Poller._publish(poller, [obs(9)], health)
    record = publisher.pending[-1]
    assert record.topic == "source-health"
    assert b'"observations_published": 4' in record.value
    # and the next observation is counted under its surface once acknowledged
    assert publisher.pending[0].source == "people/home"


def test_the_worker_exports_the_published_count_from_source_health():
    registry = CollectorRegistry()
    desk = DeskView(metrics=build_metrics(registry))
    base = {"site": "people", "surface": "home", "url": "http://people.example/", "last_success": None,
            "last_error": None, "items_parsed": 30, "consecutive_failures": 0, "yield_drop": False}
    desk.apply("source-health", "people/home", {**base, "observations_published": 1200})
    desk.apply("source-health", "people/home", {**base, "observations_published": 1289})
    desk.apply("source-health", "xinhua/home", {**base, "site": "xinhua"})  # pollers of before this field
    assert registry.get_sample_value(PUBLISHED, {"site": "people", "surface": "home"}) == 1289
    assert registry.get_sample_value(PUBLISHED, {"site": "xinhua", "surface": "home"}) == 0
    desk.reset()  # re-reading the topics from the start: nothing known until read again
    assert registry.get_sample_value(PUBLISHED, {"site": "people", "surface": "home"}) is None


LAG = "citycredit_pipeline_lag_seconds"
RECORDED_DAY = "2026-02-03T10:00:00+08:00"  # the demo's recorded day: days before the replay


def item_record(n: int) -> dict:
    return {"ts": RECORDED_DAY, "site": "people", "surface": "homepage", "rank": 1, "title": f"苏州食品企业{n}",
            "url": f"http://people.example/{n}", "city": "苏州市", "city_adcode": "320500", "province": "江苏省",
            "domain": "enterprise", "polarity": "negative", "story_id": f"s-{n}"}


def test_pipeline_lag_is_the_processing_delay_not_the_age_of_the_event():
    registry = CollectorRegistry()
    desk = DeskView(metrics=build_metrics(registry))
    desk.apply("items", "s-1", item_record(1))  # a replay of a recorded day, read as history
    assert registry.get_sample_value(LAG, {"topic": "items"}) is None  # its event time is no lag
    now = 1_800_000_000.0
    desk.record_delay("items", appended_at=now - 2.5, now=now)  # on the topic 2.5 s before the desk read it
    assert registry.get_sample_value(LAG, {"topic": "items"}) == 2.5
    desk.record_delay("items", appended_at=now + 1, now=now)  # producer clock ahead: never negative
    assert registry.get_sample_value(LAG, {"topic": "items"}) == 0.0


def test_caught_up_topics_without_new_records_read_zero_and_measured_ones_keep_their_delay():
    registry = CollectorRegistry()
    desk = DeskView(metrics=build_metrics(registry))
    desk.record_delay("alerts", appended_at=90.0, now=100.0)
    desk.caught_up(["alerts", "items", "city-index"])
    assert registry.get_sample_value(LAG, {"topic": "alerts"}) == 10.0
    assert registry.get_sample_value(LAG, {"topic": "items"}) == 0.0
    assert registry.get_sample_value(LAG, {"topic": "city-index"}) == 0.0


def test_the_classifier_measures_sightings_from_their_kafka_timestamp():
    from citycredit.app import record_processing_delay

    now = 1_800_000_000.0
    event = types.SimpleNamespace(value=b"{}", message=types.SimpleNamespace(topic="sightings", timestamp=now - 4.0))
    record_processing_delay(event, now=now)
    assert REGISTRY.get_sample_value(LAG, {"topic": "sightings"}) == 4.0
    # a record without a timestamp says nothing about lag (and does not reset it)
    record_processing_delay(types.SimpleNamespace(message=types.SimpleNamespace(topic="sightings", timestamp=None)), now=now)
    assert REGISTRY.get_sample_value(LAG, {"topic": "sightings"}) == 4.0


def test_the_desk_feed_measures_records_appended_after_it_started_not_history(monkeypatch):
    """History re-read at start (offsets below the end the feed found) is no lag, whatever
    its age; a record appended later is measured from its Kafka timestamp."""
    import json as _json
    import time as _time

    import aiokafka
    from aiokafka import TopicPartition

    from citycredit.settings import Settings
    from citycredit.web.feed import DeskFeed

    tp = TopicPartition("items", 0)
    now = _time.time()
    Msg = lambda offset, ts: types.SimpleNamespace(offset=offset, timestamp=ts, key=b"s-1",  # noqa: E731
                                                   value=_json.dumps(item_record(offset)).encode())
    batches = [{tp: [Msg(0, (now - 5 * 86400) * 1000), Msg(1, (now - 4 * 86400) * 1000)]},  # history
               {tp: [Msg(2, (now - 3.0) * 1000)]}]                                        # new, 3 s ago
    registry = CollectorRegistry()
    desk = DeskView(metrics=build_metrics(registry))
    seen: list[float | None] = []

    class Consumer:
        def __init__(self, *a, **k): self.read = 0
        async def start(self): pass
        async def stop(self): pass
        def subscribe(self, topics): pass
        def assignment(self): return {tp}
        async def seek_to_beginning(self, *p): pass
        async def end_offsets(self, p): return {tp: 2}
        async def position(self, p): return self.read
        async def getmany(self, **k):
            if not batches:
                raise asyncio.CancelledError
            batch = batches.pop(0)
            self.read += len(batch[tp])
            return batch

    monkeypatch.setattr(aiokafka, "AIOKafkaConsumer", Consumer)
    feed = DeskFeed(desk, Settings(), topics=("items",))
    original = desk.record_delay
    monkeypatch.setattr(desk, "record_delay", lambda topic, at, now=None: (seen.append(at), original(topic, at, now)))

    async def run():
        try:
            await feed.run()
        except asyncio.CancelledError:
            pass
    asyncio.run(run())
    assert feed.records == 3
    assert len(seen) == 1  # only the record appended after the start
    assert 3.0 <= registry.get_sample_value(LAG, {"topic": "items"}) < 60


DEAD = "citycredit_deadletter_total"


def _dead_count(stage: str, reason: str) -> float:
    return REGISTRY.get_sample_value(DEAD, {"stage": stage, "reason": reason}) or 0.0


@pytest.fixture
def dead_letters(monkeypatch):
    """What citycredit.app.dead_letter sends, without a broker."""
    from citycredit import app as app_module

    sent: list[tuple[str, dict]] = []

    async def send(key, value):
        sent.append((key, value))
    monkeypatch.setattr(app_module.deadletter_topic, "send", send)
    return sent


def test_every_dead_letter_is_counted_by_stage_and_reason_class(dead_letters):
    from citycredit.app import DeadLetteringTopic, app, dead_letter, dead_letter_unexpected

    before = {k: _dead_count(*k) for k in [("classify_sightings", "invalid"), ("score_city_index", "internal_error"),
                                           ("decode sightings", "undecodable")]}
    event = types.SimpleNamespace(value=b"{", message=types.SimpleNamespace(topic="sightings", partition=0, offset=7))

    async def run():
        await dead_letter("classify_sightings", "not JSON", b"{", event)
        await dead_letter("classify_sightings", "title: empty", b"{}", event)
        await dead_letter_unexpected("score_city_index", RuntimeError("bug"), event)
        topic = DeadLetteringTopic(app, topics=["sightings"], value_serializer="json")
        await topic.on_value_decode_error(ValueError("bad bytes"), types.SimpleNamespace(
            topic="sightings", partition=0, offset=8, key=b"k", value=b"\xff"))
    asyncio.run(run())
    assert len(dead_letters) == 4
    assert _dead_count("classify_sightings", "invalid") - before[("classify_sightings", "invalid")] == 2
    assert _dead_count("score_city_index", "internal_error") - before[("score_city_index", "internal_error")] == 1
    assert _dead_count("decode sightings", "undecodable") - before[("decode sightings", "undecodable")] == 1


def test_a_reason_class_outside_the_list_is_refused_so_labels_stay_bounded(dead_letters):
    from citycredit.app import dead_letter

    with pytest.raises(ValueError, match="reason class"):
        asyncio.run(dead_letter("classify_sightings", "x", b"", kind="not JSON: Expecting value line 1"))
    assert dead_letters == []


def test_the_classifier_counts_the_bad_sighting_it_dead_letters(shared_data, dead_letters):
    from agents.classify_sightings import classify_sightings

    before = _dead_count("classify_sightings", "invalid")

    class Stream:
        async def events(self):
            yield types.SimpleNamespace(value=b"not json", message=types.SimpleNamespace(
                topic="sightings", partition=0, offset=1, timestamp=None))

    async def run():
        async for _ in classify_sightings.fun(Stream()):
            pass
    asyncio.run(run())
    assert [k for k, _ in dead_letters] == ["classify_sightings"]
    assert _dead_count("classify_sightings", "invalid") - before == 1


def test_the_classifier_counts_the_sightings_it_consumed(shared_data, monkeypatch):
    from citycredit import app as app_module
    from agents.classify_sightings import classify_sightings

    sent = []

    async def send(key, value):
        sent.append(value)
    monkeypatch.setattr(app_module.classified_topic, "send", send)
    labels = {"site": "people", "surface": "homepage"}
    before = REGISTRY.get_sample_value("citycredit_sightings_total", labels) or 0.0

    class Stream:
        async def events(self):
            for n in range(2):
                yield types.SimpleNamespace(value=obs(n).dumps(), message=types.SimpleNamespace(
                    topic="sightings", partition=0, offset=n, timestamp=None))

    async def run():
        async for _ in classify_sightings.fun(Stream()):
            pass
    asyncio.run(run())
    assert len(sent) == 2
    assert REGISTRY.get_sample_value("citycredit_sightings_total", labels) - before == 2


def test_no_declared_metric_is_left_without_a_writer():
    """A metric declared in citycredit/metrics.py and set nowhere reads 0 for ever: a lie."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    names = re.findall(r"^    (\w+): ", (root / "citycredit" / "metrics.py").read_text(), re.M)
    code = "\n".join(p.read_text() for d in ("citycredit", "streams", "agents") for p in (root / d).rglob("*.py")
                     if p.name != "metrics.py")
    unused = [n for n in names if not re.search(rf"\.{n}\b", code)]
    assert names and not unused, unused
