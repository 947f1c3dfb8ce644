"""The poller: fetch -> keep raw -> parse -> diff -> publish, per surface, forever.

One ``Poller`` serves every surface of the registry. Surfaces of one host never overlap
(``HostGate``); surfaces of different hosts are polled concurrently. A failure of one
surface is counted in its health with the reason and never stops the others.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from citycredit.settings import Settings
from schemas import Observation, parse_ts

from .changes import SurfaceStates, diff, snapshot_of
from .exceptions import ParseError, PollError
from .fetch import Fetcher, FetchPolicy, Validators
from .health import HealthTracker, SurfaceHealth, YieldRule
from .parsers import parse_body
from .publisher import Publisher, health_record, observation_record
from .registry import Registry, Surface, load_registry
from .snapshots import SnapshotStore

log = logging.getLogger(__name__)
BEIJING = timezone(timedelta(hours=8))
# Sent by the recorded-sites server: the simulated time of the timeline frame it served.
SIM_TIME_HEADER = "x-citycredit-sim-time"


def wall_clock() -> datetime:
    return datetime.now(BEIJING)


@dataclass
class PollOutcome:
    surface: Surface
    ts: str
    observations: list[Observation] = field(default_factory=list)
    items: int = 0
    error: str | None = None
    not_modified: bool = False
    health: SurfaceHealth | None = None


def policy_from(settings: Settings) -> FetchPolicy:
    return FetchPolicy(politeness_delay_s=settings.poll_politeness_delay, connect_timeout_s=settings.poll_connect_timeout,
                       read_timeout_s=settings.poll_read_timeout, deadline_s=settings.poll_deadline,
                       retries=settings.poll_retries, backoff_s=settings.poll_backoff, max_bytes=settings.poll_max_bytes,
                       max_redirects=settings.poll_max_redirects)


class Poller:
    def __init__(self, registry: Registry, fetcher: Fetcher, *, base_url: str = "", publisher: Publisher | None = None,
                 store: SnapshotStore | None = None, states: SurfaceStates | None = None,
                 health: HealthTracker | None = None, clock: Callable[[], datetime] = wall_clock,
                 interval_scale: float = 1.0) -> None:
        self.registry = registry
        self.fetcher = fetcher
        self.base_url = base_url
        self.publisher = publisher
        self.store = store
        self.states = states or SurfaceStates(None)
        self.health = health or HealthTracker()
        self.clock = clock
        self.interval_scale = interval_scale
        self.cycles = 0

    @classmethod
    def from_settings(cls, settings: Settings, publisher: Publisher | None = None, **kwargs) -> "Poller":
        root = settings.data_dir / "streams"
        return cls(
            load_registry(settings.sites_file), Fetcher(policy_from(settings)), base_url=settings.sites_base_url,
            publisher=publisher,
            store=SnapshotStore(root / "snapshots", settings.snapshot_retention_days, settings.snapshot_max_mb * 1024 * 1024),
            states=SurfaceStates(root / "state.json"), health=HealthTracker(YieldRule(ratio=settings.poll_yield_drop_ratio)),
            interval_scale=settings.poll_interval_scale, **kwargs)

    async def poll(self, surface: Surface) -> PollOutcome:
        when = self.clock()
        t0 = time.perf_counter()
        key = surface.key
        out = PollOutcome(surface, when.isoformat())
        try:
            res = await self.fetcher.fetch(surface.url_for(when, self.base_url), surface.host,
                                           Validators(**self.states.validators.get(key, {})))
            sim = res.headers.get(SIM_TIME_HEADER)
            if sim and self.base_url:
                # the recorded server's timeline time: demo and test runs are deterministic
                when = parse_ts(sim, SIM_TIME_HEADER)
                out.ts = when.isoformat()
            if res.not_modified:
                out.not_modified = True
                out.health = self.health.not_modified(surface, when, time.perf_counter() - t0).copy()
                self._publish([], out.health)
                return out
            snapshot_error = self._keep_snapshot(surface, when, res)
            headlines = parse_body(surface, res.body, res.content_type)
            if not headlines:
                raise ParseError("no_headlines", "the page parsed but no headline matched (link_pattern or JSON paths outdated?)")
        except PollError as exc:
            out.error = exc.reason
            out.health = self.health.failure(surface, exc.reason, exc.message, time.perf_counter() - t0).copy()
            log.info("poll %s failed: %s", key, exc)
            self._publish([], out.health)
            return out
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the other surfaces; it is counted and logged
            out.error = "internal"
            out.health = self.health.failure(surface, "internal", f"{type(exc).__name__}: {exc}", time.perf_counter() - t0).copy()
            log.exception("poll %s: unexpected error", key)
            self._publish([], out.health)
            return out
        h = self.health.success(surface, len(headlines), when, time.perf_counter() - t0)
        if snapshot_error:
            self.health.snapshot_failed(surface, snapshot_error)
        previous = self.states.states.get(key)
        out.observations = diff(surface, previous, headlines, out.ts, allow_left=not h.yield_drop)
        out.items = len(headlines)
        out.health = h.copy()
        current = snapshot_of(headlines)
        # on a yield drop keep what was there: when the parser is fixed the old items are not re-announced
        self.states.states[key] = {**(previous or {}), **current} if h.yield_drop else current
        self.states.validators[key] = {"etag": res.headers.get("etag"), "last_modified": res.headers.get("last-modified")}
        self._publish(out.observations, h)
        return out

    def _save_states(self) -> bool:
        """Persist the surface states; on a full disk keep them in memory and try again next time.

        Raising here would stop every surface's loop (run_forever gathers them); what a failed
        save risks is only that a restart before the next good save re-announces some headlines
        (``appeared`` twice: a duplicate sighting), never that one is missed.
        """
        try:
            self.states.save()
        except OSError as exc:
            log.warning("surface states not saved to %s (%s); kept in memory, retried next cycle",
                        self.states.path, exc)
            return False
        return True

    def _keep_snapshot(self, surface: Surface, when: datetime, res) -> str | None:
        """Store the raw body; a full or failing disk costs the snapshot only, never the headlines.

        The snapshot store is an aid for ``reparse``; the observations are the product. So an
        OSError (ENOSPC, EIO, read-only) is reported in health and the poll goes on.
        """
        if self.store is None:
            return None
        try:
            self.store.put(surface.site, surface.id, when, res.url, res.headers, res.body)
        except OSError as exc:
            log.warning("poll %s: raw snapshot not kept (%s); headlines are still published", surface.key, exc)
            return f"{type(exc).__name__}: {exc.strerror or exc}"
        return None

    def _publish(self, observations: list[Observation], health: SurfaceHealth) -> None:
        if self.publisher is not None:
            source = f"{health.site}/{health.surface}"
            # the health record carries what the broker has acknowledged of this surface so far
            # (this batch counts on the next one): the worker's citycredit_poll_observations_published_total
            record = health.record(observations_published=self.publisher.published(source))
            self.publisher.enqueue([observation_record(o, source) for o in observations] + [health_record(record)])

    async def run_cycle(self, surfaces: list[Surface] | None = None) -> list[PollOutcome]:
        """Poll every surface once (different hosts concurrently); returns the outcomes in registry order."""
        targets = surfaces if surfaces is not None else self.registry.surfaces()
        outcomes = await asyncio.gather(*(self.poll(s) for s in targets))
        self.cycles += 1
        self._save_states()
        return list(outcomes)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Each surface on its own interval (scaled), until ``stop`` is set."""
        async def loop(surface: Surface) -> None:
            interval = surface.interval_s * self.interval_scale
            while not stop.is_set():
                if self.publisher is not None and self.publisher.full:
                    log.warning("publish queue full (broker down?): %s waits", surface.key)
                else:
                    await self.poll(surface)
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except asyncio.TimeoutError:
                    pass

        async def housekeeping() -> None:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), 30)
                except asyncio.TimeoutError:
                    pass
                self._save_states()
                if self.store is not None:
                    await asyncio.to_thread(self.store.prune, wall_clock())

        await asyncio.gather(housekeeping(), *(loop(s) for s in self.registry.surfaces()))
        self._save_states()

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        self._save_states()


def health_table(health: HealthTracker) -> list[dict[str, object]]:
    """Health rows for printing (`citycredit poll`)."""
    return [{"surface": k, "items": h.items_parsed, "failures": h.consecutive_failures,
             "last_success": h.last_success, "last_error": h.last_error, "yield_drop": h.yield_drop}
            for k, h in sorted(health.by_key.items())]
