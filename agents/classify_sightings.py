"""sightings -> classified: parse each observation, find its city and credit class.

Stateless, so it scales with the partitions of ``sightings``. The analysed item goes to
the internal ``classified`` topic keyed by the clustering bucket (the item's prefecture), where
``cluster_stories`` gives it its story id. A record that is not a valid observation,
or whose title has no words left once markup and emoji are removed, goes to the
dead-letter topic with the reason.
"""
from __future__ import annotations

import json

from citycredit.app import app, classified_topic, dead_letter, dead_letter_unexpected, record_processing_delay, sightings_topic
from citycredit.exceptions import InputError
from citycredit.metrics import METRICS
from citycredit.understanding import Understanding, story_bucket
from schemas import Observation


def parse_observation(raw: bytes | str) -> Observation:
    """Raw topic bytes -> a validated Observation, or InputError with the reason."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from exc
    return Observation.parse(data)


# Stateless: the analysis needs no story state (gazetteer and lexicons load once per process).
understanding = Understanding(story_state={})


@app.agent(sightings_topic)
async def classify_sightings(stream):
    async for event in stream.events():
        record_processing_delay(event)
        try:
            obs = parse_observation(event.value)
            # bytes -> Observation -> Item with city, class and evidence; story_id still empty
            item = understanding.analyse(obs)
        except InputError as exc:
            await dead_letter("classify_sightings", str(exc), event.value, event)
            continue
        except Exception as exc:  # noqa: BLE001 - a bug met one headline: keep it, go on with the rest
            await dead_letter_unexpected("classify_sightings", exc, event)
            continue
        METRICS.sightings_total.labels(obs.site, obs.surface).inc()
        await classified_topic.send(key=story_bucket(item.city_adcode), value=item)
        yield item
