"""A worker SIGKILLed after its table state was written but before its outputs were sent.

Faust's RocksDB store writes a table change to the local database at once; the outputs of
the same input sit in the producer's buffer until the next flush. After a SIGKILL the
restarted worker reopens that database (state *ahead*) and reads again every input after
the last commit. Each stage must then send again what those inputs produced: a marker
restored ahead ("alert emitted", "entry emitted") must not swallow an output that never
left. Found by ``tests/integration/test_faults.py`` (南京's last index entry lost).

Each test runs the inputs once, keeps the state as the kill left it, and reads the inputs
from an earlier position again, as the restarted worker does.
"""
from __future__ import annotations

import copy
import json

from citycredit.detection import MajorRule, StoryDetector, TrendDetector, TrendRule
from citycredit.scoring import CityScorer
from agents.score_city_index import apply

from .detection_helpers import item as sighting
from .index_factories import CITY_A, alert, item
from .test_detection_trends import event


def test_story_alert_sent_again_when_its_input_is_read_again() -> None:
    detector = StoryDetector(MajorRule())
    stories: dict = {}
    log = [sighting(0, "people"), sighting(5, "xinhua"), sighting(10, "cctv"), sighting(11, "sohu")]
    first = [(i, a.asdict()) for i, it in enumerate(log) for a in detector.observe(stories, it, source=(0, i)).alerts]
    assert [i for i, _ in first] == [2]
    ahead = json.loads(json.dumps(stories))  # what the local store holds after the kill
    # the last commit was at offset 1: offsets 1.. are read again
    again = [(i, a.asdict()) for i, it in enumerate(log) if i >= 1
             for a in detector.observe(ahead, log[i], source=(0, i)).alerts]
    assert again == first
    # a replay (no positions) never sends an alert twice
    assert not [a for it in log for a in detector.observe(ahead, it).alerts]


def test_trend_event_forwarded_again_when_its_input_is_read_again() -> None:
    detector = StoryDetector(MajorRule())
    stories: dict = {}
    log = [sighting(0, "people"), sighting(1, "xinhua")]
    trends = [detector.observe(stories, it, source=(3, 40 + i)).trend for i, it in enumerate(log)]
    assert trends[0] is not None and trends[1] is None
    assert detector.observe(stories, log[0], source=(3, 40)).trend == trends[0]


def test_early_warning_sent_again_when_its_input_is_read_again() -> None:
    detector = TrendDetector(TrendRule())
    state: dict = {}
    events = [event(d, i) for i, d in enumerate([0, 1, 2, 3, 4])]
    fired = [(i, a.asdict()) for i, e in enumerate(events) if (a := detector.observe(state, e, source=(1, i)))]
    assert [i for i, _ in fired] == [4]
    ahead = copy.deepcopy(state)
    again = [(i, a.asdict()) for i, e in enumerate(events) if i >= 2
             and (a := detector.observe(ahead, e, source=(1, i)))]
    assert again == fired


def _env(kind: str, rec) -> bytes:
    return json.dumps({"kind": kind, "value": rec.asdict()}, ensure_ascii=False).encode()


def test_index_entry_and_detected_response_sent_again_by_a_restarted_scorer() -> None:
    state: dict = {}
    before = CityScorer(state=state)  # the agent's scorer: markers in process memory, not in ``state``
    inputs = [("city-inputs", _env("alert", alert("s1"))),
              ("city-inputs", _env("item", item("s1", aspect="government_response", title="苏州通报：涉事企业停业整改",
                                                ts="2026-03-05T13:00:00+08:00")))]
    for topic, raw in inputs:
        adcode, months, _ = apply(before, topic, raw)
        before.changed_entries(adcode, months)
    assert before.unsent_detected_responses(CITY_A)
    last = before.changed_entries(CITY_A, {2026 * 12 + 2})
    assert last == []  # nothing changed since it was emitted, by this process

    after = CityScorer(state=state)  # restarted on the state the kill left
    adcode, months, detect = apply(after, *inputs[-1])
    entries = after.changed_entries(adcode, months)
    assert entries and entries[0].offset == before.entry(CITY_A, before.period("2026-03")).offset > 0
    assert detect and [r.response_id for r in after.unsent_detected_responses(CITY_A)] == ["news:s1:s1"]


def test_a_rebalance_forgets_what_was_emitted() -> None:
    scorer = CityScorer()
    adcode, months, _ = apply(scorer, "city-inputs", _env("alert", alert("s1")))
    assert scorer.changed_entries(adcode, months)
    assert not scorer.changed_entries(adcode, months)
    scorer.forget_published()
    assert scorer.changed_entries(adcode, months)
