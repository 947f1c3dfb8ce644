"""The city credit index: facts per city in a state mapping, points computed from them.

``CityScorer`` is pure: it keeps *facts* (stories, alerts, responses, records) per city
in ``state`` — a dict in replay and tests, a Faust table in the agent, keyed by city
adcode so each city's row lives on one partition — and computes points for a period
from those facts and the configuration whenever asked. Storing facts rather than
running totals makes the result independent of arrival order (within the lateness
bound), lets ``explain`` name every item behind every point, and lets a changed
configuration re-score the retained months.

Scores are integer centipoints inside; ``ranking`` and ``explain`` give points with
two decimals. For every city and period::

    score = sum(components.values()) + penalty + offset

``components`` holds the six level aspects (credit_event, credit_policy,
info_disclosure, task_implementation, blacklist, major_trustworthy); ``penalty`` is
the major_dishonesty aspect (<= 0) and ``offset`` the government_response aspect
(>= 0, never more than the penalty it offsets).
"""
from __future__ import annotations

import json
import os
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, MutableMapping

from citycredit.exceptions import InputError
from citycredit.ids import ASPECTS, RESPONSE_KINDS
from schemas import Alert, CityIndexEntry, CreditRecord, Item, Response

from .cities import CityRegistry, load_registry
from .config import BP, LEVEL_ASPECTS, RECORD_MEASURED, ScoringConfig, TaskChecklists, load_scoring_config, load_task_checklists
from .filings import parse_response, validate_record
from .periods import Period, epoch, iso, month_index, month_label, month_start
from .scope import GROUPS, PROVINCE_SETS, Member, Scope, check_peer_set, load_scope

MAX_URLS = 3  # sightings kept per story for explain; the story id leads to the rest in the items topic
CREDIT_EVENT_ASPECTS = ("credit_event", "major_dishonesty", "major_trustworthy")
NEWS_ASPECTS = CREDIT_EVENT_ASPECTS + ("credit_policy", "info_disclosure", "blacklist")


def points(centi: int) -> float:
    return round(centi / 100, 2)


@dataclass
class _Aspect:
    """Points of one aspect for one city and period, with what is behind them."""

    name: str
    base: int = 0
    contributions: list[dict[str, Any]] = field(default_factory=list)
    saturation: int = 0
    total: int = 0
    # coverage: measured by what, the newest measurement's time and how many (see [coverage])
    measured: bool = True
    by: str = "news"
    at: int | None = None
    count: int = 0

    def add(self, centi: int, **what: Any) -> None:
        if what:
            self.contributions.append({**what, "points": points(centi), "_cp": centi})
        else:  # totals only (index entries): no explanation to build
            self.contributions.append({"_cp": centi})


@dataclass
class CityResult:
    adcode: str
    period: Period
    aspects: dict[str, _Aspect]
    facts: int  # inputs that fall in the period (0: the city's row is its bases and its states)
    dishonest: int = 0  # dishonest stories and major dishonesty events in the period (a tie-break)

    @property
    def components(self) -> dict[str, int]:
        return {a: self.aspects[a].total for a in LEVEL_ASPECTS}

    @property
    def penalty(self) -> int:
        return self.aspects["major_dishonesty"].total

    @property
    def offset(self) -> int:
        return self.aspects["government_response"].total

    @property
    def score(self) -> int:
        return sum(self.components.values()) + self.penalty + self.offset

    @property
    def measured_aspects(self) -> int:
        return sum(1 for a in self.aspects.values() if a.measured)

    @property
    def unmeasured_points(self) -> int:
        return sum(a.total for a in self.aspects.values() if not a.measured)

    @property
    def measured_share_bp(self) -> int:
        """Share of the level points (the 0..100 part) that rests on measured aspects; deductions
        and offsets come from the news, measured for every city. 1.0 when there are none."""
        level = sum(self.components.values())
        return BP if level <= 0 else (level - self.unmeasured_points) * BP // level

    def coverage(self) -> dict[str, Any]:
        """Per aspect: measured or not (未监测), by what, when last; and how much of the score rests on it."""
        aspects = {}
        for name, a in self.aspects.items():
            c: dict[str, Any] = {"measured": a.measured, "by": a.by}
            if a.by != "news":
                c.update(at=iso(a.at) if a.at is not None else None, records=a.count)
            if not a.measured:
                c["status"] = "未监测"
            aspects[name] = c
        return {"measured_aspects": self.measured_aspects, "of": len(self.aspects),
                "unmeasured": [n for n, a in self.aspects.items() if not a.measured],
                "unmeasured_points": points(self.unmeasured_points), "measured_share": self.measured_share_bp / BP,
                "aspects": aspects}


def _earlier(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
    """Of two facts under one id, keep the earliest, then the smallest by content: the kept
    fact does not depend on which arrived first (a filing twice counts once, the same)."""
    return (new["t"], json.dumps(new, sort_keys=True, ensure_ascii=False)) < (old["t"], json.dumps(old, sort_keys=True, ensure_ascii=False))


FACT_KINDS = ("stories", "alerts", "responses", "ritems", "records")
# A city's month is split into this many rows by fact id: an update rewrites (and logs to
# the changelog) one row holding a 32nd of the month. One row per month made every update
# of a busy city rewrite the whole month: 1,000 stories in a month cost ~170 KB per update.
SHARDS_PER_MONTH = 32
# Cities whose merged view is kept between updates (least recently used beyond that): a
# view is as big as the city's retained facts, and busy cities are few.
CACHED_VIEWS = 64


def _new_city() -> dict[str, Any]:
    # wm: newest event time of any fact (prunes old months); nwm: of news items and alerts
    # only (the lateness bound), so a desk filing dated ahead cannot make news "late".
    # _sum: per-month counts of the stories and records (see _count), never stored.
    return {"wm": None, "nwm": None, "months": [], **{k: {} for k in FACT_KINDS}, "_sum": {}}


def _event_start(row: Mapping[str, Any], alert: Mapping[str, Any]) -> int:
    """When a major event began: the earliest sighting of its story, by the alert or by the
    story's own items. The alert's ``first_seen`` is the earliest sighting its detector had
    seen when the rule held, which depends on the order sightings arrived in (another
    partition's sighting, or one read again after a restart, can come later): alone it made
    a response at the story's first sighting count in a replay and not live."""
    sid = alert["story_id"]
    return min([alert["first"]] + [row[kind][sid]["t"] for kind in ("stories", "ritems") if sid in row[kind]])


def _month_summary() -> dict[str, Any]:
    return {"stories": 0, "dishonest": 0, "trustworthy": 0, "policy": {}, "media": 0, "black": 0,
            "records": 0, "black_records": 0, "red_records": 0, "bl": {}, "checks": {}, "tasks": {}}


def _count(view: dict[str, Any], kind: str, fact_id: str, fact: Mapping[str, Any], sign: int) -> None:
    """Add (sign 1) or remove (sign -1) one story or record in its month's counts: all an
    index entry needs from them, since within a period every fact of a month has the same
    weight. Kept in step with every change of ``view["stories"]`` and ``view["records"]``."""
    if kind not in ("stories", "records"):
        return
    m = month_index(fact["t"])
    summary = view["_sum"].setdefault(m, _month_summary())
    if kind == "stories":
        summary["stories"] += sign
        a = fact["a"]
        if a in CREDIT_EVENT_ASPECTS:
            summary["dishonest" if fact["p"] == "dishonest" else "trustworthy"] += sign
        elif a == "credit_policy":
            d = fact["d"] or "unassigned"
            summary["policy"][d] = summary["policy"].get(d, 0) + sign
        elif a == "info_disclosure":
            summary["media"] += sign
        elif a == "blacklist":
            summary["black"] += sign
        return
    k, payload = fact["kind"], fact["p"]
    if k in ("disclosure_check", "task_completion"):  # by event time within the lookback, not weighted
        table = summary["checks"] if k == "disclosure_check" else summary["tasks"]
        if k == "disclosure_check" and not payload.get("ok"):
            return
        if sign > 0:
            table[fact_id] = [fact["t"], payload.get("task_id")]
        else:
            table.pop(fact_id, None)
        return
    summary["records"] += sign
    if k == "blacklist":
        summary["black_records" if payload["list"] == "black" else "red_records"] += sign
        if sign > 0:  # an import with rows of the city: the blacklist aspect is measured
            summary["bl"][fact_id] = fact["t"]
        else:
            summary["bl"].pop(fact_id, None)
    elif k == "policy":
        d = payload.get("domain") or "unassigned"  # shares the domain's cap with news policies
        summary["policy"][d] = summary["policy"].get(d, 0) + sign


def _shard(fact_id: str) -> int:
    return zlib.crc32(fact_id.encode("utf-8")) % SHARDS_PER_MONTH


def _dirty(kind: str, fact_id: str, prev: Mapping[str, Any] | None) -> set[tuple[str, str, int | None]]:
    """The change to store: fact ``fact_id`` of ``kind``, and the month it was in before (if any)."""
    return {(kind, fact_id, month_index(prev["t"]) if prev is not None else None)}


def _month_prefix(adcode: str, month: int) -> str:
    return f"{adcode}|{month_label(month)}|"


def shard_key(adcode: str, month: int, shard: int) -> str:
    return f"{_month_prefix(adcode, month)}{shard:02d}"


class CityScorer:
    """Running city credit index over items, alerts, responses and credit records.

    ``state`` holds, per city, a small meta row under the adcode (watermarks, the months it
    has, a revision) and the facts of each month in ``SHARDS_PER_MONTH`` rows under
    ``"<adcode>|YYYY-MM|NN"`` (NN from the fact id), each fact in the month of its event
    time: an update rewrites one shard of one month, not the city's year (the rows are what
    a Faust table writes to its changelog on every change). All keys of a city are written
    while processing that city's partition, so they stay co-partitioned.

    The merged view of a city's facts is cached between updates and checked against the
    meta row's revision (unique per scorer instance and write), so a view is rebuilt from
    the state only when another scorer (another worker, before a rebalance) wrote the city.

    Each ``on_*`` returns the month indices it touched (empty when the input does not
    concern the index, e.g. an item without a city) and raises ``InputError`` for an
    invalid, unknown-city or too-late input; nothing is written then.
    """

    def __init__(self, state: MutableMapping[str, Any] | None = None, config: ScoringConfig | None = None,
                 registry: CityRegistry | None = None, checklists: TaskChecklists | None = None,
                 emitted: MutableMapping[str, Any] | None = None, scope: Scope | None = None) -> None:
        self.state: MutableMapping[str, Any] = state if state is not None else {}
        # What this process last emitted per city and period, and the detected responses it
        # published: process memory, never table state. A table's local store (RocksDB) keeps
        # writes whose output a SIGKILL lost; the inputs after the last commit are read again,
        # and a marker restored "ahead" would keep their outputs from being sent again (the
        # fault test lost 南京's last index entry so). Forgotten, the first change of a city
        # after a restart or rebalance is emitted again: a duplicate on a keyed topic, never a gap.
        self.emitted: MutableMapping[str, Any] = emitted if emitted is not None else {}
        self.sent: dict[str, set[str]] = {}
        self.config = config or load_scoring_config()
        self.registry = registry or load_registry()
        self.checklists = checklists or load_task_checklists()
        self.scope = scope or load_scope(registry=registry)
        self._views: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()  # adcode -> (revision, view)
        self._rev_prefix = os.urandom(6).hex()  # revisions of this instance never equal another's
        self._revs = 0

    # --- inputs ------------------------------------------------------------------

    def _load(self, adcode: str) -> dict[str, Any]:
        """The city's facts of every retained month merged into one view. The caller may change
        it and must then ``_store`` it: every check that can fail runs before anything is
        changed, so a rejected input writes nothing."""
        meta = self.state.get(adcode)
        if meta is None:
            return _new_city()
        cached = self._views.get(adcode)
        if cached is not None and cached[0] == meta.get("rev"):
            self._views.move_to_end(adcode)
            return cached[1]
        view = _new_city()
        view.update(wm=meta["wm"], nwm=meta["nwm"], months=list(meta["months"]))
        for m in meta["months"]:
            prefix = _month_prefix(adcode, m)
            for n in range(SHARDS_PER_MONTH):
                shard = self.state.get(f"{prefix}{n:02d}")
                if shard:
                    for kind, facts in shard.items():
                        view[kind].update(facts)
        for kind in ("stories", "records"):
            for fact_id, fact in view[kind].items():
                _count(view, kind, fact_id, fact, 1)
        self._remember(adcode, meta.get("rev"), view)
        return view

    def _remember(self, adcode: str, rev: str | None, view: dict[str, Any]) -> None:
        self._views[adcode] = (rev, view)
        self._views.move_to_end(adcode)
        while len(self._views) > CACHED_VIEWS:
            self._views.popitem(last=False)

    def _put_meta(self, adcode: str, row: dict[str, Any]) -> None:
        """Write the city's meta row under a new revision; the view ``row`` is now current."""
        self._revs += 1
        rev = f"{self._rev_prefix}:{self._revs}"
        self.state[adcode] = {"wm": row["wm"], "nwm": row["nwm"], "months": row["months"], "rev": rev}
        self._remember(adcode, rev, row)

    def _check_late(self, row: Mapping[str, Any], t: int, what: str) -> None:
        wm = row.get("nwm")
        if wm is not None and t < wm - self.config.allowed_lateness_seconds:
            raise InputError(f"late: {what} at {iso(t)} is more than {self.config.allowed_lateness_seconds // 3600} h "
                             f"behind the newest news of the city ({iso(wm)})")

    def _check_retained(self, row: Mapping[str, Any], t: int, what: str) -> None:
        """Filings carry their own dates and are not held to the news lateness bound, but a
        fact older than the retained months would be forgotten at the next prune anyway."""
        wm = row["wm"]
        if wm is not None and month_index(t) < month_index(wm) - self.config.retain_months + 1:
            raise InputError(f"late: {what} at {iso(t)} is older than the {self.config.retain_months} months the index keeps")

    def _store(self, adcode: str, row: dict[str, Any], t: int, dirty: set[tuple[str, str, int | None]],
               news: bool = False) -> None:
        """Write the changed facts (``_dirty``) into their (month, shard) rows, and the meta row;
        months past retention are deleted, from the state and the view."""
        self._views.pop(adcode, None)  # until the writes below are done, the state is the truth
        if news:
            row["nwm"] = t if row.get("nwm") is None else max(row["nwm"], t)
        row["wm"] = t if row["wm"] is None else max(row["wm"], t)
        oldest = month_index(row["wm"]) - self.config.retain_months + 1
        expired = [m for m in row["months"] if m < oldest]
        for m in expired:  # forget facts older than the retained months; the topics keep the history
            for n in range(SHARDS_PER_MONTH):
                if shard_key(adcode, m, n) in self.state:
                    del self.state[shard_key(adcode, m, n)]
        if expired:
            for kind in FACT_KINDS:
                row[kind] = {k: v for k, v in row[kind].items() if month_index(v["t"]) >= oldest}
            row["_sum"] = {m: summary for m, summary in row["_sum"].items() if m >= oldest}
        # (month, shard) -> {(kind, fact id): the fact, or None where a fact moved to another month}
        changes: dict[tuple[int, int], dict[tuple[str, str], Any]] = {}
        for kind, fact_id, was in sorted(dirty, key=lambda d: (d[0], d[1], -1 if d[2] is None else d[2])):
            fact = row[kind].get(fact_id)
            if fact is None:
                continue
            m, n = month_index(fact["t"]), _shard(fact_id)
            if was is not None and was != m and was >= oldest:
                changes.setdefault((was, n), {})[(kind, fact_id)] = None
            if m >= oldest:
                changes.setdefault((m, n), {})[(kind, fact_id)] = fact
        for (m, n), facts in sorted(changes.items()):
            key = shard_key(adcode, m, n)
            shard = {kind: dict(v) for kind, v in (self.state.get(key) or {}).items()}
            for (kind, fact_id), fact in facts.items():
                if fact is None:
                    shard.get(kind, {}).pop(fact_id, None)
                else:
                    shard.setdefault(kind, {})[fact_id] = fact
            shard = {kind: v for kind, v in shard.items() if v}
            if shard:
                self.state[key] = shard
            elif key in self.state:
                del self.state[key]
        row["months"] = sorted({m for m in row["months"] if m >= oldest} | {m for m, _ in changes if m >= oldest})
        self._put_meta(adcode, row)

    @staticmethod
    def scores_item(item: Item) -> bool:
        """Whether an item can change the index (the agent routes only these to the scorer)."""
        if item.city_adcode is None or item.change == "left":
            return False  # no city to score, or a headline leaving a surface (no new evidence)
        if item.aspect not in NEWS_ASPECTS and item.aspect != "government_response":
            return False
        return not (item.aspect in CREDIT_EVENT_ASPECTS and item.polarity == "neutral")

    def on_item(self, item: Item) -> set[int]:
        if not self.scores_item(item):
            return set()
        aspect = item.aspect
        adcode = self.registry.get(item.city_adcode).adcode
        t = epoch(item.ts)
        row = self._load(adcode)
        self._check_late(row, t, f"item {item.story_id}")
        # The earliest sighting (then the smallest by every field) classifies a story: a total
        # order, so the result is the same whatever order the sightings arrive in.
        key = [t, item.url, item.site, aspect, item.polarity, item.domain or "", item.title]
        dirty: set[tuple[str, str, int | None]] = set()
        if aspect == "government_response":
            kind = item.evidence.get("response_kind") if isinstance(item.evidence, Mapping) else None
            if kind not in RESPONSE_KINDS:
                kind = self._kind_from_title(item.title)
            fact = {"t": t, "title": item.title, "url": item.url, "site": item.site, "d": item.domain, "kind": kind}
            prev = row["ritems"].get(item.story_id)
            if prev is None or _earlier(fact, prev):
                row["ritems"][item.story_id] = fact
            dirty |= _dirty("ritems", item.story_id, prev)
            # "涉事企业被立案调查" reports the dishonesty and the authorities' response at once:
            # a dishonest one is also a credit event of the city.
            if item.polarity == "dishonest":
                aspect = "credit_event"
                key[3] = aspect
        if aspect != "government_response":
            story = prev = row["stories"].get(item.story_id)
            if story is None or key < story["k"]:
                old_urls = story["urls"] if story else []
                old_sites = story["sites"] if story else []
                story = {"t": t, "a": aspect, "p": item.polarity, "d": item.domain, "title": item.title,
                         "urls": old_urls, "sites": old_sites, "k": key}
                if prev is not None:
                    _count(row, "stories", item.story_id, prev, -1)
                _count(row, "stories", item.story_id, story, 1)
                row["stories"][item.story_id] = story
            urls = {tuple(u) for u in story["urls"]} | {(t, item.url, item.site)}
            story["urls"] = [list(u) for u in sorted(urls)[:MAX_URLS]]
            story["sites"] = sorted(set(story["sites"]) | {item.site})
            dirty |= _dirty("stories", item.story_id, prev)
        self._store(adcode, row, t, dirty, news=True)
        return {month_index(t)}

    def _kind_from_title(self, title: str) -> str:
        for kind, terms in self.config.kind_terms:
            if any(term in title for term in terms):
                return kind
        return self.config.default_kind

    def on_alert(self, alert: Alert) -> set[int]:
        if alert.type == "early_warning" or alert.city_adcode is None:
            return set()  # warnings do not score; an alert without a city has nobody to rank
        adcode = self.registry.get(alert.city_adcode).adcode
        t = epoch(alert.triggered_at, "triggered_at")
        first = epoch(alert.first_seen, "first_seen")
        row = self._load(adcode)
        self._check_late(row, t, f"alert {alert.story_id}")
        key = f"{alert.type}|{alert.story_id}"
        prev = row["alerts"].get(key)
        fact = {"type": alert.type, "story_id": alert.story_id, "t": t, "first": min(first, t),
                "title": alert.title, "urls": sorted(alert.urls)[:MAX_URLS], "d": alert.domain,
                "trigger": alert.trigger, "sites": sorted(alert.sites)}
        if prev is None or _earlier(fact, prev):
            row["alerts"][key] = fact
        self._store(adcode, row, t, _dirty("alerts", key, prev), news=True)
        return {month_index(t)}

    def on_response(self, resp: Response | Mapping[str, Any] | bytes | str) -> set[int]:
        r = resp if isinstance(resp, Response) else parse_response(resp, self.registry)
        adcode = self.registry.get(r.city_adcode).adcode
        t = epoch(r.ts)
        row = self._load(adcode)
        self._check_retained(row, t, f"response {r.response_id}")
        fact = {"story_id": r.story_id, "kind": r.kind, "t": t, "source": r.source, "title": r.title, "url": r.url}
        if r.note:  # kept for explain (shown under the event); absent when empty, so older facts compare equal
            fact["note"] = r.note
        prev = row["responses"].get(r.response_id)
        if prev is None or _earlier(fact, prev):
            row["responses"][r.response_id] = fact
        self.sent.get(adcode, set()).discard(r.response_id)  # our own detection came back: it is a response now
        self._store(adcode, row, t, _dirty("responses", r.response_id, prev))
        alert = row["alerts"].get(f"major_dishonesty|{r.story_id}")
        return {month_index(alert["t"]) if alert else month_index(t)}

    def on_record(self, rec: CreditRecord | Mapping[str, Any] | bytes | str) -> set[int]:
        r = validate_record(rec, self.registry, self.checklists)
        t = epoch(r.ts)
        row = self._load(r.city_adcode)
        self._check_retained(row, t, f"record {r.record_id}")
        prev = row["records"].get(r.record_id)
        fact = {"kind": r.kind, "t": t, "p": r.payload}
        if prev is None or _earlier(fact, prev):
            if prev is not None:
                _count(row, "records", r.record_id, prev, -1)
            _count(row, "records", r.record_id, fact, 1)
            row["records"][r.record_id] = fact
        self._store(r.city_adcode, row, t, _dirty("records", r.record_id, prev))
        return {month_index(t)}

    # --- scoring -----------------------------------------------------------------

    def _weight(self, period: Period, t: int) -> int:
        return self._month_weight(period, month_index(t))

    def _month_weight(self, period: Period, m: int) -> int:
        if not period.contains(m):
            return 0
        return self.config.rolling_weights_bp[period.end - m] if period.rolling else BP

    def city_result(self, adcode: str, period: Period, detail: bool = True,
                    row: Mapping[str, Any] | None = None) -> CityResult:
        """Points of every aspect; with ``detail`` each contribution names its fact (explain),
        without it only the points are kept (index entries, ten times a second per city).
        ``row``: the city's merged facts when the caller already has them."""
        row = row if row is not None else self._load(adcode)
        if not detail:
            return self._totals(adcode, period, row)
        cfg = self.config
        aspects = {name: _Aspect(name) for name in ASPECTS}
        facts = 0
        for name in LEVEL_ASPECTS:
            aspects[name].base = cfg.aspects[name].base

        policy_by_domain: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        media: list[tuple[int, dict[str, Any]]] = []
        dishonest = 0
        imports: list[int] = []
        for sid, s in sorted(row["stories"].items(), key=lambda kv: (kv[1]["t"], kv[0])):
            w = self._weight(period, s["t"])
            if not w:
                continue
            facts += 1
            dishonest += s["a"] in CREDIT_EVENT_ASPECTS and s["p"] == "dishonest"
            what = {"type": "story", "id": sid, "title": s["title"], "urls": [u[1] for u in s["urls"]],
                    "sites": s["sites"], "ts": iso(s["t"]), "weight": w / BP} if detail else {}
            a = s["a"]
            if a in CREDIT_EVENT_ASPECTS:
                p = cfg.aspects["credit_event"].params["dishonest_points" if s["p"] == "dishonest" else "trustworthy_points"]
                aspects["credit_event"].add(p * w // BP, **({"polarity": s["p"], **what} if detail else {}))
            elif a == "credit_policy":
                policy_by_domain.setdefault(s["d"] or "unassigned", []).append((cfg.aspects["credit_policy"].params["policy_points"] * w // BP, what))
            elif a == "info_disclosure":
                media.append((cfg.aspects["info_disclosure"].params["media_points"] * w // BP, what))
            elif a == "blacklist":
                aspects["blacklist"].add(cfg.aspects["blacklist"].params["black_points"] * w // BP, **what)

        end = period.end_seconds()
        lookback_start = month_start(period.end - cfg.state_lookback_months + 1)
        latest_check: tuple[int, str] | None = None
        tasks_done: dict[str, tuple[int, str]] = {}
        for rid, r in sorted(row["records"].items(), key=lambda kv: (kv[1]["t"], kv[0])):
            kind, p = r["kind"], r["p"]
            if kind in ("disclosure_check", "task_completion"):
                if not lookback_start <= r["t"] < end:
                    continue
                if kind == "disclosure_check" and p.get("ok"):
                    latest_check = (r["t"], rid)  # sorted by time: the last one wins
                elif kind == "task_completion":
                    tasks_done.setdefault(p["task_id"], (r["t"], rid))
                continue
            w = self._weight(period, r["t"])
            if not w:
                continue
            facts += 1
            what = {"type": "record", "id": rid, "kind": kind, "ts": iso(r["t"]), "weight": w / BP} if detail else {}
            if kind == "blacklist":
                imports.append(r["t"])
                key = "black_points" if p["list"] == "black" else "red_points"
                aspects["blacklist"].add(cfg.aspects["blacklist"].params[key] * w // BP, **({
                    "title": p["name"], "list": p["list"], "credit_code": p.get("credit_code"), "reason": p.get("reason"),
                    **what} if detail else {}))
            elif kind == "policy":
                policy_by_domain.setdefault(p.get("domain") or "unassigned", []).append(
                    (cfg.aspects["credit_policy"].params["policy_points"] * w // BP,
                     {**what, "title": p["title"], "urls": [p.get("url")]} if detail else {}))

        # credit_policy: per-domain saturation first, so breadth across domains counts
        per_domain_max = cfg.aspects["credit_policy"].params["per_domain_max"]
        for domain in sorted(policy_by_domain):
            used = 0
            for centi, what in policy_by_domain[domain]:
                take = max(0, min(centi, per_domain_max - used))
                used += take
                aspects["credit_policy"].add(take, **({"domain": domain, "capped": take != centi, **what} if detail else {}))
        media_max = cfg.aspects["info_disclosure"].params["media_max"]
        used = 0
        for centi, what in media:
            take = max(0, min(centi, media_max - used))
            used += take
            aspects["info_disclosure"].add(take, **({"capped": take != centi, **what} if detail else {}))
        if latest_check is not None:
            facts += 1
            t, rid = latest_check
            rec = row["records"][rid]
            for col, present in sorted(rec["p"]["columns"].items()):
                if present:
                    aspects["info_disclosure"].add(cfg.column_points[col], type="record", id=rid, kind="disclosure_check",
                                                   column=col, urls=[rec["p"].get("url")], ts=iso(t))
        if tasks_done:
            facts += len(tasks_done)
            checklist = self.checklists.tasks_for(adcode)
            total_w = sum(task.weight_bp for task in checklist) or 1
            span = cfg.aspects["task_implementation"].high - cfg.aspects["task_implementation"].base
            done_w = 0
            for task in checklist:  # cumulative rounding: the task points add up to the aspect exactly
                if task.id in tasks_done:
                    before = span * done_w // total_w
                    done_w += task.weight_bp
                    t, rid = tasks_done[task.id]
                    aspects["task_implementation"].add(span * done_w // total_w - before, type="record", id=rid,
                                                       kind="task_completion", task=task.id, title=task.title, ts=iso(t))

        measured = {"blacklist": (max(imports), len(imports)) if imports else None,
                    "info_disclosure": (latest_check[0], 1) if latest_check else None,
                    "task_implementation": (max(t for t, _ in tasks_done.values()), len(tasks_done)) if tasks_done else None}
        return self._finish(adcode, period, row, aspects, facts, detail, dishonest, measured)

    def _totals(self, adcode: str, period: Period, row: Mapping[str, Any]) -> CityResult:
        """``city_result`` without detail, from the per-month counts: the same totals (a test
        compares them with the detailed result's), without a pass over every story."""
        cfg = self.config
        ce, pol, media_aspect, bl = (cfg.aspects[a].params for a in ("credit_event", "credit_policy", "info_disclosure", "blacklist"))
        aspects = {name: _Aspect(name) for name in ASPECTS}
        for name in LEVEL_ASPECTS:
            aspects[name].base = cfg.aspects[name].base
        facts = 0
        policy: dict[str, int] = {}
        media = 0
        checks: list[tuple[int, str]] = []
        tasks: dict[str, tuple[int, str]] = {}
        dishonest = 0
        imports: list[int] = []
        lookback_first = period.end - cfg.state_lookback_months + 1
        for m, summary in row["_sum"].items():
            if lookback_first <= m <= period.end:
                checks += [(t, rid) for rid, (t, _) in summary["checks"].items()]
                for rid, (t, task_id) in summary["tasks"].items():
                    if task_id not in tasks or (t, rid) < tasks[task_id]:
                        tasks[task_id] = (t, rid)
            w = self._month_weight(period, m)
            if not w:
                continue
            facts += summary["stories"] + summary["records"]
            dishonest += summary["dishonest"]
            imports += summary["bl"].values()
            aspects["credit_event"].add(summary["dishonest"] * (ce["dishonest_points"] * w // BP)
                                        + summary["trustworthy"] * (ce["trustworthy_points"] * w // BP))
            for domain, n in summary["policy"].items():
                policy[domain] = policy.get(domain, 0) + n * (pol["policy_points"] * w // BP)
            media += summary["media"] * (media_aspect["media_points"] * w // BP)
            aspects["blacklist"].add((summary["black"] + summary["black_records"]) * (bl["black_points"] * w // BP)
                                     + summary["red_records"] * (bl["red_points"] * w // BP))
        for total in policy.values():
            aspects["credit_policy"].add(min(total, pol["per_domain_max"]))
        aspects["info_disclosure"].add(min(media, media_aspect["media_max"]))
        if checks:
            facts += 1
            rec = row["records"][max(checks)[1]]
            aspects["info_disclosure"].add(sum(cfg.column_points[col] for col, present in rec["p"]["columns"].items() if present))
        if tasks:
            facts += len(tasks)
            checklist = self.checklists.tasks_for(adcode)
            total_w = sum(task.weight_bp for task in checklist) or 1
            span = cfg.aspects["task_implementation"].high - cfg.aspects["task_implementation"].base
            aspects["task_implementation"].add(span * sum(task.weight_bp for task in checklist if task.id in tasks) // total_w)
        measured = {"blacklist": (max(imports), len(imports)) if imports else None,
                    "info_disclosure": (max(checks)[0], 1) if checks else None,
                    "task_implementation": (max(t for t, _ in tasks.values()), len(tasks)) if tasks else None}
        return self._finish(adcode, period, row, aspects, facts, False, dishonest, measured)

    def _finish(self, adcode: str, period: Period, row: Mapping[str, Any], aspects: dict[str, _Aspect], facts: int,
                detail: bool, dishonest: int, measured: Mapping[str, tuple[int, int] | None]) -> CityResult:
        """Add the major events and their offsets, mark what was measured (an unmeasured aspect
        starts from what [coverage.unmeasured] says), then clamp each level aspect to its range."""
        cfg = self.config
        self._score_alerts(row, period, aspects, detail)
        facts += len(aspects["major_dishonesty"].contributions) + len(aspects["major_trustworthy"].contributions)
        dishonest += len(aspects["major_dishonesty"].contributions)
        for name, by in RECORD_MEASURED.items():
            a, seen = aspects[name], measured.get(name)
            a.by = by
            if seen is None:
                a.measured = False
                if cfg.unmeasured[name] == "min":
                    a.base = cfg.aspects[name].low
            else:
                a.at, a.count = seen
        for name in LEVEL_ASPECTS:
            a = aspects[name]
            raw = a.base + sum(c["_cp"] for c in a.contributions)
            a.total = cfg.aspects[name].clamp(raw)
            a.saturation = a.total - raw
        for name in ("major_dishonesty", "government_response"):
            aspects[name].total = sum(c["_cp"] for c in aspects[name].contributions)
        return CityResult(adcode, period, aspects, facts, dishonest)

    def _score_alerts(self, row: Mapping[str, Any], period: Period, aspects: dict[str, _Aspect], detail: bool) -> None:
        cfg = self.config
        majors = sorted((a for a in row["alerts"].values() if a["type"] == "major_dishonesty"),
                        key=lambda a: (a["t"], a["story_id"]))
        responses = self._responses_by_story(row, majors)
        for alert in majors:
            w = self._weight(period, alert["t"])
            if not w:
                continue
            deduction = cfg.deduction * w // BP
            what = {"type": "alert", "id": alert["story_id"], "title": alert["title"], "urls": alert["urls"],
                    "trigger": alert["trigger"], "sites": alert["sites"], "ts": iso(alert["t"]), "weight": w / BP} if detail else {}
            aspects["major_dishonesty"].add(-deduction, **what)
            event_line = aspects["major_dishonesty"].contributions[-1]
            # One response per kind counts (the earliest, which has the highest lateness factor).
            by_kind: dict[str, tuple[int, str, dict[str, Any]]] = {}
            start = _event_start(row, alert)
            for rid, r in responses.get(alert["story_id"], []):
                if r["t"] < start:
                    continue
                prev = by_kind.get(r["kind"])
                if prev is None or (r["t"], rid) < prev[:2]:
                    by_kind[r["kind"]] = (r["t"], rid, r)
            share = 0
            answered = []
            for t, rid, r in sorted(by_kind.values(), key=lambda x: (x[0], x[1])):
                factor = cfg.lateness_factor_bp(max(0, t - alert["t"]))
                before = deduction * share // BP
                share = min(cfg.max_share_bp, share + cfg.shares_bp[r["kind"]] * factor // BP)
                aspects["government_response"].add(
                    deduction * share // BP - before, type="response", id=rid, event=alert["story_id"], kind=r["kind"],
                    source=r["source"], title=r["title"], note=r.get("note", ""), urls=[r["url"]] if r.get("url") else [],
                    ts=iso(t), lateness_factor=factor / BP, share=cfg.shares_bp[r["kind"]] / BP)
                answered.append({k: v for k, v in aspects["government_response"].contributions[-1].items() if k != "_cp"})
            if detail:
                # one event, one set of consequences: its offsets listed under the deduction they reduce
                event_line["responses"] = answered
        for alert in sorted((a for a in row["alerts"].values() if a["type"] == "major_trustworthy"),
                            key=lambda a: (a["t"], a["story_id"])):
            w = self._weight(period, alert["t"])
            if w:
                aspects["major_trustworthy"].add(cfg.aspects["major_trustworthy"].params["event_points"] * w // BP,
                                                 type="alert", id=alert["story_id"], title=alert["title"],
                                                 urls=alert["urls"], ts=iso(alert["t"]), weight=w / BP)

    def _responses_by_story(self, row: Mapping[str, Any], majors: list[dict[str, Any]]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """Filed responses by their story, plus news items detected as responses: same story,
        or same domain within the detection window after the event (the latest such event)."""
        out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for rid, r in row["responses"].items():
            out.setdefault(r["story_id"], []).append((rid, r))
        stories = {a["story_id"] for a in majors}
        window = self.config.detection_window_seconds
        for sid, it in row["ritems"].items():
            target = sid if sid in stories else None
            if target is None and it["d"]:
                candidates = [a for a in majors if a["d"] == it["d"] and _event_start(row, a) <= it["t"] <= a["t"] + window]
                if candidates:
                    target = candidates[-1]["story_id"]
            if target is not None:
                rid = f"news:{sid}:{target}"
                out.setdefault(target, []).append((rid, {"story_id": target, "kind": it["kind"], "t": it["t"],
                                                         "source": "news", "title": it["title"], "url": it["url"]}))
        return out

    def detected_responses(self, adcode: str) -> list[Response]:
        """Responses detected in the news for a city, as Responses for the ``responses`` topic
        (their ids are derived from the item's and the event's story, so they count once)."""
        row = self._load(adcode)
        majors = sorted((a for a in row["alerts"].values() if a["type"] == "major_dishonesty"),
                        key=lambda a: (a["t"], a["story_id"]))
        out = []
        for story, rs in sorted(self._responses_by_story(row, majors).items()):
            for rid, r in rs:
                if r["source"] == "news" and rid.startswith("news:"):
                    out.append(Response(response_id=rid, ts=iso(r["t"]), city_adcode=adcode, story_id=story,
                                        kind=r["kind"], source="news", title=r["title"], url=r["url"]))
        return out

    def unsent_detected_responses(self, adcode: str) -> list[Response]:
        """Detected responses not yet published by this process (nor received from
        ``responses``); marks them published so each goes out once per process."""
        if self.state.get(adcode) is None:
            return []
        row = self._load(adcode)
        sent = self.sent.setdefault(adcode, set())
        fresh = [r for r in self.detected_responses(adcode) if r.response_id not in row["responses"] and r.response_id not in sent]
        sent.update(r.response_id for r in fresh)
        return fresh

    def forget_published(self) -> None:
        """Forget what this process has emitted and published (call when partitions move):
        the next change of each city is emitted again, whatever was emitted before."""
        self.emitted.clear()
        self.sent.clear()

    # --- outputs -----------------------------------------------------------------

    def cities(self) -> list[str]:
        """Adcodes of the cities in the state (the meta rows, not the month rows)."""
        return sorted(k for k in self.state.keys() if "|" not in k)

    def alerts_in_month(self, adcode: str, month: int) -> dict[str, dict[str, Any]]:
        """The city's scored alerts (``"type|story_id"`` -> fact: trigger, sites, domain, ...)
        triggered in calendar month ``month`` (a month index)."""
        meta = self.state.get(adcode)
        if meta is None or month not in meta["months"]:
            return {}
        return {k: a for k, a in self._load(adcode)["alerts"].items() if month_index(a["t"]) == month}

    def latest_month(self) -> int | None:
        marks = [self.state[c]["wm"] for c in self.cities() if self.state[c].get("wm") is not None]
        return month_index(max(marks)) if marks else None

    def period(self, text: str | None) -> Period:
        if text:
            return Period.parse(text, self.config.rolling_months)
        latest = self.latest_month()
        if latest is None:
            raise InputError("period: nothing scored yet; give a period (YYYY-MM or 12m:YYYY-MM)")
        return Period(latest, self.config.rolling_months)

    def ranking(self, period: str | None = None, province: str | None = None,
                group: str | None = None) -> list[dict[str, Any]]:
        """design.md Ranking: a row for every city in the scope (``peer_groups.csv``), news or
        not, each peer group ranked on its own and listed in the order of ``scope.GROUPS``.

        Rows: ``{rank, of, peers, group, city, city_adcode, province, period, score, components,
        penalty, offset, coverage}``; ``rank`` is among the ``of`` cities of the row's ``peers``
        set: its national group, or in a provincial view (``province``) the province's
        prefecture-level or county-level cities. ``group`` keeps only one peer set. Order and
        ties: ``[ranking] tie_break`` in scoring.toml. With no period and nothing scored yet
        the ranking is empty."""
        check_peer_set(group, bool(province))
        if period is None and self.latest_month() is None:
            return []
        p = self.period(period)
        sets: dict[str, list[tuple[tuple[Any, ...], CityResult, Member]]] = {}
        baseline: CityResult | None = None  # the row of a city without facts: the same for all of them
        for member, peers in self.scope.view(self.registry, province, group):
            adcode = member.adcode
            if self.state.get(adcode) is None:
                baseline = baseline or self.city_result(adcode, p, detail=False)
                res = replace(baseline, adcode=adcode)
            else:
                res = self.city_result(adcode, p, detail=False)
            sets.setdefault(peers, []).append((self._rank_key(res), res, member))
        return rank_peer_sets({peers: [(key, member, {"city_adcode": res.adcode, "period": p.label, "score": points(res.score),
                                                       "components": {k: points(v) for k, v in res.components.items()},
                                                       "penalty": points(res.penalty), "offset": points(res.offset),
                                                       "coverage": res.coverage()})
                                       for key, res, member in rows] for peers, rows in sets.items()}, bool(province))

    def _rank_key(self, res: CityResult) -> tuple[int, ...]:
        return rank_key(self.config.tie_break, res.score, res.dishonest, res.measured_aspects)

    def entry(self, adcode: str, period: Period, row: Mapping[str, Any] | None = None) -> CityIndexEntry:
        res = self.city_result(adcode, period, detail=False, row=row)
        city = self.registry.get(adcode)
        wm = (self.state.get(adcode) or {}).get("wm")
        member = self.scope.members.get(adcode)
        return CityIndexEntry(city_adcode=adcode, city=city.name, province=city.province, period=period.label,
                              score=points(res.score), components={k: points(v) for k, v in res.components.items()},
                              penalty=points(res.penalty), offset=points(res.offset),
                              updated_at=iso(wm) if wm is not None else "", group=member.group if member else None,
                              coverage=res.coverage(), dishonest=res.dishonest)

    def changed_entries(self, adcode: str, months: Iterable[int]) -> list[CityIndexEntry]:
        """Index entries of ``adcode`` that changed since last emitted: the calendar months
        touched and the rolling window ending with the city's newest month. Remembers what
        it returns (in ``self.emitted``), so each change is emitted once."""
        row = self.state.get(adcode)
        if row is None or row.get("wm") is None:
            return []
        newest = month_index(row["wm"])
        periods = {Period(m, 1) for m in months} | {Period(newest, self.config.rolling_months)}
        out = []
        before = self.emitted.get(adcode) or {}
        oldest = newest - self.config.retain_months + 1
        marks = {k: v for k, v in before.items() if Period.parse(k, self.config.rolling_months).end >= oldest}
        view = self._load(adcode)
        for p in sorted(periods, key=lambda p: (p.end, p.months)):
            entry = self.entry(adcode, p, view)
            # coverage too: a red-list row at full marks changes no number but makes the aspect measured;
            # and the dishonest count, which breaks ties even where a clamped aspect hides it
            mark = json.dumps([entry.score, entry.components, entry.penalty, entry.offset, entry.coverage,
                               entry.dishonest], sort_keys=True)
            if marks.get(p.label) != mark:
                marks[p.label] = mark
                out.append(entry)
        if marks != before:
            self.emitted[adcode] = marks
        return out

    def explain(self, city_adcode: str, period: str | None = None) -> dict[str, Any]:
        """Every aspect of a city's score in a period with the facts behind each point."""
        adcode = self.registry.resolve(city_adcode).adcode
        p = self.period(period)
        res = self.city_result(adcode, p)
        city = self.registry.get(adcode)
        member = self.scope.members.get(adcode)
        coverage = res.coverage()
        aspects = {}
        for name, a in res.aspects.items():
            aspects[name] = {"label": ASPECTS[name], "points": points(a.total), "base": points(a.base),
                             "saturation": points(a.saturation), "coverage": coverage["aspects"][name],
                             "contributions": [{k: v for k, v in c.items() if k != "_cp"} for c in a.contributions]}
        return {"city": city.name, "city_adcode": adcode, "province": city.province, "period": p.label,
                "group": member.group if member else None,
                "score": points(res.score), "components": {k: points(v) for k, v in res.components.items()},
                "penalty": points(res.penalty), "offset": points(res.offset),
                "coverage": {k: v for k, v in coverage.items() if k != "aspects"}, "aspects": aspects,
                "check": "score = sum(components) + penalty + offset; each aspect = base + contributions + saturation"}

    def explain_change(self, city_adcode: str, period: str | None = None, top: int = 3) -> dict[str, Any]:
        """What moved a city's score from the period before (the same kind, one month earlier):
        the ``top`` largest contributions to the change by size, from the explain data of both
        periods. A line is one fact of one aspect (a story, alert, response, record) or an
        aspect's base or clamp; all lines, ``other`` included, add up to ``score_change``."""
        adcode = self.registry.resolve(city_adcode).adcode
        p = self.period(period)
        before = Period(p.end - 1, p.months)
        now_res, prev_res = self.city_result(adcode, p), self.city_result(adcode, before)
        lines: dict[tuple[Any, ...], dict[str, Any]] = {}

        def collect(res: CityResult, sign: int) -> None:
            for name, a in res.aspects.items():
                parts = [((name, "base"), {"aspect": name, "type": "base"}, a.base),
                         ((name, "saturation"), {"aspect": name, "type": "saturation"}, a.saturation)]
                for c in a.contributions:
                    what = {k: c[k] for k in ("type", "id", "kind", "title", "column", "task", "event") if k in c}
                    parts.append(((name, c.get("type"), c.get("id"), c.get("column"), c.get("task")),
                                  {"aspect": name, **what}, c["_cp"]))
                for key, what, centi in parts:
                    line = lines.setdefault(key, {**what, "_cp": 0})
                    line["_cp"] += sign * centi

        collect(now_res, 1)
        collect(prev_res, -1)
        moved = sorted((x for x in lines.values() if x["_cp"]), key=lambda x: (-abs(x["_cp"]), json.dumps(
            {k: v for k, v in x.items() if k != "_cp"}, sort_keys=True, ensure_ascii=False)))
        shown = [{**{k: v for k, v in x.items() if k != "_cp"}, "label": ASPECTS[x["aspect"]], "points": points(x["_cp"])}
                 for x in moved[:top]]
        return {"city": self.registry.get(adcode).name, "city_adcode": adcode, "period": p.label,
                "previous_period": before.label, "score": points(now_res.score), "previous_score": points(prev_res.score),
                "score_change": points(now_res.score - prev_res.score), "top": shown,
                "other": points(sum(x["_cp"] for x in moved[top:]))}


def rank_key(tie_break: Iterable[str], score_centi: int, dishonest: int, measured_aspects: int) -> tuple[int, ...]:
    """Sort key of ``[ranking] tie_break`` (smaller first); equal keys share a rank. A function
    of what an index entry carries, so the desk ranks entries exactly as the index ranks cities."""
    value = {"score": -score_centi, "fewer_dishonesty_events": dishonest, "more_measured_aspects": -measured_aspects}
    return tuple(value[k] for k in tie_break)


def rank_peer_sets(sets: Mapping[str, list[tuple[tuple[Any, ...], Member, dict[str, Any]]]],
                   provincial: bool) -> list[dict[str, Any]]:
    """Ranking rows of each peer set, in the order of ``scope.GROUPS`` (``PROVINCE_SETS`` in a
    provincial view): by key, then name and adcode only to list ties in a stable order; equal
    keys share a rank (1, 1, 3). ``fields`` (score, components, ...) are copied into the row.
    The one ranking rule, used by ``CityScorer.ranking`` and by the desk's board."""
    order = list(PROVINCE_SETS if provincial else GROUPS)
    out: list[dict[str, Any]] = []
    for peers in sorted(sets, key=order.index):
        rows = sorted(sets[peers], key=lambda x: (x[0], x[1].name, x[1].adcode))
        rank = 0
        for i, (key, member, fields) in enumerate(rows):
            if i == 0 or key != rows[i - 1][0]:
                rank = i + 1
            out.append({"rank": rank, "of": len(rows), "peers": peers, "group": member.group,
                        "city": member.name, "city_adcode": member.adcode, "province": member.province,
                        **{k: v for k, v in fields.items() if k != "city_adcode"}})
    return out


def ranking_json(rows: list[dict[str, Any]]) -> str:
    """The ranking as written to files: fixed key order, UTF-8 names, two-space indent,
    trailing newline — byte-identical for the same log."""
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
