"""When a subscription wants its alerts: at once, in a daily digest, and never in quiet hours.

Times are China time (+08:00), the desk's. A digest at ``HH:MM`` holds each alert until the
first ``HH:MM`` after the alert was triggered (its event time), then sends every alert that
was waiting as one message: after a worker restart at 08:05, the 08:00 digest goes out at
once, not a day late. Quiet hours ``HH:MM-HH:MM`` (may cross midnight) hold every delivery,
digest or not, until they end; nothing is dropped.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from citycredit.exceptions import InputError
from schemas import parse_ts

CHINA = timezone(timedelta(hours=8))
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def minutes(text: str, name: str) -> int:
    """"08:30" -> 510, or InputError naming the field."""
    m = _HHMM.match(text) if isinstance(text, str) else None
    if not m:
        raise InputError(f"{name}: expected HH:MM (China time), got {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_quiet(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-") if isinstance(text, str) else ("", "", "")
    if not sep:
        raise InputError(f"quiet_hours: expected HH:MM-HH:MM (China time), got {text!r}")
    a, b = minutes(start, "quiet_hours"), minutes(end, "quiet_hours")
    if a == b:
        raise InputError("quiet_hours: start and end are the same time")
    return a, b


def quiet_left(quiet: str, now: float) -> float:
    """Seconds until the quiet hours end, 0 outside them (or with none)."""
    if not quiet:
        return 0.0
    start, end = parse_quiet(quiet)
    t = datetime.fromtimestamp(now, CHINA)
    m = t.hour * 60 + t.minute + t.second / 60
    inside = start <= m < end if start < end else (m >= start or m < end)
    if not inside:
        return 0.0
    return ((end - m) % (24 * 60)) * 60


def last_boundary(digest_at: str, now: float) -> float:
    """The most recent daily ``HH:MM`` at or before ``now`` (epoch seconds)."""
    t = datetime.fromtimestamp(now, CHINA)
    m = minutes(digest_at, "digest_at")
    b = t.replace(hour=m // 60, minute=m % 60, second=0, microsecond=0)
    if b.timestamp() > now:
        b -= timedelta(days=1)
    return b.timestamp()


def due(digest_at: str, alerts: Iterable[tuple[Any, Mapping[str, Any]]], now: float) -> list[Any]:
    """Of (entry, alert) pairs, the entries whose digest time has come: triggered before the
    last ``HH:MM``. An alert without a readable time is due at once (it cannot be placed)."""
    boundary = last_boundary(digest_at, now)
    out = []
    for entry, alert in alerts:
        try:
            when = parse_ts(alert.get("triggered_at"), "triggered_at").timestamp()
        except InputError:
            when = 0.0
        if when < boundary:
            out.append(entry)
    return out
