"""Every Kafka topic, declared once: name, partitioning and retention.

The Faust app declares its topics from this list and ``citycredit topics create``
creates them with exactly these settings, so the broker and the code agree.
Retention follows what each topic holds: raw observations are only needed until
they are classified and for a short replay; items, alerts and responses feed a
rolling 12-month index and must outlive it; state-like topics are compacted.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    doc: str
    keyed_by: str
    partitions: int | None = None  # None: Settings.topic_partitions
    config: dict[str, str] = field(default_factory=dict)

    def partition_count(self, settings: Settings) -> int:
        return self.partitions or settings.topic_partitions


def _delete(days: int) -> dict[str, str]:
    return {"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)}


_COMPACT = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1", "segment.ms": str(DAY_MS)}
# A year of the index plus one month of slack: a full re-score from the log stays possible.
_INDEX_HORIZON_DAYS = 400

SIGHTINGS = TopicSpec("sightings", "Observations from pollers and filings: a headline appearing on, moving on, or leaving a surface.", "url", config=_delete(14))
ITEMS = TopicSpec("items", "Classified items (city, domain, polarity, aspect, story_id, evidence).", "story_id", config=_delete(_INDEX_HORIZON_DAYS))
ALERTS = TopicSpec("alerts", "Major dishonesty / trustworthy events and early warnings, one per story and type.", "story_id", config=_delete(_INDEX_HORIZON_DAYS))
RESPONSES = TopicSpec("responses", "Government responses to major dishonesty events (API, CLI, detected in news).", "city_adcode", config=_delete(_INDEX_HORIZON_DAYS))
RECORDS = TopicSpec("records", "Structured records: blacklist rows, filed policies, disclosure checks, task completions.", "city_adcode", config={"cleanup.policy": "delete", "retention.ms": "-1"})
# Items and alerts re-keyed by city, so the city index table sits on the same partitions as
# responses and records (all keyed by city_adcode, same partition count): co-partitioned.
CITY_INPUTS = TopicSpec("city-inputs", "Items and alerts that name a city, re-keyed by city_adcode for the index table.", "city_adcode", config=_delete(_INDEX_HORIZON_DAYS))
CITY_INDEX = TopicSpec("city-index", "Latest index of each city and period, emitted on change.", "city_adcode/period", config=_COMPACT)
SOURCE_HEALTH = TopicSpec("source-health", "Latest health of each site and surface.", "site/surface", partitions=1, config=_COMPACT)
SUBSCRIPTIONS = TopicSpec("subscriptions", "Alert subscriptions (webhook URL, filters); latest per id, a tombstone deletes.", "subscription_id", config=_COMPACT)
# The per-subscription outbox log: alerts routed to a subscription and their delivery results.
# It must outlive the longest receiver outage we promise to bridge (a week).
DELIVERIES = TopicSpec("deliveries", "Alerts routed to one subscription and their delivery outcomes (the webhook outbox).", "subscription_id", config=_delete(7))

# Internal re-key of items for the early warning: a dishonesty story of one city and
# subfield, once per story, keyed by "city_adcode/subfield" so the city-keyed trend
# table is co-partitioned with its input. Needs to outlive only the trend state's
# changelog catch-up, not the baseline (the state holds the day counts).
TREND_EVENTS = TopicSpec("trend-events", "Dishonesty stories re-keyed by city and early-warning subfield (internal).", "city_adcode/subfield", config=_delete(14))
DEADLETTER = TopicSpec("deadletter", "Rejected records with the reason, the stage and the original payload.", "stage", partitions=1, config=_delete(30))

# Internal: classify_sightings (stateless, parallel over sightings partitions) hands analysed
# items to cluster_stories, whose story table is co-partitioned with this topic. The key
# is the item's clustering bucket, its prefecture (understanding.story_bucket): stories of
# different cities never join, so clustering runs in parallel over the partitions; a week
# of retention covers any restart.
CLASSIFIED = TopicSpec("classified", "Analysed items (city, class, evidence) waiting for their story id.", "story bucket (prefecture adcode, or none)",
                       config=_delete(7))

ALL: tuple[TopicSpec, ...] = (SIGHTINGS, CLASSIFIED, ITEMS, ALERTS, RESPONSES, RECORDS, CITY_INPUTS, CITY_INDEX,
                              SOURCE_HEALTH, SUBSCRIPTIONS, DELIVERIES, TREND_EVENTS, DEADLETTER)
