"""`make bench` / `citycredit bench`: every benchmark of bench/ is run or said not to be one,
and a quick run of the benchmarks that need neither a broker nor ../shared/data yields one
table with every figure, its value and, where the script times a baseline, the ratio.

No timing is asserted (the project's rule: speed targets are figures printed against a
same-run baseline, never timed assertions): only that each figure is there and is a number.
The quick sizes take seconds; the broker and real-data benchmarks are left to `make bench`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from citycredit.commands.bench import load_runner

runner = load_runner()
BENCH = Path(runner.BENCH_DIR)

# figure -> whether its script times a baseline for it in the same run (then it has a ratio)
EXPECTED = {
    "bench_index.py": {
        "city index updates (facts + changed entries)": True,
        "city index changelog per update": False,
        "city index state as JSON": False,
        "city index ranking of every city": False,
        "city index explain one city": False,
        "busy city, last 1,000 updates": True,
        "busy city, changelog per update at the end": False,
    },
    "desk_readmodel.py": {
        "desk read model intake": True,
        "desk national ranking": False,
        "desk province ranking": False,
        "desk city page": False,
        "desk search": False,
    },
    "bench_poll.py": {
        "poll cycle, CPU (every page fetched and parsed)": True,
        "poll cycle, pages parsed per CPU second": False,
        "steady poll cycle (all 304), CPU": False,
    },
    "bench_spool.py": {
        "spool journal, 1 per enqueue": True,
        "spool journal + fsync, 1 per enqueue": True,
        "spool journal, 40 per enqueue": True,
        "spool journal + fsync, 40 per enqueue": True,
        "spool journal, added cost per record (40 per enqueue)": True,
        "spool replay after an outage": False,
    },
}
VALUE = re.compile(r"^-?[\d,]+(\.\d+)?( \S+)?$")  # 1,734 updates/s | 0.50 ms | 0.997
RATIO = re.compile(r"^(1/[\d,]+|[\d,]+(\.\d+)?x)$")  # 1/84 | 0.576x | 2.24x


def test_every_script_of_bench_is_run_or_said_not_to_be_a_benchmark():
    run = {b.script for b in runner.BENCHES}
    assert not run & set(runner.NOT_RUN)
    unaccounted = {p.name for p in BENCH.glob("*.py")} - run - set(runner.NOT_RUN)
    assert not unaccounted, f"add {unaccounted} to BENCHES (a speed benchmark) or NOT_RUN of bench/run_benchmarks.py"
    assert not (run | set(runner.NOT_RUN)) - {p.name for p in BENCH.glob("*.py")}, "a listed script is gone"


def test_the_speed_benchmarks_without_broker_or_shared_data_leave_no_figure_out():
    local = tuple(b for b in runner.BENCHES if not b.needs)
    assert {b.script for b in local} == set(EXPECTED), "a benchmark without needs has no expected figures here"
    rows, took = runner.collect(local, quick=True)
    assert set(took) == set(EXPECTED)
    assert not [r for r in rows if "failed" in r or "skipped" in r]

    got = {(r["script"], r["figure"]): r for r in rows}
    want = {(script, name) for script, names in EXPECTED.items() for name in names}
    assert set(got) == want
    for (script, name), row in got.items():
        assert isinstance(row["value"], (int, float)) and math.isfinite(row["value"]), (name, row)
        if EXPECTED[script][name]:
            assert row["baseline"] > 0 and row["ratio"] == pytest.approx(row["value"] / row["baseline"]), (name, row)
        else:
            assert row["baseline"] is None and row["ratio"] is None and row["note"], (name, row)

    # the printed table: one line a figure, with its value, and its ratio where there is a baseline
    lines = {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in runner.table(rows).splitlines()[2:]}
    assert len(lines) == len(rows) == len(want)
    for (script, name), row in got.items():
        cells = lines[name]
        assert VALUE.match(cells[1]), cells
        assert bool(RATIO.match(cells[3])) == EXPECTED[script][name], cells


def test_a_missing_need_is_a_skipped_row_that_says_why(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "SHARED", tmp_path / "absent")
    needs_data = tuple(b for b in runner.BENCHES if "shared" in b.needs)
    rows, _ = runner.collect(needs_data, quick=True)
    assert [r["script"] for r in rows] == [b.script for b in needs_data]
    assert all(str(tmp_path / "absent") in r["skipped"] for r in rows)
    assert all("skipped: " in line for line in runner.table(rows).splitlines()[2:])


def test_a_benchmark_that_fails_is_a_failed_row_and_the_run_exits_1(monkeypatch, tmp_path, capsys):
    (tmp_path / "broken.py").write_text("import sys\nprint('broker gone')\nsys.exit(3)\n", encoding="utf-8")
    monkeypatch.setattr(runner, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(runner, "BENCHES", (runner.Bench("broken.py", "a broken benchmark", ()),))
    assert runner.run(quick=True, write=tmp_path / "benchmarks.md") == 1
    assert "| a broken benchmark | FAILED: exit 3: broker gone |" in capsys.readouterr().out
    assert "FAILED: exit 3: broker gone" in (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
