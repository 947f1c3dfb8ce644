"""The monthly report's content, as plain data: built from the city index and the alerts.

``ReportInputs`` is the index's replay sink (``on_item`` / ``on_alert`` / ``on_response`` /
``on_record``): it feeds a ``CityScorer`` and keeps what the index does not, the early
warnings and the dishonest stories per province and high-incidence area. ``build_report`` then reads three rankings (the month, the month
before, the rolling 12 months), each city's explain data for its major events, and the
scoring configuration for the methods page.

Nothing here reads the clock: the same inputs and period give the same dict, so the HTML
and XLSX made from it are byte-identical.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from citycredit.exceptions import InputError
from citycredit.ids import (ASPECTS, DOMAINS, EARLY_WARNING_SUBFIELDS, RESPONSE_KIND_NAMES, RESPONSE_KINDS, SITES, SUBFIELDS,
                            TRIGGER_NAMES)
from citycredit.scoring.periods import Period, epoch, iso, month_index, month_label, parse_month
from citycredit.scoring.scope import GROUPS, PROVINCE_SET_LABELS
from citycredit.scoring.scorer import CityScorer
from citycredit.scoring.sink import ScoringSink

NATIONAL = "全国"
TOP_MOVERS = 10


class ReportInputs(ScoringSink):
    """The index's replay sink, keeping besides what the index does not: early warnings and
    the dishonest stories per month, province and high-incidence area."""

    def __init__(self, scorer: CityScorer | None = None) -> None:
        super().__init__(scorer)
        self.warnings: list[dict[str, Any]] = []  # early-warning alerts, as dicts
        # (month index, province, subfield) -> story ids of dishonest items: one story counts once
        self.incidence: dict[tuple[int, str, str], set[str]] = {}

    def on_item(self, item: Any) -> None:
        super().on_item(item)
        if item.polarity == "dishonest" and item.province and item.subfield in EARLY_WARNING_SUBFIELDS:
            try:
                m = month_index(epoch(item.ts))
            except InputError:
                return  # the index has already reported the bad time
            self.incidence.setdefault((m, item.province, item.subfield), set()).add(item.story_id)

    def feed(self, records: Iterable[Any]) -> None:
        """Records read from the topics (items, alerts, responses, credit records), in event-time order."""
        from citycredit.scoring.inputs import feed

        for rec in records:
            feed(self, rec)

    def on_alert(self, alert: Any) -> None:
        if alert.type == "early_warning":
            self.warnings.append(alert.asdict())
        super().on_alert(alert)


def _scope_label(scorer: CityScorer, province: str | None) -> str:
    if not province:
        return NATIONAL
    for adcode in scorer.scope.members:
        if scorer.registry.province_matches(adcode, province):
            return scorer.scope.members[adcode].province
    raise InputError(f"scope: {province!r} matches no province of the ranking scope (use 全国 or a province name)")


def _rank_rows(report_rows: list[dict[str, Any]], prev_rows: list[dict[str, Any]],
               rolling_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev = {r["city_adcode"]: r for r in prev_rows}
    rolling = {r["city_adcode"]: r for r in rolling_rows}
    out = []
    for r in report_rows:
        p, y = prev[r["city_adcode"]], rolling[r["city_adcode"]]
        cov = r["coverage"]
        out.append({
            "peers": r["peers"], "rank": r["rank"], "of": r["of"], "city": r["city"], "city_adcode": r["city_adcode"],
            "province": r["province"], "score": r["score"], "penalty": r["penalty"], "offset": r["offset"],
            "components": r["components"],
            "prev_score": p["score"], "prev_rank": p["rank"],
            # rounded: the scores are exact hundredths, their difference must print as one
            "score_change": round(r["score"] - p["score"], 2), "rank_change": p["rank"] - r["rank"],
            "rolling_score": y["score"], "rolling_rank": y["rank"],
            "measured_share": cov["measured_share"], "unmeasured": [ASPECTS[a] for a in cov["unmeasured"]],
        })
    return out


def _events(scorer: CityScorer, adcodes: list[str], period: Period) -> dict[str, list[dict[str, Any]]]:
    """The month's major events of the cities in scope, from each city's explain data: the
    deduction or bonus, the trigger, and every response with the offset it earned."""
    majors: list[dict[str, Any]] = []
    trustworthy: list[dict[str, Any]] = []
    for adcode in adcodes:
        facts = scorer.alerts_in_month(adcode, period.end)
        if not facts:
            continue
        ex = scorer.explain(adcode, period.label)
        city = {"city": ex["city"], "city_adcode": adcode, "province": ex["province"]}
        for c in ex["aspects"]["major_dishonesty"]["contributions"]:
            fact = facts.get(f"major_dishonesty|{c['id']}", {})
            responses = [{"kind": r["kind"], "kind_label": RESPONSE_KIND_NAMES[r["kind"]], "source": r["source"],
                          "ts": r["ts"], "title": r["title"], "lateness_factor": r["lateness_factor"],
                          "points": r["points"]} for r in c.get("responses", [])]
            offset = round(sum(r["points"] for r in responses), 2)
            majors.append({**city, "story_id": c["id"], "title": c["title"], "ts": c["ts"], "urls": c["urls"],
                           "trigger": c["trigger"], "trigger_text": _trigger_text(c["trigger"], c["sites"]),
                           "domain": DOMAINS.get(fact.get("d") or "", ""), "deduction": c["points"],
                           "responses": responses, "offset": offset, "net": round(c["points"] + offset, 2)})
        for c in ex["aspects"]["major_trustworthy"]["contributions"]:
            fact = facts.get(f"major_trustworthy|{c['id']}", {})
            trustworthy.append({**city, "story_id": c["id"], "title": c["title"], "ts": c["ts"], "urls": c["urls"],
                                "trigger": fact.get("trigger", ""),
                                "trigger_text": _trigger_text(fact.get("trigger", ""), fact.get("sites", [])),
                                "points": c["points"]})
    order = lambda e: (e["ts"], e["city_adcode"], e["story_id"])  # noqa: E731
    return {"major_dishonesty": sorted(majors, key=order), "major_trustworthy": sorted(trustworthy, key=order)}


def _trigger_text(trigger: str, sites: list[str]) -> str:
    names = "、".join(SITES.get(s, s) for s in sites)
    if trigger == "homepages":
        return f"{len(sites)} 家网站首页：{names}"
    if trigger == "hotlist":
        return f"热榜前列：{names}"
    return TRIGGER_NAMES.get(trigger, trigger)


def _warnings(inputs: ReportInputs, period: Period, province: str | None) -> list[dict[str, Any]]:
    """Per province: the month's early warnings and its dishonest stories per high-incidence area."""
    by_province: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return by_province.setdefault(name, {"province": name, "early_warnings": [],
                                             "incidence": {s: 0 for s in EARLY_WARNING_SUBFIELDS}})

    def in_scope(name: str) -> bool:
        return not province or name == province

    for w in inputs.warnings:
        if month_index(epoch(w["triggered_at"], "triggered_at")) != period.end or not w.get("province"):
            continue
        if in_scope(w["province"]):
            ev = w.get("evidence") or {}
            entry(w["province"])["early_warnings"].append({
                "ts": w["triggered_at"], "city": w.get("city") or "", "subfield": SUBFIELDS.get(w.get("subfield") or "", ""),
                "title": w["title"], "count": ev.get("count"), "expected": ev.get("expected"), "p_value": ev.get("p_value")})
    for (m, name, subfield), stories in inputs.incidence.items():
        if m == period.end and in_scope(name):
            entry(name)["incidence"][subfield] += len(stories)
    out = []
    for name in sorted(by_province):
        e = by_province[name]
        e["early_warnings"].sort(key=lambda w: (w["ts"], w["title"]))
        e["total"] = sum(e["incidence"].values())
        out.append(e)
    out.sort(key=lambda e: (-e["total"], e["province"]))
    return out


def _coverage(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How many cities of the scope each aspect was measured for (the rest show 未监测)."""
    total = len(rows)
    missing: dict[str, int] = {label: 0 for label in ASPECTS.values()}
    for r in rows:
        for label in r["unmeasured"]:
            missing[label] += 1
    return [{"aspect": label, "measured": total - missing[label], "of": total} for label in ASPECTS.values()]


def _section_notes(source: str) -> dict[str, str]:
    """The comment under each ``[section]`` header of scoring.toml: the reason for its values,
    which is what a methods page should say (the file is the one place it is written)."""
    notes: dict[str, str] = {}
    try:
        lines = Path(source).read_text(encoding="utf-8").splitlines()
    except OSError:
        return notes  # a config built in memory (tests) has no file: the page shows the values alone
    for n, line in enumerate(lines):
        m = re.match(r"^\[([\w.]+)\]\s*$", line)
        if m:
            text = []
            for follow in lines[n + 1:]:
                if not follow.startswith("#"):
                    break
                text.append(follow.lstrip("# ").strip())
            notes[m.group(1)] = " ".join(text)
    return notes


def _detection_rules(rules: Any) -> dict[str, Any]:
    m, t = rules.major, rules.trend
    return {"site_threshold": m.site_threshold, "window_hours": m.window_hours, "hotlist_top_n": m.hotlist_top_n,
            "trend_recent_days": t.recent_days, "trend_baseline_days": t.baseline_days,
            "trend_min_count": t.min_count, "trend_p_value": t.p_value}


def _event_types() -> list[dict[str, str]]:
    """The reading's taxonomy (config/event_types.toml): what the monitor counts as which event."""
    from citycredit.understanding.frames import load_frame_reader

    return [{"name": t.name, "subfield": SUBFIELDS.get(t.subfield or "", "—"),
             "polarity": {"dishonest": "失信", "trustworthy": "守信"}.get(t.polarity, "—")}
            for t in load_frame_reader().types.values()]


def methods(scorer: CityScorer) -> dict[str, Any]:
    """The methods page, from the scoring configuration in use (scoring.toml, its values and
    the reasons written beside them) and the detection rules."""
    from citycredit.detection import load_config
    from citycredit.settings import get_settings

    cfg = scorer.config
    notes = _section_notes(cfg.source)
    aspects = [{"aspect": ASPECTS.get(name, name), "id": name, "base": a.base / 100, "min": a.low / 100,
                "max": a.high / 100, "note": notes.get(f"aspects.{name}", "")} for name, a in cfg.aspects.items()]
    rules = load_config(get_settings().detection_config)
    return {"aspects": aspects, "deduction": cfg.deduction / 100, "deduction_note": notes.get("major_dishonesty", ""),
            "shares": [{"kind": RESPONSE_KIND_NAMES[k], "share": cfg.shares_bp[k] / 10000} for k in RESPONSE_KINDS],
            "max_share": cfg.max_share_bp / 10000, "response_note": notes.get("response", ""),
            "lateness": [{"days": r.within_seconds // 86400, "factor": r.factor_bp / 10000} for r in cfg.lateness],
            "rolling_months": cfg.rolling_months, "rolling_weights": [w / 10000 for w in cfg.rolling_weights_bp],
            "periods_note": notes.get("periods", ""), "tie_break": list(cfg.tie_break),
            "detection": _detection_rules(rules), "event_types": _event_types(), "source": Path(cfg.source).name if cfg.source else ""}


def build_report(inputs: ReportInputs, period: str, scope: str | None = None) -> dict[str, Any]:
    """Everything the monthly report shows for calendar month ``period`` (YYYY-MM) and ``scope``
    (None or 全国 for the whole country, or a province name or code)."""
    scorer = inputs.scorer
    try:
        month = parse_month(period)
    except InputError as exc:
        raise InputError(f"period: {exc} (a calendar month, e.g. 2026-11)") from exc
    province = None if scope in (None, "", NATIONAL) else scope
    label = _scope_label(scorer, province)
    this, before = Period(month, 1), Period(month - 1, 1)
    rolling = Period(month, scorer.config.rolling_months)
    rows = _rank_rows(scorer.ranking(this.label, province), scorer.ranking(before.label, province),
                      scorer.ranking(rolling.label, province))
    peer_labels = PROVINCE_SET_LABELS if province else GROUPS
    groups = []
    for peers, name in peer_labels.items():
        members = [r for r in rows if r["peers"] == peers]
        if members:
            groups.append({"peers": peers, "label": name, "rows": members})
    warnings = _warnings(inputs, this, label if province else None)
    moved = sorted((r for r in rows if r["score_change"]), key=lambda r: (-r["score_change"], r["city_adcode"]))
    events = _events(scorer, [r["city_adcode"] for r in rows], this)
    marks = [scorer.state[a]["wm"] for a in (r["city_adcode"] for r in rows)
             if scorer.state.get(a) is not None and scorer.state[a].get("wm") is not None]
    return {
        "title": f"{label}城市信用状况监测报告（{month_label(month)[:4]}年{int(month_label(month)[5:])}月）",
        "period": this.label, "previous_period": before.label, "rolling_period": rolling.label,
        "rolling_months": rolling.months, "scope": label, "provincial": bool(province),
        # the newest event time the index holds for the scope: the report's "as of", never the clock
        "data_through": iso(max(marks)) if marks else None,
        "groups": groups,
        "movers": {"up": [r for r in moved if r["score_change"] > 0][:TOP_MOVERS],
                   "down": [r for r in reversed(moved) if r["score_change"] < 0][:TOP_MOVERS]},
        "events": events,
        "warnings": warnings,  # each province's incidence in the order of incidence_labels
        "incidence_labels": [SUBFIELDS[s] for s in EARLY_WARNING_SUBFIELDS],
        "coverage": _coverage(rows),
        "totals": {"cities": len(rows), "major_dishonesty": len(events["major_dishonesty"]),
                   "major_trustworthy": len(events["major_trustworthy"]),
                   "responses": sum(len(e["responses"]) for e in events["major_dishonesty"]),
                   "early_warnings": sum(len(w["early_warnings"]) for w in warnings)},
        "methods": methods(scorer),
        "rejected": len(inputs.rejected),
    }
