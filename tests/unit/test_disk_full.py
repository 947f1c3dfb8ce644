"""Disk full under the snapshot store: the poller keeps publishing, health says why.

As root the store lives on a real 64 kB tmpfs filled to the last byte (a real ENOSPC from
the kernel); elsewhere the one write that would hit the disk raises ENOSPC at the edge.
"""
from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import httpx
import pytest

from streams.changes import SurfaceStates
from streams.fetch import Fetcher, FetchPolicy
from streams.poller import Poller
from streams.registry import load_registry
from streams.snapshots import SnapshotStore
from tests.conftest import full_tmpfs

LINKS = "".join(f'<li><a href="http://society.people.com.cn/n1/2026/1127/c1008-{i}.html">第{i}条新闻标题足够长的一条</a></li>'
                for i in range(1, 41))
HTML = f'<html><head><meta charset="utf-8"></head><body><ul>{LINKS}</ul></body></html>'.encode()


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A directory on which every new write fails with ENOSPC."""
    root = tmp_path / "tiny"
    root.mkdir()
    with full_tmpfs(root) as mounted:
        if not mounted:
            real_write_bytes, real_write_text = Path.write_bytes, Path.write_text

            def refuse(real):
                def write(self, *args, **kwargs):
                    if root in self.parents:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
                    return real(self, *args, **kwargs)
                return write
            monkeypatch.setattr(Path, "write_bytes", refuse(real_write_bytes))
            monkeypatch.setattr(Path, "write_text", refuse(real_write_text))
        yield root


def test_full_snapshot_disk_costs_the_snapshot_not_the_headlines(full_disk):
    registry = load_registry()
    people = registry.surface("people/homepage")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=httpx.ByteStream(HTML),
                                                                   headers={"Content-Type": "text/html"}))
    poller = Poller(registry, Fetcher(FetchPolicy(politeness_delay_s=0), transport=transport),
                    store=SnapshotStore(full_disk / "snapshots"), states=SurfaceStates(full_disk / "state.json"))

    async def run():
        try:
            # run_cycle also saves the surface states on the same full disk: it must not raise
            return await poller.run_cycle([people])
        finally:
            await poller.aclose()

    (outcome,) = asyncio.run(run())
    assert outcome.error is None
    assert len(outcome.observations) == 40, "the headlines are published although the snapshot was not kept"
    health = poller.health.by_key["people/homepage"]
    assert health.consecutive_failures == 0
    assert health.last_error_reason == "snapshot_store"
    assert "No space left on device" in health.last_error
    assert health.record().last_error == health.last_error  # what source-health and the desk show
    assert not list((full_disk / "snapshots").rglob("*.gz"))
