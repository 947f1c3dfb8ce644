"""``parse_ts``: every timestamp from outside carries its offset; "Z" is UTC; naive or malformed
ones are an InputError naming the field."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from citycredit.exceptions import InputError
from schemas import parse_ts

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize("text, expected", [
    ("2026-02-03T01:30:00Z", datetime(2026, 2, 3, 1, 30, tzinfo=timezone.utc)),
    ("2026-02-03T01:30:00.250Z", datetime(2026, 2, 3, 1, 30, 0, 250000, tzinfo=timezone.utc)),
    (" 2026-02-03T09:30:00+08:00\n", datetime(2026, 2, 3, 9, 30, tzinfo=CST)),
    ("2026-02-03T01:30:00+00:00", datetime(2026, 2, 3, 1, 30, tzinfo=timezone.utc)),
])
def test_an_offset_or_z_is_read(text, expected):
    ts = parse_ts(text)
    assert ts == expected and ts.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("value, words", [
    ("2026-02-03T01:30:00", "when: timestamp has no UTC offset"),
    ("2026-02-03", "when: timestamp has no UTC offset"),
    ("yesterday", "when: not ISO-8601: 'yesterday'"),
    ("Z", "when: not ISO-8601"),
    ("", "when: expected an ISO-8601 string with offset"),
    (1770082200, "when: expected an ISO-8601 string with offset"),
])
def test_a_naive_or_malformed_time_is_an_input_error(value, words):
    with pytest.raises(InputError, match=words):
        parse_ts(value, "when")
