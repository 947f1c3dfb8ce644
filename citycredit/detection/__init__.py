"""Major-event and early-warning detection: table-agnostic, event-time window logic.

``StoryDetector`` (state keyed by story id) and ``TrendDetector`` (state keyed by
city and subfield) are pure: they read and write a ``MutableMapping`` they are
given. The live worker gives them changelogged Faust tables in two agents joined
by the ``trend-events`` topic (re-keyed by city); ``Detection`` wires the same
two objects together over plain dicts for ``citycredit replay``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, MutableMapping

from schemas import Alert, Item

from .config import DEFAULT_PATH, DetectionConfig, MajorRule, TrendRule, load_config
from .trends import TrendDetector, poisson_sf
from .windows import StoryDetector, StoryOutcome, TrendEvent, story_polarity

__all__ = [
    "DEFAULT_PATH", "Detection", "DetectionConfig", "DetectionResult", "MajorRule", "StoryDetector", "StoryOutcome",
    "TrendDetector", "TrendEvent", "TrendRule", "load_config", "poisson_sf", "story_polarity",
]


@dataclass(frozen=True)
class DetectionResult:
    alerts: tuple[Alert, ...] = ()
    rejected: str | None = None


@dataclass
class Detection:
    """Both detectors in one process, in the order the live agents apply them."""

    config: DetectionConfig
    stories: MutableMapping[str, Any] = field(default_factory=dict)
    trends: MutableMapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.story_detector = StoryDetector(self.config.major)
        self.trend_detector = TrendDetector(self.config.trend, max_urls=self.config.major.max_urls)

    def observe(self, item: Item) -> DetectionResult:
        outcome = self.story_detector.observe(self.stories, item)
        if outcome.rejected:
            return DetectionResult(rejected=outcome.rejected)
        alerts = list(outcome.alerts)
        if outcome.trend is not None:
            warning = self.trend_detector.observe(self.trends, outcome.trend)
            if warning is not None:
                alerts.append(warning)
        return DetectionResult(alerts=tuple(alerts))
