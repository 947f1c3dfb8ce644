"""End to end: the production pollers poll the recorded-sites server (all 15 sites, every
surface, every frame of the demo timeline) and the observations arrive on the real broker's
``sightings`` topic exactly once each, keyed by URL; source health arrives for every surface."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from datetime import datetime

import httpx
import pytest

from streams.poller import Poller
from streams.publisher import Publisher
from demo.sites import RecordedSites, start_server
from demo.timeline import load_timeline
from streams.registry import load_registry
from tests.conftest import free_port

pytestmark = pytest.mark.broker

# A start date no other test uses, so this test's records are told apart on the shared topic.
START = "2031-05-17T08:00:00+08:00"
DAY = "2031-05-17T"


async def _consume(bootstrap: str, topic: str, want: int, accept, settle_s: float = 3.0, timeout_s: float = 90.0):
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=None)
    await consumer.start()
    got = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settle_until = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got += [r for r in records if accept(r)]
            if len(got) >= want:
                # keep reading a little longer: a duplicate would show up now
                settle_until = settle_until or loop.time() + settle_s
                if loop.time() >= settle_until:
                    break
    finally:
        await consumer.stop()
    return got


def test_observations_arrive_on_the_broker_once_each(kafka, tmp_path):
    registry = load_registry()
    timeline = load_timeline()
    timeline = dataclasses.replace(timeline, start=datetime.fromisoformat(START))
    sites = RecordedSites(registry, timeline, speed=0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = kafka.replace(data_dir=tmp_path, sites_base_url=base, poll_politeness_delay=0.0)

    async def run():
        runner = await start_server(sites, "127.0.0.1", port)
        publisher = Publisher(settings.kafka_bootstrap)
        publisher.start()
        poller = Poller.from_settings(settings, publisher=publisher)
        observations = []
        try:
            async with httpx.AsyncClient() as client:
                for frame in range(len(timeline.frames)):
                    (await client.post(f"{base}/_timeline/frame/{frame}")).raise_for_status()
                    for outcome in await poller.run_cycle():
                        assert outcome.error is None, (outcome.surface.key, outcome.health.last_error)
                        observations += outcome.observations
            assert await publisher.flush(60), f"{len(publisher.pending)} records not acknowledged"
        finally:
            await poller.aclose()
            await publisher.close()
            await runner.cleanup()
        sightings = await _consume(settings.kafka_bootstrap, "sightings", len(observations),
                                   lambda r: json.loads(r.value).get("ts", "").startswith(DAY))
        health = await _consume(settings.kafka_bootstrap, "source-health", 24 * len(timeline.frames),
                                lambda r: True, settle_s=0.5, timeout_s=30)
        return observations, sightings, health

    observations, sightings, health = asyncio.run(run())

    sent = Counter((o.url.encode(), json.dumps(o.asdict(), ensure_ascii=False)) for o in observations)
    got = Counter((r.key, r.value.decode()) for r in sightings)
    assert len(sent) == len(observations)  # the poller itself never announces one change twice
    assert got == sent  # every observation arrived, keyed by URL, exactly once

    by = {(o.site, o.surface, o.change, o.title[:6], o.rank): o.ts[11:16] for o in observations}
    suzhou = "苏州一食品企"
    # the 苏州 story reaches >= 3 homepages and the hot lists' top 10, then leaves, as the timeline says
    assert by[("people", "homepage", "appeared", suzhou, None)] == "08:30"
    assert by[("xinhua", "homepage", "appeared", suzhou, None)] == "08:50"
    assert by[("sina", "homepage", "appeared", suzhou, None)] == "09:00"
    assert by[("sohu", "homepage", "appeared", suzhou, None)] == "09:30"
    assert by[("netease", "hotlist", "appeared", suzhou, 18)] == "09:10"
    assert by[("netease", "hotlist", "rank_changed", suzhou, 7)] == "09:40"
    assert by[("netease", "hotlist", "rank_changed", suzhou, 3)] == "10:40"
    assert by[("tencent", "hotlist", "appeared", suzhou, 5)] == "10:00"
    assert by[("people", "homepage", "left", suzhou, None)] == "14:00"
    assert by[("netease", "hotlist", "left", suzhou, None)] == "15:00"
    assert by[("people", "rss", "appeared", "苏州市市场监", None)] == "13:00"
    # all 15 sites published something, and all 24 surfaces reported health
    assert {o.site for o in observations} == set(s.id for s in registry.sites)
    keys = {r.key.decode() for r in health}
    assert keys >= {s.key for s in registry.surfaces()}
