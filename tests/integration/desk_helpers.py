"""Helpers shared by the delivery tests that run a real worker: produce contract records,
wait for the desk to show them, call the API."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable


async def _produce(bootstrap: str, topic: str, records: list[tuple[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
            await producer.send_and_wait(topic, raw, key=key.encode())
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, records: list[tuple[str, Any]]) -> None:
    asyncio.run(_produce(bootstrap, topic, records))


async def _lag(bootstrap: str, pairs: list[tuple[str, str]]) -> dict[str, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, int] = {}
        cluster = await consumer._client.fetch_all_metadata()  # the consumer subscribes to nothing
        for group, topic in pairs:  # in order: a group's commit is read after the one feeding its topic
            parts = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
            assert parts, f"no partitions of {topic} in the metadata"
            ends = await consumer.end_offsets(parts)
            committed = await admin.list_consumer_group_offsets(group, partitions=parts)
            behind = sum(max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                         for tp in parts)
            if behind:
                lag[f"{group} on {topic}"] = behind
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def committed_lag(bootstrap: str, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """For each (consumer group, topic), in order, the records of the topic past the group's
    committed offsets; only the pairs that lag. Empty: each group has processed (and committed)
    every record its topic held when it was looked at."""
    return asyncio.run(_lag(bootstrap, pairs))


def delivery_settled(bootstrap: str, worker: Any) -> bool:
    """True once the worker has delivered everything it will ever deliver of what is on the
    broker now: its alert router has committed every record of ``alerts`` (each matching alert's
    ``enqueue`` record is acked on ``deliveries`` before that commit), then the app's group has
    committed every record of ``deliveries`` (each enqueue is in the outbox), then the outbox
    holds nothing undelivered (``citycredit_webhook_outbox_alerts``: pending minus delivered).
    A receiver records a call before it answers, and an entry counts as delivered only after
    the answer, so every delivery made is already counted by the receiver. Nothing left can
    make a delivery, so no duplicate can come later (short of a new restart or rebalance,
    which re-reads uncommitted records: none are left)."""
    return not committed_lag(bootstrap, _delivery_groups(worker)) and worker.metric("citycredit_webhook_outbox_alerts") == 0


def _delivery_groups(worker: Any) -> list[tuple[str, str]]:
    return [(f"{worker.app_id}-alert-router", "alerts"), (worker.app_id, "deliveries")]


def wait_delivery_settled(bootstrap: str, worker: Any, timeout: float = 60) -> None:
    """Wait for ``delivery_settled``; on a timeout say what lags."""
    wait_for(lambda: delivery_settled(bootstrap, worker), timeout, "the delivery pipeline to settle", lambda: (
        f"committed lag {committed_lag(bootstrap, _delivery_groups(worker))}, outbox "
        f"{worker.metric('citycredit_webhook_outbox_alerts')}\n{worker.log()}"))


def call(port: int, method: str, path: str, body: Any = None, token: str | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as exc:  # the web server not up yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}\n{log()[-4000:]}")


def ensure_system_tools(*paths: str) -> None:
    """Install the Debian packages the delivery tests drive (ops/install-test-deps.sh) when a
    binary is missing; skip with the script's message only when installing is impossible."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    import pytest

    if all(os.path.exists(p) or shutil.which(p) for p in paths):
        return
    script = Path(__file__).resolve().parents[2] / "ops" / "install-test-deps.sh"
    proc = subprocess.run([str(script)], capture_output=True, text=True, timeout=1200)
    if proc.returncode == 3:
        pytest.skip(f"cannot install test packages: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"{script} failed: {proc.stderr}"
    missing = [p for p in paths if not (os.path.exists(p) or shutil.which(p))]
    assert not missing, f"still missing after {script}: {missing}"
