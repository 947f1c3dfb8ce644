"""Validation of everything filed from outside into ``responses`` and ``records``.

One function per filing, shared by the CLI, the HTTP API and the scoring agent, so a
filing is judged the same way wherever it enters. Each raises ``InputError`` with a
message naming the field; nothing is produced for an invalid filing.

    validate_response(payload, known_events) -> Response
    validate_record(data) -> CreditRecord             (any kind, e.g. from the records topic)
    blacklist_record(row) / task_record(...) / policy_record(...) / disclosure_record(...)
    read_blacklist_file(path) -> (records, [(row number, reason)])

``known_events`` maps a story id to its major dishonesty alert (an ``Alert`` or the
alert's dict); responses for a story that is not there, or whose alert belongs to
another city, are errors.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping

from citycredit.exceptions import InputError
from citycredit.jsonl import split_lines
from citycredit.ids import DOMAINS, RESPONSE_KINDS
from schemas import Alert, CreditRecord, Response

from .exceptions import UnknownEvent

from .cities import CityRegistry, load_registry
from .config import DISCLOSURE_COLUMNS, TaskChecklists, load_task_checklists
from .periods import CST, epoch

RECORD_KINDS = ("blacklist", "policy", "disclosure_check", "task_completion")
RESPONSE_SOURCES = ("api", "cli", "news")
LISTS = ("black", "red")
MAX_TEXT = 500
MAX_NOTE = 2000
MAX_AMOUNT_YUAN = 1e11  # larger than any fine ever levied in China (~1.8e10 yuan): above it is a typo
EARLIEST = epoch("2000-01-01T00:00:00+08:00")  # before the national credit system: a wrong date
LATEST = epoch("2100-01-01T00:00:00+08:00")
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")  # 统一社会信用代码 (GB 32100-2015)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _text(data: Mapping[str, Any], name: str, limit: int = MAX_TEXT, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InputError(f"{name}: missing")
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name}: expected text, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise InputError(f"{name}: empty")
    if len(value) > limit:
        raise InputError(f"{name}: {len(value)} characters, more than {limit}")
    return value


FUTURE_SLACK_SECONDS = 3600  # clocks of filing desks drift; an hour ahead is a clock, a day ahead a typo


def _not_future(ts: str, field: str, now: datetime | None) -> None:
    """Filings are checked against the wall clock at the edge (never in scoring): a
    response or listing dated ahead of now is a typo that would otherwise distort months."""
    limit = (now or datetime.now(CST)).timestamp() + FUTURE_SLACK_SECONDS
    if epoch(ts, field) > limit:
        raise InputError(f"{field}: {ts!r} is in the future")


def event_ts(value: Any, field: str = "ts") -> str:
    """An ISO-8601 time with offset, or a bare date (midnight China time), in a plausible range."""
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            value = datetime.fromisoformat(value.strip()).replace(tzinfo=CST).isoformat()
        except ValueError as exc:
            raise InputError(f"{field}: not a date: {value!r}") from exc
    seconds = epoch(value, field)
    if not EARLIEST <= seconds < LATEST:
        raise InputError(f"{field}: {value!r} is outside 2000..2099")
    return value.strip()


def _city(data: Mapping[str, Any], registry: CityRegistry) -> str:
    code = data.get("city_adcode")
    if code not in (None, ""):
        if not isinstance(code, str):
            raise InputError(f"city_adcode: expected 6 digits as text, got {code!r}")
        return registry.get(code.strip()).adcode
    name = data.get("city")
    if not isinstance(name, str) or not name.strip():
        raise InputError("city: missing (give city or city_adcode)")
    return registry.resolve(name).adcode


def _event_field(event: Any, name: str) -> Any:
    return event.get(name) if isinstance(event, Mapping) else getattr(event, name, None)


def validate_response(payload: Mapping[str, Any], known_events: Mapping[str, Any],
                      registry: CityRegistry | None = None, now: datetime | None = None) -> Response:
    """A filed response (API or CLI) -> a Response for the ``responses`` topic.

    ``payload``: city or city_adcode, story_id, kind, ts; optional title, url, note,
    source (api|cli, default api) and response_id (default: derived from city, story,
    kind and url, so the same response filed twice gets the same id and counts once).
    """
    if not isinstance(payload, Mapping):
        raise InputError(f"response: expected a JSON object, got {type(payload).__name__}")
    registry = registry or load_registry()
    adcode = _city(payload, registry)
    story_id = _text(payload, "story_id", 200, required=True)
    kind = payload.get("kind")
    if kind not in RESPONSE_KINDS:
        raise InputError(f"kind: {kind!r} is not one of {', '.join(RESPONSE_KINDS)}")
    ts = event_ts(payload.get("ts"), "ts")
    _not_future(ts, "ts", now)
    source = payload.get("source") or "api"
    if source not in RESPONSE_SOURCES:
        raise InputError(f"source: {source!r} is not one of {', '.join(RESPONSE_SOURCES)}")
    title, url, note = _text(payload, "title"), _text(payload, "url", 2000), _text(payload, "note", MAX_NOTE)
    if url and not url.startswith(("http://", "https://")):
        raise InputError(f"url: not an http(s) URL: {url[:80]!r}")

    event = known_events.get(story_id)
    if event is None or _event_field(event, "type") not in (None, "major_dishonesty"):
        raise UnknownEvent(f"story_id: no major dishonesty event {story_id!r} is known")
    owner = _event_field(event, "city_adcode")
    if owner != adcode:
        raise UnknownEvent(f"story_id: event {story_id!r} belongs to city {owner}, not {adcode}")
    first_seen = _event_field(event, "first_seen") or _event_field(event, "triggered_at")
    if first_seen and epoch(ts) < epoch(first_seen, "first_seen"):
        raise InputError(f"ts: response at {ts} is before the event was first seen ({first_seen})")

    response_id = payload.get("response_id")
    if response_id is None:
        response_id = "r-" + _digest(adcode, story_id, kind, url or title)
    elif not isinstance(response_id, str) or not _ID.match(response_id):
        raise InputError(f"response_id: expected 1-128 letters, digits, _.:- ; got {response_id!r}")
    return Response(response_id=response_id, ts=ts, city_adcode=adcode, story_id=story_id, kind=kind,
                    source=source, title=title, url=url, note=note)


def parse_response(raw: bytes | str | Mapping[str, Any], registry: CityRegistry | None = None) -> Response:
    """A Response from the ``responses`` topic (already validated against events when filed):
    checks shape and city again, since anything can produce to a topic."""
    data = _json(raw, "response")
    registry = registry or load_registry()
    for name in ("response_id", "story_id", "ts", "city_adcode", "kind"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise InputError(f"{name}: missing")
    registry.get(data["city_adcode"])
    if not _ID.match(data["response_id"]):
        raise InputError(f"response_id: not an id: {data['response_id']!r}")
    event_ts(data["ts"])
    if data.get("source", "api") not in RESPONSE_SOURCES:
        raise InputError(f"source: {data.get('source')!r} is not one of {', '.join(RESPONSE_SOURCES)}")
    return Response(response_id=data["response_id"], ts=data["ts"], city_adcode=data["city_adcode"],
                    story_id=data["story_id"], kind=data["kind"], source=data.get("source", "api"),
                    title=_text(data, "title"), url=_text(data, "url", 2000), note=_text(data, "note", MAX_NOTE))


def _json(raw: bytes | str | Mapping[str, Any], what: str) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):
        return raw
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{what}: not JSON: {exc}") from exc
    if not isinstance(data, Mapping):
        raise InputError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


# --- credit records -------------------------------------------------------------

def blacklist_record(row: Mapping[str, Any], registry: CityRegistry | None = None,
                     now: datetime | None = None, check_future: bool = True) -> CreditRecord:
    """One blacklist (or red-list) row: city, name, date (listed), optional list, credit_code,
    reason, authority, amount (yuan, >= 0). The id is derived from city, list, subject and
    date, so importing the same file twice counts each row once."""
    registry = registry or load_registry()
    adcode = _city(row, registry)
    name = _text(row, "name", 200, required=True)
    which = (row.get("list") or "black")
    if which not in LISTS:
        raise InputError(f"list: {which!r} is not one of {', '.join(LISTS)}")
    ts = event_ts(row.get("date") or row.get("ts"), "date")
    if check_future:
        _not_future(ts, "date", now)
    code = _text(row, "credit_code", 18).upper()
    if code and not _CREDIT_CODE.match(code):
        raise InputError(f"credit_code: {code!r} is not an 18-character unified social credit code")
    payload: dict[str, Any] = {"name": name, "list": which, "credit_code": code or None,
                               "reason": _text(row, "reason"), "authority": _text(row, "authority", 200)}
    amount = row.get("amount")
    if amount not in (None, ""):
        try:
            value = float(amount)
        except (TypeError, ValueError) as exc:
            raise InputError(f"amount: not a number: {amount!r}") from exc
        if not 0 <= value <= MAX_AMOUNT_YUAN or value != value:
            raise InputError(f"amount: {amount!r} yuan is negative or absurd (0..{MAX_AMOUNT_YUAN:.0e})")
        payload["amount"] = value
    record_id = "bl-" + _digest(adcode, which, code or name, ts[:10])
    return CreditRecord(record_id=record_id, kind="blacklist", ts=ts, city_adcode=adcode, payload=payload)


def task_record(city: str, task_id: str, ts: str, note: str = "", registry: CityRegistry | None = None,
                checklists: TaskChecklists | None = None, now: datetime | None = None,
                check_future: bool = True) -> CreditRecord:
    """A task of the city's checklist, completed at ``ts``; one id per city and task."""
    registry = registry or load_registry()
    adcode = _city({"city": city}, registry)
    checklists = checklists or load_task_checklists()
    known = {t.id for t in checklists.tasks_for(adcode)}
    if task_id not in known:
        raise InputError(f"task: {task_id!r} is not on the checklist of {adcode} ({', '.join(sorted(known))})")
    ts = event_ts(ts)
    if check_future:
        _not_future(ts, "ts", now)
    payload = {"task_id": task_id, "note": _text({"note": note}, "note", MAX_NOTE)}
    return CreditRecord(record_id="task-" + _digest(adcode, task_id), kind="task_completion", ts=ts,
                        city_adcode=adcode, payload=payload)


def policy_record(city: str, title: str, ts: str, domain: str | None = None, url: str = "",
                  registry: CityRegistry | None = None, now: datetime | None = None,
                  check_future: bool = True) -> CreditRecord:
    """A credit rule the city issued (信用制度), filed by the desk."""
    registry = registry or load_registry()
    adcode = _city({"city": city}, registry)
    if domain is not None and domain not in DOMAINS:
        raise InputError(f"domain: {domain!r} is not one of {', '.join(DOMAINS)}")
    title = _text({"title": title}, "title", required=True)
    ts = event_ts(ts)
    if check_future:
        _not_future(ts, "ts", now)
    return CreditRecord(record_id="pol-" + _digest(adcode, title), kind="policy", ts=ts, city_adcode=adcode,
                        payload={"title": title, "domain": domain, "url": _text({"url": url}, "url", 2000)})


def disclosure_record(city_adcode: str, ts: str, url: str, columns: Mapping[str, bool] | None,
                      error: str | None = None, registry: CityRegistry | None = None) -> CreditRecord:
    """The result of one check of a city's credit website. A failed fetch (``error``) is
    recorded too, but never scored as "columns missing"."""
    registry = registry or load_registry()
    adcode = registry.get(city_adcode).adcode
    ts = event_ts(ts)
    cols = {c: bool((columns or {}).get(c, False)) for c in DISCLOSURE_COLUMNS}
    payload = {"url": url, "ok": error is None, "columns": cols if error is None else {}, "error": error}
    return CreditRecord(record_id="dc-" + _digest(adcode, ts), kind="disclosure_check", ts=ts, city_adcode=adcode,
                        payload=payload)


def validate_record(raw: bytes | str | Mapping[str, Any] | CreditRecord, registry: CityRegistry | None = None,
                    checklists: TaskChecklists | None = None) -> CreditRecord:
    """Any CreditRecord (from the ``records`` topic or a replay) re-validated by its kind."""
    data = raw.asdict() if isinstance(raw, CreditRecord) else _json(raw, "record")
    registry = registry or load_registry()
    kind = data.get("kind")
    if kind not in RECORD_KINDS:
        raise InputError(f"kind: {kind!r} is not one of {', '.join(RECORD_KINDS)}")
    payload = data.get("payload")
    if not isinstance(payload, Mapping):
        raise InputError("payload: expected a JSON object")
    record_id = data.get("record_id")
    if not isinstance(record_id, str) or not _ID.match(record_id):
        raise InputError(f"record_id: not an id: {record_id!r}")
    adcode = data.get("city_adcode")
    if not isinstance(adcode, str):
        raise InputError("city_adcode: missing")
    registry.get(adcode)
    ts = event_ts(data.get("ts"))
    if kind == "blacklist":
        rec = blacklist_record({**payload, "city_adcode": adcode, "date": ts}, registry, check_future=False)
    elif kind == "task_completion":
        rec = task_record(adcode, str(payload.get("task_id")), ts, str(payload.get("note") or ""), registry, checklists,
                          check_future=False)
    elif kind == "policy":
        rec = policy_record(adcode, payload.get("title"), ts, payload.get("domain"), str(payload.get("url") or ""), registry,
                            check_future=False)
    else:
        columns = payload.get("columns")
        if columns is not None and not (isinstance(columns, Mapping) and all(isinstance(v, bool) for v in columns.values())):
            raise InputError("payload.columns: expected an object of column id -> true/false")
        err = payload.get("error")
        rec = disclosure_record(adcode, ts, str(payload.get("url") or ""), columns,
                                None if payload.get("ok", err is None) and not err else str(err or "failed"), registry)
    # The filer's id is kept: it is what makes a second filing of the same thing count once.
    return CreditRecord(record_id=record_id, kind=rec.kind, ts=rec.ts, city_adcode=rec.city_adcode, payload=rec.payload)


# --- blacklist files ------------------------------------------------------------

BLACKLIST_COLUMNS = ("city", "city_adcode", "name", "credit_code", "list", "date", "reason", "authority", "amount")


def read_blacklist_file(path: Path, registry: CityRegistry | None = None, now: datetime | None = None) -> tuple[list[tuple[int, CreditRecord]], list[tuple[int, str]]]:
    """Rows of a CSV (header row) or JSON (array of objects, or JSON lines) blacklist file.

    Returns ``(valid, rejected)``: ``[(row number, record)]`` and ``[(row number, reason)]``.
    Row numbers are what a person sees: for CSV the line of the row (header = line 1),
    for JSON the 1-based position in the array or the line number. A file that cannot be
    read at all raises InputError.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc
    rows = list(_json_rows(text) if path.suffix.lower() in (".json", ".jsonl", ".ndjson") else _csv_rows(text))
    registry = registry or load_registry()
    valid: list[tuple[int, CreditRecord]] = []
    rejected: list[tuple[int, str]] = []
    for number, row in rows:
        if isinstance(row, str):
            rejected.append((number, row))
            continue
        try:
            valid.append((number, blacklist_record(row, registry, now)))
        except InputError as exc:
            rejected.append((number, str(exc)))
    return valid, rejected


def _csv_rows(text: str) -> Iterable[tuple[int, Mapping[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError("blacklist file: empty") from None
    unknown = [h for h in header if h not in BLACKLIST_COLUMNS]
    if unknown or "name" not in header:
        raise InputError(f"blacklist file: header {header} must name columns from {', '.join(BLACKLIST_COLUMNS)} including name")
    for cells in reader:
        number = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            yield number, f"{len(cells)} cells, header has {len(header)}"
            continue
        yield number, {h: c.strip() for h, c in zip(header, cells)}


def _json_rows(text: str) -> Iterable[tuple[int, Mapping[str, Any] | str]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"blacklist file: not JSON: {exc}") from exc
        for i, row in enumerate(data, 1):
            yield i, row if isinstance(row, Mapping) else f"expected an object, got {type(row).__name__}"
        return
    for i, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield i, f"not JSON: {exc}"
            continue
        yield i, row if isinstance(row, Mapping) else f"expected an object, got {type(row).__name__}"


def known_events_from_alerts(alerts: Iterable[Alert | Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """story_id -> the major dishonesty alert (dict), for ``validate_response``."""
    events: dict[str, Mapping[str, Any]] = {}
    for a in alerts:
        d = a.asdict() if isinstance(a, Alert) else dict(a)
        if d.get("type") == "major_dishonesty" and isinstance(d.get("story_id"), str):
            prev = events.get(d["story_id"])
            if prev is None or str(d.get("triggered_at")) < str(prev.get("triggered_at")):
                events[d["story_id"]] = d
    return events
