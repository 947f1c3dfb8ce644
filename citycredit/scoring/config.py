"""Scoring configuration read from ``citycredit/config/*.toml`` into frozen value objects.

Points are converted once, here, to integer centipoints (1/100 point) and shares and
weights to basis points (1/10000), so scoring is integer arithmetic: exact sums and
byte-identical replays.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from citycredit.configfiles import read_toml
from citycredit.exceptions import ConfigError
from citycredit.ids import RESPONSE_KINDS

LEVEL_ASPECTS = ("credit_event", "credit_policy", "info_disclosure", "task_implementation", "blacklist", "major_trustworthy")
DISCLOSURE_COLUMNS = ("shuang_gongshi", "red_black_list", "credit_commitment")
# Aspects measured by records made per city (the others by the news monitoring of every city),
# and what each is measured by.
RECORD_MEASURED = {"blacklist": "blacklist_import", "info_disclosure": "website_check", "task_implementation": "task_report"}
UNMEASURED_POLICIES = ("base", "min")
TIE_BREAKS = ("score", "fewer_dishonesty_events", "more_measured_aspects")
BP = 10_000  # basis points in 1.0
MAX_POINTS = 1000.0  # no single configured value may exceed this: a typo like 500 instead of 5.0 is caught


def cp(value: Any, where: str) -> int:
    """Points -> centipoints, rejecting non-numbers and absurd values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number of points, got {value!r}")
    if abs(value) > MAX_POINTS:
        raise ConfigError(f"{where}: {value} points is absurd (more than {MAX_POINTS})")
    return int(round(value * 100))


def bp(value: Any, where: str, low: float = 0.0, high: float = 1.0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a number in [{low}, {high}], got {value!r}")
    return int(round(value * BP))


@dataclass(frozen=True)
class AspectRule:
    base: int
    low: int
    high: int
    params: Mapping[str, Any] = field(default_factory=dict)

    def clamp(self, raw: int) -> int:
        return max(self.low, min(self.high, raw))


@dataclass(frozen=True)
class LatenessRule:
    within_seconds: int
    factor_bp: int


@dataclass(frozen=True)
class ScoringConfig:
    rolling_months: int
    rolling_weights_bp: tuple[int, ...]
    allowed_lateness_seconds: int
    retain_months: int
    aspects: Mapping[str, AspectRule]
    column_points: Mapping[str, int]
    state_lookback_months: int
    deduction: int
    max_share_bp: int
    shares_bp: Mapping[str, int]
    lateness: tuple[LatenessRule, ...]
    detection_window_seconds: int
    default_kind: str
    kind_terms: tuple[tuple[str, tuple[str, ...]], ...]
    unmeasured: Mapping[str, str] = field(default_factory=lambda: {a: "base" for a in RECORD_MEASURED})
    tie_break: tuple[str, ...] = TIE_BREAKS
    source: str = ""

    def lateness_factor_bp(self, delay_seconds: float) -> int:
        """Factor for a response ``delay_seconds`` after its event (0 when later than every rule)."""
        for rule in self.lateness:
            if delay_seconds <= rule.within_seconds:
                return rule.factor_bp
        return 0

    @classmethod
    def from_toml(cls, path: Path) -> "ScoringConfig":
        data = read_toml(path, "scoring config")
        try:
            return cls.from_dict(data, source=str(path))
        except KeyError as exc:
            raise ConfigError(f"scoring config {path}: missing key {exc}") from exc

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "") -> "ScoringConfig":
        periods = data["periods"]
        months = periods["rolling_months"]
        if not isinstance(months, int) or not 1 <= months <= 36:
            raise ConfigError(f"periods.rolling_months: expected 1..36, got {months!r}")
        weights = tuple(bp(w, "periods.rolling_weights", 0.0001, 1.0) for w in periods["rolling_weights"])
        if len(weights) != months:
            raise ConfigError(f"periods.rolling_weights: {len(weights)} entries for rolling_months = {months}")
        lateness_h = periods["allowed_lateness_hours"]
        if not isinstance(lateness_h, (int, float)) or not 0 <= lateness_h <= 24 * 90:
            raise ConfigError(f"periods.allowed_lateness_hours: expected 0..2160, got {lateness_h!r}")
        retain = periods["retain_months"]
        if not isinstance(retain, int) or retain < months:
            raise ConfigError(f"periods.retain_months: must be >= rolling_months ({months}), got {retain!r}")

        aspects: dict[str, AspectRule] = {}
        raw_aspects = data["aspects"]
        for name in LEVEL_ASPECTS:
            a = raw_aspects[name]
            where = f"aspects.{name}"
            low, high, base = cp(a["min"], where + ".min"), cp(a["max"], where + ".max"), cp(a["base"], where + ".base")
            if not low <= base <= high:
                raise ConfigError(f"{where}: base {a['base']} outside [min, max] = [{a['min']}, {a['max']}]")
            params = {k: cp(v, f"{where}.{k}") for k, v in a.items()
                      if k not in ("base", "min", "max", "column_points", "state_lookback_months")}
            aspects[name] = AspectRule(base, low, high, params)
        _sign(aspects["credit_event"].params, "dishonest_points", -1, "aspects.credit_event")
        _sign(aspects["credit_event"].params, "trustworthy_points", 1, "aspects.credit_event")
        _sign(aspects["credit_policy"].params, "policy_points", 1, "aspects.credit_policy")
        _sign(aspects["credit_policy"].params, "per_domain_max", 1, "aspects.credit_policy")
        _sign(aspects["info_disclosure"].params, "media_points", 1, "aspects.info_disclosure")
        _sign(aspects["info_disclosure"].params, "media_max", 1, "aspects.info_disclosure")
        _sign(aspects["blacklist"].params, "black_points", -1, "aspects.blacklist")
        _sign(aspects["blacklist"].params, "red_points", 1, "aspects.blacklist")
        _sign(aspects["major_trustworthy"].params, "event_points", 1, "aspects.major_trustworthy")
        disclosure = raw_aspects["info_disclosure"]
        columns = {k: cp(v, f"aspects.info_disclosure.column_points.{k}") for k, v in disclosure["column_points"].items()}
        if set(columns) != set(DISCLOSURE_COLUMNS) or any(v < 0 for v in columns.values()):
            raise ConfigError(f"aspects.info_disclosure.column_points: need non-negative points for {', '.join(DISCLOSURE_COLUMNS)}")
        lookback = disclosure["state_lookback_months"]
        if not isinstance(lookback, int) or not 1 <= lookback <= retain:
            raise ConfigError(f"aspects.info_disclosure.state_lookback_months: expected 1..retain_months, got {lookback!r}")

        deduction = cp(data["major_dishonesty"]["deduction_points"], "major_dishonesty.deduction_points")
        if deduction < 0:
            raise ConfigError("major_dishonesty.deduction_points: a deduction is given as a positive number of points")
        resp = data["response"]
        max_share = bp(resp["max_share"], "response.max_share")
        shares = {k: bp(v, f"response.shares.{k}") for k, v in resp["shares"].items()}
        if set(shares) != set(RESPONSE_KINDS):
            raise ConfigError(f"response.shares: need exactly {', '.join(RESPONSE_KINDS)}, got {', '.join(sorted(shares))}")
        rules = []
        for i, r in enumerate(resp.get("lateness", [])):
            days = r["within_days"]
            if not isinstance(days, (int, float)) or days <= 0:
                raise ConfigError(f"response.lateness[{i}].within_days: expected > 0, got {days!r}")
            rules.append(LatenessRule(int(days * 86400), bp(r["factor"], f"response.lateness[{i}].factor")))
        if [r.within_seconds for r in rules] != sorted({r.within_seconds for r in rules}):
            raise ConfigError("response.lateness: within_days must increase from one rule to the next")
        if any(b.factor_bp > a.factor_bp for a, b in zip(rules, rules[1:])):
            raise ConfigError("response.lateness: a later response cannot offset more than an earlier one")
        det = resp["detection"]
        window = det["window_days"]
        if not isinstance(window, (int, float)) or not 0 < window <= 365:
            raise ConfigError(f"response.detection.window_days: expected 0 < days <= 365, got {window!r}")
        default_kind = det["default_kind"]
        if default_kind not in RESPONSE_KINDS:
            raise ConfigError(f"response.detection.default_kind: {default_kind!r} is not a response kind")
        terms = []
        for kind, words in det["kind_terms"].items():
            if kind not in RESPONSE_KINDS:
                raise ConfigError(f"response.detection.kind_terms: {kind!r} is not a response kind")
            terms.append((kind, tuple(str(w) for w in words)))
        unmeasured = dict(data["coverage"]["unmeasured"])
        if set(unmeasured) != set(RECORD_MEASURED) or any(v not in UNMEASURED_POLICIES for v in unmeasured.values()):
            raise ConfigError(f"coverage.unmeasured: need one of {', '.join(UNMEASURED_POLICIES)} for each of "
                              f"{', '.join(RECORD_MEASURED)}, got {unmeasured!r}")
        tie_break = tuple(data["ranking"]["tie_break"])
        if not tie_break or tie_break[0] != "score" or len(set(tie_break)) != len(tie_break) \
                or any(k not in TIE_BREAKS for k in tie_break):
            raise ConfigError(f"ranking.tie_break: start with \"score\", then any of {', '.join(TIE_BREAKS[1:])}, "
                              f"each once; got {list(tie_break)!r}")
        return cls(
            rolling_months=months, rolling_weights_bp=weights, allowed_lateness_seconds=int(lateness_h * 3600),
            retain_months=retain, aspects=aspects, column_points=columns, state_lookback_months=lookback,
            deduction=deduction, max_share_bp=max_share, shares_bp=shares, lateness=tuple(rules),
            detection_window_seconds=int(window * 86400), default_kind=default_kind, kind_terms=tuple(terms),
            unmeasured=unmeasured, tie_break=tie_break, source=source,
        )


def _sign(params: Mapping[str, int], key: str, sign: int, where: str) -> None:
    if key not in params:
        raise ConfigError(f"{where}.{key}: missing")
    if params[key] * sign < 0:
        raise ConfigError(f"{where}.{key}: must be {'positive' if sign > 0 else 'negative'}")


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    weight_bp: int


@dataclass(frozen=True)
class TaskChecklists:
    default: tuple[Task, ...]
    by_city: Mapping[str, tuple[Task, ...]]

    def tasks_for(self, adcode: str) -> tuple[Task, ...]:
        return self.by_city.get(adcode, self.default)

    @classmethod
    def from_toml(cls, path: Path) -> "TaskChecklists":
        data = read_toml(path, "task checklist")
        default = _tasks(data.get("default", []), f"{path}: default")
        by_city = {}
        for adcode, spec in data.get("cities", {}).items():
            own = _tasks(spec.get("tasks", []), f"{path}: cities.{adcode}")
            if spec.get("inherit_default", False):
                own_ids = {t.id for t in own}
                own = tuple(t for t in default if t.id not in own_ids) + own
            by_city[adcode] = own
        return cls(default, by_city)


def _tasks(rows: list[Mapping[str, Any]], where: str) -> tuple[Task, ...]:
    tasks = []
    for row in rows:
        if not isinstance(row.get("id"), str) or not row["id"]:
            raise ConfigError(f"{where}: a task without an id")
        tasks.append(Task(row["id"], str(row.get("title", row["id"])), bp(row.get("weight", 1.0), f"{where}.{row['id']}.weight", 0.0, 100.0)))
    if len({t.id for t in tasks}) != len(tasks):
        raise ConfigError(f"{where}: duplicate task ids")
    return tuple(tasks)


@lru_cache(maxsize=8)
def load_scoring_config(path: str | None = None) -> ScoringConfig:
    from citycredit.settings import get_settings

    return ScoringConfig.from_toml(Path(path) if path else get_settings().scoring_config)


@lru_cache(maxsize=8)
def load_task_checklists(path: str | None = None) -> TaskChecklists:
    from citycredit.settings import get_settings

    return TaskChecklists.from_toml(Path(path) if path else get_settings().tasks_config)
