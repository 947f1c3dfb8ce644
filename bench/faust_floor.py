"""The framework's floor: a Faust worker that reads ``items`` and does (almost) nothing.

``bench/bench_detection.py`` runs it beside the real worker, on the same broker and with
the same producer and consumer configuration as ``citycredit/app.py``, to show how much of
a worker's per-item cost is Faust's own (fetch, decode, event, ack, commit) and so what
rate one Python process can reach at all on this machine. Two modes:

- ``noop``: the agent only looks at the story id;
- ``table``: it also writes one small value per item to a changelogged table, the least a
  per-story window must do to survive a restart.

Items of sentinel stories (``s-sentinel-*``) are forwarded to ``alerts`` so the benchmark
sees when the backlog before them is done, exactly as it does for the real worker.

    FLOOR_MODE=table FLOOR_BOOTSTRAP=127.0.0.1:9092 python bench/faust_floor.py worker -l info
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import faust

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from citycredit.app import WORKER_SETTINGS, settings  # noqa: E402

MODE = os.environ.get("FLOOR_MODE", "noop")

app = faust.App(
    os.environ.get("FLOOR_APP_ID", f"faust-floor-{MODE}"),
    broker=[f"kafka://{os.environ['FLOOR_BOOTSTRAP']}"],
    store="memory://",
    datadir=os.environ.get("FLOOR_DATA_DIR", "/tmp/faust-floor"),
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=1,
    web_enabled=False,
    **WORKER_SETTINGS,  # the worker's producer, consumer and table settings: the same transport costs
    logging_config=None,
)
items = app.topic("items", value_serializer="json")
alerts = app.topic("alerts", value_serializer="json")
last_seen = app.Table("floor-last-seen", default=None, partitions=settings.topic_partitions)


@app.agent(items)
async def floor(stream):
    async for event in stream.events():
        story = event.value.get("story_id", "")
        if MODE == "table":
            last_seen[story] = event.value.get("ts")
        if story.startswith("s-sentinel"):
            await alerts.send(key=story, value={"story_id": story})


if __name__ == "__main__":
    app.main()
