"""citycredit classify [FILE]: observations JSONL (stdin by default) -> classified items JSONL.

The same code as the worker's classify_sightings + cluster_stories agents, with a dict
as story state, in input order: a placed credit story that claims an earlier no-city sighting
(山西一煤矿… before 吕梁一煤矿…) prints that sighting again, as the city's, after its own item,
as the worker sends it to ``items`` again. A bad line (invalid JSON, a field missing or wrong, a
title with no words) is reported on stderr as ``line N: reason`` and skipped; the
command goes on and exits 1 at the end when any line was bad.
"""
from __future__ import annotations

import json
import sys
from typing import IO, Iterable

import click

from ..exceptions import CityCreditError, InputError
from ..jsonl import dumps_line


def register(cli: click.Group) -> None:
    cli.add_command(classify_command)


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
            items = understanding.classify_all(Observation.parse(data))
        except InputError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=err)
            continue
        for item in items:
            out.write(dumps_line(item.asdict()) + "\n")
    return bad


@click.command("classify", epilog="""\b
example:
  echo '{"ts": "2026-05-04T08:00:00+08:00", "site": "people", "surface": "homepage", "title": "苏州一餐馆使用地沟油", "url": ""}' | citycredit classify
""")
@click.argument("file", default="-", required=False)
def classify_command(file: str) -> int:
    """Classify observations JSONL (FILE, or stdin when absent or '-') into items JSONL on stdout."""
    try:
        if file == "-":
            stream: IO[str] = sys.stdin
            bad = classify_lines(stream, sys.stdout, sys.stderr)
        else:
            with open(file, encoding="utf-8", errors="replace") as fh:
                bad = classify_lines(fh, sys.stdout, sys.stderr)
    except OSError as exc:
        raise CityCreditError(f"classify: cannot read {file}: {exc.strerror}") from exc
    if bad:
        print(f"citycredit classify: {bad} bad line(s) skipped", file=sys.stderr)
        return 1
    return 0
