"""Reading the desk-tunable TOML files: one place that turns a missing or broken file into a
ConfigError naming it (errors translated once, at the edge)."""
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from .exceptions import ConfigError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A desk-tunable TOML file, or ConfigError naming the file and the problem."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{what} {path}: {exc}") from exc


def packaged_toml(name: str) -> dict[str, Any]:
    """A TOML file shipped in ``citycredit/config`` (credit.toml, places.toml, ...)."""
    text = resources.files("citycredit.config").joinpath(name).read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config/{name}: {exc}") from exc
