"""Classification and clustering in the worker, on the real broker.

A sighting goes through classify_sightings -> classified -> cluster_stories -> items.
The worker is then stopped and a new one started with the same application id: the
story table is rebuilt from its changelog, so a paraphrase from another site that
arrives after the restart joins the story seen before it.

The topics are shared by every test of the session and clustering expires stories in
event time (older than the window behind the newest sighting), so these sightings are
dated after anything another test produces.
"""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.integration.kafka_console import console_consume

pytestmark = pytest.mark.broker


async def _produce(bootstrap: str, records: list[dict]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait("sightings", json.dumps(r, ensure_ascii=False).encode(),
                                         key=r["url"].encode())
    finally:
        await producer.stop()


def _items(kafka, titles: set[str]) -> dict[str, dict]:
    """Items with these titles from ``items`` (other tests of the session share the topic)."""
    found: dict[str, dict] = {}
    for _attempt in range(0, 8):
        lines = console_consume(kafka, "items", max_messages=1_000_000, timeout_ms=5000)
        found = {}
        for line in lines:
            item = json.loads(line.split("\t", 1)[1])
            if item["title"] in titles:
                found[item["title"]] = item
        if set(found) == titles:
            break
    return found


@pytest.mark.restart_race
def test_story_state_survives_a_worker_restart(kafka, worker_factory, tmp_path):
    """A paraphrase after a clean restart joins the story the first worker opened: the story
    table comes back from its changelog.

    Rerun (restart_race) only when a worker start ran past its bound (tests/conftest.py): the
    first worker's start on a fresh broker (``__consumer_offsets`` and every changelog topic
    are created first), and the restarted worker's recovery of every changelog from offset 0
    (memory store). A story not joined fails at once."""
    first = {"ts": "2030-01-28T09:49:00+08:00", "site": "sina", "surface": "hotlist", "rank": 3,
             "title": "盒马误送有毒水仙球致老人孩子中毒", "url": "https://s.weibo.com/hema-1", "summary": None}
    other_event = {"ts": "2030-01-28T10:05:00+08:00", "site": "people", "surface": "homepage", "rank": None,
                   "title": "苏州一建筑工地拖欠60名农民工工资", "url": "http://people.com.cn/wage-1", "summary": None}
    paraphrase = {"ts": "2030-01-28T20:00:00+08:00", "site": "netease", "surface": "homepage", "rank": None,
                  "title": "盒马误将有毒水仙球当百合发货 多名顾客中毒", "url": "https://www.163.com/hema-2", "summary": None}
    app_id = "citycredit-test-understanding"
    data_dir = tmp_path / "worker"

    worker = worker_factory(app_id=app_id, data_dir=data_dir).start()
    worker.wait_ready()
    asyncio.run(_produce(kafka.kafka_bootstrap, [first, other_event]))
    before = _items(kafka, {first["title"], other_event["title"]})
    assert len(before) == 2, worker.log()[-3000:]
    # Stop only once the story table's writes are in its changelog (two new stories: a
    # story record, an hour list and the bucket meta each), as a clean shutdown would
    # leave them; a loaded machine may otherwise kill the worker before it flushes.
    changelog = console_consume(kafka, f"{app_id}-story-state-changelog", max_messages=6, timeout_ms=60000)
    assert len(changelog) >= 6, worker.log()[-3000:]
    worker.stop()

    restarted = worker_factory(app_id=app_id, data_dir=data_dir).start()
    restarted.wait_ready(timeout=90)
    asyncio.run(_produce(kafka.kafka_bootstrap, [paraphrase]))
    by_title = _items(kafka, {first["title"], other_event["title"], paraphrase["title"]})
    assert len(by_title) == 3, restarted.log()[-3000:]
    hema, wage, again = by_title[first["title"]], by_title[other_event["title"]], by_title[paraphrase["title"]]
    assert again["story_id"] == hema["story_id"], again["evidence"]
    assert wage["story_id"] != hema["story_id"]
    assert wage["city"] == "苏州市" and wage["subfield"] == "wages_social_insurance"
    # the story's reading, from the wording the reader is sure of (the first, 盒马误送…致老人孩子中毒,
    # is read neutral at p 0.54 since the reader's 2026-12-07 retrains: a known miss of replay
    # sample 01, not what this test is about)
    assert again["subfield"] == "food_safety" and again["polarity"] == "dishonest"


def _all_items(kafka, titles: set[str], count: int) -> list[dict]:
    """Every ``items`` record with these titles, once there are ``count`` of them."""
    found: list[dict] = []
    for _attempt in range(0, 8):
        lines = console_consume(kafka, "items", max_messages=1_000_000, timeout_ms=5000)
        found = [item for item in (json.loads(line.split("\t", 1)[1]) for line in lines) if item["title"] in titles]
        if len(found) >= count:
            break
    return found


def test_a_placed_story_claims_the_no_city_wording_seen_before_it(kafka, worker_factory):
    """山西一煤矿透水 (no city: the no-city bucket) reaches clustering first; 山西吕梁一煤矿透水
    (吕梁's bucket, another partition) comes later, and its echo through ``classified`` claims
    the first: that sighting is sent to ``items`` again as the 吕梁 story's, saying why."""
    unplaced = {"ts": "2030-01-29T07:00:00+08:00", "site": "netease", "surface": "homepage", "rank": None,
                "title": "山西一煤矿透水致5人被困 当地成立事故调查组", "url": "https://www.163.com/mine-1", "summary": None}
    placed = {"ts": "2030-01-29T08:00:00+08:00", "site": "xinhua", "surface": "homepage", "rank": None,
              "title": "山西吕梁一煤矿发生透水事故 5人被困", "url": "http://xinhuanet.com/mine-2", "summary": None}
    worker = worker_factory(app_id="citycredit-test-echo").start()
    worker.wait_ready()
    asyncio.run(_produce(kafka.kafka_bootstrap, [unplaced]))
    assert len(_all_items(kafka, {unplaced["title"]}, 1)) == 1, worker.log()[-3000:]
    asyncio.run(_produce(kafka.kafka_bootstrap, [placed]))
    records = _all_items(kafka, {unplaced["title"], placed["title"]}, 3)
    assert len(records) == 3, worker.log()[-3000:]
    first, city_story = [r for r in records if r["url"] == unplaced["url"]], [r for r in records if r["url"] == placed["url"]]
    (lvliang,) = city_story
    assert lvliang["city"] == "吕梁市"
    claimed = [r for r in first if r["story_id"] == lvliang["story_id"]]
    assert len(first) == 2 and len(claimed) == 1, first
    assert claimed[0]["evidence"]["story"][0] == f"joined later: {placed['title']}"
