"""What the worker's desk and its alert delivery share in one process, as one object.

``RUNTIME`` is built when the worker loads its agents (importing this module builds nothing
that needs a running loop): the desk's read model and its feed, the sealed-secret box, and
the webhook outbox index. The agents that serve the desk and deliver alerts take them from
it, so both work from the same in-process state, and a test can build its own.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import faust
from prometheus_client import CollectorRegistry

from citycredit.alerting.delivery import Outbox
from citycredit.app import app, settings
from citycredit.metrics import METRICS, REGISTRY, Metrics
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings

from .desk import DeskView
from .feed import DeskFeed
from .server import DeskContext, add_routes

log = logging.getLogger(__name__)


class WorkerRuntime:
    """The desk (read model, feed, routes) and the outbox index of one worker process."""

    def __init__(self, app: faust.App, settings: Settings, metrics: Metrics, registry: CollectorRegistry) -> None:
        self.app, self.settings, self.metrics, self.registry = app, settings, metrics, registry
        self.desk = DeskView(settings.desk_events_per_city, metrics)
        self.feed = DeskFeed(self.desk, settings)
        # One box for the API that seals and the delivery that opens (an ephemeral development key is
        # per process); without CITYCREDIT_SECRET_KEY in production this stops the worker here, at start.
        self.box = SecretBox.from_settings(settings)
        self.outbox = Outbox(settings, metrics, self.box)
        self._installed = False

    async def publish(self, topic: str, key: str, value: dict[str, Any] | None) -> None:
        """Produce one JSON record (None: a tombstone) through the worker's producer and wait for the ack."""
        raw = None if value is None else json.dumps(value, ensure_ascii=False).encode()
        await self.app.producer.send_and_wait(topic, key.encode(), raw, partition=None, timestamp=None, headers=None)

    def install_web(self) -> None:
        """Add the desk, API and /metrics routes to the worker's web server (before it starts), once."""
        if self._installed:
            return
        self._installed = True
        add_routes(self.app.web.web_app.router,
                   DeskContext(desk=self.desk, settings=self.settings, publish=self.publish, metrics=self.metrics,
                               registry=self.registry, caught_up=self.feed.caught_up.is_set, box=self.box))


RUNTIME = WorkerRuntime(app, settings, METRICS, REGISTRY)
