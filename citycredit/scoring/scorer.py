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
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, MutableMapping

from citycredit.exceptions import InputError
from citycredit.ids import ASPECTS, RESPONSE_KINDS
from schemas import Alert, CityIndexEntry, CreditRecord, Item, Response

from .cities import CityRegistry, load_registry
from .config import BP, LEVEL_ASPECTS, RECORD_MEASURED, ScoringConfig, TaskChecklists, load_scoring_config, load_task_checklists
from .filings import parse_response, validate_record
from .periods import Period, epoch, iso, month_index, month_start
from .ranking import rank_key, rank_peer_sets
from .scope import Member, Scope, check_peer_set, load_scope
from .state import CREDIT_EVENT_ASPECTS, CityFacts, changed, count_fact, earlier

MAX_URLS = 3  # sightings kept per story for explain; the story id leads to the rest in the items topic
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


def _event_start(row: Mapping[str, Any], alert: Mapping[str, Any]) -> int:
    """When a major event began: the earliest sighting of its story, by the alert or by the
    story's own items. The alert's ``first_seen`` is the earliest sighting its detector had
    seen when the rule held, which depends on the order sightings arrived in (another
    partition's sighting, or one read again after a restart, can come later): alone it made
    a response at the story's first sighting count in a replay and not live."""
    sid = alert["story_id"]
    return min([alert["first"]] + [row[kind][sid]["t"] for kind in ("stories", "ritems") if sid in row[kind]])


class CityScorer:
    """Running city credit index over items, alerts, responses and credit records.

    The facts live in ``state`` through ``CityFacts`` (state.py: sharded by month, the
    merged view of a city cached); this class reads inputs into facts (``on_*``), scores
    facts into points (``city_result``) and answers queries (``ranking``, ``explain``).

    Each ``on_*`` returns the month indices it touched (empty when the input does not
    concern the index, e.g. an item without a city) and raises ``InputError`` for an
    invalid, unknown-city or too-late input; nothing is written then.
    """

    def __init__(self, state: MutableMapping[str, Any] | None = None, config: ScoringConfig | None = None,
                 registry: CityRegistry | None = None, checklists: TaskChecklists | None = None,
                 emitted: MutableMapping[str, Any] | None = None, scope: Scope | None = None) -> None:
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
        self.facts = CityFacts(state if state is not None else {}, self.config.retain_months)

    # --- inputs ------------------------------------------------------------------

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
        row = self.facts.load(adcode)
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
            if prev is None or earlier(fact, prev):
                row["ritems"][item.story_id] = fact
            dirty |= changed("ritems", item.story_id, prev)
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
                    count_fact(row, "stories", item.story_id, prev, -1)
                count_fact(row, "stories", item.story_id, story, 1)
                row["stories"][item.story_id] = story
            urls = {tuple(u) for u in story["urls"]} | {(t, item.url, item.site)}
            story["urls"] = [list(u) for u in sorted(urls)[:MAX_URLS]]
            story["sites"] = sorted(set(story["sites"]) | {item.site})
            dirty |= changed("stories", item.story_id, prev)
        self.facts.store(adcode, row, t, dirty, news=True)
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
        row = self.facts.load(adcode)
        self._check_late(row, t, f"alert {alert.story_id}")
        key = f"{alert.type}|{alert.story_id}"
        prev = row["alerts"].get(key)
        fact = {"type": alert.type, "story_id": alert.story_id, "t": t, "first": min(first, t),
                "title": alert.title, "urls": sorted(alert.urls)[:MAX_URLS], "d": alert.domain,
                "trigger": alert.trigger, "sites": sorted(alert.sites)}
        if prev is None or earlier(fact, prev):
            row["alerts"][key] = fact
        self.facts.store(adcode, row, t, changed("alerts", key, prev), news=True)
        return {month_index(t)}

    def on_response(self, resp: Response | Mapping[str, Any] | bytes | str) -> set[int]:
        r = resp if isinstance(resp, Response) else parse_response(resp, self.registry)
        adcode = self.registry.get(r.city_adcode).adcode
        t = epoch(r.ts)
        row = self.facts.load(adcode)
        self._check_retained(row, t, f"response {r.response_id}")
        fact = {"story_id": r.story_id, "kind": r.kind, "t": t, "source": r.source, "title": r.title, "url": r.url}
        if r.note:  # kept for explain (shown under the event); absent when empty, so older facts compare equal
            fact["note"] = r.note
        prev = row["responses"].get(r.response_id)
        if prev is None or earlier(fact, prev):
            row["responses"][r.response_id] = fact
        self.sent.get(adcode, set()).discard(r.response_id)  # our own detection came back: it is a response now
        self.facts.store(adcode, row, t, changed("responses", r.response_id, prev))
        alert = row["alerts"].get(f"major_dishonesty|{r.story_id}")
        return {month_index(alert["t"]) if alert else month_index(t)}

    def on_record(self, rec: CreditRecord | Mapping[str, Any] | bytes | str) -> set[int]:
        r = validate_record(rec, self.registry, self.checklists)
        t = epoch(r.ts)
        row = self.facts.load(r.city_adcode)
        self._check_retained(row, t, f"record {r.record_id}")
        prev = row["records"].get(r.record_id)
        fact = {"kind": r.kind, "t": t, "p": r.payload}
        if prev is None or earlier(fact, prev):
            if prev is not None:
                count_fact(row, "records", r.record_id, prev, -1)
            count_fact(row, "records", r.record_id, fact, 1)
            row["records"][r.record_id] = fact
        self.facts.store(r.city_adcode, row, t, changed("records", r.record_id, prev))
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
        row = row if row is not None else self.facts.load(adcode)
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
        row = self.facts.load(adcode)
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
        row = self.facts.load(adcode)
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

    @property
    def state(self) -> MutableMapping[str, Any]:
        """The facts' state mapping (the agent's table)."""
        return self.facts.state

    def cities(self) -> list[str]:
        """Adcodes of the cities in the state."""
        return self.facts.cities()

    def alerts_in_month(self, adcode: str, month: int) -> dict[str, dict[str, Any]]:
        """The city's scored alerts (``"type|story_id"`` -> fact: trigger, sites, domain, ...)
        triggered in calendar month ``month`` (a month index)."""
        meta = self.state.get(adcode)
        if meta is None or month not in meta["months"]:
            return {}
        return {k: a for k, a in self.facts.load(adcode)["alerts"].items() if month_index(a["t"]) == month}

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
        view = self.facts.load(adcode)
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
