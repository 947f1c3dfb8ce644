"""A timeline of what every site's surfaces show, frame by frame.

Timeline file (TOML)::

    start = "2026-11-27T08:00:00+08:00"     # simulated time of minute 0
    filler = ["国务院常务会议部署...", ...]   # neutral background headlines every surface shows
    [[story]]
    title = "..."
    summary = "..."                          # optional (feeds and JSON lists carry it)
      [[story.on]]
      site = "people"
      surface = "homepage"                   # homepage | hotlist | rss (a surface kind of the site)
      at = 30                                # minutes from start
      until = 300                            # optional: minute it leaves the surface
      rank = 7                               # hotlists: the story's rank from `at` on

Several ``on`` entries for one site and surface are successive states (rank moves). A
frame starts at every distinct ``at``/``until``; between frames nothing changes.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from citycredit.ids import SURFACES
from schemas import parse_ts

from streams.exceptions import RegistryError
from streams.registry import read_toml

BUILTIN = Path(__file__).resolve().parents[1] / "citycredit" / "config" / "demo_timeline.toml"


@dataclass(frozen=True)
class Placement:
    site: str
    surface: str
    at: int
    until: int | None
    rank: int | None


@dataclass(frozen=True)
class Story:
    index: int
    title: str
    summary: str | None
    placements: tuple[Placement, ...]

    def slug(self) -> str:
        return hashlib.sha1(self.title.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One headline on one surface in one frame."""

    key: str  # story slug or "filler-<n>"
    title: str
    summary: str | None
    rank: int | None  # requested rank (hotlists)
    number: int  # stable number used to build the site-shaped URL


@dataclass(frozen=True)
class Timeline:
    start: datetime
    stories: tuple[Story, ...]
    filler: tuple[str, ...]
    frames: tuple[int, ...]  # minute offsets, ascending, starting at 0
    path: Path

    def frame_time(self, frame: int) -> datetime:
        return self.start + timedelta(minutes=self.frames[frame])

    def frame_at(self, minutes: float) -> int:
        idx = 0
        for i, m in enumerate(self.frames):
            if m <= minutes:
                idx = i
        return idx

    def entries(self, site: str, surface: str, frame: int, filler_count: int) -> list[Entry]:
        """What ``site``'s ``surface`` shows in ``frame``: stories first (ranked ones at their rank), then filler."""
        minute = self.frames[frame]
        stories: list[Entry] = []
        for story in self.stories:
            current: Placement | None = None
            for p in story.placements:
                if p.site == site and p.surface == surface and p.at <= minute:
                    if current is None or p.at >= current.at:
                        current = p
            if current is not None and (current.until is None or minute < current.until):
                stories.append(Entry(story.slug()[:12], story.title, story.summary, current.rank, 100000 + story.index))
        site_salt = int(hashlib.sha1(site.encode()).hexdigest()[:6], 16)
        fillers = [Entry(f"filler-{(site_salt + i) % len(self.filler)}", self.filler[(site_salt + i) % len(self.filler)],
                         None, None, 200000 + (site_salt + i) % len(self.filler))
                   for i in range(min(filler_count, len(self.filler)))]
        if surface != "hotlist":
            return stories + fillers
        # ranked: stories take their ranks (or the next free one), filler fills the gaps in its fixed order
        slots: dict[int, Entry] = {}
        for e in sorted(stories, key=lambda e: (e.rank or 10**6, e.number)):
            r = e.rank or 1
            while r in slots:
                r += 1
            slots[r] = e
        queue = list(fillers)
        out: list[Entry] = []
        pos = 1
        while slots or queue:
            if pos in slots:
                out.append(slots.pop(pos))
            elif queue:
                out.append(queue.pop(0))
            else:  # no filler left for the gaps: the remaining stories close up
                out.extend(slots.pop(k) for k in sorted(slots))
            pos += 1
        return out


def load_timeline(path: Path | str | None = None) -> Timeline:
    p = Path(path) if path else BUILTIN
    data = read_toml(p, "timeline")
    try:
        start = parse_ts(data.get("start"), "start")
    except Exception as exc:
        raise RegistryError(f"{p}: {exc}") from exc
    filler = tuple(str(t) for t in data.get("filler", []))
    stories = []
    minutes = {0}
    for i, raw in enumerate(data.get("story", [])):
        title = raw.get("title")
        if not isinstance(title, str) or not title.strip():
            raise RegistryError(f"{p}: story #{i + 1} has no title")
        placements = []
        for j, on in enumerate(raw.get("on", [])):
            where = f"{p.name}: story {title!r} placement #{j + 1}"
            if on.get("surface") not in SURFACES:
                raise RegistryError(f"{where}: surface must be one of {', '.join(SURFACES)}")
            at = on.get("at")
            if not isinstance(at, int) or at < 0:
                raise RegistryError(f"{where}: 'at' must be minutes >= 0")
            until = on.get("until")
            if until is not None and (not isinstance(until, int) or until <= at):
                raise RegistryError(f"{where}: 'until' must be minutes after 'at'")
            placements.append(Placement(str(on.get("site")), on["surface"], at, until, on.get("rank")))
            minutes.add(at)
            if until is not None:
                minutes.add(until)
        stories.append(Story(i, title.strip(), raw.get("summary"), tuple(placements)))
    return Timeline(start=start, stories=tuple(stories), filler=filler, frames=tuple(sorted(minutes)), path=p)
