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
    # what goes over the classified topic is the plain JSON object
    wire = json.loads(json.dumps(analysed.asdict(), ensure_ascii=False))
    item = cluster.item_from(wire)
    assert item.asdict() == analysed.asdict()
    with pytest.raises(InputError):
        cluster.item_from({"title": "only a title"})
    with pytest.raises(InputError):
        cluster.item_from(dict(wire, polarity="angry"))
