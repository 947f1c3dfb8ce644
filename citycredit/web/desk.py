"""The desk's read model: what the web pages and the API answer from.

Every worker builds it by reading the topics from the beginning (``feed.py``): the
compacted ``city-index``, ``source-health`` and ``subscriptions`` topics hold latest
state, ``alerts``/``responses``/``items`` hold history within retention. Each worker
holds all of it, because a national ranking or a search needs every partition -- the
same reason Faust offers GlobalTables -- and a desk page must not depend on which
worker owns which partition. ``apply()`` is pure bookkeeping, so tests feed it records
directly.
"""
from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from citycredit.exceptions import InputError
from citycredit.ids import ALERT_TYPES, ASPECTS, DOMAINS, POLARITIES
from citycredit.metrics import Metrics
from citycredit.scoring.periods import Period
from citycredit.scoring.scope import GROUPS, PROVINCE_SET_LABELS, Scope
from citycredit.scoring.ranking import rank_key, rank_peer_sets
from citycredit.scoring.scorer import CityScorer
from schemas import parse_ts

from citycredit.alerting.subscriptions import Subscription, alert_key

log = logging.getLogger(__name__)

TOPICS = ("city-index", "alerts", "responses", "items", "source-health", "subscriptions")
MAX_ALERTS = 100_000          # a year of alerts at a busy national desk is far below this
MAX_UNPLACED_ITEMS = 5000     # credit items whose city is unknown, newest kept


def period_kind(period: str) -> str:
    return "12m" if period.startswith("12m:") else "month"


def _event_seconds(value: Any) -> float | None:
    try:
        return parse_ts(value).timestamp()
    except Exception:  # noqa: BLE001 - a missing or odd timestamp only means no lag figure
        return None


class DeskView:
    def __init__(self, events_per_city: int = 500, metrics: Metrics | None = None) -> None:
        self.events_per_city = events_per_city
        self.metrics = metrics
        self.index: dict[tuple[str, str], dict[str, Any]] = {}       # (city_adcode, period) -> entry
        self.alerts: dict[str, dict[str, Any]] = {}                    # alert_key -> alert
        self._alert_order: list[tuple[str, int, str]] = []             # (triggered_at UTC iso, seq, key), sorted
        self._alert_seq = 0
        self.responses: dict[str, list[dict[str, Any]]] = {}            # story_id -> responses
        self.items_by_city: dict[str, deque[dict[str, Any]]] = {}
        self.unplaced_items: deque[dict[str, Any]] = deque(maxlen=MAX_UNPLACED_ITEMS)
        self.source_health: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.provinces: dict[str, str] = {}                             # city_adcode -> province name
        self.city_names: dict[str, str] = {}
        self.latest_period: dict[str, str] = {}                         # period kind -> newest period
        self.rejected = 0
        self._scorer: CityScorer | None = None                          # for the scope, the tie rule, the baseline
        self._baselines: dict[str, dict[str, Any]] = {}                 # period -> entry of a city with no facts
        self._listeners: set[asyncio.Queue] = set()
        self._alert_counts = {t: 0 for t in ALERT_TYPES}
        if metrics:  # every type has a series from the start, so boards show 0 rather than "no data"
            for t in ALERT_TYPES:
                metrics.alerts_recorded.labels(type=t).set(0)
            metrics.city_rank.source = self._rank_samples
            metrics.poll_observations_published.source = self._published_samples

    def reset(self) -> None:
        """Forget everything read (before re-reading the topics from the start); streams stay open."""
        listeners = self._listeners
        self.__init__(self.events_per_city, self.metrics)  # type: ignore[misc]
        self._listeners = listeners

    # ---- feeding -----------------------------------------------------------------
    def apply(self, topic: str, key: str | None, value: Mapping[str, Any] | None) -> None:
        """One record read from ``topic``; a record that does not fit is counted and skipped."""
        try:
            handler = self._handlers[topic]
        except KeyError:
            return
        try:
            handler(self, key, value)
        except (KeyError, TypeError, ValueError, AttributeError, InputError) as exc:
            # AttributeError: valid JSON of the wrong shape (a list or a string where an object
            # belongs). Escaping here would stop the feed, which re-reads every topic from the
            # start and meets the same record again: the desk would never catch up.
            self.rejected += 1
            log.warning("desk: skipped a record on %s (key %r): %s", topic, key, exc)

    def _apply_index(self, key: str | None, e: Mapping[str, Any] | None) -> None:
        if e is None:  # tombstone
            if key and "/" in key:
                adcode, period = key.split("/", 1)
                self.index.pop((adcode, period), None)
            return
        entry = {"city_adcode": str(e["city_adcode"]), "city": str(e["city"]), "province": str(e.get("province") or ""),
                 "period": str(e["period"]), "score": float(e["score"]), "components": dict(e.get("components") or {}),
                 "penalty": float(e.get("penalty") or 0.0), "offset": float(e.get("offset") or 0.0),
                 "updated_at": e.get("updated_at")}
        for k, v in e.items():  # keep whatever else the index publishes (e.g. per-event detail)
            entry.setdefault(k, v)
        self.index[(entry["city_adcode"], entry["period"])] = entry
        self.city_names[entry["city_adcode"]] = entry["city"]
        if entry["province"]:
            self.provinces[entry["city_adcode"]] = entry["province"]
        kind = period_kind(entry["period"])
        if entry["period"] > self.latest_period.get(kind, ""):
            self.latest_period[kind] = entry["period"]
            if self.metrics:
                self._export_period(kind)
        elif self.metrics and entry["period"] == self.latest_period[kind]:
            self._export_city(kind, entry)

    def _apply_alert(self, key: str | None, a: Mapping[str, Any] | None) -> None:
        if a is None:
            return
        alert = dict(a)
        for name in ("type", "story_id", "triggered_at", "title"):
            if not alert.get(name):
                raise ValueError(f"alert without {name}")
        k = alert_key(alert)
        if k in self.alerts:  # the same alert re-sent after a restart: keep the first
            return
        when = _utc(alert["triggered_at"])
        self._alert_seq += 1
        alert["key"] = k
        self.alerts[k] = alert
        bisect.insort(self._alert_order, (when, self._alert_seq, k))
        if alert.get("city_adcode") and alert.get("province"):
            self.provinces.setdefault(alert["city_adcode"], alert["province"])
        if alert.get("city_adcode") and alert.get("city"):
            self.city_names.setdefault(alert["city_adcode"], alert["city"])
        if alert["type"] in self._alert_counts:
            self._alert_counts[alert["type"]] += 1
            if self.metrics:
                self.metrics.alerts_recorded.labels(type=alert["type"]).set(self._alert_counts[alert["type"]])
        if len(self._alert_order) > MAX_ALERTS:
            _, _, old = self._alert_order.pop(0)
            self.alerts.pop(old, None)
        for q in list(self._listeners):
            try:
                q.put_nowait(alert)
            except asyncio.QueueFull:
                # A stalled stream client loses its stream (it reconnects with Last-Event-ID
                # and resumes from here), never the desk its memory.
                self._listeners.discard(q)
                q.overflowed = True  # type: ignore[attr-defined]

    def _apply_response(self, key: str | None, r: Mapping[str, Any] | None) -> None:
        if r is None:
            return
        story = str(r["story_id"])
        _utc(r["ts"])
        existing = self.responses.setdefault(story, [])
        if any(x.get("response_id") == r.get("response_id") for x in existing):
            return
        existing.append(dict(r))
        existing.sort(key=lambda x: x.get("ts") or "")

    def _apply_item(self, key: str | None, it: Mapping[str, Any] | None) -> None:
        if it is None:
            return
        item = {k: it.get(k) for k in ("ts", "site", "surface", "rank", "title", "url", "city", "city_adcode", "county",
                                        "province", "domain", "subfield", "polarity", "aspect", "story_id", "change")}
        if not item["title"] or not item["ts"]:
            raise ValueError("item without title or ts")
        item["ts_utc"] = _utc(item["ts"])  # also rejects a bad timestamp here, not in a page later
        item["_folded"] = item["title"].casefold()  # searched often, folded once
        polarity = item["polarity"] if item["polarity"] in POLARITIES else "neutral"
        domain = item["domain"] if item["domain"] in DOMAINS else "none"
        if self.metrics:
            self.metrics.desk_items_read_total.labels(domain=domain, polarity=polarity).inc()
        adcode = item["city_adcode"]
        if adcode:
            if item.get("province"):
                self.provinces.setdefault(adcode, item["province"])
            if item.get("city"):
                self.city_names.setdefault(adcode, item["city"])
            q = self.items_by_city.get(adcode)
            if q is None:
                q = self.items_by_city[adcode] = deque(maxlen=self.events_per_city)
            q.append(item)
        elif polarity != "neutral":
            self.unplaced_items.append(item)

    def _apply_health(self, key: str | None, h: Mapping[str, Any] | None) -> None:
        if h is None:
            if key:
                self.source_health.pop(key, None)
            return
        record = dict(h)
        k = f"{record['site']}/{record['surface']}"
        self.source_health[k] = record
        if self.metrics:
            labels = {"site": record["site"], "surface": record["surface"]}
            self.metrics.poll_items_parsed.labels(**labels).set(int(record.get("items_parsed") or 0))
            self.metrics.poll_consecutive_failures.labels(**labels).set(int(record.get("consecutive_failures") or 0))
            self.metrics.poll_yield_drop.labels(**labels).set(1 if record.get("yield_drop") else 0)
            last = _event_seconds(record.get("last_success"))
            if last is not None:
                self.metrics.poll_last_success_timestamp_seconds.labels(**labels).set(last)

    def _apply_subscription(self, key: str | None, s: Mapping[str, Any] | None) -> None:
        if s is None:
            if key:
                self.subscriptions.pop(key, None)
        else:
            sub = Subscription.from_json(s)
            self.subscriptions[sub.id] = sub
        if self.metrics:
            self.metrics.subscriptions_active.set(len(self.subscriptions))

    _handlers: dict[str, Callable[["DeskView", str | None, Any], None]] = {
        "city-index": _apply_index, "alerts": _apply_alert, "responses": _apply_response,
        "items": _apply_item, "source-health": _apply_health, "subscriptions": _apply_subscription,
    }

    def record_delay(self, topic: str, appended_at: float, now: float | None = None) -> None:
        """A record the desk read that reached ``topic`` at ``appended_at`` (its Kafka timestamp,
        Unix seconds) after the desk started reading: its processing delay is the pipeline lag.

        Not the event time in the record (``ts``, ``triggered_at``): a replay of a recorded day
        carries that day's times and is not days late because of it."""
        if self.metrics:
            now = time.time() if now is None else now
            self.metrics.pipeline_lag_seconds.labels(topic=topic).set(max(0.0, now - appended_at))

    def caught_up(self, topics: Iterable[str]) -> None:
        """Everything on ``topics`` when the desk started is read: a topic no new record has
        reached since has nothing waiting, a lag of 0 (history re-read is no delay)."""
        if self.metrics:
            known = {labels["topic"] for labels in _series_labels(self.metrics.pipeline_lag_seconds)}
            for topic in topics:
                if topic not in known:
                    self.metrics.pipeline_lag_seconds.labels(topic=topic).set(0.0)

    def _export_period(self, kind: str) -> None:
        """A new latest period of this kind: drop the previous period's city series, set this one's."""
        m = self.metrics
        assert m is not None
        for gauge in (m.city_index_score_points, m.city_penalty_points, m.city_offset_points, m.city_component_points):
            for labels in list(_series_labels(gauge)):
                if labels.get("period_kind") == kind:
                    gauge.remove(*[labels[n] for n in gauge._labelnames])
        period = self.latest_period[kind]
        for (_, p), e in self.index.items():
            if p == period:
                self._export_city(kind, e)

    def _export_city(self, kind: str, e: Mapping[str, Any]) -> None:
        """One city's gauges of the latest period (ranks are computed when scraped: ``_rank_samples``)."""
        m = self.metrics
        assert m is not None
        labels = {"city_adcode": e["city_adcode"], "city": e["city"], "province": e["province"] or "", "period_kind": kind}
        m.city_index_score_points.labels(**labels).set(e["score"])
        m.city_penalty_points.labels(**labels).set(e["penalty"])
        m.city_offset_points.labels(**labels).set(e["offset"])
        for aspect in ASPECTS:
            m.city_component_points.labels(**labels, aspect=aspect).set(float((e["components"] or {}).get(aspect, 0.0)))

    def _published_samples(self) -> Iterable[tuple[list[str], int]]:
        """((site, surface), observations acknowledged) from each surface's latest source-health record."""
        for record in list(self.source_health.values()):
            try:
                n = int(record.get("observations_published") or 0)
            except (TypeError, ValueError):
                continue
            yield [str(record["site"]), str(record["surface"])], n

    def _rank_samples(self) -> Iterable[tuple[list[str], int]]:
        """(label values, rank in its national peer group) of every city with an entry in the
        latest period of each kind: the board's ranks (``ranking``), not a re-ranking of the
        entries read, so a dashboard and the desk show one rank."""
        for kind, period in sorted(self.latest_period.items()):
            for r in self.ranking(period, change=False):
                if r["indexed"]:
                    yield [r["city_adcode"], r["city"], r["province"] or "", kind], r["rank"]

    # ---- streams -------------------------------------------------------------------
    def listen(self, maxsize: int = 1000) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        self._listeners.add(q)
        return q

    def unlisten(self, q: asyncio.Queue) -> None:
        self._listeners.discard(q)

    # ---- queries -------------------------------------------------------------------
    def province_of(self, adcode: str | None) -> str | None:
        return self.provinces.get(adcode) if adcode else None

    def periods(self) -> list[str]:
        return sorted({p for (_, p) in self.index}, key=lambda p: (period_kind(p) != "month", p), reverse=False)

    def default_period(self) -> str | None:
        return self.latest_period.get("month") or self.latest_period.get("12m")

    @property
    def scorer(self) -> CityScorer:
        """An empty scorer: the scope, the tie rule and the baseline row the index ranks with."""
        if self._scorer is None:
            self._scorer = CityScorer(state={}, emitted={})
        return self._scorer

    @property
    def scope(self) -> Scope:
        return self.scorer.scope

    def _baseline(self, period: str, adcode: str) -> dict[str, Any]:
        """The entry of a city without facts in ``period``, as the index ranks it (its bases and
        the [coverage.unmeasured] policy): the same for every such city, so built once."""
        base = self._baselines.get(period)
        if base is None:
            p = Period.parse(period, self.scorer.config.rolling_months)
            base = self._baselines[period] = self.scorer.entry(adcode, p).asdict()
        return {**base, "updated_at": None}

    def previous_period(self, period: str) -> str | None:
        """The same kind of period one month earlier, when the desk read any entry of it: a
        change against a month nobody scored would be a change against the baseline."""
        p = Period.parse(period, self.scorer.config.rolling_months)
        before = Period(p.end - 1, p.months).label
        return before if any(q == before for (_, q) in self.index) else None

    def ranking(self, period: str, province: str | None = None, group: str | None = None,
                change: bool = True) -> list[dict[str, Any]]:
        """The index's ranking of ``period`` (``CityScorer.ranking``) from the entries read: a row
        for every city in scope, a city without an entry at its baseline, each peer group ranked
        on its own by ``[ranking] tie_break``, through the same functions the index uses."""
        scorer = self.scorer
        Period.parse(period, scorer.config.rolling_months)  # a bad period is an error, not an empty board
        sets: dict[str, list[tuple[tuple[int, ...], Any, dict[str, Any]]]] = {}
        for member, peers in self.scope.view(scorer.registry, province, group):
            adcode = member.adcode
            e = self.index.get((adcode, period))
            indexed = e is not None
            if e is None:
                e = self._baseline(period, adcode)
            cov = e.get("coverage") or {}
            # an entry from before coverage / dishonest were published counts as none measured, none dishonest
            key = rank_key(scorer.config.tie_break, round(float(e["score"]) * 100), int(e.get("dishonest") or 0),
                           int(cov.get("measured_aspects") or 0))
            sets.setdefault(peers, []).append((key, member, {
                "period": period, "score": float(e["score"]), "components": dict(e.get("components") or {}),
                "penalty": float(e.get("penalty") or 0.0), "offset": float(e.get("offset") or 0.0),
                "coverage": _coverage_summary(cov), "indexed": indexed, "updated_at": e.get("updated_at")}))
        rows = rank_peer_sets(sets, bool(province))
        before = self.previous_period(period) if change else None
        # month-over-month: the same view a month earlier (rank > 0 = up, as the board's ↑)
        previous = {r["city_adcode"]: r for r in self.ranking(before, province, group, change=False)} if before else {}
        for r in rows:
            r["peers_label"] = (PROVINCE_SET_LABELS if province else GROUPS)[r["peers"]]
            was = previous.get(r["city_adcode"])
            r["change"] = None if was is None else {
                "previous_period": before, "previous_score": was["score"], "previous_rank": was["rank"],
                "score": round(r["score"] - was["score"], 2), "rank": was["rank"] - r["rank"]}
        return rows

    def province_names(self) -> list[str]:
        """Every province of the ranking scope: each has a board, news or not."""
        return sorted({m.province for m in self.scope.members.values()})

    def alerts_after(self, last_key: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Alerts in event-time order, after the one named ``last_key`` (all when unknown or None)."""
        start = 0
        if last_key and last_key in self.alerts:
            for i, (_, _, k) in enumerate(self._alert_order):
                if k == last_key:
                    start = i + 1
                    break
        return [self.alerts[k] for _, _, k in self._alert_order[start:start + limit]]

    def recent_alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        return [self.alerts[k] for _, _, k in reversed(self._alert_order[-limit:])]

    def city_alerts(self, adcode: str) -> list[dict[str, Any]]:
        return [self.alerts[k] for _, _, k in self._alert_order if self.alerts[k].get("city_adcode") == adcode]

    def major_events(self, adcode: str) -> dict[str, dict[str, Any]]:
        """Major dishonesty alerts of one city by story id: the events a response can be filed for."""
        return {a["story_id"]: a for a in self.city_alerts(adcode) if a["type"] == "major_dishonesty"}

    def city(self, adcode: str, period: str | None) -> dict[str, Any] | None:
        period = period or self.default_period()
        entry = self.index.get((adcode, period)) if period else None
        name = self.city_names.get(adcode)
        if entry is None and name is None and adcode not in self.items_by_city:
            return None
        ranks = {}
        if period and adcode in self.scope:
            # the board's ranks: among the city's national peer group, and its province's peer set
            national = next(r for r in self.ranking(period) if r["city_adcode"] == adcode)
            member = self.scope.get(adcode)
            provincial = next(r for r in self.ranking(period, member.province) if r["city_adcode"] == adcode)
            ranks = {"national": national["rank"], "national_of": national["of"], "group": national["peers_label"],
                     "province": provincial["rank"], "province_of": provincial["of"],
                     "province_group": provincial["peers_label"], "change": national["change"]}
            if entry and national["change"]:
                # what moved the score, by aspect (the facts behind it: `citycredit explain --change`)
                was = self.index.get((adcode, national["change"]["previous_period"])) \
                    or self._baseline(national["change"]["previous_period"], adcode)
                now_points, was_points = aspect_points(entry), aspect_points(was)
                moved = sorted(((round(now_points[a] - was_points[a], 2), a) for a in ASPECTS), key=lambda x: (-abs(x[0]), x[1]))
                ranks["top_changes"] = [{"aspect": a, "label": ASPECTS[a], "points": d} for d, a in moved[:3] if d]
        events = []
        for a in self.city_alerts(adcode):
            responses = self.responses.get(a["story_id"], []) if a["type"] == "major_dishonesty" else []
            events.append({**a, "responses": responses,
                           "status": ("responded" if responses else "open") if a["type"] == "major_dishonesty" else None})
        timeline = [_public(i) for i in sorted(self.items_by_city.get(adcode, ()), key=lambda i: i["ts_utc"], reverse=True)[:200]]
        return {"city_adcode": adcode, "city": name or (entry or {}).get("city"), "province": self.provinces.get(adcode),
                "period": period, "entry": entry, "ranks": ranks, "aspects": ASPECTS,
                "aspect_points": aspect_points(entry) if entry else None, "events": events,
                "timeline": timeline,
                "periods": sorted({p for (c, p) in self.index if c == adcode}, reverse=True)}

    def search(self, q: str = "", city: str | None = None, domain: str | None = None, polarity: str | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
        """Credit events (classified items) whose title contains ``q``, newest first."""
        pools: Iterable[Iterable[dict[str, Any]]]
        if city:
            pools = [self.items_by_city.get(city, ())]
        else:
            pools = [*self.items_by_city.values(), self.unplaced_items]
        needle = q.strip().casefold()
        out = [i for pool in pools for i in pool
               if (not needle or needle in i["_folded"])
               and (not domain or i.get("domain") == domain) and (not polarity or i.get("polarity") == polarity)]
        out.sort(key=lambda i: i["ts_utc"], reverse=True)
        return [_public(i) for i in out[:limit]]

    def health(self) -> list[dict[str, Any]]:
        return [self.source_health[k] for k in sorted(self.source_health)]


def aspect_points(entry: Mapping[str, Any]) -> dict[str, float]:
    """Points of each of the eight aspects, as ``explain`` lists them: the level aspects are in
    ``components``; 重大失信事件 is the ``penalty`` and 政府反馈 the ``offset`` (the index keeps
    them out of ``components``, which is why the city page showed "—" beside a header of -5.00)."""
    comps = entry.get("components") or {}
    special = {"major_dishonesty": entry.get("penalty"), "government_response": entry.get("offset")}
    return {a: float(comps[a]) if a in comps else float(special.get(a) or 0.0) for a in ASPECTS}


def _coverage_summary(cov: Mapping[str, Any]) -> dict[str, Any]:
    """What the board shows of an entry's coverage: measured share and the 未监测 aspects."""
    return {"measured_share": cov.get("measured_share"), "measured_aspects": cov.get("measured_aspects"),
            "of": cov.get("of"), "unmeasured": list(cov.get("unmeasured") or []),
            "unmeasured_points": cov.get("unmeasured_points")}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if not k.startswith("_")}


def _utc(ts: str) -> str:
    """Sortable UTC text of an ISO timestamp with offset (mixed +08:00 and Z sort correctly)."""
    from datetime import timezone

    return parse_ts(ts).astimezone(timezone.utc).isoformat()


def _series_labels(gauge: Any) -> Iterable[dict[str, str]]:
    for metric in gauge.collect():
        for sample in metric.samples:
            yield dict(sample.labels)
