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

from ..exceptions import InputError
from ..ids import DOMAINS, RESPONSE_KINDS
from ..settings import get_settings


def register(sub) -> None:
    p = sub.add_parser("respond", help="file a government response to a major dishonesty event (-> responses)")
    p.add_argument("--city", required=True, help="city name (苏州市) or adcode (320500)")
    p.add_argument("--story", required=True, help="story_id of the major dishonesty event (from the alert)")
    p.add_argument("--kind", required=True, choices=RESPONSE_KINDS)
    p.add_argument("--ts", help="when the response was made, ISO-8601 with offset (default: now)")
    p.add_argument("--title", default="")
    p.add_argument("--url", default="")
    p.add_argument("--note", default="")
    p.add_argument("--response-id", help="id of the response (default: derived, so filing twice counts once)")
    p.add_argument("--alerts", type=Path, help="known events from this alerts JSONL instead of the alerts topic")
    p.add_argument("--dry-run", action="store_true", help="validate and print, produce nothing")
    p.set_defaults(func=_respond)

    imp = sub.add_parser("import", help="import structured records (-> records)")
    imp_sub = imp.add_subparsers(dest="what", required=True)
    b = imp_sub.add_parser("blacklist", help="blacklist / red-list rows from a CSV (header row) or JSON file")
    b.add_argument("file", type=Path)
    b.add_argument("--dry-run", action="store_true", help="validate and report, produce nothing")
    b.set_defaults(func=_import_blacklist)

    f = sub.add_parser("file", help="file a completed credit task or an issued credit policy (-> records)")
    f_sub = f.add_subparsers(dest="what", required=True)
    t = f_sub.add_parser("task", help="a task of the city's checklist (citycredit/config/tasks.toml) completed")
    t.add_argument("--city", required=True)
    t.add_argument("--task", required=True, help="task id from the checklist")
    t.add_argument("--ts", help="completion time, ISO-8601 with offset or YYYY-MM-DD (default: now)")
    t.add_argument("--note", default="")
    t.add_argument("--dry-run", action="store_true")
    t.set_defaults(func=_file_task)
    pol = f_sub.add_parser("policy", help="a credit rule or standard the city issued")
    pol.add_argument("--city", required=True)
    pol.add_argument("--title", required=True)
    pol.add_argument("--domain", choices=tuple(DOMAINS))
    pol.add_argument("--url", default="")
    pol.add_argument("--ts", help="issue time, ISO-8601 with offset or YYYY-MM-DD (default: now)")
    pol.add_argument("--dry-run", action="store_true")
    pol.set_defaults(func=_file_policy)

    e = sub.add_parser("explain", help="every component of a city's score with the items, alerts, responses behind it")
    e.add_argument("city", help="city name or adcode")
    e.add_argument("--period", help="YYYY-MM or 12m:YYYY-MM (default: rolling 12 months to the newest event)")
    e.add_argument("--input", type=Path, help="a JSONL log of items/alerts/responses/records instead of the topics")
    e.add_argument("--change", action="store_true",
                   help="instead: the score's change since the month before and its three largest contributions")
    e.set_defaults(func=_explain)

    r = sub.add_parser("ranking", help="the city ranking (design.md Ranking format)")
    r.add_argument("--period", help="YYYY-MM or 12m:YYYY-MM (default: rolling 12 months to the newest event)")
    r.add_argument("--province", help="only cities of this province (name or code): its prefecture-level cities "
                                      "ranked together, its county-level cities together")
    r.add_argument("--group", help="only one peer group: core, prefecture, county_city "
                                   "(with --province: prefecture_level, county_city)")
    r.add_argument("--table", action="store_true",
                   help="a text table (rank, score, how much rests on measured aspects, what is 未监测) instead of JSON")
    r.add_argument("--input", type=Path, help="a JSONL log of items/alerts/responses/records instead of the topics")
    r.add_argument("--out", type=Path, help="write the ranking JSON here instead of stdout")
    r.set_defaults(func=_ranking)

    d = sub.add_parser("disclosure", help="check the city credit websites for the disclosure columns (-> records)")
    d.add_argument("action", choices=["check", "poll"], help="check: once; poll: every CITYCREDIT_DISCLOSURE_INTERVAL s")
    d.add_argument("--city", action="append", help="only this adcode (repeatable)")
    d.add_argument("--dry-run", action="store_true", help="print the records, produce nothing")
    d.set_defaults(func=_disclosure)


def _now() -> str:
    from ..scoring.periods import CST

    return datetime.now(CST).replace(microsecond=0).isoformat()


def _print(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _respond(args) -> int:
    from ..scoring.filings import known_events_from_alerts, validate_response
    from ..topic_io import produce, read_topics

    settings = get_settings()
    if args.alerts:
        try:
            lines = args.alerts.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"{args.alerts}: cannot read ({exc})") from exc
        alerts = [json.loads(line) for line in lines if line.strip()]
    else:
        alerts = []
        for _, _, value in read_topics(settings, ("alerts",)):
            try:
                alerts.append(json.loads(value))
            except ValueError:
                continue  # a bad alert record is the detection agent's dead letter, not ours
    payload = {"city": args.city, "story_id": args.story, "kind": args.kind, "ts": args.ts or _now(),
               "title": args.title, "url": args.url, "note": args.note, "source": "cli"}
    if args.response_id:
        payload["response_id"] = args.response_id
    resp = validate_response(payload, known_events_from_alerts(alerts))
    _print(resp.asdict())
    if not args.dry_run:
        produce(settings, "responses", [resp])
        print(f"sent to responses (key {resp.city_adcode})", file=sys.stderr)
    return 0


def _import_blacklist(args) -> int:
    from ..scoring.filings import read_blacklist_file
    from ..topic_io import produce

    valid, rejected = read_blacklist_file(args.file)
    for number, reason in rejected:
        print(f"{args.file}: row {number}: {reason}", file=sys.stderr)
    if valid and not args.dry_run:
        produce(get_settings(), "records", [rec for _, rec in valid])
    verb = "validated" if args.dry_run else "imported"
    print(f"{verb} {len(valid)} rows, rejected {len(rejected)}")
    return 1 if rejected else 0


def _file_record(rec, dry_run: bool) -> int:
    from ..topic_io import produce

    _print(rec.asdict())
    if not dry_run:
        produce(get_settings(), "records", [rec])
        print(f"sent to records (key {rec.city_adcode})", file=sys.stderr)
    return 0


def _file_task(args) -> int:
    from ..scoring.filings import task_record

    return _file_record(task_record(args.city, args.task, args.ts or _now(), args.note), args.dry_run)


def _file_policy(args) -> int:
    from ..scoring.filings import policy_record

    return _file_record(policy_record(args.city, args.title, args.ts or _now(), args.domain, args.url), args.dry_run)


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
    try:
        lines = input_path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{input_path}: cannot read ({exc})") from exc
    for number, reason in feed_lines(scorer, lines):
        print(f"{input_path}: line {number}: {reason}", file=sys.stderr)
    return scorer


def _explain(args) -> int:
    scorer = _scorer(args.input)
    _print(scorer.explain_change(args.city, args.period) if args.change else scorer.explain(args.city, args.period))
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


def _ranking(args) -> int:
    from ..scoring.ranking import ranking_json

    scorer = _scorer(args.input)
    rows = scorer.ranking(args.period, args.province, args.group)
    text = ranking_table(rows) if args.table else ranking_json(rows)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _disclosure(args) -> int:
    from streams.disclosure import run

    return run(get_settings(), once=args.action == "check", cities=args.city, dry_run=args.dry_run)
