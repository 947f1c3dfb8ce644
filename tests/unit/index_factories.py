"""Builders of Items, Alerts and Responses for the city index tests (real records, real config)."""
from __future__ import annotations

from schemas import Alert, Item, Response

CITY_A = "320500"  # 苏州市
CITY_B = "320200"  # 无锡市
CITY_C = "330100"  # 杭州市 (another province)


def item(story: str, city: str | None = CITY_A, ts: str = "2026-03-05T10:00:00+08:00", aspect: str | None = "credit_event",
         polarity: str = "dishonest", domain: str | None = "business", site: str = "people", url: str | None = None,
         title: str | None = None, evidence: dict | None = None, change: str = "appeared") -> Item:
    return Item(ts=ts, site=site, surface="homepage", title=title or f"{story} 标题", url=url or f"http://{site}.example/{story}",
                rank=None, summary=None, change=change, city=None, city_adcode=city, county=None, county_adcode=None,
                province=None, domain=domain, subfield=None, polarity=polarity, aspect=aspect, story_id=story,
                evidence=evidence or {})


def alert(story: str, city: str | None = CITY_A, ts: str = "2026-03-05T12:00:00+08:00", type: str = "major_dishonesty",
          first_seen: str | None = None, domain: str | None = "business", trigger: str = "homepages") -> Alert:
    return Alert(type=type, story_id=story, city=None, city_adcode=city, domain=domain, trigger=trigger,
                 sites=["people", "xinhua", "sina"], first_seen=first_seen or ts, triggered_at=ts,
                 title=f"{story} 重大失信", urls=[f"http://people.example/{story}"])


def response(story: str, kind: str = "statement", city: str = CITY_A, ts: str = "2026-03-06T09:00:00+08:00",
             rid: str | None = None, source: str = "cli") -> Response:
    return Response(response_id=rid or f"r-{story}-{kind}", ts=ts, city_adcode=city, story_id=story, kind=kind,
                    source=source, title=f"{story} {kind}", url=f"http://gov.example/{story}/{kind}")
