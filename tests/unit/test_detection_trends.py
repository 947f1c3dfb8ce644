"""The early-warning rule: dishonesty stories per city and subfield against the city's own baseline.

Timelines are in days (China-time calendar days); each ``x`` is one distinct
dishonesty story of the city and subfield on that day, ``!`` where a warning fires.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from citycredit.detection import DetectionConfig, TrendDetector, TrendEvent, TrendRule, load_config, poisson_sf
from citycredit.detection.config import DEFAULT_PATH, MajorRule
from citycredit.exceptions import ConfigError

from .detection_helpers import at

RULE = TrendRule()  # 7 recent days, 56 baseline days, prior 1 story / 7 days, min 3, p <= 0.01, cooldown 7


def event(day: float, n: int, adcode: str = "320500", subfield: str = "food_safety") -> TrendEvent:
    return TrendEvent(story_id=f"s-{adcode}-{subfield}-{n}", ts=at(24 * day), city="苏州市", city_adcode=adcode,
                      province="江苏省", domain="business", subfield=subfield, site="people",
                      title=f"story {n}", url=f"http://people.example.cn/{n}.html")


def run(days: list[float], detector: TrendDetector | None = None, state: dict | None = None,
        **kw) -> list[int]:
    """Indexes of the events that fired a warning."""
    detector = detector or TrendDetector(RULE)
    state = {} if state is None else state
    return [i for i, d in enumerate(days) if detector.observe(state, event(d, i, **kw)) is not None]


# day:   0 1 2 3 4 5 6
#        x x x x x!          no history: expected 1 story a week; the 5th in a week is improbable
def test_a_city_without_history_warns_at_the_fifth_story_of_a_week() -> None:
    assert run([0, 1, 2, 3, 4]) == [4]


# day:   0 1 2 3 4 5 6
#        x x   x   x         four stories in a week: within what a city without history may see
def test_four_stories_in_a_first_week_are_not_a_warning() -> None:
    assert run([0, 1, 3, 5]) == []


# day:   0 ......... 60 61 62
#        x            x  x  x!    after eight quiet weeks three stories are improbable (p = 0.002)
def test_three_stories_after_a_quiet_baseline_warn() -> None:
    assert run([0, 60, 61, 62]) == [3]


# day:   0 1 2 3 4! ... 62 | 63 .. 69
#        x x x x x  ... x  | xx (10 stories in the last week)
#        one story a day for nine weeks: the first week warns (no history yet), but 10 in
#        week ten is within that city's normal (expected ~6.3, p = 0.14)
def test_a_busy_city_needs_more_than_its_usual_count() -> None:
    days = [float(d) for d in range(63)] + [63 + 0.6 * k for k in range(10)]
    assert run(days) == [4]


# day:   0 ... 60 61 62 63 64 65   75 76 77 78 79
#        x      x  x  x! x  x       x  x  x  x! x    one warning per wave (7-day cooldown); the second
#        wave needs 4 stories, since the first wave is now part of the city's baseline
def test_cooldown_gives_one_warning_per_wave() -> None:
    assert run([0, 60, 61, 62, 63, 64, 65, 75, 76, 77, 78, 79]) == [3, 10]


def test_cities_and_subfields_are_counted_apart() -> None:
    detector, state = TrendDetector(RULE), {}
    fired = []
    for i, d in enumerate([0, 1, 2, 3, 4]):
        for adcode, subfield in (("320500", "food_safety"), ("320100", "food_safety"), ("320500", "work_safety")):
            if detector.observe(state, event(d, i, adcode=adcode, subfield=subfield)) is not None:
                fired.append((i, adcode, subfield))
    assert fired == [(4, "320500", "food_safety"), (4, "320100", "food_safety"), (4, "320500", "work_safety")]
    assert sorted(state) == ["320100/food_safety", "320500/food_safety", "320500/work_safety"]


def test_the_same_story_delivered_twice_counts_once() -> None:
    detector, state = TrendDetector(RULE), {}
    fired = [detector.observe(state, event(d, 0)) for d in (0, 0, 0, 0, 0)]
    assert fired == [None] * 5
    assert sum(b[0] for b in state["320500/food_safety"]["days"].values()) == 1


def test_state_stays_small_for_a_busy_city() -> None:
    # A city with 2,000 stories in a week: the count is exact, the stored sample is capped.
    detector, state = TrendDetector(RULE), {}
    for i in range(2000):
        detector.observe(state, event(i / 300, i))
    st = state["320500/food_safety"]
    assert sum(b[0] for b in st["days"].values()) == 2000
    assert len(st["recent"]) == 20 and len(st["ids"]) == 200
    assert len(json.dumps(st)) < 12000


def test_warning_alert_fields_and_evidence() -> None:
    detector, state = TrendDetector(RULE), {}
    alerts = [a for i, d in enumerate([0, 60, 61, 62]) if (a := detector.observe(state, event(d, i)))]
    (alert,) = alerts
    assert (alert.type, alert.trigger, alert.story_id, alert.subfield) == ("early_warning", "trend", "s-320500-food_safety-3", "food_safety")
    assert alert.first_seen == at(24 * 60) and alert.triggered_at == at(24 * 62)
    assert alert.evidence["count"] == 3 and alert.evidence["baseline_count"] == 1
    assert alert.evidence["stories"] == ["s-320500-food_safety-1", "s-320500-food_safety-2", "s-320500-food_safety-3"]
    assert alert.evidence["p_value"] <= RULE.p_value


def test_days_are_china_calendar_days() -> None:
    detector = TrendDetector(RULE)
    assert detector.day("2026-02-03T23:59:00+08:00") == detector.day("2026-02-03T00:00:00+08:00")
    assert detector.day("2026-02-03T16:00:00+00:00") == detector.day("2026-02-03T00:00:00+08:00") + 1


@pytest.mark.parametrize("count,expected", [(0, 2.0), (1, 0.5), (3, 1.0), (5, 1.0), (12, 3.0)])
def test_poisson_tail_matches_the_formula(count: int, expected: float) -> None:
    exact = 1 - sum(math.exp(-expected) * expected ** i / math.factorial(i) for i in range(count))
    assert poisson_sf(count, expected) == pytest.approx(exact, abs=1e-12)


def test_packaged_config_matches_the_documented_defaults() -> None:
    assert load_config(DEFAULT_PATH) == DetectionConfig(major=MajorRule(), trend=TrendRule())


@pytest.mark.parametrize("text,message", [
    ("[major]\nsite_threshold = 0\n", "site_threshold"),
    ("[major]\nsites = 3\n", "unknown keys: sites"),
    ("[early_warning]\np_value = 2.0\n", "p_value"),
    ("[early_warning]\nmin_count = \"3\"\n", "must be an integer"),
    ("[majr]\n", "unknown sections: majr"),
    ("[major\n", "not valid TOML"),
])
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "detection.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
