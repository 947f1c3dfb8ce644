"""The publisher's queue of records not yet acknowledged by Kafka, kept in a write-ahead journal.

A record the poller has handed to ``append`` survives a SIGKILL of the poller: the journal
holds it until Kafka has acknowledged it. The journal (``<data_dir>/streams/spool.jsonl``)
is JSON lines, appended only:

    {"seq": 7, "topic": "sightings", "key": "...", "value": "..."}   a record handed over
    {"acked": 7}                                                     Kafka acknowledged every seq <= 7

The publisher sends in queue order and Kafka acknowledges in that order, so one number
says which records are done. On open every record above the highest ``acked`` is pending
again, in file order. The window: a record Kafka acknowledged whose ``acked`` line was not
written yet (the poller killed between the two) is sent again after the restart — a
double, absorbed downstream by (url, ts, change); never a miss.

A line counts only with its newline: a kill mid-write leaves a torn last line, which is
cut off (with a warning) on open. A file of plain ``{"topic", "key", "value"}`` lines is
the spool written on shutdown by versions before the journal; it is read as pending and
rewritten in this format.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .exceptions import SpoolBusy

log = logging.getLogger(__name__)

# Compact once the acknowledged part of the file is this big *and* at least half of it:
# small enough that the file stays a few MB with the broker up, and the rewrite (a copy of
# the still-pending bytes) is paid at most once per as many bytes acknowledged, so its cost
# per record stays constant however long the queue is.
COMPACT_BYTES = 4 * 1024 * 1024
# While the file cannot be written (disk full), the records are kept in memory only and the
# whole journal is rewritten from memory at most this often, not on every enqueue.
REWRITE_RETRY_S = 5.0


@dataclass(frozen=True)
class Pending:
    topic: str
    key: bytes
    value: bytes
    # the health key ("site/surface id") an observation was polled from, so the broker's
    # acknowledgements are counted per surface (citycredit_poll_observations_published_total)
    source: str | None = None


def _record_line(seq: int, p: Pending) -> bytes:
    # keys and values are UTF-8 (JSON text and URLs); a record that is not fails here, before
    # it is accepted, rather than being written in a form the replay cannot read
    line = {"seq": seq, "topic": p.topic, "key": p.key.decode("utf-8"), "value": p.value.decode("utf-8")}
    if p.source is not None:
        line["source"] = p.source
    return (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


def _acked_line(seq: int) -> bytes:
    return b'{"acked": %d}\n' % seq


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@dataclass
class _Replay:
    acked: int = 0
    records: list[tuple[int, Pending, int]] | None = None  # (seq, record, offset of its line), new format
    legacy: list[Pending] | None = None  # old spool-on-shutdown lines
    end: int = 0  # end of the last whole line
    skipped: int = 0  # unreadable whole lines


def _replay(path: Path) -> _Replay:
    data = path.read_bytes()
    out = _Replay(records=[], legacy=[])
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            log.warning("spool %s: torn last line at byte %d (%d bytes, the poller was killed mid-write); skipped",
                        path, pos, len(data) - pos)
            break
        line, start, pos = data[pos:nl], pos, nl + 1
        out.end = pos
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if "acked" in d:
                out.acked = max(out.acked, int(d["acked"]))
                continue
            rec = Pending(d["topic"], d["key"].encode("utf-8"), d["value"].encode("utf-8"), d.get("source"))
            if "seq" in d:
                out.records.append((int(d["seq"]), rec, start))
            else:
                out.legacy.append(rec)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            out.skipped += 1
            log.warning("spool %s: unreadable line at byte %d skipped (%s: %s)", path, start, type(exc).__name__, exc)
    return out


class Spool:
    """FIFO of records waiting for Kafka; with a ``path``, mirrored in the journal file.

    Not thread-safe: the publisher calls it from its event loop only.
    """

    def __init__(self, path: Path | None, *, fsync: bool = False, compact_bytes: int = COMPACT_BYTES,
                 rewrite_retry_s: float = REWRITE_RETRY_S) -> None:
        self.path = path
        self.fsync = fsync
        self.compact_bytes = compact_bytes
        self.rewrite_retry_s = rewrite_retry_s
        self.pending: deque[Pending] = deque()
        # The pending records have the consecutive seqs acked+1, acked+2, ...: the seq of a
        # record is never stored twice, and the next one is acked + len(pending) + 1.
        self._acked = 0
        self._offsets: deque[int] = deque()  # where each pending record's line starts in the file
        self._size = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        # False while a write failed: the file is then not a journal of `pending` until a
        # rewrite from memory succeeds; no appends go to it meanwhile (they would follow a
        # possibly torn line)
        self._in_sync = True
        self._next_rewrite = 0.0
        if path is not None:
            try:
                self._open(path)
            except BaseException:
                self.close()
                raise

    # --- the queue ----------------------------------------------------------

    def append(self, records: Sequence[Pending]) -> None:
        """Queue ``records``; with a journal they are in the OS (or on disk, with fsync) on return."""
        if self.path is None:
            self.pending.extend(records)
            return
        first = self._acked + len(self.pending) + 1
        lines = [_record_line(seq, p) for seq, p in enumerate(records, first)]
        self.pending.extend(records)
        if not self._in_sync:
            self._retry_rewrite()
            return
        offsets = []
        at = self._size
        for line in lines:
            offsets.append(at)
            at += len(line)
        if self._write(b"".join(lines), durable=True):
            self._offsets.extend(offsets)

    def ack(self, n: int) -> None:
        """The oldest ``n`` records are acknowledged by Kafka: drop them and say so in the journal."""
        if n <= 0:
            return
        for _ in range(n):
            self.pending.popleft()
        self._acked += n
        if self.path is None:
            return
        if not self._in_sync:
            self._retry_rewrite()
            return
        for _ in range(n):
            self._offsets.popleft()
        # not fsynced even with fsync on: a lost `acked` line costs a double, never a record
        if self._write(_acked_line(self._acked), durable=False):
            dead = self._offsets[0] if self._offsets else self._size
            if dead >= self.compact_bytes and 2 * dead >= self._size:
                self.compact()

    # --- the file -----------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the journal with only the pending records (atomically, by os.replace)."""
        if self.path is None or self._lock_fd is None:
            return  # no journal, or closed: the file is no longer this object's to write
        if not self._in_sync:
            self._rewrite_from_memory()
            return
        start = self._offsets[0] if self._offsets else self._size
        header = _acked_line(self._acked)
        if start <= len(header):
            return  # nothing acknowledged before the first pending record

        def copy_pending(out) -> None:
            # the pending records' lines, byte for byte: no re-encoding (a long queue after an
            # outage is tens of MB); `acked` lines among them are harmless and few
            with open(self.path, "rb") as src:
                src.seek(start)
                shutil.copyfileobj(src, out, 1 << 20)

        if self._replace(header, copy_pending):
            shift = start - len(header)
            self._offsets = deque(o - shift for o in self._offsets)
            self._size -= shift

    def close(self) -> None:
        """Let go of the file and its lock. Writes nothing: what a killed process leaves is what is there."""
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock(path)
        if not path.exists():
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if self.fsync:
                _fsync_dir(path.parent)
            return
        r = _replay(path)
        self._acked = r.acked
        live = [(seq, rec, off) for seq, rec, off in r.records if seq > r.acked]
        self.pending.extend(rec for _, rec, _ in live)
        self.pending.extend(r.legacy)
        consecutive = [seq for seq, _, _ in live] == list(range(r.acked + 1, r.acked + 1 + len(live)))
        if r.legacy or r.skipped or not consecutive:
            # an old spool, a damaged line or a gap: number the pending records afresh
            if r.legacy:
                log.warning("spool %s: %d records from the spool of an older version read; rewritten as a journal",
                            path, len(r.legacy))
            if not self._rewrite_from_memory():
                raise OSError(f"spool {path} could not be rewritten (see the log)")
        else:
            if r.end < path.stat().st_size:
                os.truncate(path, r.end)  # the torn line goes, or the next append would continue it
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._size = r.end
            self._offsets.extend(off for _, _, off in live)
        if self.pending:
            log.warning("spool %s: %d records not acknowledged by Kafka before the last stop; sending them first",
                        path, len(self.pending))

    def _lock(self, path: Path) -> None:
        # Two publishers on one journal would each replay (and send) the other's records and
        # one's compaction would leave the other appending to a replaced file: one at a time.
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolBusy(f"the spool {path} is in use by another process (a second poller on the same "
                            f"CITYCREDIT_DATA_DIR?)") from None
        self._lock_fd = fd

    def _write(self, data: bytes, durable: bool) -> bool:
        """Append to the journal; on failure keep going from memory (the records are in `pending`)."""
        try:
            _write_all(self._fd, data)
            if durable and self.fsync:
                # fsync is a setting (CITYCREDIT_SPOOL_FSYNC, off by default): a killed process
                # loses nothing once os.write returned (the bytes are the kernel's); only a
                # crash of the machine needs them on the disk. Kafka here (one broker,
                # replication 1, default log.flush) acknowledges from its page cache as well,
                # so on one machine a crash loses acknowledged records downstream anyway.
                # Measured (bench/bench_spool.py, 2-core dev VM): one poll's enqueue of 40 records
                # 0.2 ms without fsync, ~0.5 ms with; one record 7-11 us against 0.22 ms. Cheap at
                # the pollers' few enqueues a second: turn it on where the pollers run on a
                # machine of their own and the broker syncs or replicates.
                os.fsync(self._fd)
        except OSError as exc:
            self._in_sync = False
            self._next_rewrite = time.monotonic() + self.rewrite_retry_s
            log.error("spool %s: write failed (%s); %d records are kept in memory only (a SIGKILL now would lose "
                      "them) until the journal can be rewritten", self.path, exc, len(self.pending))
            return False
        self._size += len(data)
        return True

    def _retry_rewrite(self) -> None:
        if time.monotonic() >= self._next_rewrite:
            self._rewrite_from_memory()

    def _rewrite_from_memory(self) -> bool:
        """Write the whole journal from `pending` (open after an upgrade or damage; recovery after a failed write)."""
        lines = [_record_line(seq, p) for seq, p in enumerate(self.pending, self._acked + 1)]

        def write_lines(out) -> None:
            out.writelines(lines)

        header = _acked_line(self._acked)
        if not self._replace(header, write_lines):
            self._next_rewrite = time.monotonic() + self.rewrite_retry_s
            return False
        self._offsets = deque()
        at = len(header)
        for line in lines:
            self._offsets.append(at)
            at += len(line)
        self._size = at
        if not self._in_sync:
            log.warning("spool %s: journal rewritten, %d pending records are on disk again", self.path, len(self.pending))
        self._in_sync = True
        return True

    def _replace(self, header: bytes, write_body) -> bool:
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(tmp, "wb") as out:
                out.write(header)
                write_body(out)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
            os.replace(tmp, self.path)
            if self.fsync:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            log.error("spool %s: rewrite failed (%s); the previous file is kept", self.path, exc)
            tmp.unlink(missing_ok=True)
            return False
        # appends must go to the new file: the old descriptor points at the replaced one
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        return True


def _fsync_dir(path: Path) -> None:
    # a created or renamed file survives a machine crash only once its directory entry is on disk
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
