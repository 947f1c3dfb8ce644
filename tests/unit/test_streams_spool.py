"""The publisher's write-ahead spool: a record the poller handed over survives a SIGKILL.

No broker: the poller under test publishes to a closed port, so nothing is ever
acknowledged there; acknowledgements are given to the journal (``Spool.ack``) the way the
publisher gives them when Kafka answers (tests/integration/test_streams_publisher.py does
it with the real broker).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import Observation
from streams.exceptions import SpoolBusy
from streams.publisher import Publisher, observation_record
from streams.spool import Pending, Spool
from tests.conftest import free_port, full_tmpfs

ROOT = Path(__file__).resolve().parents[2]


def record(i: int) -> Pending:
    """The i-th record of a test: a real sighting, so the journal sees real sizes and text."""
    return observation_record(Observation(
        ts="2032-01-02T08:00:00+08:00", site="cnr", surface="homepage", title=f"预写日志测试第{i}条新闻：某市信用“红黑榜”发布",
        url=f"http://news.cnr.cn/native/gd/20320102/t20320102_{i}.shtml", rank=i % 30 or None, summary=None, change="appeared"))


def records(start: int, stop: int) -> list[Pending]:
    return [record(i) for i in range(start, stop)]


def pending_after_restart(spool: Path) -> list[Pending]:
    """What a new Publisher on ``spool`` starts with (closed again at once, sending nothing)."""
    p = Publisher(f"127.0.0.1:{free_port()}", spool=spool)
    got = list(p.pending)
    asyncio.run(p.close(timeout=0))
    return got


# The poller process: the production Publisher with nothing listening at the bootstrap
# address. After each enqueue returns it reports how many records it has handed over.
POLLER = r"""
import asyncio, os, sys
from pathlib import Path
from streams.publisher import Publisher
from tests.unit.test_streams_spool import record

async def main(spool, port, n, batch):
    p = Publisher(f"127.0.0.1:{port}", spool=Path(spool), retry_s=0.05, retry_max_s=0.2)
    p.start()
    for i in range(0, n, batch):
        p.enqueue([record(j) for j in range(i, min(n, i + batch))])
        os.write(1, b"%d\n" % min(n, i + batch))
        await asyncio.sleep(0)  # let the publisher try the (closed) broker in between
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
"""


def _sigkill_poller(spool: Path, n: int, batch: int, kill_after: int) -> int:
    """Run the poller, SIGKILL it once it has handed over ``kill_after`` records; how many it had handed over."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", POLLER, str(spool), str(free_port()), str(n), str(batch)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    handed = 0
    try:
        while handed < kill_after:
            line = proc.stdout.readline()
            assert line, f"the poller died first:\n{proc.stderr.read().decode()[-3000:]}"
            handed = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        # what it printed before it died: each line came after an enqueue had returned
        for line in proc.stdout.read().split():
            handed = int(line)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return handed


def test_poller_sigkilled_while_broker_unreachable_keeps_every_record_in_order(tmp_path):
    spool = tmp_path / "streams" / "spool.jsonl"
    handed = _sigkill_poller(spool, n=3000, batch=40, kill_after=3000)
    assert handed == 3000
    got = pending_after_restart(spool)
    print(f"\nFAULT poller-kill: SIGKILL after {handed} records in 75 enqueues, broker unreachable; "
          f"{len(got)} pending after the restart")
    assert got == records(0, 3000)


def test_poller_sigkilled_mid_stream_keeps_every_record_it_handed_over(tmp_path):
    # killed at whatever point it has reached, one record per enqueue: everything enqueue
    # returned for is back; a record being written at the kill may or may not be
    spool = tmp_path / "spool.jsonl"
    handed = _sigkill_poller(spool, n=1_000_000, batch=1, kill_after=2000)
    got = pending_after_restart(spool)
    print(f"\nFAULT poller-kill mid-stream: SIGKILL after {handed} one-record enqueues had returned; "
          f"{len(got)} pending after the restart")
    assert len(got) >= handed
    assert got == records(0, len(got))


def test_torn_last_line_is_skipped_with_a_warning_and_cut_off(tmp_path, caplog):
    path = tmp_path / "spool.jsonl"
    s = Spool(path)
    s.append(records(0, 5))
    s.close()
    whole = path.read_bytes()
    # a kill in the middle of writing the 6th record: a prefix of its line, no newline
    line = (json.dumps({"seq": 6, "topic": "sightings", "key": record(5).key.decode(), "value": record(5).value.decode()},
                       ensure_ascii=False) + "\n").encode()
    with open(path, "ab") as fh:
        fh.write(line[:len(line) // 2])
    with caplog.at_level(logging.WARNING, logger="streams.spool"):
        s = Spool(path)
    assert list(s.pending) == records(0, 5)
    assert "torn last line" in caplog.text
    assert path.read_bytes() == whole, "the torn bytes are cut off, so the next line does not continue them"
    s.append(records(5, 7))
    s.close()
    assert pending_after_restart(path) == records(0, 7)


def test_a_spool_of_the_version_before_the_journal_is_read_once(tmp_path):
    # what save_spool wrote on shutdown: one {"topic", "key", "value"} line per pending record
    path = tmp_path / "spool.jsonl"
    path.write_text("".join(json.dumps({"topic": p.topic, "key": p.key.decode(), "value": p.value.decode()},
                                       ensure_ascii=False) + "\n" for p in records(0, 4)), encoding="utf-8")
    s = Spool(path)
    assert list(s.pending) == records(0, 4)
    s.ack(1)
    s.append(records(4, 5))
    s.close()
    assert pending_after_restart(path) == records(1, 5), "rewritten as a journal: read once, acks and appends go on"


def test_compaction_keeps_exactly_the_unacknowledged_records(tmp_path):
    path = tmp_path / "spool.jsonl"
    s = Spool(path, compact_bytes=8_000)
    for i in range(0, 300, 10):
        s.append(records(i, i + 10))
    grown = path.stat().st_size
    s.ack(250)  # past the bound and more than half the file: compacted
    assert path.stat().st_size < grown / 4
    seqs = [json.loads(line).get("seq") for line in path.read_text(encoding="utf-8").splitlines()]
    assert [q for q in seqs if q is not None] == list(range(251, 301)), "only the pending records' lines are left"
    s.append(records(300, 310))  # appends go to the new file
    s.ack(5)
    s.close()
    assert pending_after_restart(path) == records(255, 310)


def test_the_file_stays_bounded_while_records_flow(tmp_path):
    path = tmp_path / "spool.jsonl"
    s = Spool(path, compact_bytes=20_000)
    for i in range(0, 5000, 40):  # a steady flow, acknowledged a poll behind
        s.append(records(i, i + 40))
        if i:
            s.ack(40)
    assert path.stat().st_size < 3 * 20_000
    s.close()
    assert pending_after_restart(path) == records(4960, 5000)


def test_acknowledged_records_are_not_sent_again_after_a_kill(tmp_path):
    path = tmp_path / "spool.jsonl"
    s = Spool(path)
    s.append(records(0, 100))
    s.ack(60)
    # Kafka acknowledged 20 more, then the kill came before their `acked` line: the window in
    # which records are sent again (a double, deduped downstream by (url, ts, change))
    s.close()  # a SIGKILL: the file as it is, nothing written at the end
    assert pending_after_restart(path) == records(60, 100)


def test_a_second_process_cannot_share_the_spool(tmp_path):
    path = tmp_path / "spool.jsonl"
    s = Spool(path)
    with pytest.raises(SpoolBusy):
        Spool(path)
    s.close()
    Spool(path).close()  # free again once the holder is gone


def test_publisher_keeps_its_api_and_hands_the_queue_to_the_next_start(tmp_path):
    spool = tmp_path / "spool.jsonl"

    async def down():
        p = Publisher(f"127.0.0.1:{free_port()}", spool=spool, max_pending=3, retry_s=0.05)
        p.start()
        p.enqueue(records(0, 2))
        assert not p.full
        p.enqueue(records(2, 4))
        assert p.full and p.sent == 0
        assert not await p.flush(0.2)
        await p.close(timeout=0.1)

    asyncio.run(down())
    assert pending_after_restart(spool) == records(0, 4)


@pytest.fixture
def full_disk(tmp_path):
    root = tmp_path / "tiny"
    root.mkdir()
    with full_tmpfs(root) as mounted:
        if not mounted:
            pytest.skip("needs root to mount a small tmpfs: the spool must meet the kernel's ENOSPC")
        yield root


def test_a_full_disk_keeps_the_records_in_memory_and_the_journal_comes_back(full_disk, caplog):
    path = full_disk / "spool.jsonl"
    s = Spool(path, rewrite_retry_s=0.0)
    with caplog.at_level(logging.ERROR, logger="streams.spool"):
        s.append(records(0, 30))  # does not raise: the poll goes on, the records are queued
    assert list(s.pending) == records(0, 30)
    assert "kept in memory only" in caplog.text
    s.ack(5)
    (full_disk / "filler").unlink()  # space again
    s.append(records(30, 32))  # the journal is rewritten from memory
    s.close()
    assert pending_after_restart(path) == records(5, 32)


# --- property: any interleaving of enqueue, acknowledgement, compaction and restart ------

OPS = st.lists(st.one_of(
    st.tuples(st.just("enqueue"), st.integers(0, 6)),
    st.tuples(st.just("ack"), st.integers(0, 8)),         # Kafka acknowledged, the journal marked it
    st.tuples(st.just("ack_then_kill"), st.integers(0, 8)),  # Kafka acknowledged, killed before marking
    st.tuples(st.just("kill"), st.just(0)),
    st.tuples(st.just("kill_mid_write"), st.integers(1, 200)),  # torn: that many bytes of the next line
    st.tuples(st.just("stop"), st.just(0)),               # clean stop: compact, close
    st.tuples(st.just("compact"), st.just(0)),
), max_size=40)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS, st.sampled_from([300, 2_000, 1 << 20]))
def test_restart_after_any_interleaving_keeps_every_unacknowledged_record_in_order(ops, compact_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spool.jsonl"
        s = Spool(path, compact_bytes=compact_bytes)
        enqueued = 0  # records 0..enqueued-1 were handed over, in this order
        kafka_acked = 0  # records 0..kafka_acked-1 are acknowledged by Kafka
        in_queue = 0  # the first record of s.pending

        def restart() -> None:
            nonlocal s
            s = Spool(path, compact_bytes=compact_bytes)
            got = list(s.pending)
            # what Kafka never acknowledged is all there, in order (the property the poller needs) ...
            never_acked = records(kafka_acked, enqueued)
            assert got[len(got) - len(never_acked):] == never_acked
            # ... and exactly what the journal was not told is acknowledged: the doubles are the
            # records acknowledged by Kafka in the window before their `acked` line
            assert got == records(in_queue, enqueued)

        for op, n in ops:
            if op == "enqueue":
                s.append(records(enqueued, enqueued + n))
                enqueued += n
            elif op in ("ack", "ack_then_kill"):
                n = min(n, len(s.pending))
                kafka_acked = max(kafka_acked, in_queue + n)
                if op == "ack":
                    s.ack(n)
                    in_queue += n
                else:
                    s.close()
                    restart()
            elif op == "kill":
                s.close()
                restart()
            elif op == "kill_mid_write":
                s.close()
                line = json.dumps({"seq": 10**6, "topic": "sightings", "key": "k", "value": "v" * 200}).encode()
                with open(path, "ab") as fh:
                    fh.write(line[:n])
                restart()
            elif op == "stop":
                s.compact()
                s.close()
                restart()
            else:
                s.compact()
        s.close()
        restart()
        s.close()
