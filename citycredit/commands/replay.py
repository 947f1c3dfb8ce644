"""citycredit replay FILE [--ranking OUT.json]: a recorded timeline through the live logic, no broker."""
from __future__ import annotations

import sys
from pathlib import Path

from ..detection import load_config
from ..exceptions import InputError
from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser("replay", help="run a recorded JSONL timeline in event time; alerts JSONL to stdout")
    p.add_argument("file", help="timeline JSONL (observations, {\"type\": \"response\"|\"record\", ...}); - for stdin")
    p.add_argument("--ranking", metavar="OUT.json", help="also score the cities and write the ranking here")
    p.set_defaults(func=_replay)


def _scorer():
    # Imported here: only --ranking needs the index, and replay without it starts faster.
    from ..scoring import ScoringSink

    return ScoringSink()


def _replay(args) -> int:
    from ..replay import Replay, alert_json, read_timeline

    source = "<stdin>" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {source}: {exc}") from exc
    entries, errors = read_timeline(text.splitlines())
    scorer = _scorer() if args.ranking else None
    replay = Replay(load_config(get_settings().detection_config), sinks=[scorer] if scorer else [])
    out = sys.stdout
    for alert in replay.run(entries, errors):
        out.write(alert_json(alert) + "\n")
    out.flush()
    if scorer is not None:
        Path(args.ranking).write_text(scorer.ranking_json(), encoding="utf-8")
    for err in sorted(errors, key=lambda e: e.lineno):
        print(err.render(source), file=sys.stderr)
    # Inputs the index rejects (unknown city, too late) are reported, not fatal, as live.
    for reason in (scorer.rejected if scorer is not None else []):
        print(f"{source}: {reason}", file=sys.stderr)
    if errors:
        print(f"citycredit replay: {len(errors)} line(s) rejected, {len(entries)} applied", file=sys.stderr)
    return 1 if errors or (scorer is not None and scorer.rejected) else 0
