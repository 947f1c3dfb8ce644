"""Periods in event time: calendar months and rolling windows of months.

Months are counted in China Standard Time (UTC+8, no daylight saving): the national
monitoring ranks Chinese cities by their own calendar, so an event at 2026-11-30T20:00Z
belongs to December. A month is an integer index (year * 12 + month - 1) internally.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone

from citycredit.exceptions import InputError
from schemas import parse_ts

CST = timezone(timedelta(hours=8))
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
ROLLING_PREFIX = "12m:"


def epoch(ts: str, field: str = "ts") -> int:
    """ISO-8601 with offset -> whole seconds since 1970 (InputError when invalid)."""
    return int(parse_ts(ts, field).timestamp())


# Scoring converts the same fact times again on every update: cache the conversions.
@lru_cache(maxsize=1 << 17)
def month_index(seconds: int) -> int:
    d = datetime.fromtimestamp(seconds, CST)
    return d.year * 12 + d.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_month(text: str) -> int:
    m = _MONTH.match(text or "")
    if not m:
        raise InputError(f"period: expected YYYY-MM, got {text!r}")
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


def month_start(index: int) -> int:
    """Seconds at the first instant of month ``index`` (China time)."""
    return int(datetime(index // 12, index % 12 + 1, 1, tzinfo=CST).timestamp())


@lru_cache(maxsize=1 << 17)
def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, CST).isoformat()


@dataclass(frozen=True)
class Period:
    """A calendar month (``2026-11``) or the rolling months ending with one (``12m:2026-11``)."""

    end: int  # month index of the last month
    months: int  # 1 for a calendar month

    @property
    def rolling(self) -> bool:
        return self.months > 1

    @property
    def label(self) -> str:
        return (ROLLING_PREFIX if self.rolling else "") + month_label(self.end)

    @property
    def first(self) -> int:
        return self.end - self.months + 1

    def contains(self, month: int) -> bool:
        return self.first <= month <= self.end

    def end_seconds(self) -> int:
        """First second after the period (exclusive end), for "state as of the period's end"."""
        return month_start(self.end + 1)

    @classmethod
    def parse(cls, text: str, rolling_months: int) -> "Period":
        text = (text or "").strip()
        if text.startswith(ROLLING_PREFIX):
            return cls(parse_month(text[len(ROLLING_PREFIX):]), rolling_months)
        return cls(parse_month(text), 1)
