"""Building items for detection tests directly, so window tests do not depend on the classifier."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from schemas import Item

T0 = datetime(2026, 2, 3, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def at(hours: float) -> str:
    """Event time ``hours`` after 2026-02-03 08:00 China time, as an ISO string with offset."""
    return (T0 + timedelta(hours=hours)).isoformat()


def item(hours: float, site: str, surface: str = "homepage", *, rank: int | None = None, story: str = "s-1",
         city: str | None = "苏州市", adcode: str | None = "320500", polarity: str = "dishonest",
         subfield: str | None = "food_safety", change: str = "appeared", url: str | None = None,
         title: str = "苏州一食品企业使用过期原料被立案调查", polarity_p: float | None = None) -> Item:
    return Item(ts=at(hours), site=site, surface=surface, title=title,
                url=url if url is not None else f"http://{site}.example.cn/{story}.html", rank=rank, summary=None,
                change=change, city=city, city_adcode=adcode, county=None, county_adcode=None,
                province="江苏省" if adcode else None, domain="business" if polarity != "neutral" else None,
                subfield=subfield, polarity=polarity,
                aspect="credit_event" if polarity != "neutral" else None, story_id=story, evidence={},
                polarity_p=polarity_p)
