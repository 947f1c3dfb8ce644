"""Replay a recorded timeline through the same code the live agents run, without a broker.

A timeline is JSONL: observations (design.md §3), plus structured lines
``{"type": "response", ...Response fields}`` and ``{"type": "record", ...CreditRecord
fields}``. Lines are applied in event-time order (ties keep file order): each
observation is classified by ``Understanding.classify`` and fed to ``Detection``,
exactly as ``classify_sightings`` -> ``detect_major_events`` -> ``detect_early_warnings``
do live; alerts come out as the bytes the worker writes to ``alerts``. Nothing reads
the clock, so the same file always gives the same output.

Extra sinks (e.g. the city scorer for ``--ranking``) see every item, alert, response
and record in that same order through ``on_item`` / ``on_alert`` / ``on_response`` /
``on_record``; a sink may leave out callbacks it does not need.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from citycredit.detection import Detection, DetectionConfig
from citycredit.exceptions import CityCreditError, InputError
from citycredit.understanding import Understanding
from schemas import Alert, CreditRecord, Observation, Response, parse_ts

_ADCODE = re.compile(r"^\d{6}$")
STRUCTURED = {"response": Response, "record": CreditRecord}


@dataclass(frozen=True)
class TimelineEntry:
    lineno: int
    epoch: float
    kind: str  # observation | response | record
    value: Observation | Response | CreditRecord


@dataclass(frozen=True)
class LineError:
    lineno: int
    message: str

    def render(self, source: str) -> str:
        return f"{source}:{self.lineno}: {self.message}"


def _structured(kind: str, data: dict[str, Any]) -> Response | CreditRecord:
    cls = STRUCTURED[kind]
    fields = {k: v for k, v in data.items() if k != "type"}
    known = set(cls._options.fields)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InputError(f"{kind}: unknown fields: {', '.join(unknown)}")
    missing = sorted(name for name in known if name not in fields and name not in cls._options.defaults)
    if missing:
        raise InputError(f"{kind}: missing fields: {', '.join(missing)}")
    for name in known & set(fields):
        want = cls._options.fields[name]
        if want is str and not isinstance(fields[name], str):
            raise InputError(f"{kind}: {name}: expected str, got {type(fields[name]).__name__}")
        if want is dict and not isinstance(fields[name], dict):
            raise InputError(f"{kind}: {name}: expected an object, got {type(fields[name]).__name__}")
    parse_ts(fields["ts"])
    if not _ADCODE.match(fields["city_adcode"]):
        raise InputError(f"{kind}: city_adcode: not 6 digits: {fields['city_adcode']!r}")
    return cls(**fields)


def parse_line(text: str) -> tuple[str, Observation | Response | CreditRecord]:
    """One timeline line -> (kind, value), or InputError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"not JSON: {exc}") from exc
    if isinstance(data, dict) and "type" in data:
        kind = data["type"]
        # a list or object as "type" is unhashable: test membership only on strings
        if not isinstance(kind, str) or kind not in STRUCTURED:
            raise InputError(f"type: {kind!r} is not one of {', '.join(STRUCTURED)} (observations have no type)")
        return kind, _structured(kind, data)
    return "observation", Observation.parse(data)


def read_timeline(lines: Iterable[str]) -> tuple[list[TimelineEntry], list[LineError]]:
    """Parse every line; return the valid entries in event-time order and the errors by line."""
    entries: list[TimelineEntry] = []
    errors: list[LineError] = []
    for lineno, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            kind, value = parse_line(text)
        except InputError as exc:
            errors.append(LineError(lineno, str(exc)))
            continue
        entries.append(TimelineEntry(lineno, parse_ts(value.ts).timestamp(), kind, value))
    entries.sort(key=lambda e: (e.epoch, e.lineno))
    return entries, errors


def alert_json(alert: Alert) -> str:
    """The alert as the worker writes it to ``alerts`` (Faust's json codec on the record)."""
    return alert.dumps(serializer="json").decode("utf-8")


class Replay:
    """The live pipeline's logic over plain dicts: classify -> detect -> sinks."""

    def __init__(self, config: DetectionConfig, sinks: Sequence[Any] = (),
                 understanding: Understanding | None = None) -> None:
        self.story_state: dict[str, Any] = {}
        self.understanding = understanding if understanding is not None else Understanding(self.story_state)
        self.detection = Detection(config)
        self.sinks = list(sinks)

    def _tell(self, callback: str, value: Any) -> None:
        for sink in self.sinks:
            fn = getattr(sink, callback, None)
            if fn is not None:
                fn(value)

    def run(self, entries: Iterable[TimelineEntry], errors: list[LineError] | None = None) -> Iterator[Alert]:
        """Apply the entries in the order given; yield alerts as they fire. Rejections go to ``errors``."""
        for entry in entries:
            if entry.kind == "response":
                self._tell("on_response", entry.value)
                continue
            if entry.kind == "record":
                self._tell("on_record", entry.value)
                continue
            try:
                # the item, then the earlier no-city sightings its story claimed (cluster_stories does the same)
                items = self.understanding.classify_all(entry.value)
            except CityCreditError as exc:
                if errors is not None:
                    errors.append(LineError(entry.lineno, f"classify: {exc}"))
                continue
            for item in items:
                self._tell("on_item", item)
                result = self.detection.observe(item)
                if result.rejected and errors is not None:
                    # Live, this item would go to the dead-letter topic with the same reason.
                    errors.append(LineError(entry.lineno, f"dead-letter detect_major_events: {result.rejected}"))
                for alert in result.alerts:
                    self._tell("on_alert", alert)
                    yield alert
