"""Faust's end of recovery, reordered so a rebalance cannot drop records a worker has read.

What faust-streaming 0.15.3 does when a rebalance's table recovery ends
(``Recovery.on_recovery_completed``; ``_resume_streams`` has the same order):

1. resume the stream partitions (``sightings``, ``classified``, ...);
2. ``perform_seek``: one committed-offset request per stream partition, then a seek;
3. ``app.flow_control.resume()``, which *clears every agent's input queue*;
4. ``consumer.resume_flow()``.

But the consumer's flow is already running at step 1: recovery resumed it to read the
changelogs. So during step 2 (about 30 sequential requests, 0.1–0.3 s here) the fetcher
reads records of the resumed partitions and puts them in the agents' queues, and step 3
throws them away. The fetch position is already past them, so they are never read again
by this worker. They are never acked either, so the partition's commit stops at the gap.

Measured in ``tests/integration/test_faults.py::test_broker_sigkilled...``: after the broker
came back with the pollers' backlog, the worker lost one fetch batch per partition
(sightings 1: offsets 169–212, 2: 187–229, 3: 192–234: 130 sightings; 5 of 21 runs lost 12–130), and
the group's committed offset of partition 1 stayed at 42 until the worker stopped. The
upstream report is faust-streaming issue #596 (open).

The fix stops the flow before step 1. Nothing then reaches the queues until step 4, which
starts reading at the offsets step 2 sought to. The original methods run unchanged.
"""
from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from faust.tables.recovery import Recovery

_PATCHED = "_citycredit_flow_stopped_first"


def stop_flow_first(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a Recovery method that resumes stream partitions: stop the consumer's flow first."""
    @functools.wraps(method)
    async def wrapper(self: Recovery, *args: Any, **kwargs: Any) -> Any:
        # The stream partitions are still paused here (paused at assignment), so no stream
        # record is in a queue yet: stopping the flow now leaves nothing to lose.
        self.app.consumer.stop_flow()
        return await method(self, *args, **kwargs)
    setattr(wrapper, _PATCHED, True)
    return wrapper


def install() -> None:
    """Patch Recovery once per process (idempotent)."""
    for name in ("on_recovery_completed", "_resume_streams"):
        method = getattr(Recovery, name)
        if not getattr(method, _PATCHED, False):
            setattr(Recovery, name, stop_flow_first(method))
