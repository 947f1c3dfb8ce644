"""Benchmark: major-event detection on the real broker.

Measures, in one run on one broker (its own, on free ports in a temp dir, unless
``--bootstrap`` names one):

1. baseline: raw aiokafka produce -> consume rate of item-sized messages;
2. throughput: items/s one worker (``citycredit worker``, all agents) takes from
   ``items`` through ``detect_major_events`` (window table + changelog) -- timed
   from the first item produced to the alerts of sentinel stories produced after
   the backlog on every partition (per-partition order: everything before them is done);
3. latency: with ~1,000 items/s of background traffic (stories of every prefecture, most
   neutral: ``background_mix``), the time from producing the
   sighting that completes a story's 3-site rule to its alert arriving on ``alerts``
   (p50 / p99 over the probes);
4. the framework's floor: the same throughput run against a Faust worker whose one agent
   does nothing per item, and one that writes one table value per item
   (``bench/faust_floor.py``): what one Python process can reach with Faust at all.

Targets (issue 5): p99 < 1 s; >= 5,000 items/s on this 2-core machine.

    .venv/bin/python bench/bench_detection.py [--items 40000] [--probes 200] [--store rocksdb://] [--json PATH]
    .venv/bin/python bench/bench_detection.py --latency-only --through sightings --background 200
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from citycredit import broker  # noqa: E402
from citycredit.admin import ensure_topics_sync  # noqa: E402
from citycredit.scoring import load_registry  # noqa: E402
from citycredit.settings import Settings  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402
from tests.unit.detection_helpers import item  # noqa: E402

SITES = ["people", "xinhua", "cctv", "sina", "sohu", "gmw", "ce", "cnr"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def item_bytes(hours: float, site: str, story: str, polarity: str = "dishonest",
               city: tuple[str, str] = ("320500", "苏州市")) -> bytes:
    return item(hours, site, story=story, polarity=polarity, adcode=city[0], city=city[1]).dumps(serializer="json")


def background_mix(seed: int = 7):
    """Draws (city, polarity) for background traffic shaped like a news day: every prefecture,
    a few big cities in most headlines (Zipf weights), and most items neutral (1 in 20
    dishonest, 1 in 50 trustworthy). Not one city's scandal: that worst case is measured by
    ``bench/bench_index.py --busy`` (one city, thousands of stories in a month)."""
    registry = load_registry()
    cities = [(code, registry.get(code).name) for code in sorted(registry.by_code)]
    rng = random.Random(seed)
    rng.shuffle(cities)
    weights = [1 / (rank + 1) for rank in range(len(cities))]

    def draw() -> tuple[tuple[str, str], str]:
        roll = rng.random()
        polarity = "dishonest" if roll < 0.05 else "trustworthy" if roll < 0.07 else "neutral"
        return rng.choices(cities, weights)[0], polarity
    return draw


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def tail_alerts(bootstrap: str, arrived: dict[str, float], stop: asyncio.Event, key: str = "story_id") -> None:
    """Record when each story's first alert arrives on ``alerts`` (from the current end), by ``key``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition("alerts", p) for p in consumer.partitions_for_topic("alerts")]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            for msgs in batch.values():
                for m in msgs:
                    arrived.setdefault(json.loads(m.value)[key], now)
    finally:
        await consumer.stop()


async def baseline(bootstrap: str, n: int, payload: bytes, partitions: int) -> float:
    """Raw aiokafka: produce n messages and consume them all; messages/s end to end."""
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    await consumer._client.force_metadata_update()
    parts = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(parts)
    await consumer.seek_to_beginning(*parts)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    done = asyncio.Event()
    got = 0

    async def consume() -> None:
        nonlocal got
        while got < n:
            batch = await consumer.getmany(timeout_ms=100)
            got += sum(len(v) for v in batch.values())
        done.set()

    t0 = time.perf_counter()
    task = asyncio.create_task(consume())
    for i in range(n):
        await producer.send(topic, payload, key=f"s-{i % 5000}".encode())
    await producer.flush()
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - t0
    await task
    await producer.stop()
    await consumer.stop()
    return n / elapsed


def sentinel_stories(partitions: int, tag: str) -> list[str]:
    """One story id per partition of ``items`` (Kafka's default murmur2 partitioner, as Faust uses)."""
    part = DefaultPartitioner()
    found: dict[int, str] = {}
    i = 0
    while len(found) < partitions:
        sid = f"s-sentinel-{tag}-{i}"
        found.setdefault(part(sid.encode(), list(range(partitions)), list(range(partitions))), sid)
        i += 1
    return list(found.values())


async def throughput(bootstrap: str, n: int, partitions: int) -> tuple[float, float]:
    """items/s through one worker, and the producer's own rate (to show it was not the limit)."""
    arrived: dict[str, float] = {}
    stop = asyncio.Event()
    tail = asyncio.create_task(tail_alerts(bootstrap, arrived, stop))
    await asyncio.sleep(1.0)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    tag = uuid.uuid4().hex[:6]
    stories = n // 4
    sentinels = sentinel_stories(partitions, tag)
    t0 = time.perf_counter()
    for i in range(n):
        # Four sightings per story on four sites spread over 24 h, most stories neutral: mostly
        # window updates, a share of dishonest ones that alert (as on a real news day).
        s = i % stories
        await producer.send("items", item_bytes(6 * (i // stories), SITES[(s + i // stories) % 8], f"s-tp-{tag}-{s}",
                                                "dishonest" if s % 20 == 0 else "neutral"),
                            key=f"s-tp-{tag}-{s}".encode())
    for h, site in ((30, "people"), (31, "xinhua"), (32, "cctv")):
        for sid in sentinels:
            await producer.send("items", item_bytes(h, site, sid), key=sid.encode())
    await producer.flush()
    produced = time.perf_counter() - t0
    deadline = time.perf_counter() + 600
    while not all(s in arrived for s in sentinels):
        if time.perf_counter() > deadline:
            raise SystemExit("sentinel alerts did not arrive in 600 s: see the worker log")
        await asyncio.sleep(0.05)
    elapsed = max(arrived[s] for s in sentinels) - t0
    stop.set()
    await tail
    await producer.stop()
    return (n + 3 * len(sentinels)) / elapsed, n / produced


async def start_probing(bootstrap: str, key: str):
    """Tail ``alerts`` (first arrival per ``key``) and start the background and probe producers."""
    arrived: dict[str, float] = {}
    stop = asyncio.Event()
    tail = asyncio.create_task(tail_alerts(bootstrap, arrived, stop, key=key))
    await asyncio.sleep(1.0)
    bg = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    fg = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await bg.start()
    await fg.start()
    return arrived, stop, tail, bg, fg


async def latency(bootstrap: str, probes: int, background_rate: int) -> list[float]:
    arrived, stop, tail, bg, fg = await start_probing(bootstrap, "story_id")
    tag = uuid.uuid4().hex[:6]
    sent_at: dict[str, float] = {}

    draw = background_mix()

    async def background() -> None:
        i, tick, t0 = 0, 0.05, time.perf_counter()
        mix = None
        while not stop.is_set():
            for _ in range(int(background_rate * tick)):
                s = f"s-bg-{tag}-{i // 2}"  # two sightings a story: never reaches the 3-site rule
                if i % 2 == 0:
                    mix = draw()
                await bg.send("items", item_bytes(i * 0.001, SITES[i % 2], s, mix[1], mix[0]), key=s.encode())
                i += 1
            t0 += tick
            await asyncio.sleep(max(0.0, t0 - time.perf_counter()))

    async def probe(k: int) -> None:
        s = f"s-probe-{tag}-{k}"
        await fg.send_and_wait("items", item_bytes(0, "people", s), key=s.encode())
        await fg.send_and_wait("items", item_bytes(1, "xinhua", s), key=s.encode())
        await asyncio.sleep(0.3)
        sent_at[s] = time.perf_counter()
        await fg.send_and_wait("items", item_bytes(2, "cctv", s), key=s.encode())

    return await run_probes(background, [probe(k) for k in range(probes)], sent_at, arrived, stop, tail, bg, fg)


async def run_probes(background, probes: list, sent_at: dict, arrived: dict, stop: asyncio.Event, tail, *producers) -> list[float]:
    """Background traffic at its steady rate, then one probe every 0.1 s; wait for their alerts
    (30 s at most), stop everything; latencies in probe order, so a growing backlog shows."""
    bg_task = asyncio.create_task(background())
    await asyncio.sleep(3.0)  # let the background reach its steady rate first
    tasks = []
    for p in probes:
        tasks.append(asyncio.create_task(p))
        await asyncio.sleep(0.1)
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 30
    while not all(s in arrived for s in sent_at) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await bg_task
    await tail
    for producer in producers:
        await producer.stop()
    missing = [s for s in sent_at if s not in arrived]
    if missing:
        print(f"WARNING: {len(missing)} probe alerts did not arrive within 30 s", file=sys.stderr)
    return [arrived[s] - sent_at[s] for s in sent_at if s in arrived]


def probe_titles(n: int) -> list[tuple[str, str]]:
    """(city adcode, title) of n dishonesty headlines, one prefecture each, that the shipped reader
    reads as dishonest with that city: a probe story that is certainly one story and a major one."""
    from citycredit.understanding import Understanding

    u = Understanding(story_state={})
    out = []
    for place in sorted((p for p in u.gazetteer.places.values() if p.level == "prefecture"), key=lambda p: p.code):
        title = f"{place.name.removesuffix('市')}一食品企业使用过期原料生产月饼被立案查处"
        a = u.analyse_text(title)
        if a.credit.polarity == "dishonest" and a.place.city_adcode == place.code:
            out.append((place.code, title))
    return out[:n]


async def sightings_latency(bootstrap: str, probes: int, background_rate: int) -> list[float]:
    """The whole path: sightings -> classify -> cluster -> detect -> alerts. Background: real
    headlines as feed sightings at ``background_rate``/s; each probe is a prefecture's story
    sighted on three homepages, the third 0.3 s after the second; latency = third sighting
    produced -> its alert on ``alerts``."""
    import bench_understanding

    arrived, stop, tail, bg, fg = await start_probing(bootstrap, "city_adcode")
    tag = uuid.uuid4().hex[:6]
    titles = bench_understanding.headlines(20000)
    sent_at: dict[str, float] = {}

    def sighting(title: str, site: str, surface: str, url: str) -> bytes:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        return json.dumps({"ts": ts, "site": site, "surface": surface, "title": title, "url": url},
                          ensure_ascii=False).encode()

    async def background() -> None:
        i, tick, t0 = 0, 0.05, time.perf_counter()
        while not stop.is_set():
            for _ in range(int(background_rate * tick)):
                url = f"http://bg.example.cn/{tag}/{i}.html"
                await bg.send("sightings", sighting(titles[i % len(titles)], SITES[i % 2], "rss", url), key=url.encode())
                i += 1
            t0 += tick
            await asyncio.sleep(max(0.0, t0 - time.perf_counter()))

    async def probe(adcode: str, title: str) -> None:
        for k, site in enumerate(("people", "xinhua", "cctv")):
            if k == 2:
                await asyncio.sleep(0.3)
                sent_at[adcode] = time.perf_counter()
            url = f"http://{site}.example.cn/{tag}/{adcode}.html"
            await fg.send_and_wait("sightings", sighting(title, site, "homepage", url), key=url.encode())

    chosen = probe_titles(probes + 5)
    # Warm-up: the first alerts prove classify, cluster and detect all hold their partitions
    # (the items-path warm-up of the other runs leaves the sightings path cold).
    for adcode, title in chosen[probes:]:
        await probe(adcode, title)
    deadline = time.perf_counter() + 60
    while not all(a in arrived for a, _ in chosen[probes:]) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    sent_at.clear()
    return await run_probes(background, [probe(a, t) for a, t in chosen[:probes]], sent_at, arrived, stop, tail, bg, fg)


def report_latency(lat: list[float], background: int) -> None:
    if not lat:
        return
    p50, p99 = pct(lat, 50) * 1000, pct(lat, 99) * 1000
    print(f"alert latency ({len(lat)} probes, {background}/s background): p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms, max {max(lat) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms"
          f"  (target p99 < 1000 ms: {'met' if p99 < 1000 else 'NOT met'})")
    q = max(1, len(lat) // 4)
    print(f"  latency through the run: first quarter mean {statistics.mean(lat[:q]) * 1000:.0f} ms, "
          f"last quarter mean {statistics.mean(lat[-q:]) * 1000:.0f} ms (rising = the worker falls behind)")


def latency_figures(lat: list[float], probes: int, background: int, through: str) -> list[dict]:
    if not lat:
        return []
    run = f"no same-run baseline; {len(lat)} of {probes} probes, {background}/s background through {through}"
    if len(lat) < probes:  # run_probes waits 30 s for an alert: the late ones are not in lat at all
        run += f"; {probes - len(lat)} alerts not there after 30 s are left out, so the figures understate"
    return [figure("alert latency p50", pct(lat, 50) * 1000, "ms", note=run),
            figure("alert latency p99", pct(lat, 99) * 1000, "ms", below=1000, note=run)]


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the worker's process group, SIGKILL it if it is still there after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=40000, help="backlog size for the throughput run")
    ap.add_argument("--probes", type=int, default=200, help="stories completed for the latency run")
    ap.add_argument("--background", type=int, default=1000, help="background items/s during the latency run")
    ap.add_argument("--store", default="rocksdb://", help="worker table store (rocksdb:// as in production)")
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--through", choices=("items", "sightings"), default="items",
                    help="sightings: the latency run starts at the sightings topic (classification and "
                         "clustering included; --background is then sightings/s)")
    ap.add_argument("--latency-only", action="store_true",
                    help="only the latency run, on a worker with no backlog (no throughput run, no Faust floor)")
    add_json_option(ap)
    args = ap.parse_args()
    # A SIGTERM (timeout, Ctrl-C from a wrapper) still stops the worker and the broker in ``finally``.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    tmp = Path(tempfile.mkdtemp(prefix="bench-detection-"))
    port = free_port()
    settings = Settings.from_env().replace(data_dir=tmp, kafka_port=port, kafka_controller_port=free_port(),
                                           kafka_bootstrap=args.bootstrap or f"127.0.0.1:{port}", store=args.store)
    own_broker = not args.bootstrap
    load0 = os.getloadavg()
    if own_broker:
        broker.start(settings)
    worker = None
    try:
        ensure_topics_sync(settings)
        bootstrap = settings.kafka_bootstrap
        partitions = settings.topic_partitions
        payload = item_bytes(0, "people", "s-" + "0" * 16)
        raw = asyncio.run(baseline(bootstrap, args.items, payload, partitions))

        env = dict(os.environ, CITYCREDIT_KAFKA_BOOTSTRAP=bootstrap, CITYCREDIT_DATA_DIR=str(tmp),
                   CITYCREDIT_STORE=args.store, CITYCREDIT_APP_ID=f"bench-{uuid.uuid4().hex[:6]}",
                   CITYCREDIT_WEB_PORT=str(free_port()), CITYCREDIT_LOG_LEVEL="info")
        # Not warn/error: at those levels Faust's terminal spinner sets the root logger to DEBUG, and
        # every aiokafka/faust debug call then builds a LogRecord (about 9% of a worker's time).
        log = open(tmp / "worker.log", "wb")
        worker = subprocess.Popen([sys.executable, "-m", "citycredit.cli", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        # Warm up: the first alert proves the worker has its partitions and tables.
        asyncio.run(throughput(bootstrap, 400, partitions))
        rate = produce_rate = None
        if not args.latency_only:
            rate, produce_rate = asyncio.run(throughput(bootstrap, args.items, partitions))
        run = sightings_latency if args.through == "sightings" else latency
        lat = asyncio.run(run(bootstrap, args.probes, args.background))
        stop_process(worker)
        worker = None
        if args.latency_only:
            report_latency(lat, args.background)
            write_json(args.json, latency_figures(lat, args.probes, args.background, args.through))
            return 0
        # The framework's floor on the same broker: a Faust agent that does nothing per item, and
        # one that writes one changelogged table value per item (bench/faust_floor.py).
        floors = {}
        for mode in ("noop", "table"):
            floor_env = dict(env, FLOOR_MODE=mode, FLOOR_BOOTSTRAP=bootstrap, FLOOR_DATA_DIR=str(tmp / f"floor-{mode}"),
                             FLOOR_APP_ID=f"floor-{mode}-{uuid.uuid4().hex[:6]}")
            worker = subprocess.Popen([sys.executable, str(ROOT / "bench" / "faust_floor.py"), "worker", "-l", "info"],
                                      env=floor_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
            asyncio.run(throughput(bootstrap, 400, partitions))  # warm-up, and drains what is on items already
            floors[mode], _ = asyncio.run(throughput(bootstrap, args.items, partitions))
            stop_process(worker)
            worker = None

        print(f"raw aiokafka produce->consume : {raw:9.0f} msg/s  ({args.items} item-sized messages, {partitions} partitions)")
        print(f"one worker, items -> alerts   : {rate:9.0f} items/s  ({rate / raw:.2f} x raw; producer alone {produce_rate:.0f}/s;"
              f" target >= 5000/s: {'met' if rate >= 5000 else 'NOT met'})")
        report_latency(lat, args.background)
        print(f"Faust floor, one agent        : {floors['noop']:9.0f} items/s doing nothing per item ({floors['noop'] / raw:.2f} x raw), "
              f"{floors['table']:9.0f} items/s writing one table value per item ({floors['table'] / raw:.2f} x raw); "
              f"the worker reaches {rate / floors['table']:.2f} x the table floor")
        print(f"store {args.store}; load average during the run {load0[0]:.1f} -> {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores (other processes share them); worker log {tmp / 'worker.log'}")
        raw_note = f"baseline: raw aiokafka produce -> consume of {args.items:,} item-sized messages, {partitions} partitions"
        write_json(args.json, [
            figure("one worker, items -> alerts", rate, "items/s", baseline=raw, at_least=5000,
                   note=f"{raw_note}; store {args.store}; the producer alone {produce_rate:,.0f}/s"),
            *latency_figures(lat, args.probes, args.background, args.through),
            figure("Faust floor, agent doing nothing per item", floors["noop"], "items/s", baseline=raw, note=raw_note),
            figure("Faust floor, one table write per item", floors["table"], "items/s", baseline=raw, note=raw_note),
        ])
    finally:
        if worker is not None:
            stop_process(worker)
        if own_broker:
            broker.stop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
