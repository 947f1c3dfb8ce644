"""citycredit classify [FILE]: observations JSONL (stdin by default) -> classified items JSONL.

The same code as the worker's classify_sightings + cluster_stories agents, with a dict
as story state, in input order. A bad line (invalid JSON, a field missing or wrong, a
title with no words) is reported on stderr as ``line N: reason`` and skipped; the
command goes on and exits 1 at the end when any line was bad.
"""
from __future__ import annotations

import json
import sys
from typing import IO, Iterable

from ..exceptions import CityCreditError, InputError


def register(sub) -> None:
    p = sub.add_parser("classify", help="classify observations JSONL (FILE or stdin) into items JSONL on stdout")
    p.add_argument("file", nargs="?", default="-", metavar="FILE", help="observations JSONL; '-' or absent: stdin")
    p.set_defaults(func=_classify)


def classify_lines(lines: Iterable[str], out: IO[str], err: IO[str]) -> int:
    """Classify each JSONL line; returns the number of bad lines."""
    from schemas import Observation

    from ..understanding import Understanding

    understanding = Understanding(story_state={})
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise InputError(f"not JSON: {exc}") from exc
            item = understanding.classify(Observation.parse(data))
        except InputError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=err)
            continue
        out.write(json.dumps(item.asdict(), ensure_ascii=False) + "\n")
    return bad


def _classify(args) -> int:
    try:
        if args.file == "-":
            stream: IO[str] = sys.stdin
            bad = classify_lines(stream, sys.stdout, sys.stderr)
        else:
            with open(args.file, encoding="utf-8", errors="replace") as fh:
                bad = classify_lines(fh, sys.stdout, sys.stderr)
    except OSError as exc:
        raise CityCreditError(f"classify: cannot read {args.file}: {exc.strerror}") from exc
    if bad:
        print(f"citycredit classify: {bad} bad line(s) skipped", file=sys.stderr)
        return 1
    return 0
