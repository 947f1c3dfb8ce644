"""Publishing observations and health to Kafka, without losing any while the broker is down.

The producer uses acks=all and idempotence, so a retried send is written once. Records
wait in a FIFO queue until the broker has acknowledged them; while the broker is
unreachable the queue grows (bounded: the oldest pending record is never dropped — the
poller is told to back off instead). The queue is a write-ahead journal on disk
(``streams/spool.py``): a record is in it before ``enqueue`` returns and leaves it once
acknowledged, so neither a restart nor a SIGKILL of the poller loses one.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter, deque
from pathlib import Path
from typing import Any, Mapping

from citycredit.metrics import METRICS
from citycredit.topics import SIGHTINGS, SOURCE_HEALTH
from schemas import Observation, SourceHealth

from .spool import COMPACT_BYTES, Pending, Spool

__all__ = ["Pending", "Publisher", "health_record", "observation_record"]

log = logging.getLogger(__name__)


def observation_record(obs: Observation, source: str | None = None) -> Pending:
    """``source``: the health key ("site/surface id") the observation was polled from; its
    acknowledgement is counted under that surface."""
    # sightings are keyed by URL (design.md): every change of one article lands in one partition, in order
    return Pending(SIGHTINGS.name, obs.url.encode("utf-8"), json.dumps(obs.asdict(), ensure_ascii=False).encode("utf-8"),
                   source)


def health_record(h: SourceHealth) -> Pending:
    return Pending(SOURCE_HEALTH.name, f"{h.site}/{h.surface}".encode("utf-8"),
                   json.dumps(h.asdict(), ensure_ascii=False).encode("utf-8"))


class Publisher:
    def __init__(self, bootstrap: str, spool: Path | None = None, max_pending: int = 100_000,
                 retry_s: float = 1.0, retry_max_s: float = 30.0, fsync: bool = False,
                 compact_bytes: int = COMPACT_BYTES, security: Mapping[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        # citycredit.kafka_client.security_args(settings): PLAINTEXT unless the settings say SASL_SSL
        self.security = dict(security or {})
        self.spool = spool
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        # the queue and its journal (the journal only with a spool path): records written there on
        # enqueue are pending again after any restart until Kafka acknowledged them
        self._queue = Spool(spool, fsync=fsync, compact_bytes=compact_bytes)
        self.sent = 0
        self.sent_observations = 0
        # observations the broker acknowledged, by the health key of their surface (since this
        # process started): carried on each surface's source-health record, from which the
        # worker exports citycredit_poll_observations_published_total, and exported on the
        # pollers' own /metrics from here
        self.published_by_source: Counter[str] = Counter()
        METRICS.poll_observations_published.source = self.published_samples
        self._producer = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.broker_up = False

    def published(self, source: str) -> int:
        """Observations of the surface with health key ``source`` the broker has acknowledged."""
        return self.published_by_source[source]

    def published_samples(self):
        """((site, surface id), acknowledged observations) for the pollers' /metrics."""
        for source, n in sorted(self.published_by_source.items()):
            site, _, surface = source.partition("/")
            yield [site, surface], n

    @property
    def pending(self) -> deque[Pending]:
        """The records not yet acknowledged, oldest first (read-only: enqueue adds, acknowledgements remove)."""
        return self._queue.pending

    @property
    def full(self) -> bool:
        return len(self.pending) >= self.max_pending

    def enqueue(self, records: list[Pending]) -> None:
        """Queue ``records`` for Kafka; on return they are in the spool journal (a SIGKILL keeps them)."""
        self._queue.append(records)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="publisher")

    async def _connect(self):
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **self.security, acks="all", enable_idempotence=True,
                                    linger_ms=5, request_timeout_ms=15000)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _run(self) -> None:
        delay = self.retry_s
        while True:
            if not self.pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                if self._producer is None:
                    self._producer = await self._connect()
                    self.broker_up = True
                await self._send_batch()
                delay = self.retry_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any broker failure: keep the records, retry later
                self.broker_up = False
                log.warning("publishing to %s failed (%s: %s); %d records kept, retrying in %.0fs",
                            self.bootstrap, type(exc).__name__, exc, len(self.pending), delay)
                if self._producer is not None:
                    try:
                        await self._producer.stop()
                    except Exception:  # noqa: BLE001 - already broken
                        pass
                    self._producer = None
                if self._closing:
                    return
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(self.retry_max_s, delay * 2)

    async def _send_batch(self, batch_size: int = 500) -> None:
        batch = [self.pending[i] for i in range(min(batch_size, len(self.pending)))]
        futures = [await self._producer.send(p.topic, p.value, key=p.key) for p in batch]
        acked = 0
        try:
            for p, f in zip(batch, futures):
                await f  # raises if the broker did not acknowledge: this record and the rest stay pending
                acked += 1
                self.sent += 1
                if p.topic == SIGHTINGS.name:
                    self.sent_observations += 1
                    if p.source is not None:
                        self.published_by_source[p.source] += 1
        finally:
            # acknowledged: only now do they leave the queue and the journal. A kill before this
            # line sends the batch again after the restart (a double, never a miss)
            self._queue.ack(acked)

    async def flush(self, timeout: float) -> bool:
        """Wait until everything queued is acknowledged; False on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.pending and asyncio.get_running_loop().time() < deadline:
            self._wake.set()
            await asyncio.sleep(0.05)
        return not self.pending

    async def close(self, timeout: float = 10.0) -> None:
        await self.flush(timeout)
        self._closing = True
        self._wake.set()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        if self._producer is not None:
            try:
                await self._producer.stop()
            except Exception:  # noqa: BLE001
                pass
        # a clean stop leaves a journal of just the pending records, sent first on the next start
        self._queue.compact()
        self._queue.close()
        if self.spool and self.pending:
            log.warning("%d unpublished records kept in %s; they are sent on the next start", len(self.pending), self.spool)
