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
    original = item(0, "sina", "hotlist", rank=3, polarity_p=0.8)
    assert parse_item(json.loads(original.dumps(serializer="json"))) == original


def test_an_item_written_before_polarity_p_existed_is_read_without_it() -> None:
    value = _value()
    del value["polarity_p"]
    assert parse_item(value).polarity_p is None


@pytest.mark.parametrize("value,reason", [
    ([1, 2], "item: expected a JSON object, got list"),
    ({"ts": "2026-02-03T08:00:00+08:00"}, "item: missing fields: "),
    (_value(rank="3"), "item: rank: expected an integer or null, got str"),
    (_value(story_id=7), "item: story_id: expected a string, got int"),
    (_value(surface="poster"), "item: surface: 'poster' is not one of homepage, hotlist, rss"),
    (_value(polarity="bad"), "polarity: 'bad' is not one of dishonest, trustworthy, neutral"),
    (_value(city_adcode="32"), "city_adcode: not 6 digits: '32'"),
    (_value(polarity_p="0.9"), "polarity_p: expected a probability in [0, 1] or null, got '0.9'"),
    (_value(polarity_p=1.5), "polarity_p: expected a probability in [0, 1] or null, got 1.5"),
])
def test_bad_values_are_rejected_with_the_reason(value, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse_item(value)
    assert str(info.value).startswith(reason)
