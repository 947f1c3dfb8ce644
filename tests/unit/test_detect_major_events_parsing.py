"""What ``detect_major_events`` accepts from the items topic, and the reason it gives for the rest."""
from __future__ import annotations

import json

import pytest

from agents.detect_major_events import parse_item
from citycredit.exceptions import InputError

from .detection_helpers import item


def _value(**changes):
    value = json.loads(item(0, "people").dumps(serializer="json"))
    value.update(changes)
    return value


def test_a_topic_value_becomes_the_item_it_was() -> None:
    original = item(0, "sina", "hotlist", rank=3)
    assert parse_item(json.loads(original.dumps(serializer="json"))) == original


@pytest.mark.parametrize("value,reason", [
    ([1, 2], "item: expected a JSON object, got list"),
    ({"ts": "2026-02-03T08:00:00+08:00"}, "item: missing fields: "),
    (_value(rank="3"), "item: rank: expected an integer or null, got str"),
    (_value(story_id=7), "item: story_id: expected a string, got int"),
    (_value(surface="poster"), "item: surface: 'poster' is not one of homepage, hotlist, rss"),
    (_value(polarity="bad"), "polarity: 'bad' is not one of dishonest, trustworthy, neutral"),
    (_value(city_adcode="32"), "city_adcode: not 6 digits: '32'"),
])
def test_bad_values_are_rejected_with_the_reason(value, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse_item(value)
    assert str(info.value).startswith(reason)
