"""Source health per site and surface: last success, items parsed, consecutive failures,
and a yield drop (a page that used to give 200 headlines now gives 3) flagged as a broken
parser. Mirrored to the Prometheus metrics in ``citycredit.metrics`` and published to the
``source-health`` topic (compacted, keyed "site/surface-id") for the desk.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime

from citycredit.metrics import METRICS, Metrics
from schemas import SourceHealth

from .registry import Surface


@dataclass
class SurfaceHealth:
    site: str
    surface: str  # the registry surface id
    url: str
    last_success: str | None = None
    last_error: str | None = None
    last_error_reason: str | None = None
    items_parsed: int = 0
    consecutive_failures: int = 0
    yield_drop: bool = False
    baseline: float | None = None  # slow moving average of items per successful poll
    successes: int = 0
    failures_by_reason: dict[str, int] = field(default_factory=dict)

    def copy(self) -> "SurfaceHealth":
        """A snapshot: the tracker keeps mutating its own object."""
        return dataclasses.replace(self, failures_by_reason=dict(self.failures_by_reason))

    def record(self, observations_published: int = 0) -> SourceHealth:
        return SourceHealth(site=self.site, surface=self.surface, url=self.url, last_success=self.last_success,
                            last_error=self.last_error, items_parsed=self.items_parsed,
                            consecutive_failures=self.consecutive_failures, yield_drop=self.yield_drop,
                            observations_published=observations_published)


@dataclass(frozen=True)
class YieldRule:
    """A yield below ``ratio`` x baseline, once the baseline rests on ``warmup`` polls, is a drop."""

    ratio: float = 0.2
    warmup: int = 3
    alpha: float = 0.2  # weight of the newest count in the baseline
    min_baseline: float = 5.0  # a feed of 3 items going to 0 is normal churn, not a broken parser


class HealthTracker:
    def __init__(self, rule: YieldRule | None = None, metrics: Metrics = METRICS) -> None:
        self.rule = rule or YieldRule()
        self.metrics = metrics
        self.by_key: dict[str, SurfaceHealth] = {}

    def get(self, surface: Surface) -> SurfaceHealth:
        h = self.by_key.get(surface.key)
        if h is None:
            h = self.by_key[surface.key] = SurfaceHealth(surface.site, surface.id, surface.url)
        return h

    def success(self, surface: Surface, items: int, when: datetime, duration_s: float) -> SurfaceHealth:
        h = self.get(surface)
        rule = self.rule
        h.yield_drop = (h.baseline is not None and h.successes >= rule.warmup and h.baseline >= rule.min_baseline
                        and items < rule.ratio * h.baseline)
        if not h.yield_drop:
            # a broken parser's output must not drag the baseline down to its own level
            h.baseline = items if h.baseline is None else (1 - rule.alpha) * h.baseline + rule.alpha * items
            h.successes += 1
        h.items_parsed = items
        h.consecutive_failures = 0
        h.last_success = when.isoformat()
        if h.yield_drop:
            h.last_error_reason = "yield_drop"
            h.last_error = f"yield_drop: {items} headlines, usually {h.baseline:.0f} (parser broken by a redesign?)"
            self.metrics.poll_failures_total.labels(surface.site, surface.id, "yield_drop").inc()
        m = self.metrics
        m.poll_duration_seconds.labels(surface.site, surface.id).observe(duration_s)
        m.poll_items_parsed.labels(surface.site, surface.id).set(items)
        m.poll_last_success_timestamp_seconds.labels(surface.site, surface.id).set(when.timestamp())
        m.poll_consecutive_failures.labels(surface.site, surface.id).set(0)
        m.poll_yield_drop.labels(surface.site, surface.id).set(1 if h.yield_drop else 0)
        return h

    def not_modified(self, surface: Surface, when: datetime, duration_s: float) -> SurfaceHealth:
        """A 304 is a success with the previous yield."""
        h = self.get(surface)
        h.consecutive_failures = 0
        h.last_success = when.isoformat()
        self.metrics.poll_duration_seconds.labels(surface.site, surface.id).observe(duration_s)
        self.metrics.poll_last_success_timestamp_seconds.labels(surface.site, surface.id).set(when.timestamp())
        self.metrics.poll_consecutive_failures.labels(surface.site, surface.id).set(0)
        return h

    def snapshot_failed(self, surface: Surface, message: str) -> SurfaceHealth:
        """The page was polled and published but its raw snapshot could not be stored (disk full?).

        Not a poll failure (consecutive_failures stays 0: the headlines flowed), but the desk must
        see why ``reparse`` will miss this snapshot, so it is the surface's last error.
        """
        h = self.get(surface)
        h.last_error_reason = "snapshot_store"
        h.last_error = f"snapshot_store: {message}"
        h.failures_by_reason["snapshot_store"] = h.failures_by_reason.get("snapshot_store", 0) + 1
        self.metrics.poll_failures_total.labels(surface.site, surface.id, "snapshot_store").inc()
        return h

    def failure(self, surface: Surface, reason: str, message: str, duration_s: float) -> SurfaceHealth:
        h = self.get(surface)
        h.consecutive_failures += 1
        h.last_error_reason = reason
        h.last_error = f"{reason}: {message}" if not message.startswith(reason) else message
        h.failures_by_reason[reason] = h.failures_by_reason.get(reason, 0) + 1
        m = self.metrics
        m.poll_failures_total.labels(surface.site, surface.id, reason).inc()
        m.poll_consecutive_failures.labels(surface.site, surface.id).set(h.consecutive_failures)
        m.poll_duration_seconds.labels(surface.site, surface.id).observe(duration_s)
        return h
