"""The pollers' publisher while the broker is down: records wait (nothing dropped), survive a
restart through the spool journal, are delivered once the broker answers, and once
acknowledged are not sent again after a kill."""
from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from schemas import Observation
from streams.publisher import Publisher, observation_record
from streams.spool import Spool
from tests.conftest import free_port

pytestmark = pytest.mark.broker


def _obs(i: int) -> Observation:
    return Observation(ts="2032-01-02T08:00:00+08:00", site="cnr", surface="homepage", title=f"缓冲测试标题第{i}条新闻",
                       url=f"http://news.cnr.cn/native/gd/20320102/t20320102_{i}.shtml", rank=None, summary=None, change="appeared")


def test_records_wait_while_the_broker_is_down_and_arrive_after(kafka, tmp_path):
    spool = tmp_path / "spool.jsonl"
    records = [observation_record(_obs(i)) for i in range(5)]

    async def down():
        p = Publisher(f"127.0.0.1:{free_port()}", spool=spool, retry_s=0.2)  # nothing listens there
        p.start()
        p.enqueue(records)
        await asyncio.sleep(1.5)
        assert p.sent == 0 and len(p.pending) == 5 and not p.broker_up
        await p.close(timeout=0.5)

    asyncio.run(down())
    assert len(spool.read_text().splitlines()) == 5

    async def up():
        from aiokafka import AIOKafkaConsumer

        p = Publisher(kafka.kafka_bootstrap, spool=spool)
        assert list(p.pending) == records
        p.start()
        assert await p.flush(60)
        # the journal as a SIGKILL right now would leave it: the acknowledged records are marked
        killed = tmp_path / "killed.jsonl"
        shutil.copy(spool, killed)
        assert not Spool(killed).pending
        await p.close()
        assert not Publisher(kafka.kafka_bootstrap, spool=spool).pending
        consumer = AIOKafkaConsumer("sightings", bootstrap_servers=kafka.kafka_bootstrap, auto_offset_reset="earliest",
                                    group_id=None, enable_auto_commit=False)
        await consumer.start()
        got = []
        try:
            for _ in range(20):
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r for r in batch if json.loads(r.value)["ts"].startswith("2032-01-02")]
                if len(got) >= 5:
                    break
        finally:
            await consumer.stop()
        return got

    got = asyncio.run(up())
    assert sorted(r.key for r in got) == sorted(r.key for r in records)
