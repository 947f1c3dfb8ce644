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
