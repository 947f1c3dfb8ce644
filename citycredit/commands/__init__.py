"""Subcommands of the ``citycredit`` CLI, one module per subsystem; options several share."""
from __future__ import annotations

from pathlib import Path

import click

# the index's inputs from a file instead of the topics (explain, ranking, report)
INPUT = click.option("--input", "input_path", type=click.Path(path_type=Path),
                     help="A JSONL log of items/alerts/responses/records instead of the topics.")
