"""City index commands: respond, import blacklist, file task|policy, explain, ranking, disclosure.

Filings are validated in full before anything is produced: an invalid filing prints one
line naming the field and writes nothing (exit 2). ``import blacklist`` lands the valid
rows of a file and reports each bad row with its row number (exit 1 if any was bad).
``explain`` and ``ranking`` rebuild the index from the topics (or from a JSONL log
with ``--input``), so they need no worker and agree with a replay of the same log.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from ..jsonl import read_lines
from ..ids import DOMAINS, RESPONSE_KINDS
from ..settings import get_settings
from . import INPUT


def register(cli: click.Group) -> None:
    for command in (respond_command, import_group, file_group, explain_command, ranking_command, disclosure_command):
        cli.add_command(command)


_PERIOD = click.option("--period", help="YYYY-MM or 12m:YYYY-MM (default: rolling 12 months to the newest event).")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Validate and print; produce nothing.")


def _now() -> str:
    from ..scoring.periods import CST

    return datetime.now(CST).replace(microsecond=0).isoformat()


def _print(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


@click.command("respond", epilog="""\b
example:
  citycredit respond --city 苏州 --story s-53abaad8ef9a6fff --kind rectification --title "涉事企业停业整改"
""")
@click.option("--city", required=True, help="City name (苏州市) or adcode (320500).")
@click.option("--story", required=True, help="story_id of the major dishonesty event (from the alert).")
@click.option("--kind", required=True, type=click.Choice(RESPONSE_KINDS))
@click.option("--ts", help="When the response was made, ISO-8601 with offset (default: now).")
@click.option("--title", default="")
@click.option("--url", default="")
@click.option("--note", default="")
@click.option("--response-id", help="Id of the response (default: derived, so filing twice counts once).")
@click.option("--alerts", type=click.Path(path_type=Path), help="Known events from this alerts JSONL instead of the alerts topic.")
@_DRY_RUN
def respond_command(city: str, story: str, kind: str, ts: str | None, title: str, url: str, note: str,
                    response_id: str | None, alerts: Path | None, dry_run: bool) -> int:
    """File a government response to a major dishonesty event (-> responses)."""
    from ..scoring.filings import known_events_from_alerts, validate_response
    from ..topic_io import produce, read_topics

    settings = get_settings()
    if alerts:
        known = [json.loads(line) for line in read_lines(alerts) if line.strip()]
    else:
        known = []
        for _, _, value in read_topics(settings, ("alerts",)):
            try:
                known.append(json.loads(value))
            except ValueError:
                continue  # a bad alert record is the detection agent's dead letter, not ours
    payload = {"city": city, "story_id": story, "kind": kind, "ts": ts or _now(),
               "title": title, "url": url, "note": note, "source": "cli"}
    if response_id:
        payload["response_id"] = response_id
    resp = validate_response(payload, known_events_from_alerts(known))
    _print(resp.asdict())
    if not dry_run:
        produce(settings, "responses", [resp])
        print(f"sent to responses (key {resp.city_adcode})", file=sys.stderr)
    return 0


@click.group("import")
def import_group() -> None:
    """Import structured records (-> records)."""


@import_group.command("blacklist")
@click.argument("file", type=click.Path(path_type=Path))
@_DRY_RUN
def import_blacklist_command(file: Path, dry_run: bool) -> int:
    """Blacklist / red-list rows from a CSV (header row) or JSON file; bad rows are reported by number."""
    from ..scoring.filings import read_blacklist_file
    from ..topic_io import produce

    valid, rejected = read_blacklist_file(file)
    for number, reason in rejected:
        print(f"{file}: row {number}: {reason}", file=sys.stderr)
    if valid and not dry_run:
        produce(get_settings(), "records", [rec for _, rec in valid])
    verb = "validated" if dry_run else "imported"
    print(f"{verb} {len(valid)} rows, rejected {len(rejected)}")
    return 1 if rejected else 0


def _file_record(rec, dry_run: bool) -> int:
    from ..topic_io import produce

    _print(rec.asdict())
    if not dry_run:
        produce(get_settings(), "records", [rec])
        print(f"sent to records (key {rec.city_adcode})", file=sys.stderr)
    return 0


@click.group("file")
def file_group() -> None:
    """File a completed credit task or an issued credit policy (-> records)."""


@file_group.command("task")
@click.option("--city", required=True)
@click.option("--task", "task_id", required=True, help="Task id from the checklist (citycredit/config/tasks.toml).")
@click.option("--ts", help="Completion time, ISO-8601 with offset or YYYY-MM-DD (default: now).")
@click.option("--note", default="")
@_DRY_RUN
def file_task_command(city: str, task_id: str, ts: str | None, note: str, dry_run: bool) -> int:
    """A task of the city's checklist completed."""
    from ..scoring.filings import task_record

    return _file_record(task_record(city, task_id, ts or _now(), note), dry_run)


@file_group.command("policy")
@click.option("--city", required=True)
@click.option("--title", required=True)
@click.option("--domain", type=click.Choice(tuple(DOMAINS)))
@click.option("--url", default="")
@click.option("--ts", help="Issue time, ISO-8601 with offset or YYYY-MM-DD (default: now).")
@_DRY_RUN
def file_policy_command(city: str, title: str, domain: str | None, url: str, ts: str | None, dry_run: bool) -> int:
    """A credit rule or standard the city issued."""
    from ..scoring.filings import policy_record

    return _file_record(policy_record(city, title, ts or _now(), domain, url), dry_run)


def _scorer(input_path: Path | None):
    from ..scoring import CityScorer
    from ..scoring.inputs import feed_lines
    from ..topic_io import scorer_from_broker

    if input_path is None:
        scorer, rejected = scorer_from_broker(get_settings())
        if rejected:
            print(f"{rejected} records on the topics were rejected (see the deadletter topic)", file=sys.stderr)
        return scorer
    scorer = CityScorer()
    for number, reason in feed_lines(scorer, read_lines(input_path)):
        print(f"{input_path}: line {number}: {reason}", file=sys.stderr)
    return scorer


@click.command("explain", epilog="""\b
examples:
  citycredit explain 苏州 --period 2026-05
  citycredit explain 320500 --change        # what moved the score since the month before
""")
@click.argument("city")
@_PERIOD
@INPUT
@click.option("--change", is_flag=True, help="Instead: the score's change since the month before and its three largest contributions.")
def explain_command(city: str, period: str | None, input_path: Path | None, change: bool) -> int:
    """Every component of a city's score with the items, alerts, responses and records behind it."""
    scorer = _scorer(input_path)
    _print(scorer.explain_change(city, period) if change else scorer.explain(city, period))
    return 0


def ranking_table(rows) -> str:
    """One line per city: the peer group's rank, the score and its parts, and the coverage: the
    share of the level points resting on measured aspects and the aspects nobody measured."""
    from ..ids import ASPECTS

    lines: list[str] = []
    peers = None
    for r in rows:
        if r["peers"] != peers:
            peers = r["peers"]
            lines.append(f"# {r['period']} {peers} ({r['of']} cities)")
            lines.append("rank\tcity\tadcode\tprovince\tscore\tpenalty\toffset\tmeasured\t未监测 (unmeasured aspects, their points)")
        cov = r["coverage"]
        unmeasured = "、".join(ASPECTS[a] for a in cov["unmeasured"])
        lines.append(f"{r['rank']}/{r['of']}\t{r['city']}\t{r['city_adcode']}\t{r['province']}\t{r['score']:.2f}\t"
                     f"{r['penalty']:.2f}\t{r['offset']:.2f}\t{cov['measured_share']:.0%}\t"
                     + (f"{unmeasured} ({cov['unmeasured_points']:.2f})" if unmeasured else "—"))
    return "".join(line + "\n" for line in lines)


@click.command("ranking", epilog="""\b
examples:
  citycredit ranking --period 2026-05 --table
  citycredit ranking --province 江苏 --group county_city --out ranking.json
""")
@_PERIOD
@click.option("--province", help="Only cities of this province (name or code): its prefecture-level cities "
                                 "ranked together, its county-level cities together.")
@click.option("--group", help="Only one peer group: core, prefecture, county_city (with --province: prefecture_level, county_city).")
@click.option("--table", is_flag=True, help="A text table (rank, score, how much rests on measured aspects, what is 未监测) instead of JSON.")
@INPUT
@click.option("--out", type=click.Path(path_type=Path), help="Write the ranking here instead of stdout.")
def ranking_command(period: str | None, province: str | None, group: str | None, table: bool,
                    input_path: Path | None, out: Path | None) -> int:
    """The city ranking (design.md Ranking format)."""
    from ..scoring.ranking import ranking_json

    scorer = _scorer(input_path)
    rows = scorer.ranking(period, province, group)
    text = ranking_table(rows) if table else ranking_json(rows)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


@click.command("disclosure")
@click.argument("action", type=click.Choice(["check", "poll"]))
@click.option("--city", multiple=True, help="Only this adcode (repeatable).")
@_DRY_RUN
def disclosure_command(action: str, city: tuple[str, ...], dry_run: bool) -> int:
    """Check the city credit websites for the disclosure columns (-> records): check once, or poll
    every CITYCREDIT_DISCLOSURE_INTERVAL seconds."""
    from streams.disclosure import run

    return run(get_settings(), once=action == "check", cities=list(city) or None, dry_run=dry_run)
