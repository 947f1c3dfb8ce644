"""The worker's single desk read model, its feed and the webhook outbox index.

Imported by the agents that serve the desk and deliver alerts, so both work from the
same in-process state; importing it builds nothing that needs a running loop.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from citycredit.app import app, settings
from citycredit.metrics import METRICS, REGISTRY
from citycredit.secretbox import SecretBox

from citycredit.alerting.delivery import Outbox
from .desk import DeskView
from .feed import DeskFeed
from .server import DeskContext, add_routes

log = logging.getLogger(__name__)

desk = DeskView(settings.desk_events_per_city, METRICS)
feed = DeskFeed(desk, settings)
# One box for the API that seals and the delivery that opens (an ephemeral development key is
# per process); without CITYCREDIT_SECRET_KEY in production this stops the worker here, at start.
box = SecretBox.from_settings(settings)
outbox = Outbox(settings, METRICS, box)


async def publish(topic: str, key: str, value: dict[str, Any] | None) -> None:
    """Produce one JSON record (None: a tombstone) through the worker's producer and wait for the ack."""
    raw = None if value is None else json.dumps(value, ensure_ascii=False).encode()
    await app.producer.send_and_wait(topic, key.encode(), raw, partition=None, timestamp=None, headers=None)


_installed = False


def install_web() -> None:
    """Add the desk, API and /metrics routes to the worker's web server (before it starts)."""
    global _installed
    if _installed:
        return
    _installed = True
    add_routes(app.web.web_app.router, DeskContext(desk=desk, settings=settings, publish=publish, metrics=METRICS,
                                                   registry=REGISTRY, caught_up=feed.caught_up.is_set, box=box))
