"""Benchmark: what the write-ahead spool costs the pollers' Publisher.enqueue.

Measured in this process, one run, the same pre-built sighting records (~0.4 kB a line):
  baseline     Publisher without a spool: the in-memory queue only (the cost before the journal)
  journal      Publisher with the spool journal: one os.write per enqueue (CITYCREDIT_SPOOL_FSYNC off)
  journal+fsync  the same with an fsync per enqueue (CITYCREDIT_SPOOL_FSYNC on)
each with one record per enqueue (the worst case) and 40 (one poll of a surface). The
baseline is a deque.extend, so the ratio is large; the cost per record (us) is put beside the
poller's own cost of making the record. Then the
start after an outage: replaying a journal of --replay pending records. Files go to a
temporary directory under CITYCREDIT_DATA_DIR (the disk the spool lives on; /tmp may be RAM).

    .venv/bin/python bench/bench_spool.py [--records 20000] [--fsync-records 2000] [--replay 100000] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.settings import Settings  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402
from streams.publisher import Publisher  # noqa: E402
from streams.spool import Spool  # noqa: E402
from tests.unit.test_streams_spool import records  # noqa: E402


def enqueue_rate(recs: list, batch: int, spool: Path | None, fsync: bool = False) -> float:
    """Records per second through Publisher.enqueue (no broker: nothing leaves the queue)."""
    p = Publisher("127.0.0.1:1", spool=spool, fsync=fsync)
    batches = [recs[i:i + batch] for i in range(0, len(recs), batch)]
    t0 = time.perf_counter()
    for b in batches:
        p.enqueue(b)
    elapsed = time.perf_counter() - t0
    p._queue.close()
    return len(recs) / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--fsync-records", type=int, default=2000, help="fewer: each fsync'd enqueue waits for the disk")
    ap.add_argument("--replay", type=int, default=100000)
    add_json_option(ap)
    args = ap.parse_args()
    rows = []
    data_dir = Settings.from_env().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    recs = records(0, max(args.records, args.fsync_records, args.replay))
    line_bytes = None
    with tempfile.TemporaryDirectory(dir=data_dir, prefix="bench-spool-") as tmp:
        runs = 0

        def fresh() -> Path:
            nonlocal runs
            runs += 1
            return Path(tmp) / f"run{runs}" / "spool.jsonl"

        print(f"enqueue throughput, {args.records} records ({args.fsync_records} with fsync), files under {tmp}")
        for batch in (1, 40):
            base = enqueue_rate(recs[:args.records], batch, None)
            path = fresh()
            journal = enqueue_rate(recs[:args.records], batch, path)
            line_bytes = path.stat().st_size / args.records
            synced = enqueue_rate(recs[:args.fsync_records], batch, fresh(), fsync=True)
            print(f"  {batch:>2} per enqueue: baseline {base:>10,.0f} rec/s | journal {journal:>9,.0f} rec/s "
                  f"({base / journal:.1f}x slower, {1e6 / journal - 1e6 / base:.1f} us/record) | journal+fsync "
                  f"{synced:>7,.0f} rec/s ({base / synced:.0f}x slower, {batch * 1e3 / synced:.2f} ms/enqueue)")
            queue = f"baseline: Publisher without a spool (in-memory queue alone), {batch} per enqueue"
            rows.append(figure(f"spool journal, {batch} per enqueue", journal, "records/s", baseline=base, note=queue))
            rows.append(figure(f"spool journal + fsync, {batch} per enqueue", synced, "records/s", baseline=base, note=queue))
        t0 = time.perf_counter()
        records(0, args.records)
        build_us = (time.perf_counter() - t0) / args.records * 1e6
        print(f"  journal line: {line_bytes:.0f} bytes per record; for scale, the poller's own cost of making "
              f"one record (Observation -> observation_record): {build_us:.1f} us")
        rows.append(figure("spool journal, added cost per record (40 per enqueue)", 1e6 / journal - 1e6 / base, "us",
                           baseline=build_us, note="baseline: the poller making one record (Observation -> record)"))

        path = fresh()
        s = Spool(path)
        for i in range(0, args.replay, 40):
            s.append(recs[i:i + 40])
        s.close()
        t0 = time.perf_counter()
        s = Spool(path)
        elapsed = time.perf_counter() - t0
        assert len(s.pending) == args.replay
        s.close()
        print(f"start after an outage: replay of {args.replay} pending records "
              f"({path.stat().st_size / 1e6:.0f} MB) in {elapsed:.2f} s")
        rows.append(figure("spool replay after an outage", elapsed, "s",
                           note=f"no same-run baseline; {args.replay:,} pending records"))
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
