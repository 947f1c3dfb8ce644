"""Each way the local broker can fail on a developer's machine gives one clear message naming the fix."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from citycredit import broker
from citycredit.admin import ensure_topics_sync
from citycredit.exceptions import BrokerError
from citycredit.settings import Settings
from tests.conftest import free_port


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings().replace(data_dir=tmp_path, kafka_port=free_port(), kafka_controller_port=free_port())


def test_missing_java_names_the_fix(settings, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match="Java not found.*CITYCREDIT_JAVA_HOME"):
        broker.java_binary(settings.replace(java_home=""))


def test_port_taken_names_the_port_and_the_setting(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", settings.kafka_port))
        s.listen()
        with pytest.raises(BrokerError, match=f"port {settings.kafka_port} is already taken.*CITYCREDIT_KAFKA_PORT"):
            broker.start(settings)


def test_half_formatted_storage_is_refused_with_the_reset_command(settings):
    storage = broker.paths_for(settings).storage
    storage.mkdir(parents=True)
    (storage / "bootstrap.checkpoint").write_text("partial")
    with pytest.raises(BrokerError, match="half-formatted.*citycredit broker reset"):
        broker.format_storage(settings, broker.paths_for(settings))


def test_no_broker_running_is_one_line_from_the_cli(settings):
    with pytest.raises(BrokerError, match="citycredit broker start"):
        ensure_topics_sync(settings.replace(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    env = {"CITYCREDIT_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "citycredit.cli", "topics", "create"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("citycredit: no Kafka broker answers")


def test_stop_when_nothing_runs_is_harmless(settings):
    assert broker.stop(settings) is False
    assert broker.status(settings)["running"] is False


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    """Regression: a random cluster id starting with "-" was parsed as an option by
    kafka-storage format, so about one broker start in 64 failed."""
    import uuid

    from citycredit import broker as broker_module

    dash = uuid.UUID(bytes=b"\xfb" + bytes(15))  # base64 of 0xfb... starts with "-"
    draws = iter([dash, uuid.UUID(int=1)])
    monkeypatch.setattr(broker_module.uuid, "uuid4", lambda: next(draws))
    cluster_id = broker_module.new_cluster_id()
    assert not cluster_id.startswith("-") and len(cluster_id) == 22
