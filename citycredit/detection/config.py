"""Detection parameters, read from the desk-tunable ``citycredit/config/detection.toml``."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

from citycredit.exceptions import ConfigError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "detection.toml"


@dataclass(frozen=True)
class MajorRule:
    """Major dishonesty / trustworthy event: N distinct homepages within a window, or a top-N ranking."""

    site_threshold: int = 3
    window_hours: float = 24.0
    hotlist_top_n: int = 10
    allowed_lateness_hours: float = 6.0
    max_urls: int = 20

    def __post_init__(self) -> None:
        if self.site_threshold < 1:
            raise ConfigError(f"major.site_threshold must be >= 1, got {self.site_threshold}")
        if self.window_hours <= 0:
            raise ConfigError(f"major.window_hours must be > 0, got {self.window_hours}")
        if self.hotlist_top_n < 1:
            raise ConfigError(f"major.hotlist_top_n must be >= 1, got {self.hotlist_top_n}")
        if self.allowed_lateness_hours < 0:
            raise ConfigError(f"major.allowed_lateness_hours must be >= 0, got {self.allowed_lateness_hours}")
        if self.max_urls < 1:
            raise ConfigError(f"major.max_urls must be >= 1, got {self.max_urls}")

    @property
    def window_s(self) -> float:
        return self.window_hours * 3600.0

    @property
    def lateness_s(self) -> float:
        return self.allowed_lateness_hours * 3600.0


@dataclass(frozen=True)
class TrendRule:
    """Early warning: a city's recent count of dishonesty stories far above its own Poisson baseline."""

    day_offset_hours: int = 8
    recent_days: int = 7
    baseline_days: int = 56
    prior_events: float = 1.0
    prior_days: float = 7.0
    min_count: int = 3
    p_value: float = 0.01
    cooldown_days: int = 7

    def __post_init__(self) -> None:
        if self.recent_days < 1 or self.baseline_days < 1:
            raise ConfigError("early_warning.recent_days and baseline_days must be >= 1")
        if self.prior_events <= 0 or self.prior_days <= 0:
            raise ConfigError("early_warning.prior_events and prior_days must be > 0 (they keep the expected count above 0)")
        if self.min_count < 1:
            raise ConfigError(f"early_warning.min_count must be >= 1, got {self.min_count}")
        if not 0 < self.p_value < 1:
            raise ConfigError(f"early_warning.p_value must be in (0, 1), got {self.p_value}")
        if self.cooldown_days < 0:
            raise ConfigError(f"early_warning.cooldown_days must be >= 0, got {self.cooldown_days}")
        if not -12 <= self.day_offset_hours <= 14:
            raise ConfigError(f"early_warning.day_offset_hours must be a UTC offset in hours, got {self.day_offset_hours}")


@dataclass(frozen=True)
class DetectionConfig:
    major: MajorRule = MajorRule()
    trend: TrendRule = TrendRule()


def _section(cls: type, data: Any, name: str, path: Path) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{path}: [{name}] unknown keys: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        want = known[key].type
        if want == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigError(f"{path}: {name}.{key} must be an integer, got {value!r}")
        if want == "float":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{path}: {name}.{key} must be a number, got {value!r}")
            value = float(value)
        values[key] = value
    return cls(**values)


def load_config(path: Path | str | None = None) -> DetectionConfig:
    """The detection rules from ``path`` (default: the packaged detection.toml)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"detection config not found: {path} (set CITYCREDIT_DETECTION_CONFIG)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"major", "early_warning"})
    if unknown:
        raise ConfigError(f"{path}: unknown sections: {', '.join(unknown)}")
    return DetectionConfig(major=_section(MajorRule, data.get("major"), "major", path),
                           trend=_section(TrendRule, data.get("early_warning"), "early_warning", path))
