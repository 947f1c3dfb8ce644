"""The recorded-sites server: all registry surfaces, served from a timeline.

Routes mirror the real URLs under one origin: ``/<real host><real path>`` (what
``registry.rewrite_url`` produces), so the pollers run unchanged with only
``CITYCREDIT_SITES_BASE_URL`` set. Every response carries the simulated time of the
frame it shows (``X-Citycredit-Sim-Time``) and an ETag (conditional GET works).

Clock modes: ``speed`` > 0 — the timeline runs accelerated (``speed`` simulated seconds
per real second) and stops at its last frame; ``speed`` = 0 — manual: frames are set
with ``POST /_timeline/frame/<n>`` (tests step through the timeline deterministically).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web

from citycredit.ids import SITES

from streams.registry import Registry, Surface
from .pages import FILLER_COUNT, render
from .timeline import Timeline

log = logging.getLogger(__name__)


@dataclass
class RecordedSites:
    registry: Registry
    timeline: Timeline
    speed: float = 0.0
    frame: int = 0
    started: float = field(default_factory=time.monotonic)
    hits: int = 0
    _cache: dict[tuple[str, int], tuple[bytes, str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.routes: dict[str, Surface] = {}
        for s in self.registry.surfaces():
            parts = urlsplit(s.url)
            self.routes[f"/{parts.netloc}{parts.path or '/'}"] = s

    def current_frame(self) -> int:
        if self.speed <= 0:
            return self.frame
        minutes = (time.monotonic() - self.started) * self.speed / 60.0
        return self.timeline.frame_at(minutes)

    def finished(self) -> bool:
        return self.current_frame() == len(self.timeline.frames) - 1

    def page(self, surface: Surface, frame: int) -> tuple[bytes, str, str]:
        """(body, content type, etag) of ``surface`` in ``frame``; cached, frames never change."""
        key = (surface.key, frame)
        hit = self._cache.get(key)
        if hit is None:
            entries = self.timeline.entries(surface.site, surface.kind, frame, FILLER_COUNT[surface.kind])
            name = SITES.get(surface.site) or self.registry.site(surface.site).name
            body, ctype = render(surface, name, entries, self.timeline.start)
            hit = (body, ctype, '"' + hashlib.sha1(body).hexdigest()[:20] + '"')
            self._cache[key] = hit
        return hit

    async def handle(self, request: web.Request) -> web.StreamResponse:
        surface = self.routes.get(request.path)
        if surface is None:
            return web.Response(status=404, text="not a recorded surface")
        self.hits += 1
        frame = self.current_frame()
        body, ctype, etag = self.page(surface, frame)
        headers = {"X-Citycredit-Sim-Time": self.timeline.frame_time(frame).isoformat(), "ETag": etag,
                   "Content-Type": ctype, "Cache-Control": "max-age=30"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        return web.Response(body=body, headers=headers)

    async def status(self, request: web.Request) -> web.Response:
        frame = self.current_frame()
        return web.json_response({"frame": frame, "frames": len(self.timeline.frames), "sim_time": self.timeline.frame_time(frame).isoformat(),
                                  "speed": self.speed, "hits": self.hits, "finished": self.finished(),
                                  "surfaces": sorted(self.routes)})

    async def set_frame(self, request: web.Request) -> web.Response:
        if self.speed > 0:
            return web.json_response({"error": "the timeline runs on its own clock (speed > 0)"}, status=409)
        n = int(request.match_info["n"])
        if not 0 <= n < len(self.timeline.frames):
            return web.json_response({"error": f"frame {n} out of range 0..{len(self.timeline.frames) - 1}"}, status=400)
        self.frame = n
        return web.json_response({"frame": n, "sim_time": self.timeline.frame_time(n).isoformat()})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_timeline", self.status)
        app.router.add_post("/_timeline/frame/{n:\\d+}", self.set_frame)
        app.router.add_get("/{tail:.*}", self.handle)
        return app


async def start_server(sites: RecordedSites, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(sites.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    sites.started = time.monotonic()
    return runner


async def serve_forever(sites: RecordedSites, host: str, port: int, stop: asyncio.Event) -> None:
    runner = await start_server(sites, host, port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def describe(sites: RecordedSites) -> str:
    return json.dumps({"surfaces": len(sites.routes), "frames": len(sites.timeline.frames),
                       "start": sites.timeline.start.isoformat()}, ensure_ascii=False)
