"""Getting inputs into a scorer outside the worker: records from dicts and JSONL logs.

Pure: no Kafka here. Reading the topics themselves (the CLI's ``explain``, ``ranking``,
``report``) is ``citycredit.topic_io``, which hands its records to ``feed``.
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from citycredit.exceptions import InputError
from schemas import Alert, CreditRecord, Item, Response

from .scorer import CityScorer

def record_from(cls: type, data: Any) -> Any:
    """A faust Record of ``cls`` from a topic/JSON dict, or InputError naming what is wrong."""
    name = cls.__name__.lower()
    if not isinstance(data, dict):
        raise InputError(f"{name}: expected a JSON object, got {type(data).__name__}")
    fields = cls._options.fields
    missing = [f for f in fields if f not in data and f not in cls._options.defaults]
    if missing:
        raise InputError(f"{name}: missing {', '.join(missing)}")
    try:
        return cls(**{f: data[f] for f in fields if f in data})
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: {exc}") from exc


def classify_input(data: Any) -> Item | Alert | Response | CreditRecord:
    """A JSON object of a log -> the record it is, recognised by its fields."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}")
    if "record_id" in data:
        return record_from(CreditRecord, data)
    if "response_id" in data:
        return record_from(Response, data)
    if "trigger" in data and "triggered_at" in data:
        return record_from(Alert, data)
    if "story_id" in data and "polarity" in data:
        return record_from(Item, data)
    raise InputError("neither an item, an alert, a response nor a credit record")


def feed(scorer: CityScorer, record: Item | Alert | Response | CreditRecord) -> set[int]:
    if isinstance(record, Item):
        return scorer.on_item(record)
    if isinstance(record, Alert):
        return scorer.on_alert(record)
    if isinstance(record, Response):
        return scorer.on_response(record.asdict())  # re-validated like a topic record
    return scorer.on_record(record)


def feed_lines(scorer: CityScorer, lines: Iterable[str]) -> list[tuple[int, str]]:
    """Feed a JSONL log; returns ``[(line number, reason)]`` for lines that were rejected."""
    rejected = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            feed(scorer, classify_input(json.loads(line)))
        except ValueError as exc:
            rejected.append((number, f"not JSON: {exc}"))
        except InputError as exc:
            rejected.append((number, str(exc)))
    return rejected


def event_time_key(rec: Any) -> tuple[str, str]:
    """Sort key putting records in event-time order (a record without a readable time first)."""
    from .periods import epoch

    ts = rec.triggered_at if isinstance(rec, Alert) else rec.ts
    try:
        return (f"{epoch(ts):012d}", type(rec).__name__)
    except InputError:
        return ("", type(rec).__name__)
