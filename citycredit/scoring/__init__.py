"""City credit index: pure scoring of the eight aspects, used by the agent, replay and the CLI.

    scorer = CityScorer(state=None, config=None)   # state: dict (replay) or Faust table (agent)
    scorer.on_item(item); scorer.on_alert(alert); scorer.on_response(resp); scorer.on_record(rec)
    scorer.ranking(period=None, province=None, group=None) -> design.md Ranking list: every city in
        scope (data/peer_groups.csv), each peer group ranked on its own, with per-aspect coverage
    scorer.explain(city, period=None) -> every aspect with the facts behind its points
"""
from __future__ import annotations

from .cities import City, CityRegistry, load_registry
from .config import ScoringConfig, TaskChecklists, load_scoring_config, load_task_checklists
from .filings import validate_record, validate_response
from .periods import Period
from .scorer import CityScorer
from .sink import ScoringSink

__all__ = ["City", "CityRegistry", "CityScorer", "Period", "ScoringConfig", "ScoringSink", "TaskChecklists", "load_registry",
           "load_scoring_config", "load_task_checklists", "validate_record", "validate_response"]
