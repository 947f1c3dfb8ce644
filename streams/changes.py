"""Change detection: two consecutive parses of one surface -> observations.

A headline appearing on a surface, its rank changing on a ranking list, and it leaving
the surface each become one observation (``change`` = appeared / rank_changed / left),
keyed by URL. The state (what each surface showed last) is saved with the publisher's
pending queue so a restart neither re-announces nor forgets anything.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from schemas import Observation

from .parsers import Headline
from .registry import Surface


@dataclass(frozen=True)
class Seen:
    title: str
    rank: int | None
    summary: str | None


def diff(surface: Surface, previous: dict[str, Seen] | None, current: list[Headline], ts: str,
         allow_left: bool = True) -> list[Observation]:
    """Observations for what changed between ``previous`` and ``current`` (page order).

    ``allow_left=False`` when the new yield looks broken: a parser that suddenly finds
    3 of 200 headlines must not announce that 197 stories left the homepage.
    """
    prev = previous or {}
    out: list[Observation] = []
    current_urls = set()
    for h in current:
        current_urls.add(h.url)
        before = prev.get(h.url)
        if before is None:
            change = "appeared"
        elif surface.ranked and before.rank != h.rank:
            change = "rank_changed"
        else:
            continue
        out.append(Observation(ts=ts, site=surface.site, surface=surface.kind, title=h.title, url=h.url,
                               rank=h.rank, summary=h.summary, change=change))
    if allow_left:
        for url, before in prev.items():
            if url not in current_urls:
                out.append(Observation(ts=ts, site=surface.site, surface=surface.kind, title=before.title, url=url,
                                       rank=None, summary=before.summary, change="left"))
    return out


def snapshot_of(current: list[Headline]) -> dict[str, Seen]:
    return {h.url: Seen(h.title, h.rank, h.summary) for h in current}


class SurfaceStates:
    """What each surface showed at its last successful parse, persisted as JSON."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.states: dict[str, dict[str, Seen]] = {}
        self.validators: dict[str, dict[str, str | None]] = {}
        if path and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.states = {k: {u: Seen(*v) for u, v in s.items()} for k, s in data.get("states", {}).items()}
            self.validators = data.get("validators", {})

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        data = {"states": {k: {u: [s.title, s.rank, s.summary] for u, s in v.items()} for k, v in self.states.items()},
                "validators": self.validators}
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new state, never half
