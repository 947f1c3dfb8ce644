"""Wiring for the commands: pollers + publisher from settings, the recorded server, reparse."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, TextIO

from citycredit.kafka_client import security_args
from citycredit.settings import Settings

from .changes import diff, snapshot_of
from .exceptions import PollError
from .parsers import parse_body
from .poller import Poller, PollOutcome
from .publisher import Publisher
from .registry import load_registry
from .snapshots import SnapshotStore

log = logging.getLogger(__name__)


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CITYCREDIT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "CITYCREDIT_DATA_DIR": str(settings.data_dir),
                "CITYCREDIT_WEB_PORT": str(settings.web_port), "CITYCREDIT_WEB_HOST": settings.web_host,
                "CITYCREDIT_APP_ID": settings.app_id, "CITYCREDIT_STORE": settings.store})
    if settings.api_token:
        # the environment, not argv: a child's environment is readable only by its own user
        # (/proc/<pid>/environ), its command line by everyone (ps)
        env["CITYCREDIT_API_TOKEN"] = settings.api_token
    return env


def start_worker(settings: Settings) -> tuple[subprocess.Popen, "os.PathLike[str]"]:
    """``citycredit worker`` as a child in its own process group; its output goes to ``<data_dir>/worker.log``."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "worker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "citycredit.cli", "worker"], env=worker_env(settings),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc, log_path


async def stop_worker(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (Faust shuts down cleanly, committing offsets), SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.to_thread(proc.wait, timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)


def start_metrics_server(settings: Settings) -> None:
    """The pollers' own /metrics (poll_* series); the worker serves the rest on its web port."""
    if settings.poll_metrics_port:
        from prometheus_client import start_http_server

        from citycredit.metrics import REGISTRY

        start_http_server(settings.poll_metrics_port, addr=settings.web_host, registry=REGISTRY)


def make_publisher(settings: Settings) -> Publisher:
    return Publisher(settings.kafka_bootstrap, spool=settings.data_dir / "streams" / "spool.jsonl",
                     fsync=settings.spool_fsync, security=security_args(settings))


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass


async def poll_cycles(settings: Settings, cycles: int, publish: bool, out: TextIO | None = None,
                      flush_timeout: float = 30.0) -> tuple[Poller, list[PollOutcome]]:
    """Run ``cycles`` full poll cycles; observations are printed to ``out`` and/or published."""
    publisher = make_publisher(settings) if publish else None
    poller = Poller.from_settings(settings, publisher=publisher)
    if publisher:
        publisher.start()
    outcomes: list[PollOutcome] = []
    try:
        for _ in range(cycles):
            done = await poller.run_cycle()
            outcomes += done
            if out is not None:
                for o in done:
                    for obs in o.observations:
                        out.write(json.dumps(obs.asdict(), ensure_ascii=False) + "\n")
    finally:
        await poller.aclose()
        if publisher:
            if not await publisher.flush(flush_timeout):
                log.warning("broker did not acknowledge %d records in %.0fs", len(publisher.pending), flush_timeout)
            await publisher.close()
    return poller, outcomes


async def run_pollers(settings: Settings, stop: asyncio.Event) -> Poller:
    """Poll every surface on its interval and publish, until ``stop``."""
    publisher = make_publisher(settings)
    poller = Poller.from_settings(settings, publisher=publisher)
    publisher.start()
    try:
        await poller.run_forever(stop)
    finally:
        await poller.aclose()
        await publisher.close()
    return poller


@dataclass(frozen=True)
class ReparseRow:
    site: str
    surface: str
    seen_at: str
    headlines: int
    error: str | None


def reparse(settings: Settings, site: str | None = None, surface: str | None = None, since: datetime | None = None,
            ) -> Iterator[tuple[ReparseRow, list]]:
    """Re-run today's parsers over stored snapshots, in time order per surface.

    Yields each snapshot's row and the observations the change detector derives from the
    sequence of re-parsed snapshots (what the pollers would have published with today's parsers).
    """
    registry = load_registry(settings.sites_file)
    store = SnapshotStore(settings.data_dir / "streams" / "snapshots")
    previous: dict[str, dict] = {}
    for snap in store.iter(site=site, surface=surface, since=since):
        try:
            surf = registry.surface(f"{snap.site}/{snap.surface}")
        except Exception as exc:  # noqa: BLE001 - a surface removed from the registry since
            yield ReparseRow(snap.site, snap.surface, snap.seen_at, 0, f"registry: {exc}"), []
            continue
        try:
            headlines = parse_body(surf, snap.body(), snap.headers.get("content-type"))
        except PollError as exc:
            yield ReparseRow(snap.site, snap.surface, snap.seen_at, 0, str(exc)), []
            continue
        obs = diff(surf, previous.get(surf.key), headlines, snap.seen_at)
        previous[surf.key] = snapshot_of(headlines)
        yield ReparseRow(snap.site, snap.surface, snap.seen_at, len(headlines), None), obs
