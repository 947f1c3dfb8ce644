"""Publishing observations and health to Kafka, without losing any while the broker is down.

The producer uses acks=all and idempotence, so a retried send is written once. Records
wait in a FIFO queue until the broker has acknowledged them; while the broker is
unreachable the queue grows (bounded: the oldest pending record is never dropped — the
poller is told to back off instead) and the queue is saved to disk on shutdown and
reloaded on start, so a restart loses nothing.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from citycredit.metrics import METRICS
from citycredit.topics import SIGHTINGS, SOURCE_HEALTH
from schemas import Observation, SourceHealth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pending:
    topic: str
    key: bytes
    value: bytes


def observation_record(obs: Observation) -> Pending:
    # sightings are keyed by URL (design.md): every change of one article lands in one partition, in order
    return Pending(SIGHTINGS.name, obs.url.encode("utf-8"), json.dumps(obs.asdict(), ensure_ascii=False).encode("utf-8"))


def health_record(h: SourceHealth) -> Pending:
    return Pending(SOURCE_HEALTH.name, f"{h.site}/{h.surface}".encode("utf-8"),
                   json.dumps(h.asdict(), ensure_ascii=False).encode("utf-8"))


class Publisher:
    def __init__(self, bootstrap: str, spool: Path | None = None, max_pending: int = 100_000,
                 retry_s: float = 1.0, retry_max_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.spool = spool
        self.max_pending = max_pending
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.pending: deque[Pending] = deque()
        self.sent = 0
        self.sent_observations = 0
        self._producer = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False
        self.broker_up = False
        if spool and spool.exists():
            for line in spool.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    d = json.loads(line)
                    self.pending.append(Pending(d["topic"], d["key"].encode(), d["value"].encode()))
            spool.unlink()

    @property
    def full(self) -> bool:
        return len(self.pending) >= self.max_pending

    def enqueue(self, records: list[Pending]) -> None:
        self.pending.extend(records)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="publisher")

    async def _connect(self):
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
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
        for p, f in zip(batch, futures):
            await f  # raises if the broker did not acknowledge: this record and the rest stay pending
            # acknowledged: only now does it leave the queue
            self.pending.popleft()
            self.sent += 1
            if p.topic == SIGHTINGS.name:
                self.sent_observations += 1
                METRICS.poll_observations_published_total.inc()

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
        self.save_spool()

    def save_spool(self) -> None:
        if not self.spool or not self.pending:
            return
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spool.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for p in self.pending:
                fh.write(json.dumps({"topic": p.topic, "key": p.key.decode(), "value": p.value.decode()}, ensure_ascii=False) + "\n")
        os.replace(tmp, self.spool)
        log.warning("%d unpublished records saved to %s; they are sent on the next start", len(self.pending), self.spool)
