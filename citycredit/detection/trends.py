"""Early warning: a city's count of dishonesty stories in one high-incidence subfield,
compared with that city's own baseline (policy document 三(九); design.md §1).

State per ``"<city_adcode>/<subfield>"`` in a ``MutableMapping[str, dict]`` (dict in
replay, Faust table in the agent). It stays small however busy a city is (it is
rewritten, and logged to the changelog, for every story)::

    {"v": 1,
     "days": {"<day number>": [stories, earliest epoch, earliest ts]},  # per China-time day, pruned
     "since": day, "max_day": day,             # first day and latest day seen for this key
     "recent": [[epoch, story_id, ts, site, url, title], ...],  # latest stories of the recent window (capped)
     "ids": [story_id, ...],                   # latest story ids, to drop a redelivered event (capped)
     "last_alert": day | null}

The rule (parameters in ``config/detection.toml``, [early_warning])::

    expected = (baseline stories + prior_events) / (observed baseline days + prior_days) * recent_days
    warn when recent stories >= min_count and P(Poisson(expected) >= recent stories) <= p_value

A Poisson upper tail is the textbook test for "more rare events than usual"; the
prior keeps a city with no history from warning on its first stories.
"""
from __future__ import annotations

import math
from typing import Any, MutableMapping

from schemas import Alert, parse_ts

from .config import TrendRule
from .windows import TrendEvent

STATE_VERSION = 1
# Redeliveries come right after the original (a restarted worker re-reads what came after its last
# commit, a few seconds), so the last 200 stories of one city and subfield are enough to recognise them.
REMEMBERED_IDS = 200


def poisson_sf(count: int, expected: float) -> float:
    """P(X >= count) for X ~ Poisson(expected)."""
    if count <= 0:
        return 1.0
    term = math.exp(-expected)
    below = term
    for i in range(1, count):
        term *= expected / i
        below += term
    return max(0.0, 1.0 - below)


class TrendDetector:
    """Counts dishonesty stories per city, subfield and day; warns when the recent count is improbable."""

    def __init__(self, rule: TrendRule, max_urls: int = 20) -> None:
        self.rule = rule
        self.max_urls = max_urls

    def day(self, ts: str) -> int:
        """The calendar day (in the configured UTC offset, China time by default) as a day number."""
        return self._day_of(parse_ts(ts).timestamp())

    def observe(self, trends: MutableMapping[str, Any], event: TrendEvent) -> Alert | None:
        rule = self.rule
        epoch = parse_ts(event.ts).timestamp()
        day = self._day_of(epoch)
        state = trends.get(event.key)
        if state is None:
            state = {"v": STATE_VERSION, "days": {}, "since": day, "max_day": day, "recent": [], "ids": [],
                     "last_alert": None}
        if event.story_id in state["ids"]:
            return None  # the same story delivered again (at-least-once upstream): counted already
        if day <= state["max_day"] - rule.recent_days - rule.baseline_days:
            return None  # older than any window this key still evaluates: cannot change a decision
        state["ids"] = (state["ids"] + [event.story_id])[-REMEMBERED_IDS:]
        bucket = state["days"].setdefault(str(day), [0, epoch, event.ts])
        bucket[0] += 1
        if epoch < bucket[1]:
            bucket[1:] = [epoch, event.ts]
        state["since"] = min(state["since"], day)
        state["max_day"] = now = max(state["max_day"], day)
        recent_start = now - rule.recent_days + 1
        if day >= recent_start:
            state["recent"].append([epoch, event.story_id, event.ts, event.site, event.url, event.title])
            state["recent"].sort(key=lambda r: (r[0], r[1]))
        state["recent"] = [r for r in state["recent"] if self._day_of(r[0]) >= recent_start][-self.max_urls:]
        base_start = recent_start - rule.baseline_days
        state["days"] = {d: b for d, b in state["days"].items() if int(d) >= base_start}
        in_recent = [b for d, b in state["days"].items() if int(d) >= recent_start]
        count = sum(b[0] for b in in_recent)
        baseline = sum(b[0] for d, b in state["days"].items() if int(d) < recent_start)
        observed_days = min(max(recent_start - state["since"], 0), rule.baseline_days)
        expected = (baseline + rule.prior_events) / (observed_days + rule.prior_days) * rule.recent_days
        p = poisson_sf(count, expected)
        cooled = state["last_alert"] is None or now >= state["last_alert"] + rule.cooldown_days
        alert = None
        if day >= recent_start and count >= rule.min_count and p <= rule.p_value and cooled:
            state["last_alert"] = now
            first_seen = min(in_recent, key=lambda b: b[1])[2]
            alert = self._alert(event, state["recent"], first_seen, {
                "rule": "trend", "count": count, "expected": round(expected, 4), "p_value": round(p, 6),
                "recent_days": rule.recent_days, "baseline_count": baseline, "baseline_days_observed": observed_days,
                "stories": [r[1] for r in state["recent"]]})
        trends[event.key] = state
        return alert

    def _day_of(self, epoch: float) -> int:
        return math.floor((epoch + self.rule.day_offset_hours * 3600) / 86400)

    def _alert(self, event: TrendEvent, recent: list[list[Any]], first_seen: str, evidence: dict[str, Any]) -> Alert:
        return Alert(type="early_warning", story_id=event.story_id, city=event.city, city_adcode=event.city_adcode,
                     domain=event.domain, trigger="trend", sites=list(dict.fromkeys(r[3] for r in recent)),
                     first_seen=first_seen, triggered_at=event.ts, title=event.title,
                     urls=list(dict.fromkeys(r[4] for r in recent if r[4]))[:self.max_urls],
                     province=event.province, subfield=event.subfield, evidence=evidence)
