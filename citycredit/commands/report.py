"""citycredit report: the monthly city credit monitoring report as HTML, XLSX or PDF.

The facts come from the topics (read from the beginning, like ``ranking``), from a JSONL
log of items/alerts/responses/records (``--input``), or from a recorded timeline replayed
through the live logic (``--timeline``). A period with no data gives a valid report that
says so; an unknown scope or a bad period is one error line, exit 2.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..exceptions import InputError
from ..settings import get_settings

EXAMPLES = """examples:
  citycredit report --period 2026-11 --format pdf --out 2026-11.pdf
  citycredit report --period 2026-11 --scope 江苏 --format xlsx --out 江苏-2026-11.xlsx
  citycredit report --period 2026-01 --timeline timeline.jsonl --format html --out report.html
"""


def register(sub) -> None:
    import argparse

    from ..reporting import FORMATS, NATIONAL

    p = sub.add_parser("report", help="the monthly city credit monitoring report (HTML, XLSX or PDF)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--period", required=True, help="the calendar month, YYYY-MM")
    p.add_argument("--scope", default=NATIONAL, help=f"{NATIONAL} (default) or a province, by name (江苏) or code (32)")
    p.add_argument("--format", choices=FORMATS, help="default: from --out's suffix, else html")
    p.add_argument("--out", type=Path, help="write here (default: stdout for html)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--input", type=Path, help="a JSONL log of items/alerts/responses/records instead of the topics")
    src.add_argument("--timeline", type=Path, help="a recorded timeline (citycredit replay's input) instead of the topics")
    p.set_defaults(func=_report)


def _inputs(args):
    from ..reporting import ReportInputs

    inputs = ReportInputs()
    if args.timeline is not None:
        from ..detection import load_config
        from ..replay import Replay, read_timeline

        entries, errors = read_timeline(_read(args.timeline).splitlines())
        for _ in Replay(load_config(get_settings().detection_config), sinks=[inputs]).run(entries, errors):
            pass
        for err in sorted(errors, key=lambda e: e.lineno):
            print(err.render(str(args.timeline)), file=sys.stderr)
    elif args.input is not None:
        from ..scoring.inputs import feed_lines

        for number, reason in feed_lines(inputs, _read(args.input).splitlines()):
            print(f"{args.input}: line {number}: {reason}", file=sys.stderr)
    else:
        from ..scoring.inputs import feed
        from ..topic_io import records_from_broker

        records, unreadable = records_from_broker(get_settings())
        for rec in records:
            feed(inputs, rec)
        if unreadable:
            print(f"{unreadable} records on the topics were unreadable (see the deadletter topic)", file=sys.stderr)
    for reason in inputs.rejected:
        print(reason, file=sys.stderr)
    return inputs


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from exc


def _report(args) -> int:
    from ..reporting import build_report, render

    fmt = args.format or (args.out.suffix.lstrip(".").lower() if args.out and args.out.suffix else "html")
    if fmt not in ("html", "xlsx", "pdf"):
        raise InputError(f"format: cannot tell the format from {args.out.name}; give --format html|xlsx|pdf")
    if fmt != "html" and args.out is None:
        raise InputError(f"format {fmt} is binary: give --out FILE")
    report = build_report(_inputs(args), args.period, args.scope)
    data = render(report, fmt)
    if args.out is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        args.out.write_bytes(data)
        t = report["totals"]
        print(f"{args.out}: {report['title']}: {t['cities']} cities, {t['major_dishonesty']} major dishonesty events, "
              f"{t['early_warnings']} early warnings, {len(data)} bytes", file=sys.stderr)
    return 0
