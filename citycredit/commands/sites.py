"""Ingestion commands: sites serve|check, poll, run, reparse, demo."""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import click

from ..exceptions import ConfigError
from ..settings import get_settings


def register(cli: click.Group) -> None:
    for command in (sites_group, poll_command, run_command, reparse_command, demo_command):
        cli.add_command(command)


@click.group("sites")
def sites_group() -> None:
    """The site registry and the recorded-sites server."""


def _logging() -> None:
    logging.basicConfig(level=get_settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection errors are reported by the publisher
    logging.getLogger("httpx").setLevel(logging.WARNING)


@sites_group.command("serve")
@click.argument("timeline", required=False, type=click.Path(path_type=Path))
@click.option("--port", type=int, help="Port (default CITYCREDIT_SITES_PORT).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--speed", type=float, help="Simulated seconds per real second; 0 = manual frames "
                                          "(POST /_timeline/frame/N) (default CITYCREDIT_SITES_SPEED).")
def serve_command(timeline: Path | None, port: int | None, host: str, speed: float | None) -> int:
    """Serve every registry surface from a timeline TOML (default: the built-in demo timeline)."""
    from demo.sites import RecordedSites, serve_forever
    from demo.timeline import load_timeline
    from streams.registry import load_registry
    from streams.runner import install_stop_handlers

    s = get_settings()
    sites = RecordedSites(load_registry(s.sites_file), load_timeline(timeline),
                          speed=s.sites_speed if speed is None else speed)
    port = port or s.sites_port

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        print(f"recorded sites on http://{host}:{port}/ ({len(sites.routes)} surfaces, "
              f"{len(sites.timeline.frames)} frames, speed {sites.speed:g}); status: /_timeline", flush=True)
        await serve_forever(sites, host, port, stop)

    asyncio.run(main())
    return 0


@sites_group.command("check")
def check_command() -> int:
    """Validate the site registry and list its surfaces."""
    from streams.registry import load_registry

    reg = load_registry(get_settings().sites_file)
    for site in reg.sites:
        for s in site.surfaces:
            print(f"{s.key:24} {s.kind:9} {s.parser:5} every {s.interval_s:>5.0f}s  {s.url}")
        if site.no_hotlist:
            print(f"{site.id + '/-':24} no hotlist: {site.no_hotlist}")
    print(f"{len(reg.sites)} sites, {len(reg.surfaces())} surfaces: OK")
    return 0


@click.command("poll")
@click.option("--cycles", type=int, default=1, show_default=True)
@click.option("--dry-run", is_flag=True, help="Print observations as JSONL instead of publishing.")
def poll_command(cycles: int, dry_run: bool) -> int:
    """Poll every surface once (or --cycles N) and publish the changes."""
    from streams.poller import health_table
    from streams.runner import poll_cycles

    _logging()
    s = get_settings()
    poller, outcomes = asyncio.run(poll_cycles(s, cycles, publish=not dry_run,
                                               out=sys.stdout if dry_run else None))
    total = sum(len(o.observations) for o in outcomes)
    for row in health_table(poller.health):
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
    print(f"{len(outcomes)} polls, {sum(1 for o in outcomes if o.error)} failed, {total} observations "
          f"{'printed' if dry_run else 'published'}", file=sys.stderr)
    return 0


@click.command("run")
@click.option("--pollers-only", is_flag=True, help="Only the pollers (the worker runs elsewhere).")
def run_command(pollers_only: bool) -> int:
    """The product on the real sites: the worker and the pollers, publishing until Ctrl-C."""
    from ..admin import ensure_topics_sync
    from ..topics import ALL, SIGHTINGS, SOURCE_HEALTH
    from streams.runner import install_stop_handlers, run_pollers, start_metrics_server, start_worker, stop_worker

    _logging()
    s = get_settings()
    # a clear message when no broker answers, before anything starts. Pollers alone check only
    # their own topics: on the compose broker their principal may see no others (ACLs)
    ensure_topics_sync(s, (SIGHTINGS, SOURCE_HEALTH) if pollers_only else ALL)

    async def main() -> int:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        worker = None
        if not pollers_only:
            worker, log_path = start_worker(s)
            print(f"worker started (pid {worker.pid}, log {log_path}); desk: http://{s.web_host}:{s.web_port}/desk/", file=sys.stderr)
        try:
            await run_pollers(s, stop)
        finally:
            if worker is not None:
                await stop_worker(worker)
        return 0

    start_metrics_server(s)
    print(f"polling {'the real sites' if not s.sites_base_url else s.sites_base_url}; publishing to {s.kafka_bootstrap}; "
          f"poller metrics on :{s.poll_metrics_port}/metrics; Ctrl-C stops", file=sys.stderr)
    return asyncio.run(main())


@click.command("reparse")
@click.option("--site")
@click.option("--surface", help="Surface id within the site (e.g. homepage).")
@click.option("--since", help="ISO-8601 time with offset.")
@click.option("--observations", is_flag=True, help="Print the derived observations as JSONL.")
def reparse_command(site: str | None, surface: str | None, since: str | None, observations: bool) -> int:
    """Re-run today's parsers over the stored raw snapshots."""
    from schemas import parse_ts
    from streams.runner import reparse

    start: datetime | None = parse_ts(since, "--since") if since else None
    n = failed = 0
    for row, derived in reparse(get_settings(), site, surface, start):
        n += 1
        failed += row.error is not None
        print(f"{row.seen_at} {row.site}/{row.surface}: " + (f"FAILED {row.error}" if row.error else f"{row.headlines} headlines"),
              file=sys.stderr)
        if observations:
            for obs in derived:
                print(json.dumps(obs.asdict(), ensure_ascii=False))
    print(f"{n} snapshots re-parsed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


@click.command("demo", epilog="""\b
example:
  citycredit demo --duration 60 --speed 600   # a news day in a minute, then stop everything
""")
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--speed", type=float, help="Timeline acceleration (default CITYCREDIT_SITES_SPEED).")
@click.option("--timeline", type=click.Path(path_type=Path), help="Timeline TOML (default: the built-in one).")
def demo_command(duration: float | None, speed: float | None, timeline: Path | None) -> int:
    """The whole product on recorded sites: broker, worker, recorded sites, pollers, desk."""
    from demo.run import DemoOptions, run_demo

    _logging()
    if speed is not None and speed <= 0:
        raise ConfigError("--speed must be greater than 0")
    return asyncio.run(run_demo(get_settings(), DemoOptions(duration=duration, speed=speed, timeline=timeline)))
