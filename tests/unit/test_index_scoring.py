"""City index scoring as pure functions: table-driven cases on the real configuration."""
from __future__ import annotations

import json

import pytest

from citycredit.exceptions import InputError
from citycredit.scoring import CityScorer, load_scoring_config
from citycredit.scoring.filings import blacklist_record, disclosure_record, policy_record, task_record
from tests.unit.index_factories import CITY_A, CITY_B, CITY_C, alert, item, response

CFG = load_scoring_config()
DEDUCTION = CFG.deduction / 100


def ranked(scorer: CityScorer, period: str = "2026-03", province: str | None = None) -> dict[str, dict]:
    return {r["city_adcode"]: r for r in scorer.ranking(period, province)}


def has_facts(scorer: CityScorer, period: str, adcode: str = CITY_A) -> bool:
    """Whether the city's row in ``period`` rests on any fact (every city has a row: the others are baselines)."""
    return scorer.city_result(adcode, scorer.period(period), detail=False).facts > 0


def assert_adds_up(row: dict) -> None:
    total = round(sum(row["components"].values()) + row["penalty"] + row["offset"], 2)
    assert total == row["score"], row


def test_major_event_with_response_ranks_above_same_event_without():
    # A: major event 03-05 12:00, rectification 03-06 (within 7 days: full share)
    # B: the same kind of event, no response
    s = CityScorer()
    for city, story in ((CITY_A, "sa"), (CITY_B, "sb")):
        s.on_item(item(story, city=city))
        s.on_alert(alert(story, city=city))
    s.on_response(response("sa", "rectification"))
    r = ranked(s)
    assert r[CITY_A]["peers"] == r[CITY_B]["peers"] == "prefecture"
    assert r[CITY_A]["rank"] == r[CITY_B]["rank"] - 1  # the cities with no news are above both
    assert r[CITY_A]["penalty"] == r[CITY_B]["penalty"] == -DEDUCTION
    assert r[CITY_A]["offset"] == DEDUCTION * CFG.shares_bp["rectification"] / 10000
    assert r[CITY_B]["offset"] == 0
    for row in r.values():
        assert_adds_up(row)


@pytest.mark.parametrize("delay_days, factor", [(0, 1.0), (6.9, 1.0), (7.5, 0.5), (29, 0.5), (45, 0.2), (91, 0.0)])
def test_late_responses_offset_less_or_nothing(delay_days, factor):
    # event ─── response after delay_days ─── factor from [[response.lateness]]
    from datetime import datetime, timedelta

    s = CityScorer()
    s.on_alert(alert("s1", ts="2026-03-05T12:00:00+08:00"))
    ts = (datetime.fromisoformat("2026-03-05T12:00:00+08:00") + timedelta(days=delay_days)).isoformat()
    s.on_response(response("s1", "statement", ts=ts))
    offset = ranked(s)[CITY_A]["offset"]
    assert offset == pytest.approx(DEDUCTION * 0.10 * factor, abs=0.011)


def test_response_filed_twice_counts_once_and_total_offset_is_capped():
    s = CityScorer()
    s.on_alert(alert("s1"))
    s.on_response(response("s1", "statement", rid="r1"))
    s.on_response(response("s1", "statement", rid="r1"))  # the same filing again
    s.on_response(response("s1", "statement", rid="r2", source="api"))  # the same kind through the API
    assert ranked(s)[CITY_A]["offset"] == DEDUCTION * 0.10
    for kind in ("investigation", "rectification", "accountability", "rule_improvement"):
        s.on_response(response("s1", kind))
    row = ranked(s)[CITY_A]
    assert row["offset"] == DEDUCTION * CFG.max_share_bp / 10000 < -row["penalty"]
    contributions = s.explain(CITY_A, "2026-03")["aspects"]["government_response"]["contributions"]
    assert round(sum(c["points"] for c in contributions), 2) == row["offset"]
    assert sum(1 for c in contributions if c["kind"] == "statement") == 1


def test_response_before_the_event_or_for_another_story_offsets_nothing():
    s = CityScorer()
    s.on_alert(alert("s1", ts="2026-03-05T12:00:00+08:00", first_seen="2026-03-05T08:00:00+08:00"))
    s.on_response(response("s1", "statement", ts="2026-03-04T00:00:00+08:00"))
    s.on_response(response("other", "rectification"))
    assert ranked(s)[CITY_A]["offset"] == 0
    # between first sighting and the trigger: a fast response, full credit
    s.on_response(response("s1", "investigation", ts="2026-03-05T09:00:00+08:00"))
    assert ranked(s)[CITY_A]["offset"] == DEDUCTION * 0.20


def test_detected_response_same_story_or_same_domain_within_window():
    s = CityScorer()
    s.on_alert(alert("s1", domain="business", ts="2026-03-05T12:00:00+08:00"))
    # different domain: not this event's response
    s.on_item(item("n2", aspect="government_response", polarity="neutral", domain="social",
                   ts="2026-03-06T12:00:00+08:00", title="回应"))
    # a news item in another story but the same domain 10 days later, titled as accountability
    s.on_item(item("n1", aspect="government_response", polarity="neutral", domain="business",
                   ts="2026-03-15T12:00:00+08:00", title="涉事企业负责人被问责"))
    gr = s.explain(CITY_A, "2026-03")["aspects"]["government_response"]["contributions"]
    assert [(c["id"], c["kind"], c["lateness_factor"]) for c in gr] == [("news:n1:s1", "accountability", 0.5)]
    detected = s.detected_responses(CITY_A)
    assert [(r.response_id, r.story_id, r.source) for r in detected] == [("news:n1:s1", "s1", "news")]
    # the same detection arriving back through the responses topic counts once
    s.on_response(detected[0])
    assert ranked(s)[CITY_A]["offset"] == DEDUCTION * 0.20 * 0.5


def test_saturation_and_credit_events_one_per_story():
    s = CityScorer()
    for n in range(40):  # 40 dishonest stories empty the aspect at its floor, no further
        s.on_item(item(f"d{n}", ts=f"2026-03-{1 + n // 2:02d}T10:00:00+08:00"))
    s.on_item(item("d0", site="xinhua", url="http://xinhua.example/d0", ts="2026-03-18T10:00:00+08:00"))  # same story on another site
    ex = s.explain(CITY_A, "2026-03")["aspects"]["credit_event"]
    assert ex["points"] == 0.0 and ex["saturation"] == 20.0
    assert len(ex["contributions"]) == 40
    d0 = next(c for c in ex["contributions"] if c["id"] == "d0")
    assert d0["sites"] == ["people", "xinhua"]


def test_rolling_period_decays_older_months_and_calendar_month_does_not():
    s = CityScorer()
    s.on_alert(alert("old", ts="2025-06-10T12:00:00+08:00"))  # 11 months before 2026-05: weight 0.55
    s.on_alert(alert("new", ts="2026-05-10T12:00:00+08:00"))
    rolling = ranked(s, "12m:2026-05")[CITY_A]
    assert rolling["penalty"] == -(DEDUCTION + DEDUCTION * 0.55)
    assert ranked(s, "2026-05")[CITY_A]["penalty"] == -DEDUCTION
    assert ranked(s, "2025-06")[CITY_A]["penalty"] == -DEDUCTION
    assert not has_facts(s, "2026-04") and ranked(s, "2026-04")[CITY_A]["penalty"] == 0


def test_month_boundary_is_china_time():
    s = CityScorer()
    s.on_alert(alert("s1", ts="2026-03-31T17:00:00+00:00"))  # 04-01 01:00 in Beijing
    assert has_facts(s, "2026-04") and not has_facts(s, "2026-03")
    assert ranked(s, "2026-04")[CITY_A]["penalty"] == -DEDUCTION and ranked(s, "2026-03")[CITY_A]["penalty"] == 0


def test_late_items_are_rejected_with_reason_and_nothing_written():
    s = CityScorer()
    s.on_item(item("s1", ts="2026-03-20T00:00:00+08:00"))
    before = json.dumps(s.state, sort_keys=True)
    with pytest.raises(InputError, match="late"):
        s.on_item(item("s2", ts="2026-03-10T00:00:00+08:00"))
    assert json.dumps(s.state, sort_keys=True) == before
    s.on_item(item("s3", ts="2026-03-18T00:00:00+08:00"))  # within 72 h: accepted
    assert "s3" in s.facts.load(CITY_A)["stories"]


def test_unknown_city_codes_are_errors():
    s = CityScorer()
    with pytest.raises(InputError, match="unknown city code '999900'"):
        s.on_item(item("s1", city="999900"))
    with pytest.raises(InputError, match="unknown city code"):
        s.on_alert(alert("s1", city="320599"))
    with pytest.raises(InputError, match="unknown city code"):
        s.on_response({"response_id": "r1", "ts": "2026-03-05T00:00:00+08:00", "city_adcode": "000000",
                       "story_id": "s1", "kind": "statement"})
    assert s.state == {}
    assert s.on_item(item("s1", city=None)) == set()  # no city: not an error, just nothing to score


def test_records_score_every_other_aspect_and_explain_names_them():
    s = CityScorer()
    s.on_record(blacklist_record({"city": "苏州市", "name": "某食品公司", "date": "2026-03-02", "reason": "虚假宣传"}))
    s.on_record(blacklist_record({"city": "苏州市", "name": "某诚信企业", "list": "red", "date": "2026-03-03"}))
    s.on_record(policy_record("苏州市", "苏州市公共信用信息管理办法", "2026-03-04T00:00:00+08:00", domain="government"))
    s.on_record(task_record("苏州市", "work_organisation", "2026-01-10T00:00:00+08:00"))
    s.on_record(task_record("苏州市", "work_organisation", "2026-03-10T00:00:00+08:00"))  # filed again: once
    s.on_record(disclosure_record(CITY_A, "2026-02-01T00:00:00+08:00", "https://credit.example/",
                                  {"shuang_gongshi": True, "red_black_list": False}))
    s.on_record(disclosure_record(CITY_A, "2026-03-01T00:00:00+08:00", "https://credit.example/",
                                  {"shuang_gongshi": True, "red_black_list": True}))
    s.on_record(disclosure_record(CITY_A, "2026-03-02T00:00:00+08:00", "https://credit.example/", None, error="timeout"))
    s.on_alert(alert("t1", type="major_trustworthy", trigger="hotlist"))
    r = ranked(s)[CITY_A]
    assert r["components"] == {"credit_event": 20.0, "credit_policy": 2.0, "info_disclosure": 11.0,
                               "task_implementation": 1.66, "blacklist": 14.7, "major_trustworthy": 4.0}
    assert_adds_up(r)
    ex = s.explain("苏州", "2026-03")
    assert ex["score"] == r["score"]
    total = 0.0
    for name, a in ex["aspects"].items():
        assert round(a["base"] + sum(c["points"] for c in a["contributions"]) + a["saturation"], 2) == a["points"], name
        total += a["points"]
    assert round(total, 2) == ex["score"]
    assert [c["column"] for c in ex["aspects"]["info_disclosure"]["contributions"]] == ["red_black_list", "shuang_gongshi"]
    # task completions are a state: still counted three months later, within the lookback
    assert ranked(s, "2026-06")[CITY_A]["components"]["task_implementation"] == 1.66


def test_ranking_province_filter_ties_and_default_period():
    s = CityScorer()
    for city in (CITY_B, CITY_A, CITY_C):
        s.on_item(item("s-" + city, city=city))
    jiangsu = s.ranking("2026-03", province="江苏", group="prefecture_level")
    # Jiangsu's 13 prefecture-level cities, 南京 (a core city nationally) among them; the 11 without
    # news share rank 1, 苏州 and 无锡 (one dishonest story each) tie at 12, listed by name
    assert len(jiangsu) == 13 and {r["of"] for r in jiangsu} == {13} and "320100" in {r["city_adcode"] for r in jiangsu}
    assert [(r["rank"], r["city_adcode"]) for r in jiangsu[-2:]] == [(12, CITY_B), (12, CITY_A)]
    assert [r["city_adcode"] for r in s.ranking("2026-03", province="32", group="prefecture_level")] == [r["city_adcode"] for r in jiangsu]
    assert {r["peers"] for r in s.ranking("2026-03", province="32")} == {"prefecture_level", "county_city"}
    assert s.ranking()[0]["period"] == "12m:2026-03"
    assert CityScorer().ranking() == []
    with pytest.raises(InputError, match="period"):
        s.ranking("2026-13")


def test_changed_entries_emit_once_per_change():
    s = CityScorer()
    months = s.on_item(item("s1"))
    first = s.changed_entries(CITY_A, months)
    assert [e.period for e in first] == ["2026-03", "12m:2026-03"]
    assert s.changed_entries(CITY_A, months) == []
    months = s.on_item(item("s1", site="sina"))  # another sighting of the same story: no change
    assert s.changed_entries(CITY_A, months) == []
    months = s.on_alert(alert("s1"))
    assert [e.penalty for e in s.changed_entries(CITY_A, months)] == [-DEDUCTION, -DEDUCTION]


def month_rows(s: CityScorer, adcode: str, month: str) -> dict:
    """The facts of one city and month, merged from its shard rows in the state."""
    merged: dict = {"stories": {}}
    for key, row in s.state.items():
        if key.startswith(f"{adcode}|{month}|"):
            for kind, facts in row.items():
                merged.setdefault(kind, {}).update(facts)
    return merged


def test_month_rows_follow_the_story_and_old_months_are_deleted():
    # 02-28 23:00 ─ 03-01 01:00: the earlier sighting arrives second and moves the story to February
    s = CityScorer()
    s.on_item(item("s1", ts="2026-03-01T01:00:00+08:00"))
    s.on_item(item("s1", ts="2026-02-28T23:00:00+08:00", site="sina", url="http://sina.example/s1"))
    assert "s1" in month_rows(s, CITY_A, "2026-02")["stories"] and "s1" not in month_rows(s, CITY_A, "2026-03")["stories"]
    assert has_facts(s, "2026-02") and not has_facts(s, "2026-03")
    assert s.state[CITY_A]["months"] == [2026 * 12 + 1, 2026 * 12 + 2]
    # a year and more later, February 2026 is past retention: its row is deleted
    s.on_item(item("s2", ts="2027-03-02T00:00:00+08:00"))
    assert not any(k.startswith(f"{CITY_A}|2026-02|") for k in s.state)
    assert s.state[CITY_A]["months"][0] == 2026 * 12 + 2  # March 2026 is still retained (its rows are empty)
    with pytest.raises(InputError, match="older than the 13 months"):
        s.on_record(blacklist_record({"city": "苏州", "name": "甲", "date": "2026-01-05"}))


def test_a_dishonest_story_reported_as_investigated_is_an_event_and_a_response():
    # "苏州一食品企业使用过期原料被立案调查": the classifier says government_response + dishonest
    s = CityScorer()
    s.on_item(item("s1", aspect="government_response", polarity="dishonest", title="苏州一食品企业使用过期原料被立案调查",
                   ts="2026-03-05T08:00:00+08:00"))
    s.on_alert(alert("s1", ts="2026-03-05T12:00:00+08:00", first_seen="2026-03-05T08:00:00+08:00"))
    ex = s.explain(CITY_A, "2026-03")
    assert [c["id"] for c in ex["aspects"]["credit_event"]["contributions"]] == ["s1"]
    assert ex["components"]["credit_event"] == 19.0
    assert [(c["id"], c["kind"]) for c in ex["aspects"]["government_response"]["contributions"]] == [("news:s1:s1", "investigation")]
    assert ex["offset"] == DEDUCTION * 0.20


def test_a_scorer_sees_what_another_wrote_to_the_same_state():
    # Two workers, one after the other across rebalances, on one table: each scorer's cached
    # view of the city must give way to the state the other wrote.
    one = CityScorer()
    other = CityScorer(state=one.state)
    alone = CityScorer()
    for s, ev in ((one, item("s1")), (other, item("s2", ts="2026-03-06T10:00:00+08:00")),
                  (one, item("s3", ts="2026-03-07T10:00:00+08:00", polarity="trustworthy"))):
        s.on_item(ev)
        alone.on_item(ev)
    p = one.period("2026-03")
    assert one.city_result(CITY_A, p).score == alone.city_result(CITY_A, p).score
    assert one.city_result(CITY_A, p, detail=False).score == alone.city_result(CITY_A, p).score
    assert {f["id"] for f in one.explain(CITY_A, "2026-03")["aspects"]["credit_event"]["contributions"]} == {"s1", "s2", "s3"}
