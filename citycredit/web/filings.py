"""Checking a government response filed through the desk or the API.

One function, ``validate_filing``, so that when ``citycredit.scoring.validate_response``
lands the API swaps to it in one place (same shape: payload and the known events in,
a ``schemas.Response`` out, ``InputError`` for anything wrong).
"""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timezone
from typing import Any, Mapping

from citycredit.exceptions import InputError
from citycredit.ids import RESPONSE_KINDS
from schemas import Response, parse_ts

MAX_TEXT = {"title": 300, "url": 2000, "note": 2000}
_ADCODE = re.compile(r"^\d{6}$")
FIELDS = ("city_adcode", "story_id", "kind", "title", "url", "note", "ts")


class UnknownEvent(InputError):
    """The response names a story that is not a major dishonesty event of that city."""


def validate_filing(payload: Any, known_events: Mapping[str, Mapping[str, Any]], now: datetime | None = None) -> Response:
    """A filed response -> Response record for the ``responses`` topic.

    ``known_events`` maps story id -> major dishonesty alert of the city named in the
    payload; a response for anything else would offset nothing, so it is refused.
    """
    if not isinstance(payload, Mapping):
        raise InputError("body: expected a JSON object")
    unknown = set(payload) - set(FIELDS)
    if unknown:
        raise InputError(f"body: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(FIELDS)}")
    adcode = payload.get("city_adcode")
    if not isinstance(adcode, str) or not _ADCODE.match(adcode):
        raise InputError(f"city_adcode: expected 6 digits, got {adcode!r}")
    story = payload.get("story_id")
    if not isinstance(story, str) or not story or len(story) > 100:
        raise InputError("story_id: expected the id of a major dishonesty event")
    if story not in known_events:
        raise UnknownEvent(f"story_id: {story!r} is not a major dishonesty event of city {adcode}")
    kind = payload.get("kind")
    if kind not in RESPONSE_KINDS:
        raise InputError(f"kind: {kind!r} is not one of {', '.join(RESPONSE_KINDS)}")
    text: dict[str, str] = {}
    for name, limit in MAX_TEXT.items():
        value = payload.get(name) or ""
        if not isinstance(value, str):
            raise InputError(f"{name}: expected a string")
        if len(value) > limit:
            raise InputError(f"{name}: {len(value)} characters, more than {limit}")
        text[name] = value.strip()
    if text["url"] and not re.match(r"^https?://[^\s]+$", text["url"]):
        raise InputError("url: expected an http(s) link to the published response")
    if not text["title"] and not text["note"]:
        raise InputError("title: say what the response was (a title or a note is required)")
    ts = payload.get("ts")
    if ts is None:
        ts = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    else:
        parse_ts(ts)
        # A response cannot answer an event before the event happened.
        if parse_ts(ts) < parse_ts(known_events[story]["triggered_at"], "triggered_at"):
            raise InputError(f"ts: {ts} is before the event was flagged ({known_events[story]['triggered_at']})")
    return Response(response_id="r-" + secrets.token_hex(8), ts=ts, city_adcode=adcode, story_id=story, kind=kind,
                    source="api", title=text["title"], url=text["url"], note=text["note"])
