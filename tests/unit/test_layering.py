"""The module map of docs/modules.md, enforced: each room imports only the rooms it may.

Read from the source with ``ast`` (every import, at any depth, lazy ones included), so a
new import that runs back up (the index importing the desk, a pure package importing the
CLI) fails here with the room, the module and the line.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("citycredit", "streams", "demo", "schemas", "agents")

# The foundation: settings, ids, errors, Kafka clients, metrics, topics, small helpers.
FOUNDATION = {f"citycredit.{m}" for m in (
    "exceptions", "ids", "settings", "configfiles", "jsonl", "retrying", "netguard", "secretbox", "kafka_client",
    "kafka_tls", "metrics", "topics", "admin", "broker", "faust_recovery")} | {"citycredit"}
# room -> the rooms it may import (besides itself); a room is a package or a top-level module
MAY_IMPORT: dict[str, set[str]] = {
    "schemas": {"citycredit.exceptions", "citycredit.ids"},
    **{m: FOUNDATION | {"schemas"} for m in FOUNDATION},
    "citycredit.understanding": FOUNDATION | {"schemas"},
    "citycredit.detection": FOUNDATION | {"schemas"},
    "citycredit.scoring": FOUNDATION | {"schemas"},
    "citycredit.alerting": FOUNDATION | {"schemas"},
    "citycredit.replay": FOUNDATION | {"schemas", "citycredit.understanding", "citycredit.detection"},
    "citycredit.topic_io": FOUNDATION | {"schemas", "citycredit.scoring"},
    "citycredit.reporting": FOUNDATION | {"schemas", "citycredit.scoring", "citycredit.detection", "citycredit.understanding"},
    "citycredit.app": FOUNDATION | {"schemas"},
    "citycredit.web": FOUNDATION | {"schemas", "citycredit.app", "citycredit.alerting", "citycredit.scoring",
                                    "citycredit.reporting", "citycredit.topic_io"},
    "streams": FOUNDATION | {"schemas", "citycredit.topic_io", "citycredit.scoring"},
    "demo": FOUNDATION | {"schemas", "streams"},
    "agents": FOUNDATION | {"schemas", "citycredit.app", "citycredit.understanding", "citycredit.detection",
                            "citycredit.scoring", "citycredit.alerting", "citycredit.web"},
    # the edges: the CLI may reach everything; nothing reaches it
    "citycredit.cli": FOUNDATION,
    "citycredit.commands": {"*"},
}
ROOMS = sorted(MAY_IMPORT, key=len, reverse=True)


def room_of(module: str) -> str | None:
    for room in ROOMS:
        # "citycredit" itself is the package's __init__, not a room for every new module under it
        if module == room or (room != "citycredit" and module.startswith(room + ".")):
            return room
    return None


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # "from citycredit import broker" imports the module citycredit.broker
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names] if target in PACKAGES else [(node.lineno, target)]
    return out


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_has_a_room():
    homeless = [m for _, m in _modules() if room_of(m) is None]
    assert not homeless, f"give these a room in MAY_IMPORT (and docs/modules.md): {homeless}"


def test_no_import_runs_against_the_map():
    wrong = []
    for path, module in _modules():
        here = room_of(module)
        allowed = MAY_IMPORT[here]
        for line, target in _imports(path, module):
            there = room_of(target)
            if there is None or there == here or "*" in allowed or there in allowed:
                continue
            wrong.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {target} ({there})")
    assert not wrong, "imports the module map does not allow (docs/modules.md):\n" + "\n".join(wrong)
