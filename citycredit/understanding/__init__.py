"""Turning an observation into a classified item: city, credit class, story identity.

Interface used by the agents and by replay (keep it):
    u = Understanding(story_state=None)   # story_state: a MutableMapping (dict in replay, Faust table in the agent)
    item = u.classify(obs)                # Observation -> Item
"""
from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, MutableMapping

from schemas import Item, Observation


class Understanding:
    """Placeholder until city attribution, classification and clustering land."""

    def __init__(self, story_state: MutableMapping[str, Any] | None = None) -> None:
        self.story_state = story_state if story_state is not None else {}

    def classify(self, obs: Observation) -> Item:
        norm = unicodedata.normalize("NFKC", obs.title).strip()
        story_id = "s-" + hashlib.sha1(norm.encode()).hexdigest()[:16]
        return Item(
            ts=obs.ts, site=obs.site, surface=obs.surface, title=obs.title, url=obs.url, rank=obs.rank,
            summary=obs.summary, change=obs.change, city=None, city_adcode=None, county=None, county_adcode=None,
            province=None, domain=None, subfield=None, polarity="neutral", aspect=None, story_id=story_id, evidence={},
        )
