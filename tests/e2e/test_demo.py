"""`citycredit demo --duration`: the README's product command, run bounded exactly as
`make demo` runs it — it starts its own broker (free ports, temp dir), the worker, the
recorded sites and the pollers, prints where to look, and stops everything it started."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from citycredit import broker
from citycredit.settings import Settings
from tests.conftest import free_port

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_demo_runs_bounded_and_stops_cleanly(tmp_path):
    web_port, sites_port, kport, cport = free_port(), free_port(), free_port(), free_port()
    env = dict(os.environ, CITYCREDIT_DATA_DIR=str(tmp_path), CITYCREDIT_WEB_PORT=str(web_port),
               CITYCREDIT_SITES_PORT=str(sites_port), CITYCREDIT_KAFKA_PORT=str(kport),
               CITYCREDIT_KAFKA_CONTROLLER_PORT=str(cport), CITYCREDIT_KAFKA_BOOTSTRAP=f"127.0.0.1:{kport}",
               CITYCREDIT_KAFKA_HEAP="256m", CITYCREDIT_POLL_METRICS_PORT="0")
    try:
        proc = subprocess.run([sys.executable, "-m", "citycredit.cli", "demo", "--duration", "45", "--speed", "1500"],
                              env=env, capture_output=True, text=True, timeout=240)
    finally:  # whatever happened, no broker of this test outlives it
        broker.stop(Settings().replace(data_dir=tmp_path / "demo", kafka_port=kport, kafka_controller_port=cport))
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"broker ready at 127.0.0.1:{kport}" in out
    assert f"desk:        http://127.0.0.1:{web_port}/desk/" in out
    assert "frame 35/35" in out and out.rstrip().endswith("demo stopped")
    published = int(out.split("observations published: ")[1].split()[0])
    classified = int(out.split("items classified by the worker: ")[1].split(";")[0])
    rejected = int(out.split("observations rejected: ")[1].split(";")[0])
    print(f"\nDEMO published {published}, classified {classified}, rejected {rejected}; "
          f"{out.split('observations published: ')[1].splitlines()[1]}")
    assert published > 1000
    # the worker (the demo's subprocess) turned every sighting into an item or dead-lettered it:
    # the demo waits for it to catch up before stopping, so none may be missing
    assert classified + rejected == published, (published, classified, rejected, out[-1500:],
                                                (tmp_path / "demo" / "worker.log").read_text()[-2000:])
    # nothing left running: the broker, worker and recorded-sites ports are free again
    for port in (kport, web_port, sites_port):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
