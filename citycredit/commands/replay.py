"""citycredit replay FILE [--ranking OUT.json]: a recorded timeline through the live logic, no broker."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..detection import load_config
from ..exceptions import InputError
from ..jsonl import split_lines
from ..settings import get_settings


def register(cli: click.Group) -> None:
    cli.add_command(replay_command)


def _scorer():
    # Imported here: only --ranking needs the index, and replay without it starts faster.
    from ..scoring import ScoringSink

    return ScoringSink()


@click.command("replay", epilog="""\b
examples:
  citycredit replay timeline.jsonl > alerts.jsonl
  citycredit replay timeline.jsonl --ranking ranking.json   # also score the cities
""")
@click.argument("file")
@click.option("--ranking", metavar="OUT.json", help="Also score the cities and write the ranking here.")
def replay_command(file: str, ranking: str | None) -> int:
    """Run a recorded JSONL timeline (observations, {"type": "response"|"record", ...}; '-' for
    stdin) in event time through the live logic; the alerts go to stdout as JSONL."""
    from ..replay import Replay, alert_json, read_timeline

    source = "<stdin>" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {source}: {exc}") from exc
    entries, errors = read_timeline(split_lines(text))
    scorer = _scorer() if ranking else None
    replay = Replay(load_config(get_settings().detection_config), sinks=[scorer] if scorer else [])
    out = sys.stdout
    for alert in replay.run(entries, errors):
        out.write(alert_json(alert) + "\n")
    out.flush()
    if scorer is not None:
        Path(ranking).write_text(scorer.ranking_json(), encoding="utf-8")
    for err in sorted(errors, key=lambda e: e.lineno):
        print(err.render(source), file=sys.stderr)
    # Inputs the index rejects (unknown city, too late) are reported, not fatal, as live.
    for reason in (scorer.rejected if scorer is not None else []):
        print(f"{source}: {reason}", file=sys.stderr)
    if errors:
        print(f"citycredit replay: {len(errors)} line(s) rejected, {len(entries)} applied", file=sys.stderr)
    return 1 if errors or (scorer is not None and scorer.rejected) else 0
