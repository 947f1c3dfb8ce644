"""The figures a benchmark hands to ``bench/run_benchmarks.py``: one dict a figure.

Each speed benchmark keeps printing its own report and, given ``--json PATH``, also
writes its figures there as a list of

    {figure, value, unit, baseline, ratio, target, met, note}

``baseline`` is a figure measured in the same run (never a number from an earlier run:
on a shared 2-core machine only a same-run comparison means something); ``ratio`` is
always value / baseline; ``note`` says what the baseline is, or why there is none.
Targets are printed with whether they were met, never asserted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

Figure = dict[str, Any]


def figure(name: str, value: float, unit: str, *, baseline: float | None = None, note: str = "",
           at_least: float | None = None, below: float | None = None) -> Figure:
    """One row; ``at_least``/``below`` is the target, if the project set one for this figure."""
    target = met = None
    if at_least is not None:
        target, met = f">= {at_least:,g} {unit}", value >= at_least
    elif below is not None:
        target, met = f"< {below:,g} {unit}", value < below
    return {"figure": name, "value": value, "unit": unit, "baseline": baseline,
            "ratio": value / baseline if baseline else None, "target": target, "met": met,
            "note": note or ("" if baseline is not None else "no same-run baseline")}


def add_json_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", type=Path, metavar="PATH",
                    help="also write the figures to PATH as JSON (read by bench/run_benchmarks.py)")


def write_json(path: Path | None, rows: list[Figure]) -> None:
    if path is not None:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
