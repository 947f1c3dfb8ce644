"""Faust's end of recovery must not throw away records the worker has already read.

The real ``Recovery.on_recovery_completed`` and ``_resume_streams`` run against a consumer
that behaves like Faust's during a rebalance: the flow was resumed for changelog recovery,
and while the flow is active the fetcher moves every resumed stream partition's records
into the agent's queue (a real FlowControlQueue, which ``flow_control.resume()`` clears).
Without citycredit.faust_recovery the records read during the seek are cleared and the
fetch position is already past them: lost (tests/integration/test_faults.py saw 130).
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from faust.tables.recovery import Recovery
from mode.utils.queues import FlowControlEvent, FlowControlQueue

import citycredit.app  # noqa: F401 - installs the fix, as the worker does
from citycredit import faust_recovery

STREAM_TP = ("sightings", 1)


class RebalancingConsumer:
    """The parts of Faust's consumer that the end of recovery uses, with a fetcher in them."""

    def __init__(self, queue: FlowControlQueue, committed: int, log_end: int) -> None:
        self.queue, self.committed, self.log_end = queue, committed, log_end
        self.position = committed
        self.flow_active = True  # recovery resumed the flow to read the changelogs
        self.resumed: set = set()

    def fetch(self) -> None:
        """What the fetcher does whenever it runs: move a batch of records into the queue."""
        if self.flow_active and STREAM_TP in self.resumed:
            while self.position < self.log_end:
                self.queue.put_nowait(self.position)
                self.position += 1

    def assignment(self) -> set:
        return {STREAM_TP}

    def resume_partitions(self, tps) -> None:
        self.resumed |= set(tps)

    async def perform_seek(self) -> None:
        self.position = self.committed
        for _ in range(3):  # one committed-offset request per partition: the fetcher runs meanwhile
            await asyncio.sleep(0)
            self.fetch()

    def stop_flow(self) -> None:
        self.flow_active = False

    def resume_flow(self) -> None:
        self.flow_active = True


def _recovery(consumer: RebalancingConsumer, flow_control: FlowControlEvent) -> SimpleNamespace:
    async def _nothing(*_a, **_k):
        return None

    async def _wait(coro, timeout=None):
        return await coro
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, flow_control=flow_control,
                          conf=SimpleNamespace(broker_request_timeout=30.0),
                          on_rebalance_complete=SimpleNamespace(send=_nothing),
                          _fetcher=SimpleNamespace(maybe_start=_nothing),
                          assignor=SimpleNamespace(assigned_standbys=lambda: []), on_rebalance_end=lambda: None)
    tables = SimpleNamespace(values=lambda: [], on_actives_ready=lambda: None, on_standbys_ready=lambda: None)
    log = SimpleNamespace(info=lambda *a, **k: None, dev=lambda *a, **k: None, warning=lambda *a, **k: None)
    return SimpleNamespace(app=app, tables=tables, log=log, actives_for_table={}, standbys_for_table={},
                           completed=asyncio.Event(), _set_recovery_ended=lambda: None,
                           _is_changelog_tp=lambda tp: False, _wait=_wait)


def _end_of_recovery(method_name: str) -> tuple[list[int], list[int]]:
    """Run one of Recovery's resuming methods, then let the agent drain its queue.
    Returns (offsets the agent got, offsets in the log)."""
    async def run():
        flow_control = FlowControlEvent(initially_suspended=False)
        queue = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
        consumer = RebalancingConsumer(queue, committed=42, log_end=60)
        await getattr(Recovery, method_name)(_recovery(consumer, flow_control), 1)
        consumer.log_end = 80  # more records arrive after the rebalance
        consumer.fetch()
        got = []
        while not queue.empty():
            got.append(queue.get_nowait())
        return got, list(range(42, 80))
    return asyncio.run(run())


@pytest.mark.parametrize("method_name", ["on_recovery_completed", "_resume_streams"])
def test_every_record_after_the_committed_offset_reaches_the_agent(method_name):
    got, log = _end_of_recovery(method_name)
    assert got == log, f"lost {sorted(set(log) - set(got))}"


def test_install_is_idempotent_and_keeps_faust_s_method():
    before = Recovery.on_recovery_completed
    faust_recovery.install()
    assert Recovery.on_recovery_completed is before
    assert before.__wrapped__.__qualname__ == "Recovery.on_recovery_completed"


def test_the_seek_back_rewinds_a_stream_partition_that_has_no_committed_offset():
    """Faust's seek back (after it throws away records fetched while the flow was stopped)
    leaves a partition with no commit where the fetcher got to: its first records were lost
    (an alert at offset 0 in the join/leave fault test). Committed and changelog partitions
    keep what aiokafka's seek_to_committed did."""
    from faust.transport.consumer import Consumer
    from faust.types import TP

    fresh, committed, changelog = TP("alerts", 0), TP("alerts", 1), TP("app-story-state-changelog", 0)
    rewound: list = []

    class Thread:
        async def seek_to_committed(self):
            return {fresh: None, committed: 7, changelog: None}

        async def seek_to_beginning(self, *partitions):
            rewound.extend(partitions)

    consumer = SimpleNamespace(_thread=Thread(), _read_offset={fresh: 3}, _committed_offset={},
                               assignment=lambda: {fresh, committed, changelog},
                               _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"))
    consumer.seek_to_committed = consumer._thread.seek_to_committed
    asyncio.run(Consumer.perform_seek(consumer))
    assert [(tp.topic, tp.partition) for tp in rewound] == [("alerts", 0)]
    assert consumer._read_offset[fresh] is None and consumer._read_offset[committed] == 7


def test_patch_refuses_another_faust_version():
    """The wrappers reach into 0.15.3's internals; on another version start must stop with one clear line."""
    import pytest

    from citycredit import faust_recovery
    from citycredit.exceptions import ConfigError

    faust_recovery.check_version(faust_recovery.FAUST_VERSION)
    with pytest.raises(ConfigError, match="faust-streaming 0.16.0 is installed.*requirements.lock"):
        faust_recovery.check_version("0.16.0")
    faust_recovery.check_version()  # the installed one is the pinned one (requirements.lock)
