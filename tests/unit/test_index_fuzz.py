"""Fuzz: whatever arrives as a filing, a topic record or a blacklist file, the answer is a
value or an InputError naming the problem — never another exception, never a partial write."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.exceptions import InputError
from citycredit.scoring import CityScorer, validate_record, validate_response
from citycredit.scoring.filings import known_events_from_alerts, read_blacklist_file
from tests.unit.index_factories import CITY_A, alert

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
EVENTS = known_events_from_alerts([alert("s1", city=CITY_A)])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=30), st.sampled_from(["320500", "苏州", "s1", "statement", "blacklist", "2026-03-05",
                                                           "2026-03-06T09:00:00+08:00", "black", "red", "task_completion"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
keys = st.sampled_from(["city", "city_adcode", "story_id", "kind", "ts", "title", "url", "note", "source", "response_id",
                        "record_id", "payload", "name", "list", "date", "amount", "credit_code", "task_id", "columns"])
payloads = st.dictionaries(keys, values, max_size=10)


def only_input_errors(fn, *args):
    try:
        fn(*args)
    except InputError:
        pass


@FUZZ
@given(payloads)
def test_filed_responses(payload):
    only_input_errors(validate_response, payload, EVENTS)


@FUZZ
@given(payloads, st.dictionaries(keys, values, max_size=6))
def test_topic_records_write_nothing_when_rejected(record, payload):
    record = {**record, "payload": payload} if "payload" in record else record
    s = CityScorer()
    for fn in (validate_record, s.on_record, s.on_response):
        only_input_errors(fn, record)
        only_input_errors(fn, json.dumps(record, default=str).encode())
    for key in list(s.state):  # whatever was accepted is a complete city row
        assert "|" in key or {"wm", "nwm", "months"} <= set(s.state[key])


@FUZZ
@given(st.text(max_size=300), st.sampled_from(["x.csv", "x.json", "x.jsonl"]))
def test_blacklist_files(tmp_path_factory, text, name):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_text(text, encoding="utf-8")
    try:
        valid, rejected = read_blacklist_file(path)
    except InputError:
        return
    assert all(isinstance(n, int) and isinstance(r, str) for n, r in rejected)
