"""The major-event rule over story windows, as pure functions over a dict.

Each case has an ASCII timeline: hours of event time across the top, one row per
site, ``H`` a homepage sighting, ``R<n>`` a ranking-list entry at rank n, ``*`` the
observation that completes the rule. Observations are fed in the order listed in
the case (arrival order), which differs from event time in the lateness cases.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from citycredit.detection import Detection, DetectionConfig, MajorRule, StoryDetector
from schemas import Item

from .detection_helpers import at, item

RULE = MajorRule()  # 3 sites, 24 h, top 10, 6 h lateness


@dataclass(frozen=True)
class Case:
    name: str
    items: list[Item]
    # (index of the arriving item, alert type, trigger, triggered_at, sites)
    alerts: list[tuple[int, str, str, str, list[str]]] = field(default_factory=list)
    rejected: list[int] = field(default_factory=list)


CASES = [
    # hour:     0     5     10
    # people    H
    # xinhua          H
    # cctv                  H*   -> major_dishonesty (homepages) at 10 h
    Case("three sites within the window",
         [item(0, "people"), item(5, "xinhua"), item(10, "cctv")],
         alerts=[(2, "major_dishonesty", "homepages", at(10), ["people", "xinhua", "cctv"])]),
    # hour:     0     5                   25
    # people    H
    # xinhua          H
    # cctv                                H    people's sighting is 25 h old: only 2 sites in (1 h, 25 h]
    Case("two sites, the third after the window expired",
         [item(0, "people"), item(5, "xinhua"), item(25, "cctv")]),
    # hour:     0           10            24
    # people    H
    # xinhua                H
    # cctv                                H    the window is half-open: (0 h, 24 h] leaves people out
    Case("third site exactly one window later does not count",
         [item(0, "people"), item(10, "xinhua"), item(24, "cctv")]),
    # hour:     0           10            23.9
    # people    H
    # xinhua                H
    # cctv                                H*
    Case("third site just inside the window",
         [item(0, "people"), item(10, "xinhua"), item(23.9, "cctv")],
         alerts=[(2, "major_dishonesty", "homepages", at(23.9), ["people", "xinhua", "cctv"])]),
    # hour:     0   2   4
    # people    H   H
    # xinhua            H      the same site twice counts once: 2 sites
    Case("the same site twice counts once",
         [item(0, "people"), item(2, "people", url="http://people.example.cn/other.html"), item(4, "xinhua")]),
    # hour:     0     5  5  6  7
    # people    H
    # xinhua          H  H          the second xinhua line is the same observation delivered again
    # cctv                  H*
    # sohu                     H    already alerted: no second alert for the same story and type
    Case("duplicate observation, then one alert only",
         [item(0, "people"), item(5, "xinhua"), item(5, "xinhua"), item(6, "cctv"), item(7, "sohu")],
         alerts=[(3, "major_dishonesty", "homepages", at(6), ["people", "xinhua", "cctv"])]),
    # hour:     0
    # sina      R11        rank 11 is outside the top 10
    Case("ranking-list entry at rank 11", [item(0, "sina", "hotlist", rank=11)]),
    # hour:     0
    # sina      R10*       rank 10 is inside the top 10
    Case("ranking-list entry at rank 10", [item(0, "sina", "hotlist", rank=10)],
         alerts=[(0, "major_dishonesty", "hotlist", at(0), ["sina"])]),
    # hour:     0   1    3
    # sina      R15 R12  R4*     a story climbing the list alerts when it enters the top 10
    Case("climbing a ranking list",
         [item(0, "sina", "hotlist", rank=15), item(1, "sina", "hotlist", rank=12, change="rank_changed"),
          item(3, "sina", "hotlist", rank=4, change="rank_changed")],
         alerts=[(2, "major_dishonesty", "hotlist", at(3), ["sina"])]),
    # arrival:  1st   3rd   2nd
    # hour:     0     5     10
    # people    H
    # xinhua          H*          arrives 5 h late (allowed: 6 h) and completes the window
    # cctv                  H     the rule holds in event time from cctv's 10 h sighting on
    Case("late observation within the allowed lateness is counted",
         [item(0, "people"), item(10, "cctv"), item(5, "xinhua")],
         alerts=[(2, "major_dishonesty", "homepages", at(10), ["people", "xinhua", "cctv"])]),
    # arrival:  1st   4th   2nd  3rd
    # hour:     0     2     3    4
    # people    H
    # xinhua          H*             arrives 2 h late; the window people..xinhua..cctv closes at 3 h
    # cctv                  H
    # (cnr)                      H   an rss line does not count as a homepage
    Case("late observation completes a window that closes earlier than the latest sighting",
         [item(0, "people"), item(3, "cctv"), item(4, "cnr", "rss"), item(2, "xinhua")],
         alerts=[(3, "major_dishonesty", "homepages", at(3), ["people", "xinhua", "cctv"])]),
    # arrival:  1st        3rd         2nd
    # hour:     0          10          20
    # people    H
    # cctv                 H           (10 h behind the latest sighting, lateness 6 h: dead-letter)
    # xinhua                           H
    Case("late observation beyond the allowed lateness goes to the dead-letter",
         [item(0, "people"), item(20, "xinhua"), item(10, "cctv")], rejected=[2]),
    # hour:     0     5     10
    # people    H
    # xinhua          H
    # cctv                  H*   a trustworthy story -> major_trustworthy
    Case("trustworthy story",
         [item(0, "people", polarity="trustworthy"), item(5, "xinhua", polarity="trustworthy"),
          item(10, "cctv", polarity="trustworthy")],
         alerts=[(2, "major_trustworthy", "homepages", at(10), ["people", "xinhua", "cctv"])]),
    # hour:     0     5          10
    # people    H (neutral)
    # xinhua          H (dishonest, p=0.65: 工程款未到位 … 给工人发工资)
    # cctv                       H* (trustworthy, p=1.00: 获评诚信之星)
    # one vote each: a tie, which counts as dishonest; weighed by the reader's confidence the
    # story is trustworthy (cross-site probe 11's builder who sold his house to pay wages)
    Case("a doubtful vote does not outweigh a certain one",
         [item(0, "people", polarity="neutral", polarity_p=0.92), item(5, "xinhua", polarity_p=0.65),
          item(10, "cctv", polarity="trustworthy", polarity_p=1.0)],
         alerts=[(2, "major_trustworthy", "homepages", at(10), ["people", "xinhua", "cctv"])]),
    # the same without probabilities (a lexicon-only reading): full votes, a tie, dishonest
    Case("without probabilities a tie counts as dishonest",
         [item(0, "people", polarity="neutral"), item(5, "xinhua"), item(10, "cctv", polarity="trustworthy")],
         alerts=[(2, "major_dishonesty", "homepages", at(10), ["people", "xinhua", "cctv"])]),
    # hour:     0     5     10
    # people    H
    # xinhua          H
    # cctv                  H    no city named: nothing to deduct from, no alert
    Case("story without a city",
         [item(0, "people", city=None, adcode=None), item(5, "xinhua", city=None, adcode=None),
          item(10, "cctv", city=None, adcode=None)]),
    # hour:     0     5     10   12
    # people    H     .     .    .
    # xinhua          H
    # cctv                  H         three neutral sightings: not a credit event yet
    # gmw                        H*   this article is classified dishonest: the story is now a major event
    Case("classified dishonest after reaching the threshold",
         [item(0, "people", polarity="neutral"), item(5, "xinhua", polarity="neutral"),
          item(10, "cctv", polarity="neutral"), item(12, "gmw")],
         alerts=[(3, "major_dishonesty", "homepages", at(12), ["people", "xinhua", "cctv", "gmw"])]),
    # hour:     0     5     6
    # people    H
    # xinhua          H
    # cctv                  H(left)   a headline leaving a homepage is not a sighting
    Case("a headline leaving a homepage does not count",
         [item(0, "people"), item(5, "xinhua"), item(6, "cctv", change="left")]),
    # hour:     0   1   2   3
    # people    H
    # xinhua        H
    # cctv              H*        story A alerts
    # sohu                  H     story B (another story id) has one site only
    Case("stories are counted apart",
         [item(0, "people"), item(1, "xinhua"), item(2, "cctv"), item(3, "sohu", story="s-2")],
         alerts=[(2, "major_dishonesty", "homepages", at(2), ["people", "xinhua", "cctv"])]),
]


def _run(case: Case, roundtrip: bool = False) -> tuple[list[tuple], list[int], dict]:
    detector = StoryDetector(RULE)
    stories: dict = {}
    alerts, rejected = [], []
    for i, it in enumerate(case.items):
        outcome = detector.observe(stories, it)
        if outcome.rejected:
            rejected.append(i)
        alerts += [(i, a.type, a.trigger, a.triggered_at, a.sites) for a in outcome.alerts]
        if roundtrip:
            # What a restarted worker sees: the table rebuilt from its JSON changelog.
            stories = json.loads(json.dumps(stories))
    return alerts, rejected, stories


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_window_rule(case: Case) -> None:
    alerts, rejected, _ = _run(case)
    assert alerts == case.alerts
    assert rejected == case.rejected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_state_restored_from_changelog_gives_the_same_alerts(case: Case) -> None:
    assert _run(case, roundtrip=True)[:2] == _run(case)[:2]


def test_alert_carries_the_contract_fields_and_its_evidence() -> None:
    detector = StoryDetector(RULE)
    stories: dict = {}
    timeline = [item(1, "people"), item(0, "sina", "hotlist", rank=30), item(5, "xinhua"), item(10, "cctv")]
    alerts = [a for it in timeline for a in detector.observe(stories, it).alerts]
    assert len(alerts) == 1
    alert = json.loads(alerts[0].dumps(serializer="json"))
    assert alert["first_seen"] == at(0) and alert["triggered_at"] == at(10)
    assert (alert["city"], alert["city_adcode"], alert["domain"]) == ("苏州市", "320500", "business")
    assert alert["urls"] == [f"http://{s}.example.cn/s-1.html" for s in ("people", "sina", "xinhua", "cctv")]
    assert [s["site"] for s in alert["evidence"]["sightings"]] == ["people", "xinhua", "cctv"]
    assert alert["evidence"]["best_rank"] == {"rank": 30, "site": "sina", "ts": at(0)}
    assert "__faust" not in alert


def test_a_state_written_before_votes_were_weighed_counts_each_vote_in_full() -> None:
    detector = StoryDetector(RULE)
    stories: dict = {}
    detector.observe(stories, item(0, "people", polarity="trustworthy"))
    detector.observe(stories, item(5, "xinhua", polarity="trustworthy"))
    stories["s-1"]["pol"] = {key: value[0] for key, value in stories["s-1"]["pol"].items()}  # the old layout
    alerts = detector.observe(stories, item(10, "cctv", polarity_p=0.9)).alerts
    assert [a.type for a in alerts] == ["major_trustworthy"]
    assert alerts[0].evidence["polarity_votes"] == {"dishonest": 1, "trustworthy": 2,
                                                    "weight": {"dishonest": 0.9, "trustworthy": 2.0}}


def test_late_rejection_says_why_and_leaves_state_alone() -> None:
    detector = StoryDetector(RULE)
    stories: dict = {}
    detector.observe(stories, item(20, "people"))
    before = json.dumps(stories, sort_keys=True)
    outcome = detector.observe(stories, item(10, "xinhua"))
    assert outcome.rejected and outcome.rejected.startswith("late:") and "allowed lateness 6 h" in outcome.rejected
    assert json.dumps(stories, sort_keys=True) == before


def test_old_sightings_are_pruned_so_state_stays_small() -> None:
    detector = StoryDetector(RULE)
    stories: dict = {}
    for h in range(0, 24 * 30, 2):  # a month of sightings on two sites
        detector.observe(stories, item(h, "people" if h % 4 else "xinhua", polarity="neutral"))
    assert len(stories["s-1"]["home"]) <= (24 + 6) // 2 + 1


def test_detection_forwards_a_dishonest_story_once_to_the_trend_rule() -> None:
    detection = Detection(DetectionConfig())
    for h, site in ((0, "people"), (1, "xinhua"), (2, "cctv"), (3, "sohu")):
        detection.observe(item(h, site))
    assert list(detection.trends) == ["320500/food_safety"]
    assert [r[1] for r in detection.trends["320500/food_safety"]["recent"]] == ["s-1"]
