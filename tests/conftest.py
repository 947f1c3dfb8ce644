"""Shared fixtures. Tests that need the real broker take ``kafka``: a broker of their own,
on free ports in a temporary directory, stopped at the end of the test."""
from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.fernet import Fernet

from citycredit import broker
from citycredit.settings import Settings

os.environ.setdefault("CITYCREDIT_STORE", "memory://")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def full_tmpfs(root: Path) -> Iterator[bool]:
    """A 64 kB tmpfs mounted at ``root`` and filled to the last byte by ``root/filler``: the
    kernel, not the test, says "No space left on device". Yields False where it cannot be
    mounted (not root)."""
    mounted = hasattr(os, "geteuid") and os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(root)], capture_output=True).returncode == 0
    try:
        if mounted:
            with open(root / "filler", "wb", buffering=0) as fh:
                try:
                    while True:
                        fh.write(b"\0" * 4096)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA} (../shared/data beside the checkout)")
    return SHARED_DATA


def _start_broker(root: Path) -> Settings:
    from citycredit.admin import ensure_topics_sync

    port, cport = free_port(), free_port()
    settings = Settings.from_env().replace(
        data_dir=root, kafka_port=port, kafka_controller_port=cport,
        kafka_bootstrap=f"127.0.0.1:{port}", store="memory://",
    )
    broker.start(settings)
    ensure_topics_sync(settings)
    return settings


@pytest.fixture
def kafka(tmp_path_factory) -> Settings:
    """A real single-node KRaft broker of this test alone (~3 s to start), stopped after it.

    Not shared across tests: every worker a test starts reads its topics from the beginning,
    so on a shared broker each test would re-process (and re-emit from) every earlier test's
    records, and "the newest period" or "the only alert" would depend on test order."""
    settings = _start_broker(tmp_path_factory.mktemp("broker"))
    yield settings
    broker.stop(settings)


# One sealing key for every child process of the session: a restarted worker, or a second
# worker of the same app, must open the webhook secrets the first one sealed (an ephemeral
# development key is per process and would not).
SESSION_SECRET_KEY = Fernet.generate_key().decode()


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a child process (worker, poller) that uses ``settings``."""
    env = dict(os.environ)
    env.setdefault("CITYCREDIT_SECRET_KEY", SESSION_SECRET_KEY)
    env.update({
        "CITYCREDIT_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CITYCREDIT_DATA_DIR": str(settings.data_dir),
        "CITYCREDIT_STORE": settings.store,
        "CITYCREDIT_KAFKA_PORT": str(settings.kafka_port),
        "CITYCREDIT_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
    })
    env.update(extra)
    return env


def _partitions(cell: str) -> set[int]:
    """Faust's partition set as printed in its tables: "{0-1}", "{0, 2}", "{0, 2-3}"."""
    out: set[int] = set()
    for part in cell.strip("{} ").split(","):
        if part.strip():
            lo, _, hi = part.strip().partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    return out


class Worker:
    """A Faust worker running as its own process (``citycredit worker``)."""

    def __init__(self, settings: Settings, app_id: str | None = None, data_dir: Path | None = None, **env: str):
        self.app_id = app_id or f"citycredit-test-{uuid.uuid4().hex[:8]}"
        # a directory of its own unless a restart reuses one: two workers of one app are two
        # machines (their own log file, their own table stores)
        self.data_dir = data_dir or settings.data_dir / f"{self.app_id}-{uuid.uuid4().hex[:4]}"
        self.web_port = free_port()
        # unbuffered: a failing test shows the worker's log up to the moment it failed, not up to
        # the last full block
        self.env = settings_env(settings, CITYCREDIT_APP_ID=self.app_id, CITYCREDIT_DATA_DIR=str(self.data_dir),
                                CITYCREDIT_WEB_PORT=str(self.web_port), PYTHONUNBUFFERED="1", **env)
        self.log_path = self.data_dir / "worker.log"
        self._log_start = 0  # where this worker's part of the log begins (set by start())
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Worker":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # a restart on the same data dir appends to the log: this worker's part starts here
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "citycredit.cli", "worker"], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Ready once the worker logs that partitions were assigned and it is running. A fresh
        broker creates __consumer_offsets and every changelog topic first: on a loaded 2-core
        machine that took over 60 s once, hence the generous bound."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc and self.proc.poll() is None, f"worker exited: {self.log()}"
            if "[^Worker]: Ready" in self.log():
                return
            time.sleep(0.25)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        """What this worker process wrote (not an earlier worker on the same data dir)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def metric(self, name: str) -> float:
        """The sum of every series of the Prometheus metric ``name`` on this worker's /metrics
        (0.0 when it has none yet)."""
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith((name + " ", name + "{")))

    def assignments(self, group: str | None = None) -> list[dict[str, set[int]]]:
        """Every assignment of consumer group ``group`` (default: the app's own) this worker
        logged, oldest first, as {topic: partitions}: aiokafka's "Setting newly assigned
        partitions" line, which Faust prints as a table and ends with "for group <group>"."""
        group = group or self.app_id
        out: list[dict[str, set[int]]] = []
        rows: dict[str, set[int]] | None = None
        for line in self.log().splitlines():
            if "Setting newly assigned partitions" in line:
                rows = {}
            if rows is None:
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
            if len(cells) == 2 and cells[1].startswith("{"):
                rows[cells[0]] = _partitions(cells[1])
            if "for group " in line:
                if line.rstrip().endswith(f"for group {group}"):
                    out.append(rows)
                rows = None
        return out

    def kill(self, sig: int = 9) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_factory(kafka):
    """Makes workers on this test's broker; all are stopped at the end."""
    workers: list[Worker] = []

    def make(**kwargs) -> Worker:
        w = Worker(kafka, **kwargs)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()


# What a restart_race test is rerun for, and nothing else (pytest-rerunfailures matches these
# against "<exception type>: <message>"): a worker start, or the broker's restart, that ran past
# its bound. A failure of the test's own checks (a record lost, doubled, or unlike the replay)
# is not rerun.
START_TIMEOUTS = [r"^AssertionError: worker not ready in ", r"^BrokerError: the broker did not answer a metadata request within "]


def pytest_collection_modifyitems(config, items):
    """Crash/restart tests (marker ``restart_race``) are rerun up to twice, and only when a
    start timed out (``START_TIMEOUTS``); each rerun is reported.

    The race the marker is named for is found and fixed: Faust cleared the records it fetched
    while recovery sought the stream partitions (citycredit/faust_recovery.py), which lost
    sightings after a broker kill and the first record of a partition after a rebalance.
    Reruns of any failure hid such losses when they were rare, so they are now limited to
    what says nothing about the subject of these tests: a worker that did not log "Ready"
    within ``wait_ready``'s bound. On a fresh broker, its first worker's start includes the
    broker creating ``__consumer_offsets`` (50 partitions) on the first FindCoordinator and
    the worker creating every changelog topic and waiting until the metadata lists them; a
    restarted worker reads every changelog from its start (memory store) and, after a
    SIGKILL, cannot join before the dead member's session (10 s) expires. On a 2-core machine
    shared with another broker and worker these took over 60 s once. Such a start never
    reached the test's checks, and a rerun (a fresh broker) repeats the whole test. Each
    test's docstring names the starts it waits for. A test failing three times in a row
    still fails."""
    for item in items:
        if item.get_closest_marker("restart_race"):
            item.add_marker(pytest.mark.flaky(reruns=2, reruns_delay=2, only_rerun=START_TIMEOUTS))
