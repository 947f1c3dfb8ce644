"""The recorded-sites server: routes, frames, simulated time, conditional GET; and the
pollers reaching it by base URL alone."""
from __future__ import annotations

import asyncio

import httpx

from citycredit.settings import Settings
from streams.poller import Poller
from demo.sites import RecordedSites, start_server
from demo.timeline import load_timeline
from streams.registry import load_registry
from tests.conftest import free_port


def test_server_frames_etag_and_pollers_with_base_url_only(tmp_path):
    registry, timeline = load_registry(), load_timeline()
    sites = RecordedSites(registry, timeline, speed=0)
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def run():
        runner = await start_server(sites, "127.0.0.1", port)
        try:
            async with httpx.AsyncClient() as c:
                assert (await c.get(f"{base}/nowhere.example/")).status_code == 404
                r = await c.get(f"{base}/www.people.com.cn/")
                assert r.headers["x-citycredit-sim-time"] == "2026-11-27T08:00:00+08:00"
                r304 = await c.get(f"{base}/www.people.com.cn/", headers={"If-None-Match": r.headers["etag"]})
                assert r304.status_code == 304
                assert (await c.post(f"{base}/_timeline/frame/999")).status_code == 400
            settings = Settings().replace(data_dir=tmp_path, sites_base_url=base, poll_politeness_delay=0.0)
            poller = Poller.from_settings(settings)
            first = await poller.run_cycle()
            async with httpx.AsyncClient() as c:
                await c.post(f"{base}/_timeline/frame/{timeline.frames.index(30)}")
            second = await poller.run_cycle()
            await poller.aclose()
            return first, second
        finally:
            await runner.cleanup()

    first, second = asyncio.run(run())
    assert all(o.error is None for o in first + second)
    assert len(first) == len(registry.surfaces()) == 24
    assert all(o.ts == "2026-11-27T08:00:00+08:00" for o in first)
    # jumping to minute 30: the 无锡 story (minute 20, cnr) and the 苏州 story (minute 30, people) are new,
    # both seen at 08:30; every other surface answers 304
    changed = sorted((o.surface.key, ob.change, ob.title[:4], ob.ts) for o in second for ob in o.observations)
    assert changed == [("cnr/homepage", "appeared", "无锡一餐", "2026-11-27T08:30:00+08:00"),
                       ("people/homepage", "appeared", "苏州一食", "2026-11-27T08:30:00+08:00")]
    assert sum(o.not_modified for o in second) == 22
