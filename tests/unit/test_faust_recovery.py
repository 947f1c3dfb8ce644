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


def test_a_rebalance_during_the_end_of_recovery_leaves_the_flow_stopped_until_the_next_round_resumes_it():
    """The early return of ``on_recovery_completed`` (another rebalance was assigned while it
    ran: the generation moved on) leaves the flow stopped by the wrapper, and resumes neither
    the streams nor the flow. That is not a stall: the same assignment set
    ``signal_recovery_start``, so Faust's own recovery loop (``Recovery._restart_recovery``,
    run here unchanged) goes round again, and that round's patched ``on_recovery_completed``
    resumes the stream partitions and the flow. Until then nothing is fetched, so nothing is
    cleared and nothing is lost: every record after the committed offset reaches the agent."""
    import functools

    from yarl import URL

    async def run():
        flow_control = FlowControlEvent(initially_suspended=False)
        queue = FlowControlQueue(flow_control=flow_control, clear_on_resume=True)
        consumer = RebalancingConsumer(queue, committed=42, log_end=60)
        consumer.pause_partitions = lambda tps: consumer.resumed.difference_update(tps)
        recovery = _recovery(consumer, flow_control)
        app = recovery.app
        app.conf.store, app.conf.recovery_consistency_check = URL("memory://"), True
        app.tracer, app._producer = None, None
        between_rounds: list[dict] = []
        rebalance_ends: list[int] = []
        app.on_rebalance_end = lambda: rebalance_ends.append(app.consumer_generation_id)

        async def on_rebalance_complete():
            if app.consumer_generation_id == 1:
                # the next rebalance, as Faust's _on_partitions_revoked/_assigned do it: stop the
                # flow, pause and clear, take the new generation, signal the recovery loop
                consumer.stop_flow()
                flow_control.suspend()
                consumer.pause_partitions(consumer.assignment())
                flow_control.clear()
                app.consumer_generation_id = recovery._generation_id = 2
                consumer.log_end = 70  # the pollers keep writing meanwhile
                recovery.signal_recovery_start.set()
        app.on_rebalance_complete = SimpleNamespace(send=on_rebalance_complete)

        def recovery_started():
            if app.consumer_generation_id == 2:  # round 2 starts: what round 1's early return left behind
                between_rounds.append({"flow_active": consumer.flow_active, "streams_resumed": bool(consumer.resumed),
                                       "queued": queue.qsize(), "position": consumer.position,
                                       "completed": recovery.completed.is_set()})

        async def no_op(*_a, **_k):
            return None

        async def wait_for_stopped(event):
            await event.wait()
            return recovery.should_stop
        recovery.__dict__.update(
            should_stop=False, signal_recovery_start=asyncio.Event(), _generation_id=1, recovery_delay=0.0,
            wait_for_stopped=wait_for_stopped, _recovery_span=None, _set_recovery_started=recovery_started,
            standbys_pending=False, flush_buffers=lambda: None, _build_highwaters=no_op, _build_offsets=no_op,
            _seek_offsets=no_op, need_recovery=lambda: False, active_tps=set(), standby_tps=set(),
            active_offsets={}, standby_offsets={}, active_highwaters={}, standby_highwaters={}, tp_to_table={},
            _set_recovery_ended=lambda: None)
        # the patched methods, as the worker has them (citycredit.app installed the patch)
        recovery.on_recovery_completed = functools.partial(Recovery.on_recovery_completed, recovery)
        recovery._resume_streams = functools.partial(Recovery._resume_streams, recovery)

        recovery.signal_recovery_start.set()  # round 1, generation 1
        loop_task = asyncio.create_task(Recovery._restart_recovery(recovery))
        done, _ = await asyncio.wait({loop_task, asyncio.ensure_future(recovery.completed.wait())}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if loop_task in done:
            loop_task.result()  # the loop crashed: show why
        assert recovery.completed.is_set(), "the next round never completed recovery"
        recovery.should_stop = True
        recovery.signal_recovery_start.set()
        await asyncio.wait_for(loop_task, 5)

        consumer.log_end = 80  # more records arrive after the rebalance
        consumer.fetch()
        got = []
        while not queue.empty():
            got.append(queue.get_nowait())
        return got, between_rounds, rebalance_ends, consumer.flow_active

    got, between_rounds, rebalance_ends, flow_active = asyncio.run(run())
    # round 1 returned early: flow stopped, streams still paused, nothing read or thrown away
    assert between_rounds == [{"flow_active": False, "streams_resumed": False, "queued": 0, "position": 42,
                               "completed": False}]
    # round 2 (the new generation) resumed streams and flow; only it ended the rebalance
    assert flow_active and rebalance_ends == [2]
    assert got == list(range(42, 80)), f"lost {sorted(set(range(42, 80)) - set(got))}"
