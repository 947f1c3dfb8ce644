"""`citycredit demo --duration`: the product command runs bounded on the session broker,
prints where to look, feeds the worker, and shuts down everything it started."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import pytest

from tests.conftest import free_port, settings_env

pytestmark = [pytest.mark.broker, pytest.mark.slow]


async def _items_with(bootstrap: str, title: str, timeout_s: float = 30.0) -> list[dict]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer("items", bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    found: list[dict] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch and found:
                break
            for records in batch.values():
                for r in records:
                    item = json.loads(r.value)
                    if item.get("title") == title:
                        found.append(item)
    finally:
        await consumer.stop()
    return found


def test_demo_runs_bounded_and_stops_cleanly(kafka, tmp_path):
    web_port, sites_port = free_port(), free_port()
    env = settings_env(kafka, CITYCREDIT_DATA_DIR=str(tmp_path), CITYCREDIT_WEB_PORT=str(web_port),
                       CITYCREDIT_SITES_PORT=str(sites_port), CITYCREDIT_APP_ID=f"citycredit-demo-{uuid.uuid4().hex[:6]}")
    proc = subprocess.run([sys.executable, "-m", "citycredit.cli", "demo", "--duration", "45", "--speed", "1500"],
                          env=env, capture_output=True, text=True, timeout=180)
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"desk:        http://127.0.0.1:{web_port}/" in out
    assert f"using the Kafka broker already answering at {kafka.kafka_bootstrap}" in out
    assert "frame 35/35" in out and out.rstrip().endswith("demo stopped")
    published = int(out.split("observations published: ")[1].split()[0])
    assert published > 1000
    # the worker (a subprocess of the demo) classified the demo's sightings: the 苏州 story's
    # homepage appearances on people, xinhua, sina, sohu and gmw reached `items`
    items = asyncio.run(_items_with(kafka.kafka_bootstrap, "苏州一食品企业使用过期原料生产糕点 市场监管部门已立案调查"))
    homepage_sites = {i["site"] for i in items if i["surface"] == "homepage" and i["change"] == "appeared"}
    assert homepage_sites >= {"people", "xinhua", "sina", "sohu", "gmw"}, (homepage_sites, (tmp_path / "demo" / "worker.log").read_text()[-2000:])
    # nothing left running: the worker's port is free again
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", web_port))
