"""Records on the topics.

``include_metadata=False`` keeps Faust's ``__faust`` type tag out of the JSON, so a
record on a topic is exactly the design.md contract that outside tools produce and
read. Records coming from outside go through ``parse()``, which raises
``InputError`` with a message naming the field; agents send failures to the
dead-letter topic with that message.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping, Optional

import faust

from citycredit.exceptions import InputError
from citycredit.ids import ALERT_TRIGGERS, ALERT_TYPES, CHANGES, POLARITIES, RESPONSE_KINDS, SURFACES

MAX_TITLE_CHARS = 500  # real headlines are < 100 chars; longer is a parser or payload error
MAX_SUMMARY_CHARS = 5000
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_ADCODE = re.compile(r"^\d{6}$")


def parse_ts(value: Any, field: str = "ts") -> datetime:
    """An ISO-8601 timestamp *with* a UTC offset; naive times are rejected, not guessed."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{field}: expected an ISO-8601 string with offset, got {value!r}")
    try:
        ts = datetime.fromisoformat(value.strip())  # reads a trailing "Z" as UTC since Python 3.11
    except ValueError as exc:
        raise InputError(f"{field}: not ISO-8601: {value!r}") from exc
    if ts.tzinfo is None:
        raise InputError(f"{field}: timestamp has no UTC offset: {value!r}")
    return ts


def _require(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in data or data[name] is None:
        raise InputError(f"{name}: missing")
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise InputError(f"{name}: expected {getattr(kind, '__name__', kind)}, got {type(value).__name__}")
    return value


def _optional(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(f"{name}: expected {getattr(kind, '__name__', kind)} or null, got {type(value).__name__}")
    return value


class _Record(faust.Record, abstract=True, serializer="json", include_metadata=False, coerce=False):
    """Kept on purpose, against the Faust habit (coerce=True, datetime fields): the JSON on the
    topics is design.md §3's contract, times as ISO-8601 strings with their offset exactly as
    the site or filer gave them. Validation is explicit and strict instead (``parse`` and
    ``__post_init__``: a wrong type is an InputError naming the field, never coerced), and
    ``parse_ts`` gives the aware datetime wherever time is computed (``event_time``)."""


class Observation(_Record):
    """A headline seen on one surface of one site at one (event) time."""

    ts: str
    site: str
    surface: str
    title: str
    url: str
    rank: Optional[int] = None
    summary: Optional[str] = None
    # Extra to design.md: what changed on the surface (appeared / rank_changed / left).
    change: str = "appeared"

    @classmethod
    def parse(cls, data: Any) -> "Observation":
        if not isinstance(data, Mapping):
            raise InputError(f"observation: expected a JSON object, got {type(data).__name__}")
        ts = _require(data, "ts", str)
        parse_ts(ts)
        site = _require(data, "site", str)
        if not _SITE_ID.match(site):
            raise InputError(f"site: not a site id: {site!r}")
        surface = _require(data, "surface", str)
        if surface not in SURFACES:
            raise InputError(f"surface: {surface!r} is not one of {', '.join(SURFACES)}")
        title = _require(data, "title", str)
        if not title.strip():
            raise InputError("title: empty")
        if len(title) > MAX_TITLE_CHARS:
            raise InputError(f"title: {len(title)} characters, more than {MAX_TITLE_CHARS}")
        url = _optional(data, "url", str) or ""
        rank = _optional(data, "rank", int)
        if rank is not None and rank < 1:
            raise InputError(f"rank: must be >= 1, got {rank}")
        summary = _optional(data, "summary", str)
        if summary is not None and len(summary) > MAX_SUMMARY_CHARS:
            summary = summary[:MAX_SUMMARY_CHARS]
        change = data.get("change") or "appeared"
        if change not in CHANGES:
            raise InputError(f"change: {change!r} is not one of {', '.join(CHANGES)}")
        return cls(ts=ts, site=site, surface=surface, title=title, url=url, rank=rank, summary=summary, change=change)

    @property
    def event_time(self) -> datetime:
        return parse_ts(self.ts)


class Item(_Record):
    """A classified observation: the observation fields plus what it means."""

    ts: str
    site: str
    surface: str
    title: str
    url: str
    rank: Optional[int]
    summary: Optional[str]
    change: str
    city: Optional[str]
    city_adcode: Optional[str]
    county: Optional[str]
    county_adcode: Optional[str]
    province: Optional[str]
    domain: Optional[str]
    subfield: Optional[str]
    polarity: str
    aspect: Optional[str]
    story_id: str
    evidence: dict
    # Extra to design.md: the reader's probability of the polarity it chose (None when no trained
    # reader decided it). It weighs the item's vote on its story's polarity, so a doubtful reading
    # does not outvote a certain one (detection.windows.story_polarity).
    polarity_p: Optional[float] = None

    def __post_init__(self) -> None:
        if self.polarity not in POLARITIES:
            raise InputError(f"polarity: {self.polarity!r} is not one of {', '.join(POLARITIES)}")
        p = self.polarity_p
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0):
            raise InputError(f"polarity_p: expected a probability in [0, 1] or null, got {p!r}")
        if self.city_adcode is not None and not _ADCODE.match(self.city_adcode):
            raise InputError(f"city_adcode: not 6 digits: {self.city_adcode!r}")


class Alert(_Record):
    type: str
    story_id: str
    city: Optional[str]
    city_adcode: Optional[str]
    domain: Optional[str]
    trigger: str
    sites: list
    first_seen: str
    triggered_at: str
    title: str
    urls: list
    # Extras to design.md, for subscriber filters and the desk.
    province: Optional[str] = None
    subfield: Optional[str] = None
    # Why the rule fired (the sightings in the window, the ranking entry, or the trend
    # statistics): every alert traceable to its items.
    evidence: Optional[dict] = None

    def __post_init__(self) -> None:
        if self.type not in ALERT_TYPES:
            raise InputError(f"type: {self.type!r} is not one of {', '.join(ALERT_TYPES)}")
        if self.trigger not in ALERT_TRIGGERS:
            raise InputError(f"trigger: {self.trigger!r} is not one of {', '.join(ALERT_TRIGGERS)}")


class Response(_Record):
    """A government response to a major dishonesty event (story) of one city."""

    response_id: str
    ts: str
    city_adcode: str
    story_id: str
    kind: str
    source: str  # api | cli | news
    title: str = ""
    url: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.kind not in RESPONSE_KINDS:
            raise InputError(f"kind: {self.kind!r} is not one of {', '.join(RESPONSE_KINDS)}")
        if not _ADCODE.match(self.city_adcode or ""):
            raise InputError(f"city_adcode: not 6 digits: {self.city_adcode!r}")
        parse_ts(self.ts)


class CreditRecord(_Record):
    """A structured input for an aspect that is not news: blacklist row, filed policy, disclosure check, task completion."""

    record_id: str
    kind: str
    ts: str
    city_adcode: str
    payload: dict


class CityIndexEntry(_Record):
    city_adcode: str
    city: str
    province: str
    period: str  # "2026-11" (calendar month) or "12m:2026-11" (rolling 12 months ending that month)
    score: float
    components: dict
    penalty: float
    offset: float
    updated_at: str
    # Extra to design.md: the city's peer group and what each aspect rests on (scorer coverage()),
    # so the desk can show 未监测 beside an aspect nobody measured.
    group: Optional[str] = None
    coverage: Optional[dict] = None
    # Dishonest stories and major events counted in the period: the second tie-break of the
    # ranking, so the desk ranks entries by the same rule as the index (scorer.rank_key).
    dishonest: Optional[int] = None


class SourceHealth(_Record):
    site: str
    surface: str
    url: str
    last_success: Optional[str]
    last_error: Optional[str]
    items_parsed: int
    consecutive_failures: int
    yield_drop: bool
    # Extra to design.md: observations of this surface the broker had acknowledged when this
    # record was written, since the pollers started (the worker exports it as
    # citycredit_poll_observations_published_total{site,surface})
    observations_published: int = 0

