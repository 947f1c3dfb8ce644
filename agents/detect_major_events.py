"""items -> alerts: per-story sliding windows flag major dishonesty / trustworthy events.

The items topic is keyed by story id, so all sightings of a story meet the same
partition of ``story_windows`` (a changelogged table: state and the "emitted"
marker survive restarts and rebalances). Dishonesty stories of an early-warning
subfield are forwarded once to ``trend-events``, re-keyed by city and subfield,
for ``detect_early_warnings``.
"""
from __future__ import annotations

from typing import Any

from citycredit.app import alerts_topic, app, dead_letter, dead_letter_unexpected, items_topic, settings, trend_events_topic
from citycredit.detection import StoryDetector, load_config
from citycredit.exceptions import InputError
from citycredit.ids import SURFACES
from citycredit.metrics import METRICS
from citycredit.topics import ITEMS
from schemas import Item

STAGE = "detect_major_events"
config = load_config(settings.detection_config)
detector = StoryDetector(config.major)

# story_id -> window state (citycredit.detection.windows); plain JSON values (Faust's default codec).
story_windows = app.Table("story-windows", key_type=str,
                          partitions=ITEMS.partition_count(settings),
                          help="Per-story homepage sightings, best ranking, and which alerts were emitted.")

_ITEM_FIELDS = frozenset(Item._options.fields)


def parse_item(value: Any) -> Item:
    """A decoded items-topic value -> Item, or InputError naming what is wrong."""
    if not isinstance(value, dict):
        raise InputError(f"item: expected a JSON object, got {type(value).__name__}")
    missing = sorted(n for n in _ITEM_FIELDS if n not in value and n not in Item._options.defaults)
    if missing:
        raise InputError(f"item: missing fields: {', '.join(missing)}")
    # Records are built without type coercion: check what the window logic computes with.
    for name in ("ts", "site", "surface", "title", "url", "change", "story_id", "polarity"):
        if not isinstance(value[name], str):
            raise InputError(f"item: {name}: expected a string, got {type(value[name]).__name__}")
    if value["surface"] not in SURFACES:
        raise InputError(f"item: surface: {value['surface']!r} is not one of {', '.join(SURFACES)}")
    rank = value["rank"]
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool)):
        raise InputError(f"item: rank: expected an integer or null, got {type(rank).__name__}")
    try:
        return Item(**{k: v for k, v in value.items() if k in _ITEM_FIELDS})
    except (TypeError, ValueError) as exc:
        raise InputError(f"item: {exc}") from exc


@app.agent(items_topic)
async def detect_major_events(stream):
    async for event in stream.events():
        try:
            item = parse_item(event.value)
        except InputError as exc:
            await dead_letter(STAGE, str(exc), event.value, event)
            continue
        # outcome: alerts to send, a trend event to forward, or a rejection reason
        try:
            outcome = detector.observe(story_windows, item)
        except Exception as exc:  # a bug must not stop every story's detection
            await dead_letter_unexpected(STAGE, exc, event)
            continue
        if outcome.rejected:
            await dead_letter(STAGE, outcome.rejected, event.value, event,
                              kind="late" if outcome.rejected.startswith("late:") else "invalid")
            continue
        for alert in outcome.alerts:
            await alerts_topic.send(key=alert.story_id, value=alert)
            METRICS.alerts_total.labels(alert.type).inc()
        if outcome.trend is not None:
            await trend_events_topic.send(key=outcome.trend.key, value=outcome.trend.to_dict())
