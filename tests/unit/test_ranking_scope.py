"""Ranking scope, peer groups, tie-breaks and coverage (issue 13, items 1 and 2)."""
from __future__ import annotations

import importlib.util
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.exceptions import ConfigError, InputError
from citycredit.scoring import CityScorer, load_registry, load_scoring_config
from citycredit.scoring.config import ScoringConfig
from citycredit.scoring.filings import blacklist_record, disclosure_record, task_record
from citycredit.scoring.scope import DEFAULT_PATH, GROUPS, load_scope
from citycredit.scoring.ranking import ranking_json
from citycredit.settings import PROJECT_ROOT
from tests.unit.index_factories import CITY_A, CITY_B, alert, item

CFG = load_scoring_config()
SCOPE = load_scope()
BASELINE = sum(CFG.aspects[a].base for a in CFG.aspects) / 100  # a city with no facts: 20 + 15 = 35
NANTONG, NANJING = "320600", "320100"


def rows(s: CityScorer, period: str = "2026-03", **kw) -> dict[str, dict]:
    return {r["city_adcode"]: r for r in s.ranking(period, **kw)}


def config_with(**changes) -> ScoringConfig:
    data = tomllib.loads(Path(CFG.source).read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *path, key = dotted.split(".")
        node = data
        for part in path:
            node = node[part]
        node[key] = value
    return ScoringConfig.from_dict(data)


# --- the scope file ---------------------------------------------------------------

def test_shipped_peer_groups_are_what_the_build_script_makes():
    spec = importlib.util.spec_from_file_location("build_peer_groups", PROJECT_ROOT / "ops" / "build_peer_groups.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.build(PROJECT_ROOT / "citycredit" / "data" / "gazetteer") == DEFAULT_PATH.read_text(encoding="utf-8"), \
        "rerun ops/build_peer_groups.py"


def test_the_36_core_cities_and_the_other_groups():
    members = list(SCOPE.members.values())
    core = [m for m in members if m.group == "core"]
    kinds = Counter(m.division for m in core)
    assert len(core) == 36 and kinds["直辖市"] == 4 and kinds["省会"] + kinds["首府"] == 27 and kinds["计划单列市"] == 5
    assert {m.name for m in core if m.division == "计划单列市"} == {"大连市", "青岛市", "宁波市", "厦门市", "深圳市"}
    assert len({m.province for m in core if m.division in ("省会", "首府")}) == 27  # one capital per province
    prefecture = [m for m in members if m.group == "prefecture"]
    assert Counter(m.division for m in prefecture) == {"地级市": 261, "自治州": 30, "地区": 7, "盟": 3}
    county = [m for m in members if m.group == "county_city"]
    assert len(county) == 397 and {m.division for m in county} == {"县级市"}
    assert {"429004", "419001"} <= {m.adcode for m in county}  # 仙桃, 济源: governed by their province directly
    # groupings and repeats are not cities: 重庆's 县 group, 嘉峪关's NBS county-level repeat
    assert "500200" not in SCOPE and "620201" not in SCOPE and "620200" in SCOPE
    registry = load_registry()
    assert all(registry.get(m.adcode).name == m.name for m in members)


def test_a_scope_row_the_gazetteer_does_not_know_is_a_config_error(tmp_path):
    from citycredit.scoring.scope import Scope

    bad = tmp_path / "peer_groups.csv"
    bad.write_text("# test\nadcode,name,province,group,division\n320500,姑苏市,江苏省,prefecture,地级市\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="rerun ops/build_peer_groups.py"):
        Scope.from_csv(bad, load_registry())
    bad.write_text("adcode,name,province,group,division\n320500,苏州市,江苏省,capital,地级市\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="group 'capital'"):
        Scope.from_csv(bad, load_registry())


# --- every city, each group on its own --------------------------------------------

def test_every_city_in_scope_has_a_row_and_each_group_is_ranked_on_its_own():
    s = CityScorer()
    s.on_item(item("a1"))  # 苏州: one dishonest story
    out = s.ranking("2026-03")
    assert len(out) == len(SCOPE) and {r["city_adcode"] for r in out} == set(SCOPE.members)
    assert [r["peers"] for r in out] == sorted((r["peers"] for r in out), key=list(GROUPS).index)
    for group in GROUPS:
        mine = [r for r in out if r["peers"] == group]
        assert {r["of"] for r in mine} == {len(mine)} and mine[0]["rank"] == 1
        assert [r["rank"] for r in mine] == sorted(r["rank"] for r in mine)
    by = {r["city_adcode"]: r for r in out}
    # a city with no news has a row: its bases; 苏州 is last of the prefecture group, not first of all
    assert by["310000"]["score"] == BASELINE and by["310000"]["rank"] == 1
    assert by[CITY_A]["score"] == BASELINE - 1 and by[CITY_A]["rank"] == by[CITY_A]["of"] == 301
    assert s.ranking("2026-03", group="county_city") == [r for r in out if r["peers"] == "county_city"]
    with pytest.raises(InputError, match="not a peer group"):
        s.ranking("2026-03", group="prefecture_level")  # a provincial view's set, not a national group


def test_provincial_view_ranks_jiangsus_13_cities_together():
    s = CityScorer()
    s.on_item(item("t1", city=NANJING, polarity="trustworthy"))
    view = s.ranking("2026-03", province="江苏省")
    pref = [r for r in view if r["peers"] == "prefecture_level"]
    assert len(pref) == 13 and pref[0]["city_adcode"] == NANJING and pref[0]["rank"] == 1 and pref[0]["group"] == "core"
    assert all(r["rank"] == 2 for r in pref[1:])
    county = [r for r in view if r["peers"] == "county_city"]
    assert county and all(r["province"] == "江苏省" and r["group"] == "county_city" for r in county)
    assert s.ranking("2026-03", province="北京", group="county_city") == []  # a municipality has no county-level cities
    with pytest.raises(InputError, match="province"):
        s.ranking("2026-03", province="火星省")


# --- ties ---------------------------------------------------------------------------

def test_equal_scores_fewer_dishonesty_events_first_then_more_measured_then_shared_rank_by_name():
    s = CityScorer()
    # 苏州: one dishonest story and two trustworthy ones: 20 - 1 + 0.5 + 0.5 = 20, the baseline score
    s.on_item(item("d1"))
    s.on_item(item("g1", polarity="trustworthy"))
    s.on_item(item("g2", polarity="trustworthy"))
    # 无锡: a red-list row: blacklist stays at its max of 15, but it is measured now
    s.on_record(blacklist_record({"city_adcode": CITY_B, "name": "甲公司", "date": "2026-03-02", "list": "red"},
                                 check_future=False))
    jiangsu = s.ranking("2026-03", province="江苏", group="prefecture_level")
    assert {r["score"] for r in jiangsu} == {BASELINE}
    order = [r["city_adcode"] for r in jiangsu]
    assert order[0] == CITY_B and order[-1] == CITY_A  # more measured first; more scandals last
    ranks = {r["city_adcode"]: r["rank"] for r in jiangsu}
    assert ranks[CITY_B] == 1 and ranks[NANJING] == ranks[NANTONG] == 2 and ranks[CITY_A] == 13
    # the rest share rank 2 and are listed by name, not by adcode: 南京 320100, 南通 320600, ... 无锡 before 苏州 is not decided by codes
    rest = [r for r in jiangsu if r["rank"] == 2]
    assert [r["city"] for r in rest] == sorted(r["city"] for r in rest)
    assert [r["city_adcode"] for r in rest] != sorted(r["city_adcode"] for r in rest)


def test_tie_break_is_configurable_and_checked():
    s = CityScorer(config=config_with(**{"ranking.tie_break": ["score"]}))
    s.on_item(item("d1"))
    s.on_item(item("g1", polarity="trustworthy"))
    s.on_item(item("g2", polarity="trustworthy"))
    assert {r["rank"] for r in s.ranking("2026-03", province="江苏", group="prefecture_level")} == {1}
    for bad in (["fewer_dishonesty_events", "score"], ["score", "adcode"], ["score", "score"], []):
        with pytest.raises(ConfigError, match="ranking.tie_break"):
            config_with(**{"ranking.tie_break": bad})


# --- coverage ---------------------------------------------------------------------

def test_coverage_says_what_was_measured_and_when():
    s = CityScorer()
    s.on_record(blacklist_record({"city_adcode": CITY_A, "name": "甲公司", "date": "2026-03-02"}, check_future=False))
    s.on_record(disclosure_record(CITY_A, "2026-03-03T10:00:00+08:00", "https://credit.example/",
                                  {"shuang_gongshi": True, "red_black_list": False}))
    s.on_record(disclosure_record(CITY_B, "2026-03-03T10:00:00+08:00", "https://credit.example/", {}, error="timeout"))
    s.on_record(task_record(CITY_A, "credit_regulations", "2026-03-04T10:00:00+08:00", check_future=False))
    r = rows(s)
    cov = r[CITY_A]["coverage"]
    assert cov["unmeasured"] == [] and cov["measured_aspects"] == 8 and cov["measured_share"] == 1.0
    assert cov["aspects"]["blacklist"]["measured"] and cov["aspects"]["blacklist"]["records"] == 1
    assert cov["aspects"]["info_disclosure"]["at"] == "2026-03-03T10:00:00+08:00"
    assert cov["aspects"]["task_implementation"]["at"] == "2026-03-04T10:00:00+08:00"
    # 无锡's website could not be read: that is no measurement
    b = r[CITY_B]["coverage"]
    assert b["unmeasured"] == ["info_disclosure", "task_implementation", "blacklist"]
    assert b["aspects"]["info_disclosure"]["status"] == "未监测"
    # the default policy: an unimported blacklist keeps its 15 points, flagged as resting on no data
    assert r[CITY_B]["components"]["blacklist"] == 15.0 and b["unmeasured_points"] == 15.0
    assert b["measured_share"] == round((BASELINE - 15) / BASELINE, 4)
    ex = s.explain(CITY_B, "2026-03")
    assert ex["aspects"]["blacklist"]["coverage"]["status"] == "未监测" and ex["coverage"]["unmeasured_points"] == 15.0
    assert "status" not in ex["aspects"]["credit_event"]["coverage"]  # the news covers every city
    # a month later the blacklist import is out of the calendar month; the check and task are states
    april = rows(s, "2026-04")[CITY_A]["coverage"]
    assert april["unmeasured"] == ["blacklist"] and april["aspects"]["info_disclosure"]["measured"]


def test_unmeasured_policy_min_gives_no_points_without_data():
    s = CityScorer(config=config_with(**{"coverage.unmeasured.blacklist": "min"}))
    s.on_record(blacklist_record({"city_adcode": CITY_A, "name": "甲公司", "date": "2026-03-02"}, check_future=False))
    r = rows(s)
    assert r[CITY_A]["components"]["blacklist"] == 14.5  # measured: 15 - 0.5
    assert r[CITY_B]["components"]["blacklist"] == 0.0 and r[CITY_B]["coverage"]["unmeasured_points"] == 0.0
    assert r[CITY_A]["rank"] < r[CITY_B]["rank"]
    with pytest.raises(ConfigError, match="coverage.unmeasured"):
        config_with(**{"coverage.unmeasured.blacklist": "zero"})
    with pytest.raises(ConfigError, match="coverage.unmeasured"):
        config_with(**{"coverage.unmeasured": {"blacklist": "base"}})


def test_the_ranking_file_is_byte_identical_for_the_same_log():
    def run(order):
        s = CityScorer()
        for ev in order:
            (s.on_alert if type(ev).__name__ == "Alert" else s.on_item)(ev)
        return ranking_json(s.ranking("12m:2026-03"))
    log = [item("s1"), alert("s1"), item("s2", city=CITY_B, polarity="trustworthy")]
    assert run(log) == run(list(reversed(log)))


# --- properties (issue 13, "Show") ------------------------------------------------

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREFECTURES = [m.adcode for m in SCOPE.members.values() if m.group == "prefecture"][:40]
TWIN_A, TWIN_B = PREFECTURES.pop(), PREFECTURES.pop()  # never in a generated log


@st.composite
def city_logs(draw):
    out = []
    for n in range(draw(st.integers(0, 12))):
        city = draw(st.sampled_from(PREFECTURES))
        day = draw(st.integers(1, 28))
        if draw(st.booleans()):
            out.append(item(f"s{n}", city=city, ts=f"2026-03-{day:02d}T10:00:00+08:00",
                            polarity=draw(st.sampled_from(["dishonest", "trustworthy"]))))
        else:
            out.append(alert(f"s{n}", city=city, ts=f"2026-03-{day:02d}T12:00:00+08:00"))
    return sorted(out, key=lambda ev: getattr(ev, "ts", None) or ev.triggered_at)


def feed(log):
    s = CityScorer()
    for ev in log:
        (s.on_alert if type(ev).__name__ == "Alert" else s.on_item)(ev)
    return s


@PROPS
@given(city_logs())
def test_a_city_without_facts_ranks_as_its_baseline(log):
    s = feed(log)
    touched = {ev.city_adcode for ev in log}
    group = [r for r in s.ranking("2026-03", group="prefecture")]
    quiet = [r for r in group if r["city_adcode"] not in touched]
    assert quiet and all(r["score"] == BASELINE and r["penalty"] == 0 for r in quiet)
    # its rank is 1 + the number of cities that score above the baseline (or equal with fewer events)
    above = sum(1 for r in group if r["score"] > BASELINE)
    assert {r["rank"] for r in quiet} == {above + 1}


@PROPS
@given(city_logs(), st.integers(1, 28))
def test_one_more_dishonest_story_never_lifts_a_city_above_its_twin(log, day):
    # twins: the same log for two cities outside it; one also has a dishonest story
    twin_a, twin_b = TWIN_A, TWIN_B
    extra = [type(ev)(**{**ev.asdict(), "city_adcode": c, "story_id": f"{ev.story_id}-{c}"})
             for ev in log for c in (twin_a, twin_b)]
    story = item("extra", city=twin_a, ts=f"2026-03-{day:02d}T11:00:00+08:00")
    s = feed(sorted(log + extra + [story], key=lambda ev: getattr(ev, "ts", None) or ev.triggered_at))
    r = rows(s, group="prefecture")
    assert r[twin_a]["score"] <= r[twin_b]["score"]
    assert r[twin_a]["rank"] > r[twin_b]["rank"]  # never above, never even tied: it has one more scandal


def test_index_entries_carry_group_and_coverage_and_a_coverage_change_is_emitted():
    s = CityScorer()
    months = s.on_item(item("s1", polarity="trustworthy"))
    first = {e.period: e for e in s.changed_entries(CITY_A, months)}["2026-03"]
    assert first.group == "prefecture" and first.coverage["aspects"]["blacklist"]["status"] == "未监测"
    # a red-list row leaves the blacklist at its 15-point max: no number changes, but it is measured now
    rec = blacklist_record({"city_adcode": CITY_A, "name": "甲公司", "date": "2026-03-02", "list": "red"}, check_future=False)
    again = {e.period: e for e in s.changed_entries(CITY_A, s.on_record(rec))}["2026-03"]
    assert again.score == first.score and again.coverage["aspects"]["blacklist"]["measured"]


def test_explain_change_names_the_largest_contributions_and_adds_up():
    """Issue 13 item 5: what moved a city's score since last month, from both periods' explain."""
    from citycredit.scoring.scorer import CityScorer
    from tests.unit.index_factories import alert, item, response

    scorer = CityScorer()
    scorer.on_item(item("s-feb", ts="2026-02-10T10:00:00+08:00"))
    scorer.on_item(item("s-mar", ts="2026-03-05T10:00:00+08:00"))
    scorer.on_alert(alert("s-major", ts="2026-03-06T12:00:00+08:00"))
    scorer.on_response(response("s-major", kind="investigation", ts="2026-03-07T09:00:00+08:00"))
    change = scorer.explain_change("320500", "2026-03")
    assert change["previous_period"] == "2026-02"
    assert change["score_change"] == round(change["score"] - change["previous_score"], 2)
    assert round(sum(x["points"] for x in change["top"]) + change["other"], 2) == change["score_change"]
    assert len(change["top"]) == 3
    assert change["top"][0]["aspect"] == "major_dishonesty" and change["top"][0]["id"] == "s-major"
    # -5 for the event, +1 for the response, the February story leaving (+1), the March one (-1)
    every = scorer.explain_change("320500", "2026-03", top=10)["top"]
    assert {(x["aspect"], x.get("id"), x["points"]) for x in every} == {
        ("major_dishonesty", "s-major", -5.0), ("government_response", "r-s-major-investigation", 1.0),
        ("credit_event", "s-feb", 1.0), ("credit_event", "s-mar", -1.0)}
    sizes = [abs(x["points"]) for x in change["top"]]
    assert sizes == sorted(sizes, reverse=True)
    # a city with nothing in either month did not change
    assert scorer.explain_change("320200", "2026-03")["top"] == []


def test_explain_lists_each_response_under_the_event_it_answers():
    """Issue 13 item 3: the offset from each response is shown under its event, with kind, time
    (+08:00), note and link."""
    from citycredit.scoring.scorer import CityScorer
    from schemas import Response
    from tests.unit.index_factories import alert

    scorer = CityScorer()
    scorer.on_alert(alert("s-major", ts="2026-03-06T12:00:00+08:00"))
    scorer.on_response(Response(response_id="r-1", ts="2026-03-06T18:00:00Z", city_adcode="320500", story_id="s-major",
                                kind="investigation", source="api", title="立案调查", url="http://gov.example/1",
                                note="市场监管局已立案"))
    ex = scorer.explain("320500", "2026-03")
    event = ex["aspects"]["major_dishonesty"]["contributions"][0]
    [answer] = event["responses"]
    assert (answer["kind"], answer["ts"], answer["note"], answer["urls"]) == (
        "investigation", "2026-03-07T02:00:00+08:00", "市场监管局已立案", ["http://gov.example/1"])
    # the same line, with the same points, as in the government_response aspect
    assert answer == ex["aspects"]["government_response"]["contributions"][0]
    assert answer["points"] == ex["offset"] > 0
