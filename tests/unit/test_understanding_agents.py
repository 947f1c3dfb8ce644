"""The agents' own steps, without a broker: parsing, analysis, and the table round trip.

The agents themselves run against the real broker in
tests/integration/test_understanding_pipeline.py.
"""
from __future__ import annotations

import json

import pytest

from citycredit.exceptions import InputError


@pytest.fixture(scope="module")
def agents(shared_data):
    from agents import classify_sightings, cluster_stories

    return classify_sightings, cluster_stories


def test_bad_sightings_raise_input_error_with_the_reason(agents):
    classify, _ = agents
    with pytest.raises(InputError, match="not JSON"):
        classify.parse_observation(b"\xff\xfe{")
    with pytest.raises(InputError, match="surface"):
        classify.parse_observation(json.dumps({"ts": "2026-02-03T08:00:00+08:00", "site": "people",
                                               "surface": "tv", "title": "x", "url": ""}))


def test_classified_record_round_trips_into_an_item(agents):
    classify, cluster = agents
    obs = classify.parse_observation(json.dumps({"ts": "2026-02-03T08:00:00+08:00", "site": "people",
                                                 "surface": "homepage", "title": "广州天河一家鞋厂129员工食物中毒",
                                                 "url": "u"}, ensure_ascii=False))
    analysed = classify.understanding.analyse(obs)
    assert analysed.story_id == "" and analysed.city == "广州市"
    assert analysed.polarity == "dishonest" and 0.5 < analysed.polarity_p <= 1.0  # the vote's weight downstream
    # what goes over the classified topic is the plain JSON object
    wire = json.loads(json.dumps(analysed.asdict(), ensure_ascii=False))
    item = cluster.item_from(wire)
    assert item.asdict() == analysed.asdict()
    with pytest.raises(InputError):
        cluster.item_from({"title": "only a title"})
    with pytest.raises(InputError):
        cluster.item_from(dict(wire, polarity="angry"))
    older = {k: v for k, v in wire.items() if k != "polarity_p"}  # written before the field existed
    assert cluster.item_from(older).polarity_p is None


def test_an_echo_record_sends_the_no_city_sightings_it_claims(agents, monkeypatch):
    """cluster_stories on the no-city partition: a no-city sighting, then the echo of a placed
    story it belongs to (what the agent of 吕梁's partition sends): the sighting goes to
    ``items`` again as the placed story's. Faust's test_context, no broker."""
    import asyncio

    from schemas import Observation

    classify, cluster = agents
    sent: list = []

    class Items:
        async def send(self, key=None, value=None, **kwargs):
            sent.append((key, value))

    monkeypatch.setattr(cluster, "items_topic", Items())
    monkeypatch.setattr(cluster, "classified_topic", Items())  # this test sends no placed item through the agent

    def wire(title: str, ts: str, url: str) -> dict:
        obs = Observation(ts=ts, site="netease", surface="homepage", title=title, url=url)
        return json.loads(json.dumps(classify.understanding.analyse(obs).asdict(), ensure_ascii=False))

    unplaced = wire("山西一煤矿透水致5人被困 当地成立事故调查组", "2030-02-01T07:00:00+08:00", "u1")
    placed = dict(wire("山西吕梁一煤矿发生透水事故 5人被困", "2030-02-01T08:00:00+08:00", "u2"), story_id="s-lvliang")

    async def go():
        async with cluster.cluster_stories.test_context() as agent:
            await agent.put(unplaced)
            await agent.put({"echo": placed}, wait=False)  # an echo that claims nothing yields nothing
            for _ in range(500):
                if len(sent) >= 2:
                    return
                await asyncio.sleep(0.01)
    asyncio.run(go())
    assert len(sent) == 2, sent
    (key0, first), (key1, claimed) = sent
    assert first.url == claimed.url == "u1" and first.story_id != "s-lvliang"
    assert key1 == claimed.story_id == "s-lvliang" and claimed.evidence["story"][0].startswith("joined later")
