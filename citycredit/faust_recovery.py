"""Faust's end of recovery and its seek, mended so a rebalance cannot drop records a worker has read.

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
upstream report is faust-streaming issue #596 (open):
https://github.com/faust-streaming/faust/issues/596 . Earlier threads on the same order of
calls: https://github.com/faust-streaming/faust/issues/216 (fixed by
https://github.com/faust-streaming/faust/pull/217, which gave ``_resume_streams`` the order
above), https://github.com/faust-streaming/faust/pull/253 (resume the consumer after the
app's flow control) and https://github.com/faust-streaming/faust/pull/256 (getmany seeks
back when it finds the flow stopped); https://github.com/faust-streaming/faust/issues/221
(prefetched records after a rebalance) is the same family.

The fix stops the flow before step 1. Nothing then reaches the queues until step 4, which
starts reading at the offsets step 2 sought to. The original methods run unchanged.

Their early return (``consumer_generation_id != generation_id``: another rebalance was
assigned while the method ran) comes before step 1, so it returns with the flow stopped and
the streams paused, and resumes neither. That is deliberate, not a stall: Faust's own
``_on_partitions_revoked`` of that rebalance stopped the flow too (when there was an
assignment to revoke), and its
``_on_partitions_assigned`` (through ``Recovery.on_rebalance``) set
``signal_recovery_start``, so ``_restart_recovery`` goes round again and that round's call,
for the new generation, resumes streams and flow. Resuming on the early return instead would
fetch in the middle of the new rebalance. ``tests/unit/test_faust_recovery.py`` runs
``_restart_recovery`` through that path and checks every record still reaches the agent.

Offered upstream (for #596), in these words: "``Recovery.on_recovery_completed`` and
``_resume_streams`` resume the stream partitions and seek while the consumer's flow is still
active from changelog recovery, so the fetcher fills the agents' queues during the seek's
committed-offset requests and ``app.flow_control.resume()`` then clears them; the fetch
position is already past those records, so they are never processed and the partition's
commit stops at the gap. Calling ``self.app.consumer.stop_flow()`` at the start of both
methods (before the generation check; the early return then leaves the flow stopped for the
round of recovery the new assignment has already signalled) closes it: nothing reaches the
queues until ``consumer.resume_flow()``, which starts from the sought offsets. Separately,
``Consumer.perform_seek`` leaves a partition with no committed offset where the fetcher got
to; rewinding such stream partitions to their beginning after ``seek_to_committed`` (what
``auto_offset_reset='earliest'`` does anyway) keeps the first records of a new partition
from being dropped. We run both as a patch on 0.15.3 and can open a PR with tests."

A second hole is in the seek itself (``Consumer.perform_seek``, also what ``getmany`` calls
when it finds the flow stopped and throws away what it fetched): aiokafka's
``seek_to_committed`` leaves a partition that has no committed offset yet where the fetcher
got to. A fetch that was in flight when the flow stopped can return records of a partition
just resumed in step 1 (Faust's pause is a filter on a set the fetch is still reading);
they are thrown away, and with no commit to seek back to, they are never read again. Caught
with the fault test "a second worker joins and leaves": ``alerts`` partition 0's first
record (a major event) was never routed to the city index; the worker's first fetch of
that partition after the rebalance started at offset 1 (2 of 37 runs). So after the seek,
a stream partition without a committed offset is rewound to its beginning, which is where
``consumer_auto_offset_reset="earliest"`` starts it anyway (records read again are the
at-least-once doubles every restart has).
"""
from __future__ import annotations

import functools
from typing import Any, Awaitable, Callable

from aiokafka.errors import IllegalStateError
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import ensure_aiokafka_TP

from .exceptions import ConfigError

_PATCHED = "_citycredit_patched"
# The version whose internals the wrappers were written against and tested on (pyproject.toml
# pins it): another version may have moved the seek or the queue clearing, and then the patch
# would either do nothing or stop the flow where Faust no longer resumes it.
FAUST_VERSION = "0.15.3"


def check_version(installed: str | None = None) -> None:
    """Refuse to run on a faust-streaming other than the one the patch was written for."""
    if installed is None:
        from importlib.metadata import version

        installed = version("faust-streaming")
    if installed != FAUST_VERSION:
        raise ConfigError(f"faust-streaming {installed} is installed but citycredit.faust_recovery patches "
                          f"{FAUST_VERSION}: run `pip install -r requirements.lock` (or review the patch for {installed})")


def stop_flow_first(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap a Recovery method that resumes stream partitions: stop the consumer's flow first."""
    @functools.wraps(method)
    async def wrapper(self: Recovery, *args: Any, **kwargs: Any) -> Any:
        # The stream partitions are still paused here (paused at assignment), so no stream
        # record is in a queue yet. A fetch still in flight may return some once they are
        # resumed: getmany throws those away and seeks back (see rewind_uncommitted). If the
        # method returns early (a newer generation), the flow stays stopped until the next
        # round of recovery resumes it (module docstring).
        self.app.consumer.stop_flow()
        return await method(self, *args, **kwargs)
    setattr(wrapper, _PATCHED, True)
    return wrapper


def rewind_uncommitted(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap Consumer.perform_seek: also rewind stream partitions that have no committed offset."""
    @functools.wraps(method)
    async def wrapper(self: Consumer) -> Any:
        result = await method(self)
        uncommitted = sorted(tp for tp in self.assignment()
                             if not self._is_changelog_tp(tp) and self._committed_offset.get(tp) is None)
        if uncommitted:
            try:
                await self._thread.seek_to_beginning(*(ensure_aiokafka_TP(tp) for tp in uncommitted))
            except IllegalStateError:
                return result  # reassigned in the meantime: that rebalance ends in a seek of its own
            for tp in uncommitted:
                self._read_offset[tp] = None  # read them again from the first record on
        return result
    setattr(wrapper, _PATCHED, True)
    return wrapper


def install() -> None:
    """Patch Recovery and Consumer once per process (idempotent); only on the pinned Faust."""
    check_version()
    for cls, name, wrap in ((Recovery, "on_recovery_completed", stop_flow_first),
                            (Recovery, "_resume_streams", stop_flow_first),
                            (Consumer, "perform_seek", rewind_uncommitted)):
        method = getattr(cls, name)
        if not getattr(method, _PATCHED, False):
            setattr(cls, name, wrap(method))
