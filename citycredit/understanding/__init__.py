"""Turning an observation into a classified item: city, credit class, story identity."""
from __future__ import annotations

import hashlib
import unicodedata

from schemas import Item, Observation


def understand(obs: Observation) -> Item:
    """Classify one observation (placeholder until city attribution and classification land)."""
    norm = unicodedata.normalize("NFKC", obs.title).strip()
    story_id = "s-" + hashlib.sha1(norm.encode()).hexdigest()[:16]
    return Item(
        ts=obs.ts, site=obs.site, surface=obs.surface, title=obs.title, url=obs.url, rank=obs.rank,
        summary=obs.summary, change=obs.change, city=None, city_adcode=None, county=None, county_adcode=None,
        province=None, domain=None, subfield=None, polarity="neutral", aspect=None, story_id=story_id, evidence={},
    )
