"""A worker SIGKILLed after its table state was written but before its outputs were sent.

Faust's RocksDB store writes a table change to the local database at once; the outputs of
the same input sit in the producer's buffer until the next flush. Reopened after a SIGKILL,
that database is *ahead* of what left the worker, and a marker in it ("entry emitted")
would swallow an output that never left when the inputs after the last commit are read
again. Found by ``tests/integration/test_faults.py`` (南京's last index entry lost, 3 of 3
CI runs). Two defences, each tested here: the index agent keeps its "emitted" marks in
process memory (after a restart or a rebalance each city's next change is emitted again),
and a worker discards its local stores after a stop that was not clean, so every table
(the detector's "alert emitted" too) comes back from the changelogs.
"""
from __future__ import annotations

import json
from pathlib import Path

from agents.score_city_index import apply
from citycredit.commands.worker import CLEAN_STOP, discard_state_after_unclean_stop
from citycredit.scoring import CityScorer

from .index_factories import CITY_A, alert, item


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



def test_a_response_at_the_story_s_first_sighting_counts_whatever_the_alert_saw_first() -> None:
    """Sightings reach the detector in partition order, not event time: its alert's
    ``first_seen`` can be a later sighting than the story's first. The fault test's live
    成都 entry lost its +1 so (the replay, in event time, kept it)."""
    ritem = item("s1", aspect="government_response", polarity="dishonest", title="成都一食品企业使用过期原料被立案调查",
                 ts="2026-03-05T10:00:00+08:00")
    late_first = alert("s1", ts="2026-03-05T12:00:00+08:00", first_seen="2026-03-05T11:00:00+08:00")
    on_time = alert("s1", ts="2026-03-05T12:00:00+08:00", first_seen="2026-03-05T10:00:00+08:00")
    scores = []
    for inputs in ([ritem, late_first], [late_first, ritem], [ritem, on_time]):
        s = CityScorer()
        for rec in inputs:
            apply(s, "city-inputs", _env("alert" if rec is not ritem else "item", rec))
        scores.append(s.entry(CITY_A, s.period("2026-03")).offset)
    assert scores[0] == scores[1] == scores[2] > 0


def _tables(datadir: Path) -> Path:
    tabledir = datadir / "v1" / "tables"
    (tabledir / "story-windows-0.db").mkdir(parents=True)
    (tabledir / "story-windows-0.db" / "000001.log").write_bytes(b"state ahead of its outputs")
    return tabledir


def test_table_stores_of_a_killed_worker_are_discarded(tmp_path: Path) -> None:
    tabledir = _tables(tmp_path)  # the last run left its stores and no clean-stop mark: killed
    assert discard_state_after_unclean_stop(tmp_path, tabledir)
    assert not tabledir.exists()


def test_table_stores_of_a_cleanly_stopped_worker_are_kept(tmp_path: Path) -> None:
    tabledir = _tables(tmp_path)
    (tmp_path / CLEAN_STOP).touch()
    assert not discard_state_after_unclean_stop(tmp_path, tabledir)
    assert (tabledir / "story-windows-0.db" / "000001.log").exists()
    # the mark is consumed: a kill during this run leaves none for the next start
    assert not (tmp_path / CLEAN_STOP).exists()
    assert discard_state_after_unclean_stop(tmp_path, tabledir)


def test_a_first_start_has_nothing_to_discard(tmp_path: Path) -> None:
    assert not discard_state_after_unclean_stop(tmp_path, tmp_path / "v1" / "tables")
