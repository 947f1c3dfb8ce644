"""Per-story window state and the major-event rule (design.md §1), as pure functions.

State lives in a ``MutableMapping[str, dict]`` passed in, keyed by story id: a
plain dict in ``citycredit replay``, a changelogged Faust table in the agent.
Values hold only JSON types (lists, dicts, str, float, bool) so a state restored
from the changelog behaves exactly like the one that was written, and every
change is written back with ``stories[story_id] = state`` (a Faust table only
logs assignments, not in-place mutation).

One story's state::

    {"v": 1,
     "first": [epoch, ts, title],            # earliest observation (event time)
     "max": epoch,                           # latest observation: the lateness reference
     "attrs": {"city", "city_adcode", "province", "domain", "subfield"},  # first non-null
     "pol": {"site|url": [polarity, weight]},  # one vote per article, weighed by the reader's confidence
     "home": [[epoch, site, ts, url], ...],  # homepage sightings, sorted, pruned
     "hot": [epoch, site, rank, ts] | null,  # earliest ranking-list entry within top N
     "best": [rank, site, ts] | null,        # best rank on any ranking list
     "urls": [...],                          # distinct article URLs, first seen first
     "emitted": {alert type: triggered_at},  # the exactly-once marker
     "trend": bool}                          # counted once for the early warning
"""
from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, MutableMapping

from citycredit.exceptions import InputError
from citycredit.ids import EARLY_WARNING_SUBFIELDS
from schemas import Alert, Item, parse_ts

from .config import MajorRule

STATE_VERSION = 1
# One vote per article; a long-running story's first articles settle its class, and the
# cap keeps its state (rewritten to the changelog on every sighting) small.
MAX_VOTES = 100
_COUNTED_CHANGES = ("appeared", "rank_changed")  # "left" is a headline going away, not a sighting
_MAJOR_TYPE = {"dishonest": "major_dishonesty", "trustworthy": "major_trustworthy"}


@dataclass(frozen=True)
class TrendEvent:
    """A story that became a dishonesty event of one city and high-incidence subfield (sent once per story)."""

    story_id: str
    ts: str
    city: str | None
    city_adcode: str
    province: str | None
    domain: str | None
    subfield: str
    site: str
    title: str
    url: str

    @property
    def key(self) -> str:
        """The city-and-subfield key of the early-warning state (and of the re-keyed topic)."""
        return f"{self.city_adcode}/{self.subfield}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "TrendEvent":
        if not isinstance(data, Mapping):
            raise InputError(f"trend event: expected a JSON object, got {type(data).__name__}")
        try:
            event = cls(**{k: data[k] for k in cls.__dataclass_fields__})
        except KeyError as exc:
            raise InputError(f"trend event: {exc.args[0]}: missing") from exc
        parse_ts(event.ts)
        if event.subfield not in EARLY_WARNING_SUBFIELDS:
            raise InputError(f"trend event: subfield {event.subfield!r} has no early-warning rule")
        return event


@dataclass(frozen=True)
class StoryOutcome:
    """What one item did: alerts to send, a trend event to forward, or why it was rejected."""

    alerts: tuple[Alert, ...] = ()
    trend: TrendEvent | None = None
    rejected: str | None = None


@dataclass(frozen=True)
class _Satisfied:
    epoch: float
    ts: str
    trigger: str
    sites: list[str]
    evidence: dict[str, Any] = field(default_factory=dict)


def _vote(value: Any) -> tuple[str, float]:
    # a state written before votes were weighed holds the bare polarity: a full vote, as it was then
    return (value, 1.0) if isinstance(value, str) else (value[0], float(value[1]))


def vote_weights(state: Mapping[str, Any]) -> dict[str, float]:
    """The story's votes summed by polarity, each article's vote weighed by the reader's
    probability of its polarity: one wording read dishonest at p=0.65 does not outvote one read
    trustworthy at p=1.00 (a builder who sold his house to pay wages, 工程款未到位 in one wording)."""
    weights = {"dishonest": 0.0, "trustworthy": 0.0}
    for value in state["pol"].values():
        polarity, weight = _vote(value)
        weights[polarity] += weight
    return weights


def story_polarity(state: Mapping[str, Any]) -> str:
    """The heavier side of the weighed votes; an exact tie counts as dishonest (a desk would rather look twice)."""
    if not state["pol"]:
        return "neutral"
    weights = vote_weights(state)
    return "dishonest" if weights["dishonest"] >= weights["trustworthy"] else "trustworthy"


def new_state(item: Item, epoch: float) -> dict[str, Any]:
    return {"v": STATE_VERSION, "first": [epoch, item.ts, item.title], "max": epoch,
            "attrs": {"city": None, "city_adcode": None, "province": None, "domain": None, "subfield": None},
            "pol": {}, "home": [], "hot": None, "best": None, "urls": [], "emitted": {}, "trend": False}


class StoryDetector:
    """Feeds items of one story into its window state and says when the story became major."""

    def __init__(self, rule: MajorRule) -> None:
        self.rule = rule

    def observe(self, stories: MutableMapping[str, Any], item: Item) -> StoryOutcome:
        try:
            epoch = parse_ts(item.ts).timestamp()
        except InputError as exc:
            return StoryOutcome(rejected=str(exc))
        if not item.story_id:
            return StoryOutcome(rejected="story_id: empty")
        state = stories.get(item.story_id)
        if state is None:
            state = new_state(item, epoch)
        elif epoch < state["max"] - self.rule.lateness_s:
            behind = (state["max"] - epoch) / 3600.0
            return StoryOutcome(rejected=(
                f"late: {item.ts} is {behind:.2f} h behind the story's latest observation, "
                f"allowed lateness {self.rule.allowed_lateness_hours:g} h"))
        self._update(state, item, epoch)
        alerts: list[Alert] = []
        polarity = story_polarity(state)
        alert_type = _MAJOR_TYPE.get(polarity)
        if alert_type and state["attrs"]["city_adcode"] and alert_type not in state["emitted"]:
            hit = self._satisfied(state)
            if hit is not None:
                # The rule as a whole (sites *and* class *and* city) holds from the later of the two.
                triggered_at = hit.ts if hit.epoch > epoch else item.ts
                if hit.trigger == "homepages" and epoch > hit.epoch:
                    hit = self._latest_window(state, epoch, hit)
                state["emitted"][alert_type] = triggered_at
                alerts.append(self._alert(item.story_id, state, alert_type, hit, triggered_at))
        trend = None
        attrs = state["attrs"]
        if (not state["trend"] and polarity == "dishonest" and attrs["city_adcode"]
                and attrs["subfield"] in EARLY_WARNING_SUBFIELDS):
            state["trend"] = True
            trend = TrendEvent(story_id=item.story_id, ts=item.ts, city=attrs["city"], city_adcode=attrs["city_adcode"],
                               province=attrs["province"], domain=attrs["domain"], subfield=attrs["subfield"],
                               site=item.site, title=state["first"][2], url=item.url)
        stories[item.story_id] = state
        return StoryOutcome(alerts=tuple(alerts), trend=trend)

    def _update(self, state: dict[str, Any], item: Item, epoch: float) -> None:
        if epoch < state["first"][0]:
            state["first"] = [epoch, item.ts, item.title]
        state["max"] = max(state["max"], epoch)
        attrs = state["attrs"]
        if attrs["city_adcode"] is None and item.city_adcode:
            attrs.update(city=item.city, city_adcode=item.city_adcode, province=item.province)
        for name in ("domain", "subfield"):
            if attrs[name] is None and getattr(item, name):
                attrs[name] = getattr(item, name)
        if item.polarity in _MAJOR_TYPE and (len(state["pol"]) < MAX_VOTES or f"{item.site}|{item.url}" in state["pol"]):
            # no probability (a lexicon-only reading): a full vote
            state["pol"][f"{item.site}|{item.url}"] = [item.polarity, 1.0 if item.polarity_p is None else item.polarity_p]
        if item.url and item.url not in state["urls"] and len(state["urls"]) < self.rule.max_urls:
            state["urls"].append(item.url)
        if item.change in _COUNTED_CHANGES:
            if item.surface == "homepage":
                entry = [epoch, item.site, item.ts, item.url]
                home = state["home"]
                at = bisect.bisect_left(home, entry[:2], key=lambda e: e[:2])
                if not (at < len(home) and home[at][:2] == entry[:2]):  # same site, same instant: a duplicate
                    home.insert(at, entry)
            elif item.surface == "hotlist" and item.rank is not None:
                if state["best"] is None or item.rank < state["best"][0]:
                    state["best"] = [item.rank, item.site, item.ts]
                if item.rank <= self.rule.hotlist_top_n and (state["hot"] is None or epoch < state["hot"][0]):
                    state["hot"] = [epoch, item.site, item.rank, item.ts]
        # Sightings older than window + lateness can no longer share a window with an accepted observation.
        horizon = state["max"] - self.rule.window_s - self.rule.lateness_s
        state["home"] = [e for e in state["home"] if e[0] > horizon]

    def _homepage_hit(self, window: list[list[Any]], epoch: float, ts: str) -> _Satisfied:
        return _Satisfied(epoch, ts, "homepages", list(dict.fromkeys(e[1] for e in window)), {
            "rule": "homepages", "site_threshold": self.rule.site_threshold, "window_hours": self.rule.window_hours,
            "sightings": [{"site": e[1], "ts": e[2], "url": e[3]} for e in window]})

    def _latest_window(self, state: Mapping[str, Any], epoch: float, earliest: _Satisfied) -> _Satisfied:
        """When the class or city came after the sites, report the window ending now if it still qualifies."""
        window = [e for e in state["home"] if epoch - self.rule.window_s < e[0] <= epoch]
        if len({e[1] for e in window}) >= self.rule.site_threshold:
            return self._homepage_hit(window, earliest.epoch, earliest.ts)
        return earliest

    def _satisfied(self, state: Mapping[str, Any]) -> _Satisfied | None:
        """The earliest event time at which the story's sightings satisfy the rule, and how."""
        best: _Satisfied | None = None
        home = state["home"]
        counts: dict[str, int] = {}
        start = 0
        for end, (epoch, site, ts, _url) in enumerate(home):
            counts[site] = counts.get(site, 0) + 1
            while home[start][0] <= epoch - self.rule.window_s:  # half-open window (epoch - W, epoch]
                gone = home[start][1]
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
                start += 1
            if len(counts) >= self.rule.site_threshold:
                best = self._homepage_hit(home[start:end + 1], epoch, ts)
                break
        hot = state["hot"]
        if hot is not None and (best is None or hot[0] < best.epoch):
            best = _Satisfied(hot[0], hot[3], "hotlist", [hot[1]], {
                "rule": "hotlist", "hotlist_top_n": self.rule.hotlist_top_n,
                "site": hot[1], "rank": hot[2], "ts": hot[3]})
        return best

    def _alert(self, story_id: str, state: Mapping[str, Any], alert_type: str, hit: _Satisfied,
               triggered_at: str) -> Alert:
        attrs = state["attrs"]
        votes = [_vote(v)[0] for v in state["pol"].values()]
        evidence = dict(hit.evidence)
        evidence["polarity_votes"] = {"dishonest": votes.count("dishonest"), "trustworthy": votes.count("trustworthy"),
                                      "weight": {k: round(w, 3) for k, w in vote_weights(state).items()}}
        if state["best"] is not None:
            evidence["best_rank"] = {"rank": state["best"][0], "site": state["best"][1], "ts": state["best"][2]}
        return Alert(type=alert_type, story_id=story_id, city=attrs["city"], city_adcode=attrs["city_adcode"],
                     domain=attrs["domain"], trigger=hit.trigger, sites=hit.sites, first_seen=state["first"][1],
                     triggered_at=triggered_at, title=state["first"][2], urls=list(state["urls"]),
                     province=attrs["province"], subfield=attrs["subfield"], evidence=evidence)
