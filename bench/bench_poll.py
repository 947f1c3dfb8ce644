"""Benchmark: one full poll cycle over all 15 sites and every surface (24) against the local
recorded-sites server. Target: under 1 s of CPU per full cycle on this machine.

Measured in this process (the server runs as its own process, so its CPU is not counted):
  baseline    raw fetch of every surface with a bare httpx client (no parse, no store)
  full cycle  the production Poller: fetch, keep the raw snapshot (gzip), decode, parse,
              diff against the previous cycle — conditional GET disabled so every page is parsed
  steady      the production Poller with conditional GET, pages unchanged (all 304)
Publishing to Kafka is not included (no broker here); it is a batched async send.

    .venv/bin/python bench/bench_poll.py [--cycles 20] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.settings import Settings  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402
from streams.poller import Poller  # noqa: E402
from streams.registry import load_registry  # noqa: E402
from tests.conftest import free_port  # noqa: E402


def _wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"recorded-sites server did not answer at {url}")


async def _measure(cycles: int, base: str, data_dir: Path) -> dict[str, float]:
    registry = load_registry()
    urls = [s.url_for(datetime(2026, 11, 27), base) for s in registry.surfaces()]
    out: dict[str, float] = {"surfaces": len(urls)}

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(client.get(u) for u in urls))  # warm-up
        cpu0, wall0 = time.process_time(), time.perf_counter()
        nbytes = 0
        for _ in range(cycles):
            for r in await asyncio.gather(*(client.get(u) for u in urls)):
                nbytes += len(r.content)
        out["baseline_cpu"] = (time.process_time() - cpu0) / cycles
        out["baseline_wall"] = (time.perf_counter() - wall0) / cycles
        out["bytes_per_cycle"] = nbytes / cycles

    settings = Settings().replace(data_dir=data_dir, sites_base_url=base, poll_politeness_delay=0.0)
    poller = Poller.from_settings(settings)
    await poller.run_cycle()  # warm-up; state now holds the previous cycle
    parsed = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(cycles):
        poller.states.validators.clear()  # force full fetch + parse of every page
        outcomes = await poller.run_cycle()
        assert all(o.error is None for o in outcomes), [o.health.last_error for o in outcomes if o.error]
        parsed += sum(1 for o in outcomes if not o.not_modified)
    out["full_cpu"] = (time.process_time() - cpu0) / cycles
    out["full_wall"] = (time.perf_counter() - wall0) / cycles
    out["pages_parsed"] = parsed
    out["pages_per_cpu_s"] = parsed / (out["full_cpu"] * cycles)
    out["headlines_per_cycle"] = sum(h.items_parsed for h in poller.health.by_key.values())

    await poller.run_cycle()  # sets validators
    cpu0 = time.process_time()
    for _ in range(cycles):
        outcomes = await poller.run_cycle()
        assert all(o.not_modified for o in outcomes)
    out["steady_cpu"] = (time.process_time() - cpu0) / cycles
    await poller.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=20)
    add_json_option(ap)
    args = ap.parse_args()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "citycredit.cli", "sites", "serve", "--speed", "0", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/_timeline")
        httpx.post(f"{base}/_timeline/frame/20")  # mid-day: every story surface populated
        with tempfile.TemporaryDirectory() as tmp:
            r = asyncio.run(_measure(args.cycles, base, Path(tmp)))
    finally:
        server.terminate()
        server.wait(10)
    print(f"surfaces per cycle:               {r['surfaces']:.0f} (15 sites), {r['bytes_per_cycle'] / 1024:.0f} KiB, "
          f"{r['headlines_per_cycle']:.0f} headlines")
    print(f"baseline raw fetch, CPU/cycle:    {r['baseline_cpu'] * 1000:7.1f} ms   (wall {r['baseline_wall'] * 1000:.1f} ms)")
    print(f"full poll cycle, CPU/cycle:       {r['full_cpu'] * 1000:7.1f} ms   (wall {r['full_wall'] * 1000:.1f} ms)  "
          f"target < 1000 ms: {'MET' if r['full_cpu'] < 1.0 else 'MISSED'}")
    print(f"  ratio to baseline:              {r['full_cpu'] / r['baseline_cpu']:7.2f}x")
    print(f"  pages parsed per CPU second:    {r['pages_per_cpu_s']:7.0f}")
    print(f"steady cycle (all 304), CPU:      {r['steady_cpu'] * 1000:7.1f} ms")
    write_json(args.json, [
        figure("poll cycle, CPU (every page fetched and parsed)", r["full_cpu"] * 1000, "ms",
               baseline=r["baseline_cpu"] * 1000, below=1000,
               note=f"baseline: raw fetch of the same {r['surfaces']:.0f} surfaces with a bare httpx client"),
        figure("poll cycle, pages parsed per CPU second", r["pages_per_cpu_s"], "pages/s"),
        figure("steady poll cycle (all 304), CPU", r["steady_cpu"] * 1000, "ms"),
    ])


if __name__ == "__main__":
    main()
