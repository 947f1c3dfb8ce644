"""A city's facts in a state mapping, sharded by month: the index's storage.

Per city, a small meta row under the adcode (watermarks, the months it has, a revision)
and the facts of each month in ``SHARDS_PER_MONTH`` rows under ``"<adcode>|YYYY-MM|NN"``
(NN from the fact id), each fact in the month of its event time: an update rewrites one
shard of one month, not the city's year (the rows are what a Faust table writes to its
changelog on every change). All keys of a city are written while processing that city's
partition, so they stay co-partitioned.

The merged view of a city's facts is cached between updates and checked against the meta
row's revision (unique per instance and write), so a view is rebuilt from the state only
when another instance (another worker, before a rebalance) wrote the city.
"""
from __future__ import annotations

import json
import os
import zlib
from collections import OrderedDict
from typing import Any, Mapping, MutableMapping

from .periods import month_index, month_label

CREDIT_EVENT_ASPECTS = ("credit_event", "major_dishonesty", "major_trustworthy")


def earlier(new: Mapping[str, Any], old: Mapping[str, Any]) -> bool:
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


def new_city() -> dict[str, Any]:
    # wm: newest event time of any fact (prunes old months); nwm: of news items and alerts
    # only (the lateness bound), so a desk filing dated ahead cannot make news "late".
    # _sum: per-month counts of the stories and records (see count_fact), never stored.
    return {"wm": None, "nwm": None, "months": [], **{k: {} for k in FACT_KINDS}, "_sum": {}}


def _month_summary() -> dict[str, Any]:
    return {"stories": 0, "dishonest": 0, "trustworthy": 0, "policy": {}, "media": 0, "black": 0,
            "records": 0, "black_records": 0, "red_records": 0, "bl": {}, "checks": {}, "tasks": {}}


def count_fact(view: dict[str, Any], kind: str, fact_id: str, fact: Mapping[str, Any], sign: int) -> None:
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


def changed(kind: str, fact_id: str, prev: Mapping[str, Any] | None) -> set[tuple[str, str, int | None]]:
    """The change to store: fact ``fact_id`` of ``kind``, and the month it was in before (if any)."""
    return {(kind, fact_id, month_index(prev["t"]) if prev is not None else None)}


def _month_prefix(adcode: str, month: int) -> str:
    return f"{adcode}|{month_label(month)}|"


def shard_key(adcode: str, month: int, shard: int) -> str:
    return f"{_month_prefix(adcode, month)}{shard:02d}"


class CityFacts:
    """The facts of every city in ``state`` (a dict in replay and tests, a Faust table in the
    agent), with the merged view of each city cached."""

    def __init__(self, state: MutableMapping[str, Any], retain_months: int) -> None:
        self.state = state
        self.retain_months = retain_months
        self._views: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()  # adcode -> (revision, view)
        self._rev_prefix = os.urandom(6).hex()  # revisions of this instance never equal another's
        self._revs = 0

    def cities(self) -> list[str]:
        """Adcodes of the cities in the state (the meta rows, not the month rows)."""
        return sorted(k for k in self.state.keys() if "|" not in k)

    def load(self, adcode: str) -> dict[str, Any]:
        """The city's facts of every retained month merged into one view. The caller may change
        it and must then ``store`` it: every check that can fail runs before anything is
        changed, so a rejected input writes nothing."""
        meta = self.state.get(adcode)
        if meta is None:
            return new_city()
        cached = self._views.get(adcode)
        if cached is not None and cached[0] == meta.get("rev"):
            self._views.move_to_end(adcode)
            return cached[1]
        view = new_city()
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
                count_fact(view, kind, fact_id, fact, 1)
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

    def store(self, adcode: str, row: dict[str, Any], t: int, dirty: set[tuple[str, str, int | None]],
               news: bool = False) -> None:
        """Write the changed facts (``dirty``) into their (month, shard) rows, and the meta row;
        months past retention are deleted, from the state and the view."""
        self._views.pop(adcode, None)  # until the writes below are done, the state is the truth
        if news:
            row["nwm"] = t if row.get("nwm") is None else max(row["nwm"], t)
        row["wm"] = t if row["wm"] is None else max(row["wm"], t)
        oldest = month_index(row["wm"]) - self.retain_months + 1
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
