"""Every Prometheus metric, declared in one place from a registry that is passed in.

Units are in the names; labels are bounded (site ids, surfaces, domains, alert
types, ~670 city codes), never free text.
"""
from __future__ import annotations

from typing import Callable, Iterable, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class Metrics(NamedTuple):
    sightings_total: Counter
    deadletter_total: Counter
    alerts_total: Counter
    poll_duration_seconds: Histogram
    poll_failures_total: Counter
    poll_items_parsed: Gauge
    poll_last_success_timestamp_seconds: Gauge
    poll_consecutive_failures: Gauge
    poll_yield_drop: Gauge
    poll_observations_published: "PublishedObservations"
    # --- city index, desk read model, delivery (issue 7) ---
    city_index_score_points: Gauge
    city_component_points: Gauge
    city_penalty_points: Gauge
    city_offset_points: Gauge
    city_rank: "CityRanks"
    alerts_recorded: Gauge
    desk_items_read_total: Counter
    pipeline_lag_seconds: Gauge
    desk_consumer_lag_messages: Gauge
    webhook_deliveries_total: Counter
    webhook_delivery_seconds: Histogram
    webhook_outbox_alerts: Gauge
    subscriptions_active: Gauge
    sse_clients: Gauge
    api_requests_total: Counter


def build_metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(
        sightings_total=Counter("citycredit_sightings_total", "Valid observations this worker's classifier consumed from sightings",
                                ["site", "surface"], registry=registry),
        deadletter_total=Counter("citycredit_deadletter_total", "Records this worker sent to the dead-letter topic, by stage "
                                 "and reason class (invalid, undecodable, late, internal_error, outbox_full, undeliverable)",
                                 ["stage", "reason"], registry=registry),
        alerts_total=Counter("citycredit_alerts_total", "Alerts emitted", ["type"], registry=registry),
        poll_duration_seconds=Histogram("citycredit_poll_duration_seconds", "Time to fetch and parse one surface", ["site", "surface"],
                                        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry),
        poll_failures_total=Counter("citycredit_poll_failures_total", "Failed polls by reason", ["site", "surface", "reason"], registry=registry),
        poll_items_parsed=Gauge("citycredit_poll_items_parsed", "Headlines parsed from the last successful poll", ["site", "surface"], registry=registry),
        poll_last_success_timestamp_seconds=Gauge("citycredit_poll_last_success_timestamp_seconds", "Unix time of the last successful poll", ["site", "surface"], registry=registry),
        poll_consecutive_failures=Gauge("citycredit_poll_consecutive_failures", "Consecutive failed polls", ["site", "surface"], registry=registry),
        poll_yield_drop=Gauge("citycredit_poll_yield_drop", "1 when a surface's yield dropped far below its usual (broken parser)", ["site", "surface"], registry=registry),
        poll_observations_published=PublishedObservations(registry),
        # Only the latest month and the latest 12-month period are exported (period_kind), so
        # series stay bounded by ~670 cities x 2 instead of growing every month.
        city_index_score_points=Gauge("citycredit_city_index_score_points", "City credit composite index of the latest period",
                                      _CITY_LABELS, registry=registry),
        city_component_points=Gauge("citycredit_city_component_points", "Points of one of the eight aspects in the city's index",
                                    _CITY_LABELS + ["aspect"], registry=registry),
        city_penalty_points=Gauge("citycredit_city_penalty_points", "Major-dishonesty deduction in the city's index", _CITY_LABELS, registry=registry),
        city_offset_points=Gauge("citycredit_city_offset_points", "Government-response offset in the city's index", _CITY_LABELS, registry=registry),
        city_rank=CityRanks(registry),
        alerts_recorded=Gauge("citycredit_alerts_recorded", "Alerts on the alerts topic (within retention) known to the desk, by type", ["type"], registry=registry),
        desk_items_read_total=Counter("citycredit_desk_items_read_total", "Classified items read by the desk from the items topic, by domain and polarity",
                                      ["domain", "polarity"], registry=registry),
        pipeline_lag_seconds=Gauge("citycredit_pipeline_lag_seconds", "Processing delay per topic: seconds from the newest record's arrival on the topic (its Kafka "
                                   "timestamp) to its processing (sightings: by the classifier; the desk's topics: read by the desk; "
                                   "0 once caught up with no new record). Event time (ts, triggered_at) plays no part: "
                                   "a replayed day is not days late",
                                   ["topic"], registry=registry),
        desk_consumer_lag_messages=Gauge("citycredit_desk_consumer_lag_messages", "Records on a topic not yet read by the desk", ["topic"], registry=registry),
        webhook_deliveries_total=Counter("citycredit_webhook_deliveries_total", "Webhook POST outcomes (delivered, failed try, dead_letter)", ["result"], registry=registry),
        webhook_delivery_seconds=Histogram("citycredit_webhook_delivery_seconds", "Time of one webhook POST",
                                           buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry),
        webhook_outbox_alerts=Gauge("citycredit_webhook_outbox_alerts", "Alerts waiting in subscription outboxes of this worker", registry=registry),
        subscriptions_active=Gauge("citycredit_subscriptions_active", "Alert subscriptions known to this worker", registry=registry),
        sse_clients=Gauge("citycredit_sse_clients", "Open Server-Sent Events streams", registry=registry),
        api_requests_total=Counter("citycredit_api_requests_total", "HTTP API requests by route and status code", ["route", "status"], registry=registry),
    )


_CITY_LABELS = ["city_adcode", "city", "province", "period_kind"]

class CityRanks:
    """``citycredit_city_rank``, computed when Prometheus scrapes. A rank depends on every
    city's score, so a gauge per city kept current would re-rank every city on every index
    update (half a worker's time with traffic from all prefectures); a scrape every 15 s
    ranks once. ``source`` (set by the desk's read model) yields (label values, rank)."""

    NAME = "citycredit_city_rank"
    HELP = "Rank of the city (1 = best) in its national peer group in the latest period"

    def __init__(self, registry: CollectorRegistry) -> None:
        self.source: Callable[[], Iterable[tuple[list[str], int]]] | None = None
        registry.register(self)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(self.NAME, self.HELP, labels=_CITY_LABELS)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=_CITY_LABELS)
        for labels, rank in (self.source() if self.source else ()):
            family.add_metric(labels, rank)
        yield family


class PublishedObservations:
    """``citycredit_poll_observations_published_total{site,surface}``, read when scraped.

    The broker's acknowledgements happen in the pollers' process, but Prometheus scrapes the
    worker; so each surface's ``source-health`` record carries its acknowledged count and the
    worker exports the latest one per surface (the pollers' own /metrics exports the live
    count of their publisher). A pollers restart starts the counts again from 0, which
    ``rate()``/``increase()`` treat as a counter reset. ``source`` yields (label values, count)."""

    NAME = "citycredit_poll_observations_published"  # exposed with the _total suffix
    HELP = "Observations of a surface acknowledged by the broker (acks=all) since the pollers started"

    def __init__(self, registry: CollectorRegistry) -> None:
        self.source: Callable[[], Iterable[tuple[list[str], int]]] | None = None
        registry.register(self)

    def describe(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily(self.NAME, self.HELP, labels=["site", "surface"])

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(self.NAME, self.HELP, labels=["site", "surface"])
        for labels, n in (self.source() if self.source else ()):
            family.add_metric(labels, n)
        yield family


REGISTRY = CollectorRegistry()
METRICS = build_metrics(REGISTRY)

