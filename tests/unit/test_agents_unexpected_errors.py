"""Every agent meets a bug the same way: the record goes to the dead-letter topic with the
error, logged with its topic/partition/offset (``dead_letter_unexpected``), and the agent
goes on with the next record. Run through Faust's ``agent.test_context()``, no broker: the
dead-letter and output topics are replaced by recorders."""
from __future__ import annotations

import asyncio
import json

import pytest

OBS = {"ts": "2026-02-03T08:00:00+08:00", "site": "people", "surface": "homepage",
       "title": "广州天河一家鞋厂129员工食物中毒", "url": "http://people.example.cn/1.html"}


class Recorder:
    """Stands in for a topic: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list = []

    async def send(self, key=None, value=None, **kwargs):
        self.sent.append((key, value))


async def _wait_for(condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the agent did not get there in time")


@pytest.fixture
def unexpected(monkeypatch):
    """(stage, error) of every record handed to dead_letter_unexpected, per agent module."""
    caught: list[tuple[str, str]] = []

    async def record(stage, exc, event):
        caught.append((stage, repr(exc)))

    from agents import classify_sightings, cluster_stories, score_city_index

    for mod in (classify_sightings, cluster_stories, score_city_index):
        monkeypatch.setattr(mod, "dead_letter_unexpected", record)
    return caught


def _fail_once(real):
    calls = {"n": 0}

    def step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a bug met this record")
        return real(*args, **kwargs)
    return step


def test_classify_sightings_dead_letters_a_bug_and_goes_on(shared_data, monkeypatch, unexpected):
    from agents import classify_sightings as mod

    out = Recorder()
    monkeypatch.setattr(mod, "classified_topic", out)
    monkeypatch.setattr(mod.understanding, "analyse", _fail_once(mod.understanding.analyse))

    async def go():
        async with mod.classify_sightings.test_context() as agent:
            await agent.put(json.dumps(OBS, ensure_ascii=False).encode(), wait=False)
            await _wait_for(lambda: unexpected)
            item = await agent.put(json.dumps(dict(OBS, url="u2"), ensure_ascii=False).encode())
            return item
    asyncio.run(go())
    assert unexpected == [("classify_sightings", "RuntimeError('a bug met this record')")]
    assert len(out.sent) == 1 and out.sent[0][1].city == "广州市"  # the next sighting went through


def test_cluster_stories_dead_letters_a_bug_and_goes_on(shared_data, monkeypatch, unexpected):
    from agents import classify_sightings, cluster_stories as mod
    from schemas import Observation

    analysed = classify_sightings.understanding.analyse(Observation.parse(OBS))
    out, echoes = Recorder(), Recorder()
    monkeypatch.setattr(mod, "items_topic", out)
    monkeypatch.setattr(mod, "classified_topic", echoes)
    monkeypatch.setattr(mod.understanding, "assign_story", _fail_once(mod.understanding.assign_story))
    wire = json.loads(json.dumps(analysed.asdict(), ensure_ascii=False))  # the JSON object the topic carries

    async def go():
        async with mod.cluster_stories.test_context() as agent:
            await agent.put(wire, wait=False)
            await _wait_for(lambda: unexpected)
            await agent.put(wire)
    asyncio.run(go())
    assert unexpected == [("cluster_stories", "RuntimeError('a bug met this record')")]
    assert len(out.sent) == 1 and out.sent[0][1].story_id
    # a placed credit item's story is echoed to the no-city bucket
    assert echoes.sent == [("none", {"echo": out.sent[0][1].asdict()})]


def test_route_to_cities_dead_letters_a_bug(shared_data, monkeypatch, unexpected):
    from agents import score_city_index as mod

    out = Recorder()
    monkeypatch.setattr(mod, "city_inputs_topic", out)
    monkeypatch.setattr(mod, "record_from", _fail_once(mod.record_from))

    async def go():
        async with mod.route_to_cities.test_context() as agent:
            await agent.put(json.dumps({"anything": 1}).encode(), wait=False)
            await _wait_for(lambda: unexpected)
    asyncio.run(go())
    assert unexpected == [("route_to_cities", "RuntimeError('a bug met this record')")]
    assert out.sent == []
