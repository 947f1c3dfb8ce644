"""The city scorer as a replay sink: a rejected input becomes a reported line, as it would
become a dead-letter record live, instead of stopping the replay."""
from __future__ import annotations

from typing import Any

from citycredit.exceptions import InputError

from .ranking import ranking_json
from .scorer import CityScorer


class ScoringSink:
    """``on_item`` / ``on_alert`` / ``on_response`` / ``on_record`` for ``citycredit replay``."""

    def __init__(self, scorer: CityScorer | None = None) -> None:
        self.scorer = scorer or CityScorer()
        self.rejected: list[str] = []  # "dead-letter score_city_index: <reason>", in replay order

    def _apply(self, fn: Any, value: Any) -> None:
        try:
            fn(value)
        except InputError as exc:
            self.rejected.append(f"dead-letter score_city_index: {exc}")

    def on_item(self, item: Any) -> None:
        self._apply(self.scorer.on_item, item)

    def on_alert(self, alert: Any) -> None:
        self._apply(self.scorer.on_alert, alert)

    def on_response(self, resp: Any) -> None:
        self._apply(self.scorer.on_response, resp)

    def on_record(self, rec: Any) -> None:
        self._apply(self.scorer.on_record, rec)

    def ranking(self, period: str | None = None, province: str | None = None,
                group: str | None = None) -> list[dict[str, Any]]:
        return self.scorer.ranking(period, province, group)

    def ranking_json(self, period: str | None = None) -> str:
        """The ranking file: byte-identical for the same timeline."""
        return ranking_json(self.scorer.ranking(period))
