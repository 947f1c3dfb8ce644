"""items + alerts + responses + records -> the running city index table -> city-index.

Two steps, so the index table is co-partitioned with everything it reads:

1. ``route_to_cities``: items and alerts (keyed by story) that name a city are
   re-keyed by city adcode onto the internal ``city-inputs`` topic.
   # shape after: key b"320500", value {"kind": "item"|"alert", "value": {...}}
2. ``score_city_index``: ``city-inputs``, ``responses`` and ``records`` (all keyed by
   city adcode, same partition count) update the city's row of ``city_index_state``
   (a changelogged table keyed by adcode) through the pure ``CityScorer``, then emit
   every ``CityIndexEntry`` that changed to ``city-index``; responses detected in the
   news are published to ``responses`` (their ids make the echo count once). What was
   emitted and published is remembered in process memory only, and forgotten when
   partitions move (see ``CityScorer.__init__``: a marker in table state can be restored
   ahead of outputs a SIGKILL lost).
   # shape after: key "320500/2026-03", value CityIndexEntry

Bad or late input goes to the dead-letter topic with the reason; nothing is written.
"""
from __future__ import annotations

import json
from citycredit import topics
from citycredit.app import app, city_index_topic, dead_letter, dead_letter_unexpected, responses_topic, settings
from citycredit.exceptions import InputError
from citycredit.scoring import CityScorer
from citycredit.scoring.filings import parse_response, validate_record
from citycredit.scoring.inputs import record_from
from schemas import Alert, Item

_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
city_inputs_topic = app.topic(topics.CITY_INPUTS.name, partitions=topics.CITY_INPUTS.partition_count(settings),
                              config=dict(topics.CITY_INPUTS.config), internal=False, **_RAW)
news_topics = app.topic(topics.ITEMS.name, topics.ALERTS.name, key_type=str, value_serializer="json")
scoring_topics = app.topic(topics.CITY_INPUTS.name, topics.RESPONSES.name, topics.RECORDS.name, **_RAW)

city_index_state = app.Table("city-index-state", default=None, partitions=settings.topic_partitions,
                             key_type=str,
                             help="Facts behind the city credit index, one row per city adcode.")


_scorer: CityScorer | None = None


def scorer() -> CityScorer:
    """Built on first use, so a missing gazetteer is reported by the agent, not at import."""
    global _scorer
    if _scorer is None:
        _scorer = CityScorer(state=city_index_state)
    return _scorer


@app.on_partitions_revoked.connect
async def forget_published(sender, revoked, **kwargs) -> None:  # noqa: ARG001 - Faust's signal signature
    """A city whose partition comes back may have been emitted by another worker meanwhile."""
    if _scorer is not None:
        _scorer.forget_published()


def parse_city_input(raw: bytes) -> Item | Alert:
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from exc
    kind = envelope.get("kind") if isinstance(envelope, dict) else None
    if kind not in ("item", "alert"):
        raise InputError(f"city input: kind {kind!r} is neither item nor alert")
    return record_from(Item if kind == "item" else Alert, envelope.get("value"))


@app.agent(news_topics)
async def route_to_cities(stream):
    async for event in stream.events():
        kind = "alert" if event.message.topic == topics.ALERTS.name else "item"
        value = event.value
        try:
            record = record_from(Alert if kind == "alert" else Item, value)
            if record.city_adcode is None or (kind == "item" and not CityScorer.scores_item(record)):
                continue  # nothing the index scores (no city, no scored aspect): not worth a hop
        except InputError as exc:
            await dead_letter("route_to_cities", str(exc), value, event)
            continue
        except Exception as exc:  # noqa: BLE001 - a bug met one record: keep it, go on with the rest
            await dead_letter_unexpected("route_to_cities", exc, event)
            continue
        body = json.dumps({"kind": kind, "value": record.asdict()}, ensure_ascii=False).encode()
        await city_inputs_topic.send(key=record.city_adcode.encode(), value=body)


def apply(scoring: CityScorer, topic: str, raw: bytes) -> tuple[str | None, set[int], bool]:
    """One input into the scorer -> (city adcode, months touched, may have detected a response)."""
    # Validate first and take the city from the validated record: reading the raw JSON's
    # "city_adcode" crashed the agent on a record that was not an object or named its city
    # by name (found by the poison fault test).
    if topic == topics.RESPONSES.name:
        resp = parse_response(raw, scoring.registry)
        return scoring.registry.get(resp.city_adcode).adcode, scoring.on_response(resp), False
    if topic == topics.RECORDS.name:
        rec = validate_record(raw, scoring.registry, scoring.checklists)
        return rec.city_adcode, scoring.on_record(rec), False
    record = parse_city_input(raw)
    if isinstance(record, Alert):
        return record.city_adcode, scoring.on_alert(record), record.type == "major_dishonesty"
    return record.city_adcode, scoring.on_item(record), record.aspect == "government_response"


@app.agent(scoring_topics)
async def score_city_index(stream):
    async for event in stream.events():
        scoring = scorer()
        try:
            adcode, months, detect = apply(scoring, event.message.topic, event.value)
        except InputError as exc:
            await dead_letter("score_city_index", str(exc), event.value, event)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad record must not stop the index for every city
            await dead_letter_unexpected("score_city_index", exc, event)
            continue
        if not adcode or not months:
            continue
        for entry in scoring.changed_entries(adcode, months):
            await city_index_topic.send(key=f"{entry.city_adcode}/{entry.period}", value=entry)
        if detect:
            for resp in scoring.unsent_detected_responses(adcode):
                await responses_topic.send(key=adcode.encode(),
                                           value=json.dumps(resp.asdict(), ensure_ascii=False).encode())
        yield adcode
