"""The agent's steps as pure functions: envelope parsing and dispatch by topic (the agent
itself runs on the real broker in tests/integration/test_city_index_agent.py)."""
from __future__ import annotations

import json

import pytest

from agents.score_city_index import apply, parse_city_input
from citycredit.exceptions import InputError
from citycredit.scoring import CityScorer
from tests.unit.index_factories import CITY_A, alert, item


def _env(kind: str, rec) -> bytes:
    return json.dumps({"kind": kind, "value": rec.asdict()}, ensure_ascii=False).encode()


def test_dispatch_by_topic_and_detected_responses_published_once():
    s = CityScorer()
    assert apply(s, "city-inputs", _env("alert", alert("s1")))[:2] == (CITY_A, {2026 * 12 + 2})
    ritem = item("g1", aspect="government_response", polarity="neutral", title="苏州通报：涉事企业停业整改",
                 ts="2026-03-06T10:00:00+08:00")
    adcode, months, detect = apply(s, "city-inputs", _env("item", ritem))
    assert detect and adcode == CITY_A
    fresh = s.unsent_detected_responses(CITY_A)
    assert [(r.response_id, r.kind, r.source) for r in fresh] == [("news:g1:s1", "rectification", "news")]
    assert s.unsent_detected_responses(CITY_A) == []  # published once
    # the echo from the responses topic counts once
    apply(s, "responses", json.dumps(fresh[0].asdict(), ensure_ascii=False).encode())
    assert {r["city_adcode"]: r["offset"] for r in s.ranking("2026-03") if r["offset"]} == {CITY_A: 1.25}


@pytest.mark.parametrize("raw, message", [
    (b"{", "not JSON"),
    (b'{"kind": "tweet", "value": {}}', "neither item nor alert"),
    (b'{"kind": "item", "value": {"ts": "x"}}', "missing"),
    (b'{"kind": "alert", "value": []}', "JSON object"),
])
def test_bad_city_inputs(raw, message):
    with pytest.raises(InputError, match=message):
        parse_city_input(raw)


@pytest.mark.parametrize("topic", ["responses", "records", "city-inputs"])
@pytest.mark.parametrize("raw", [b"\xff\xfe not json {", b"[]", b"null", b"{}", b'{"ts": "yesterday"}', b'"text"'])
def test_poison_on_the_scoring_topics_is_an_input_error(topic, raw):
    """Regression (poison fault test): records were read as raw["city_adcode"] before validation,
    so null/[]/{} crashed the agent (TypeError/KeyError) instead of going to the dead-letter topic."""
    with pytest.raises(InputError):
        apply(CityScorer(), topic, raw)
