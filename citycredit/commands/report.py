"""citycredit report: the monthly city credit monitoring report as HTML, XLSX or PDF.

The facts come from the topics (read from the beginning, like ``ranking``), from a JSONL
log of items/alerts/responses/records (``--input``), or from a recorded timeline replayed
through the live logic (``--timeline``). A period with no data gives a valid report that
says so; an unknown scope or a bad period is one error line, exit 2.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..exceptions import InputError
from ..jsonl import read_lines
from ..settings import get_settings
from . import INPUT

# citycredit.reporting.FORMATS (tests/unit/test_report.py checks they agree), written here so
# that building the CLI does not import matplotlib and Jinja2 for every command
FORMATS = ("html", "xlsx", "pdf")


def register(cli: click.Group) -> None:
    cli.add_command(report_command)


def _inputs(timeline: Path | None, input_path: Path | None):
    from ..reporting import ReportInputs

    inputs = ReportInputs()
    if timeline is not None:
        from ..detection import load_config
        from ..replay import Replay, read_timeline

        entries, errors = read_timeline(read_lines(timeline))
        for _ in Replay(load_config(get_settings().detection_config), sinks=[inputs]).run(entries, errors):
            pass
        for err in sorted(errors, key=lambda e: e.lineno):
            print(err.render(str(timeline)), file=sys.stderr)
    elif input_path is not None:
        from ..scoring.inputs import feed_lines

        for number, reason in feed_lines(inputs, read_lines(input_path)):
            print(f"{input_path}: line {number}: {reason}", file=sys.stderr)
    else:
        from ..topic_io import records_from_broker

        records, unreadable = records_from_broker(get_settings())
        inputs.feed(records)
        if unreadable:
            print(f"{unreadable} records on the topics were unreadable (see the deadletter topic)", file=sys.stderr)
    for reason in inputs.rejected:
        print(reason, file=sys.stderr)
    return inputs


@click.command("report", epilog="""\b
examples:
  citycredit report --period 2026-11 --format pdf --out 2026-11.pdf
  citycredit report --period 2026-11 --scope 江苏 --out 江苏-2026-11.xlsx
  citycredit report --period 2026-01 --timeline timeline.jsonl --out report.html
""")
@click.option("--period", required=True, help="The calendar month, YYYY-MM.")
@click.option("--scope", default="全国", show_default=True, help="全国 or a province, by name (江苏) or code (32).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from --out's suffix, else html.")
@click.option("--out", type=click.Path(path_type=Path), help="Write here (default: stdout, for html).")
@INPUT
@click.option("--timeline", type=click.Path(path_type=Path), help="A recorded timeline (citycredit replay's input) instead of the topics.")
def report_command(period: str, scope: str, fmt: str | None, out: Path | None, input_path: Path | None,
                   timeline: Path | None) -> int:
    """The monthly city credit monitoring report (月度城市信用状况监测报告) as HTML, XLSX or PDF."""
    from ..reporting import build_report, render

    if input_path is not None and timeline is not None:
        raise InputError("give --input or --timeline, not both")
    fmt = fmt or (out.suffix.lstrip(".").lower() if out and out.suffix else "html")
    if fmt not in FORMATS:
        raise InputError(f"format: cannot tell the format from {out.name}; give --format html|xlsx|pdf")
    if fmt != "html" and out is None:
        raise InputError(f"format {fmt} is binary: give --out FILE")
    report = build_report(_inputs(timeline, input_path), period, scope)
    data = render(report, fmt)
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        out.write_bytes(data)
        t = report["totals"]
        print(f"{out}: {report['title']}: {t['cities']} cities, {t['major_dishonesty']} major dishonesty events, "
              f"{t['early_warnings']} early warnings, {len(data)} bytes", file=sys.stderr)
    return 0
