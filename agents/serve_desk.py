"""Desk topics -> the desk's read model; serves the desk, the API and /metrics on the worker's web server."""
from __future__ import annotations

import asyncio
import logging

from citycredit.app import app
from citycredit.web.runtime import RUNTIME

log = logging.getLogger(__name__)

RUNTIME.install_web()


@app.task
async def feed_desk() -> None:
    # city-index, alerts, responses, items, source-health, subscriptions -> DeskView (all partitions)
    while True:
        try:
            await RUNTIME.feed.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the desk must come back after a broker hiccup, not stay blank
            log.exception("desk feed failed; re-reading the topics in 5 s")
            await asyncio.sleep(5.0)
            RUNTIME.desk.reset()
