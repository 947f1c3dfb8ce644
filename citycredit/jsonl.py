"""JSON Lines both ways, safe for headlines that carry line-separator characters.

JSON allows U+0085, U+2028 and U+2029 raw inside a string, and real titles carry them
(pasted text, a site's CMS). ``str.splitlines()`` splits at them, so a JSONL file read with
it breaks a record in two; a file written with them raw breaks every tool that does the same.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from citycredit.exceptions import InputError

# what str.splitlines() splits at that json.dumps leaves raw (it escapes every control
# character below U+0020 itself)
_ESCAPE = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def split_lines(text: str) -> list[str]:
    """The lines of a JSONL text, split at "\\n" only (a "\\r" before it is whitespace to JSON)."""
    return text.split("\n")


def read_lines(path: Path) -> list[str]:
    """The lines of a JSONL file (UTF-8), or InputError naming the file and why it cannot be read."""
    try:
        return split_lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc


def dumps_line(obj: Any) -> str:
    """One JSONL line, Chinese kept readable, the characters other readers split at escaped."""
    return json.dumps(obj, ensure_ascii=False).translate(_ESCAPE)
