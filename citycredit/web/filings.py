"""A government response filed through the desk or the API.

The checks themselves are the index's (``citycredit.scoring.filings.validate_response``,
shared with ``citycredit respond``); the API adds only what belongs to its surface: a
closed set of body fields, a title or note saying what was done, and "now" as the time
of a filing that gives none.

Hand-written, not a pydantic model: the checks are the index's own (known event of that
city, time after the event, kind), shared with the CLI; the body's shape is three lines here.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from citycredit.exceptions import InputError
from citycredit.scoring.filings import validate_response
from citycredit.scoring.periods import CST
from schemas import Response

__all__ = ["FIELDS", "validate_filing"]

FIELDS = ("city_adcode", "story_id", "kind", "title", "url", "note", "ts")


def validate_filing(payload: Any, known_events: Mapping[str, Any], now: datetime | None = None) -> Response:
    """A filed response -> Response for the ``responses`` topic; ``InputError`` (``UnknownEvent``
    for a story that is not a major dishonesty event of that city) for anything wrong."""
    if not isinstance(payload, Mapping):
        raise InputError("body: expected a JSON object")
    unknown = set(payload) - set(FIELDS)
    if unknown:
        raise InputError(f"body: unknown field(s) {', '.join(sorted(unknown))}; allowed: {', '.join(FIELDS)}")
    if not str(payload.get("title") or "").strip() and not str(payload.get("note") or "").strip():
        raise InputError("title: say what the response was (a title or a note is required)")
    now = now or datetime.now(timezone.utc)
    filing = dict(payload, source="api")
    if filing.get("ts") is None:
        # Beijing time, as `citycredit respond`, the items and the alerts are stamped: the same
        # instant in UTC read as a different day on the city page and in explain near midnight.
        filing["ts"] = now.astimezone(CST).isoformat(timespec="seconds")
    return validate_response(filing, known_events, now=now)
