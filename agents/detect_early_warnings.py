"""trend-events -> alerts: early warning when a city's dishonesty stories in one subfield surge.

``trend-events`` is keyed by "city_adcode/subfield", the key of ``city_trends``, so
the table is co-partitioned with its input (design: items are keyed by story, this
state by city, hence the re-key in ``detect_major_events``).
"""
from __future__ import annotations

from citycredit.app import alerts_topic, app, dead_letter, dead_letter_unexpected, settings, trend_events_topic
from citycredit.detection import TrendDetector, TrendEvent, load_config
from citycredit.exceptions import InputError
from citycredit.metrics import METRICS
from citycredit.topics import TREND_EVENTS

STAGE = "detect_early_warnings"
config = load_config(settings.detection_config)
detector = TrendDetector(config.trend, max_urls=config.major.max_urls)

# "city_adcode/subfield" -> day counts, recent stories, last warning (citycredit.detection.trends)
city_trends = app.Table("city-trends", key_type=str,
                        partitions=TREND_EVENTS.partition_count(settings),
                        help="Dishonesty stories per city, early-warning subfield and day.")


@app.agent(trend_events_topic)
async def detect_early_warnings(stream):
    async for event in stream.events():
        try:
            trend = TrendEvent.from_dict(event.value)
        except InputError as exc:
            await dead_letter(STAGE, str(exc), event.value, event)
            continue
        try:
            alert = detector.observe(city_trends, trend)
        except Exception as exc:  # a bug must not stop every city's warnings
            await dead_letter_unexpected(STAGE, exc, event)
            continue
        if alert is not None:
            await alerts_topic.send(key=alert.story_id, value=alert)
            METRICS.alerts_total.labels(alert.type).inc()
