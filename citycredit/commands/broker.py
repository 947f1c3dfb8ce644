"""citycredit broker fetch|start|stop|status|reset, citycredit topics create|list."""
from __future__ import annotations

import json

from .. import broker
from ..admin import ensure_topics_sync
from ..settings import get_settings
from ..topics import ALL


def register(sub) -> None:
    p = sub.add_parser("broker", help="the local single-node KRaft Kafka broker")
    p.add_argument("action", choices=["fetch", "start", "stop", "status", "reset"])
    p.set_defaults(func=_broker)
    t = sub.add_parser("topics", help="create or list the declared topics")
    t.add_argument("action", choices=["create", "list"])
    t.set_defaults(func=_topics)


def _broker(args) -> int:
    s = get_settings()
    if args.action == "fetch":
        print(broker.fetch(s, quiet=False))
    elif args.action == "start":
        seconds = broker.start(s)
        print(f"broker ready at {broker.bootstrap(s)} in {seconds:.1f}s (log: {broker.paths_for(s).log})")
    elif args.action == "stop":
        print("broker stopped" if broker.stop(s) else "no broker was running")
    elif args.action == "reset":
        broker.reset(s)
        print(f"broker stopped and storage {broker.paths_for(s).storage} removed")
    else:
        st = broker.status(s)
        print(json.dumps(st, indent=2))
        return 0 if st["answers"] else 1
    return 0


def _topics(args) -> int:
    s = get_settings()
    if args.action == "create":
        created = ensure_topics_sync(s)
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    else:
        for spec in ALL:
            print(f"{spec.name:14} partitions={spec.partition_count(s):<3} key={spec.keyed_by:20} {spec.config}")
    return 0
