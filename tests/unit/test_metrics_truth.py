"""Metrics that tell the truth (issue 14, item 8): each series moves when, and only when,
the thing it names happened, and the worker's /metrics (what Prometheus scrapes) shows it."""
from __future__ import annotations

import asyncio
import types

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
