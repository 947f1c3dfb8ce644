"""Every Prometheus metric, declared in one place from a registry that is passed in.

Units are in the names; labels are bounded (site ids, surfaces, domains, alert
types, ~670 city codes), never free text.
"""
from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics(NamedTuple):
    sightings_total: Counter
    items_total: Counter
    deadletter_total: Counter
    alerts_total: Counter
    poll_duration_seconds: Histogram
    poll_failures_total: Counter
    poll_items_parsed: Gauge
    poll_last_success_timestamp_seconds: Gauge
    poll_consecutive_failures: Gauge
    poll_yield_drop: Gauge
    poll_observations_published_total: Counter


def build_metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(
        sightings_total=Counter("citycredit_sightings_total", "Observations consumed from sightings", ["site", "surface"], registry=registry),
        items_total=Counter("citycredit_items_total", "Classified items by domain and polarity", ["domain", "polarity"], registry=registry),
        deadletter_total=Counter("citycredit_deadletter_total", "Records rejected to the dead-letter topic", ["stage"], registry=registry),
        alerts_total=Counter("citycredit_alerts_total", "Alerts emitted", ["type"], registry=registry),
        poll_duration_seconds=Histogram("citycredit_poll_duration_seconds", "Time to fetch and parse one surface", ["site", "surface"],
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry),
        poll_failures_total=Counter("citycredit_poll_failures_total", "Failed polls by reason", ["site", "surface", "reason"], registry=registry),
        poll_items_parsed=Gauge("citycredit_poll_items_parsed", "Headlines parsed from the last successful poll", ["site", "surface"], registry=registry),
        poll_last_success_timestamp_seconds=Gauge("citycredit_poll_last_success_timestamp_seconds", "Unix time of the last successful poll", ["site", "surface"], registry=registry),
        poll_consecutive_failures=Gauge("citycredit_poll_consecutive_failures", "Consecutive failed polls", ["site", "surface"], registry=registry),
        poll_yield_drop=Gauge("citycredit_poll_yield_drop", "1 when a surface's yield dropped far below its usual (broken parser)", ["site", "surface"], registry=registry),
        poll_observations_published_total=Counter("citycredit_poll_observations_published_total", "Observations the pollers had acknowledged by the broker", registry=registry),
    )


REGISTRY = CollectorRegistry()
METRICS = build_metrics(REGISTRY)
