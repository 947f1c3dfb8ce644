"""``citycredit demo``: the whole product on one machine, on recorded sites.

Starts (or reuses) the local broker, creates the topics, starts the Faust worker as a
subprocess, serves the built-in timeline from the recorded-sites server (accelerated),
and runs the same pollers as production against it. Ctrl-C / SIGTERM (or ``--duration``)
stops everything it started, in reverse order. At the end of a ``--duration`` run the
pollers stop first and the worker is given up to ``DRAIN_S`` to classify what they
published, so the closing counts add up: observations published = items classified +
observations rejected (dead-lettered by classify or clustering).
"""
from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from citycredit import broker
from citycredit.admin import ensure_topics
from citycredit.settings import Settings

from streams.poller import Poller
from streams.publisher import Publisher
from .sites import RecordedSites, start_server
from .timeline import load_timeline
from streams.registry import load_registry
from streams.runner import install_stop_handlers, make_publisher, start_worker, stop_worker

DRAIN_S = 60.0  # at most this long after a --duration run for the worker to catch up with the pollers
# the topics whose dead-lettered records are sightings that will never become items
REJECTING_TOPICS = ("sightings", "classified")


@dataclass(frozen=True)
class DemoOptions:
    duration: float | None = None  # seconds; None = until Ctrl-C
    speed: float | None = None  # None: settings.sites_speed
    timeline: Path | None = None
    worker: bool = True


def with_demo_token(settings: Settings) -> tuple[Settings, bool]:
    """The demo's settings with an API token, so the desk can file a government response
    (with none, writes answer 503). A configured CITYCREDIT_API_TOKEN is kept; otherwise a
    random one is made for this run only (returns True then). start_worker hands it to the
    worker in its environment; the demo prints it once, on the desk line, for the person at
    the desk to paste into the response form. It is never served over HTTP: a page that
    prefilled it would hand write access to whoever can load the page, and the same worker
    code runs in production."""
    if settings.api_token:
        return settings, False
    return settings.replace(api_token=secrets.token_urlsafe(32)), True


def desk_line(settings: Settings, generated: bool) -> str:
    """The demo's one line that shows the token (only a generated one: a configured token is the operator's)."""
    url = f"http://{settings.web_host}:{settings.web_port}/desk/"
    if generated:
        return f"  desk:        {url}  API token for this demo: {settings.api_token}   (served by the worker)"
    return f"  desk:        {url}  API token: the one in CITYCREDIT_API_TOKEN   (served by the worker)"


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


@dataclass
class _Downstream:
    items: int = 0  # distinct classified sightings, by (site, surface, url, ts, change)
    repeated: int = 0  # items records beyond the first of a sighting (a worker re-processing after a rebalance)
    rejected: int = 0  # sightings dead-lettered by classify or clustering: they never become items
    alerts: int = 0
    seen: set = field(default_factory=set)

    def add_item(self, value: bytes | None) -> None:
        try:
            v = json.loads(value or b"")
            key = (v["site"], v["surface"], v["url"], v["ts"], v["change"])
        except (ValueError, TypeError, KeyError):
            key = ("unreadable", len(self.seen))
        if key in self.seen:
            self.repeated += 1
        else:
            self.seen.add(key)
            self.items += 1

    def add_dead(self, value: bytes | None) -> None:
        try:
            topic = json.loads(value or b"").get("topic")
        except (ValueError, AttributeError):
            return
        if topic in REJECTING_TOPICS:
            self.rejected += 1


async def _follow_downstream(settings: Settings, stop: asyncio.Event, out: TextIO, seen: _Downstream, from_start: bool) -> None:
    """Count what the worker makes of the sightings and print alerts, so the person running
    the demo sees a story become major."""
    from aiokafka import AIOKafkaConsumer

    from citycredit.kafka_client import client_args

    consumer = AIOKafkaConsumer("items", "alerts", "deadletter", **client_args(settings),
                                auto_offset_reset="earliest" if from_start else "latest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        while not stop.is_set():
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                if tp.topic == "items":
                    for r in records:
                        seen.add_item(r.value)
                    continue
                if tp.topic == "deadletter":
                    for r in records:
                        seen.add_dead(r.value)
                    continue
                for r in records:
                    seen.alerts += 1
                    try:
                        a = json.loads(r.value)
                        _say(out, f"  ALERT {a.get('type')} {a.get('city') or '?'} trigger={a.get('trigger')} "
                                  f"sites={','.join(a.get('sites') or [])} at {a.get('triggered_at')}: {a.get('title')}")
                    except (ValueError, AttributeError):
                        _say(out, f"  ALERT (unreadable) {r.value[:200]!r}")
    finally:
        await consumer.stop()


async def _catch_up(downstream: _Downstream, published: int, out: TextIO) -> None:
    """Wait (at most ``DRAIN_S``) until every published observation is an item or rejected."""
    started = time.monotonic()
    while downstream.items + downstream.rejected < published and time.monotonic() - started < DRAIN_S:
        await asyncio.sleep(0.2)
    left = published - downstream.items - downstream.rejected
    _say(out, f"worker caught up in {time.monotonic() - started:.1f}s" if left <= 0 else
              f"worker still {left} observation(s) behind after {DRAIN_S:g}s")


async def run_demo(settings: Settings, options: DemoOptions, out: TextIO = sys.stdout) -> int:
    speed = options.speed if options.speed is not None else settings.sites_speed
    if speed <= 0:
        raise ValueError("--speed must be > 0 for the demo")
    stop = asyncio.Event()
    install_stop_handlers(stop)
    own_broker = False
    demo, token_generated = with_demo_token(settings.replace(data_dir=settings.data_dir / "demo"))
    if await asyncio.to_thread(broker.answers, settings.kafka_bootstrap):
        _say(out, f"using the Kafka broker already answering at {settings.kafka_bootstrap}")
    else:
        # a fresh demo every time: its own broker storage, worker tables and poller state
        await asyncio.to_thread(broker.stop, demo)
        shutil.rmtree(demo.data_dir, ignore_errors=True)
        demo = demo.replace(kafka_bootstrap=broker.bootstrap(demo))
        _say(out, "starting the local Kafka broker ...")
        seconds = await asyncio.to_thread(broker.start, demo)
        own_broker = True
        _say(out, f"broker ready at {demo.kafka_bootstrap} in {seconds:.1f}s")
    shutil.rmtree(demo.data_dir / "streams", ignore_errors=True)
    demo.data_dir.mkdir(parents=True, exist_ok=True)
    await ensure_topics(demo)

    worker: subprocess.Popen | None = None
    runner = None
    poller: Poller | None = None
    publisher: Publisher | None = None
    tasks: list[asyncio.Task] = []
    downstream: _Downstream | None = None
    following: asyncio.Task | None = None
    follow_stop = asyncio.Event()  # the follower outlives the pollers: it counts what the worker still makes
    drain = False  # the run ended by --duration with the worker alive: let it catch up before stopping
    try:
        if options.worker:
            worker, log_path = start_worker(demo)
            _say(out, f"worker started (pid {worker.pid}, log {log_path})")

        registry = load_registry(settings.sites_file)
        timeline = load_timeline(options.timeline)
        sites = RecordedSites(registry, timeline, speed=speed)
        runner = await start_server(sites, "127.0.0.1", settings.sites_port)
        base = f"http://127.0.0.1:{settings.sites_port}"
        day_minutes = timeline.frames[-1]
        _say(out, f"recorded sites: {base}/_timeline ({len(sites.routes)} surfaces of {len(registry.sites)} sites; "
                  f"{day_minutes} simulated minutes from {timeline.start.isoformat()} at {speed:g}x = "
                  f"{day_minutes * 60 / speed:.0f}s)")

        # the production pollers, pointed at the recorded server; intervals shrink with the clock
        poll_settings = demo.replace(sites_base_url=base, poll_interval_scale=min(1.0, 1.0 / speed) * settings.poll_interval_scale,
                                     poll_politeness_delay=min(settings.poll_politeness_delay, 0.05))
        publisher = make_publisher(demo)
        publisher.start()
        poller = Poller.from_settings(poll_settings, publisher=publisher)
        tasks.append(asyncio.create_task(poller.run_forever(stop), name="pollers"))
        downstream = _Downstream()
        following = asyncio.create_task(_follow_downstream(demo, follow_stop, out, downstream, own_broker), name="downstream")

        _say(out, "")
        _say(out, desk_line(demo, token_generated))
        _say(out, f"  metrics:     http://{settings.web_host}:{settings.web_port}/metrics")
        _say(out, f"  timeline:    {base}/_timeline")
        _say(out, f"  broker:      {demo.kafka_bootstrap} (topics sightings, items, alerts, city-index, source-health)")
        _say(out, "  alerts:      printed below as they arrive")
        _say(out, "  stop:        Ctrl-C")
        _say(out, "")
        started = time.monotonic()
        last_frame = -1
        while not stop.is_set():
            if options.duration is not None and time.monotonic() - started >= options.duration:
                drain = worker is not None and worker.poll() is None
                break
            if worker is not None and worker.poll() is not None:
                _say(out, f"the worker exited with status {worker.returncode}; see {demo.data_dir / 'worker.log'}")
                break
            frame = sites.current_frame()
            if frame != last_frame:
                last_frame = frame
                failing = sum(1 for h in poller.health.by_key.values() if h.consecutive_failures)
                _say(out, f"[{timeline.frame_time(frame).strftime('%H:%M')}] frame {frame + 1}/{len(timeline.frames)}  "
                          f"observations published {publisher.sent_observations}, pending {len(publisher.pending)}, "
                          f"surfaces failing {failing}; worker: items {downstream.items}, alerts {downstream.alerts}")
                if frame == len(timeline.frames) - 1:
                    _say(out, "the demo day is over: the sites stay as they are; the desk keeps the results. Ctrl-C stops.")
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
        return 0
    finally:
        _say(out, "stopping ...")
        stop.set()
        for t in tasks:
            try:
                await asyncio.wait_for(t, 15)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down
                t.cancel()
        if poller is not None:
            await poller.aclose()
        if publisher is not None:
            await publisher.close()
            _say(out, f"observations published: {publisher.sent_observations}")
        if downstream is not None and publisher is not None and drain:
            await _catch_up(downstream, publisher.sent_observations, out)
        follow_stop.set()
        if following is not None:
            try:
                await asyncio.wait_for(following, 15)
            except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - shutting down
                following.cancel()
        if downstream is not None:
            _say(out, f"items classified by the worker: {downstream.items}; observations rejected: {downstream.rejected}; "
                      f"repeated items: {downstream.repeated}; alerts: {downstream.alerts}")
        if runner is not None:
            await runner.cleanup()
        if worker is not None:
            await stop_worker(worker)
        if own_broker:
            await asyncio.to_thread(broker.stop, demo)
        _say(out, "demo stopped")
