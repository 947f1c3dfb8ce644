"""sightings -> items: parse each observation, classify it, give it its story id."""
from __future__ import annotations

import json

from citycredit.app import app, dead_letter, items_topic, sightings_topic
from citycredit.exceptions import InputError
from citycredit.understanding import Understanding
from schemas import Observation


def parse_observation(raw: bytes | str) -> Observation:
    """Raw topic bytes -> a validated Observation, or InputError with the reason."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not JSON: {exc}") from exc
    return Observation.parse(data)


understanding = Understanding()


@app.agent(sightings_topic)
async def classify_sightings(stream):
    async for event in stream.events():
        try:
            obs = parse_observation(event.value)
        except InputError as exc:
            await dead_letter("classify_sightings", str(exc), event.value, event)
            continue
        item = understanding.classify(obs)
        # items are keyed by story so every sighting of a story meets the same window table
        await items_topic.send(key=item.story_id, value=item)
        yield item
