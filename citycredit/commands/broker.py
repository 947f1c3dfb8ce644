"""citycredit broker fetch|start|stop|status|reset, citycredit topics create|list."""
from __future__ import annotations

import json

import click

from .. import broker
from ..admin import ensure_topics_sync
from ..settings import get_settings
from ..topics import ALL


def register(cli: click.Group) -> None:
    cli.add_command(broker_command)
    cli.add_command(topics_command)


@click.command("broker", epilog="""\b
examples:
  citycredit broker start     # format the storage once, start, wait until it answers
  citycredit broker status    # exit 1 when it does not answer
""")
@click.argument("action", type=click.Choice(["fetch", "start", "stop", "status", "reset"]))
def broker_command(action: str) -> int:
    """The local single-node KRaft Kafka broker: fetch its jars, start, stop, status, reset."""
    s = get_settings()
    if action == "fetch":
        print(broker.fetch(s, quiet=False))
    elif action == "start":
        seconds = broker.start(s)
        print(f"broker ready at {broker.bootstrap(s)} in {seconds:.1f}s (log: {broker.paths_for(s).log})")
    elif action == "stop":
        print("broker stopped" if broker.stop(s) else "no broker was running")
    elif action == "reset":
        broker.reset(s)
        print(f"broker stopped and storage {broker.paths_for(s).storage} removed")
    else:
        st = broker.status(s)
        print(json.dumps(st, indent=2))
        return 0 if st["answers"] else 1
    return 0


@click.command("topics")
@click.argument("action", type=click.Choice(["create", "list"]))
def topics_command(action: str) -> int:
    """Create the declared topics (those missing), or list them with partitions and keys."""
    s = get_settings()
    if action == "create":
        created = ensure_topics_sync(s)
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    else:
        for spec in ALL:
            print(f"{spec.name:14} partitions={spec.partition_count(s):<3} key={spec.keyed_by:20} {spec.config}")
    return 0
