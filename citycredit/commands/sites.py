"""Ingestion commands: sites serve|check, poll, run, reparse, demo."""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from ..exceptions import ConfigError
from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser("sites", help="the site registry and the recorded-sites server")
    ssub = p.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    serve = ssub.add_parser("serve", help="serve all registry surfaces from a timeline (recorded sites)")
    serve.add_argument("timeline", nargs="?", type=Path, help="timeline TOML (default: the built-in demo timeline)")
    serve.add_argument("--port", type=int, help="port (default CITYCREDIT_SITES_PORT)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--speed", type=float, help="simulated seconds per real second; 0 = manual frames "
                                                   "(POST /_timeline/frame/N) (default CITYCREDIT_SITES_SPEED)")
    serve.set_defaults(func=_serve)
    check = ssub.add_parser("check", help="validate the site registry and list its surfaces")
    check.set_defaults(func=_check)

    poll = sub.add_parser("poll", help="poll every surface once (or --cycles N) and publish the changes")
    poll.add_argument("--cycles", type=int, default=1)
    poll.add_argument("--dry-run", action="store_true", help="print observations as JSONL instead of publishing")
    poll.set_defaults(func=_poll)

    run = sub.add_parser("run", help="the product on the real sites: the worker and the pollers (publishing forever)")
    run.add_argument("--pollers-only", action="store_true", help="only the pollers (the worker runs elsewhere)")
    run.set_defaults(func=_run)

    rep = sub.add_parser("reparse", help="re-run today's parsers over stored raw snapshots")
    rep.add_argument("--site")
    rep.add_argument("--surface", help="surface id within the site (e.g. homepage)")
    rep.add_argument("--since", help="ISO-8601 time with offset")
    rep.add_argument("--observations", action="store_true", help="print the derived observations as JSONL")
    rep.set_defaults(func=_reparse)

    demo = sub.add_parser("demo", help="the whole product on recorded sites: broker, worker, recorded sites, pollers")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument("--speed", type=float, help="timeline acceleration (default CITYCREDIT_SITES_SPEED)")
    demo.add_argument("--timeline", type=Path, help="timeline TOML (default: the built-in one)")
    demo.set_defaults(func=_demo)


def _logging() -> None:
    logging.basicConfig(level=get_settings().log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its connection errors are reported by the publisher
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _serve(args) -> int:
    from streams.recorded.server import RecordedSites, serve_forever
    from streams.recorded.timeline import load_timeline
    from streams.registry import load_registry
    from streams.runner import install_stop_handlers

    s = get_settings()
    sites = RecordedSites(load_registry(s.sites_file), load_timeline(args.timeline),
                          speed=s.sites_speed if args.speed is None else args.speed)
    port = args.port or s.sites_port

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        print(f"recorded sites on http://{args.host}:{port}/ ({len(sites.routes)} surfaces, "
              f"{len(sites.timeline.frames)} frames, speed {sites.speed:g}); status: /_timeline", flush=True)
        await serve_forever(sites, args.host, port, stop)

    asyncio.run(main())
    return 0


def _check(args) -> int:
    from streams.registry import load_registry

    reg = load_registry(get_settings().sites_file)
    for site in reg.sites:
        for s in site.surfaces:
            print(f"{s.key:24} {s.kind:9} {s.parser:5} every {s.interval_s:>5.0f}s  {s.url}")
        if site.no_hotlist:
            print(f"{site.id + '/-':24} no hotlist: {site.no_hotlist}")
    print(f"{len(reg.sites)} sites, {len(reg.surfaces())} surfaces: OK")
    return 0


def _poll(args) -> int:
    from streams.poller import health_table
    from streams.runner import poll_cycles

    _logging()
    s = get_settings()
    poller, outcomes = asyncio.run(poll_cycles(s, args.cycles, publish=not args.dry_run,
                                               out=sys.stdout if args.dry_run else None))
    total = sum(len(o.observations) for o in outcomes)
    for row in health_table(poller.health):
        print(json.dumps(row, ensure_ascii=False), file=sys.stderr)
    print(f"{len(outcomes)} polls, {sum(1 for o in outcomes if o.error)} failed, {total} observations "
          f"{'printed' if args.dry_run else 'published'}", file=sys.stderr)
    return 0


def _run(args) -> int:
    from ..admin import ensure_topics_sync
    from ..topics import ALL, SIGHTINGS, SOURCE_HEALTH
    from streams.runner import install_stop_handlers, run_pollers, start_metrics_server, start_worker, stop_worker

    _logging()
    s = get_settings()
    # a clear message when no broker answers, before anything starts. Pollers alone check only
    # their own topics: on the compose broker their principal may see no others (ACLs)
    ensure_topics_sync(s, (SIGHTINGS, SOURCE_HEALTH) if args.pollers_only else ALL)

    async def main() -> int:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        worker = None
        if not args.pollers_only:
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


def _reparse(args) -> int:
    from schemas import parse_ts
    from streams.runner import reparse

    since: datetime | None = parse_ts(args.since, "--since") if args.since else None
    n = failed = 0
    for row, observations in reparse(get_settings(), args.site, args.surface, since):
        n += 1
        failed += row.error is not None
        print(f"{row.seen_at} {row.site}/{row.surface}: " + (f"FAILED {row.error}" if row.error else f"{row.headlines} headlines"),
              file=sys.stderr)
        if args.observations:
            for obs in observations:
                print(json.dumps(obs.asdict(), ensure_ascii=False))
    print(f"{n} snapshots re-parsed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _demo(args) -> int:
    from streams.demo import DemoOptions, run_demo

    _logging()
    if args.speed is not None and args.speed <= 0:
        raise ConfigError("--speed must be greater than 0")
    return asyncio.run(run_demo(get_settings(), DemoOptions(duration=args.duration, speed=args.speed, timeline=args.timeline)))
