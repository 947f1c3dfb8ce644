"""The compose deployment's Kafka, run here without Docker: ops/kafka/compose-start.sh with the
kafka service's environment from docker-compose.yml (only the addresses and paths moved onto
this machine), the secrets ops/make_kafka_certs.py writes, and the local broker's jars behind
the /opt/kafka/bin script names. Then ops/kafka/compose-acls.sh, and each principal tries what
it may and may not do (issue 14 item 1: pollers write only sightings/source-health, only the
worker, where the API runs, writes responses and records, nobody unauthenticated gets in)."""
from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from citycredit import broker
from citycredit.admin import ensure_topics_sync
from citycredit.exceptions import BrokerError
from citycredit.kafka_client import client_args
from citycredit.settings import PROJECT_ROOT, Settings
from tests.conftest import free_port

pytestmark = pytest.mark.broker

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
TOOLS = {"kafka-storage.sh": "kafka.tools.StorageTool", "kafka-server-start.sh": "kafka.Kafka",
         "kafka-acls.sh": "kafka.admin.AclCommand"}


def _fake_kafka_bin(settings: Settings, root) -> str:
    """/opt/kafka/bin/<tool>.sh as scripts running the local broker's jars."""
    bindir = root / "bin"
    bindir.mkdir()
    paths = broker.BrokerPaths(root)
    for name, main in TOOLS.items():
        heap = settings.kafka_heap if main == "kafka.Kafka" else None
        (bindir / name).write_text(f"#!/bin/sh\nexec {shlex.join(broker.java_cmd(settings, paths, main, heap=heap))} \"$@\"\n")
        (bindir / name).chmod(0o755)
    return str(bindir)


def _secrets(root) -> str:
    """The compose secrets under their names, pointing at what the ops script wrote."""
    from ops.make_kafka_certs import main as make_certs  # noqa: PLC0415

    made = root / "made"
    assert make_certs(["--out", str(made), "--host", "localhost"]) == 0
    secrets = root / "secrets"
    secrets.mkdir()
    for name, spec in COMPOSE["secrets"].items():
        source = PROJECT_ROOT / spec["file"]
        (secrets / name).symlink_to(made / source.relative_to(PROJECT_ROOT / "ops" / "secrets"))
    return str(secrets)


@pytest.fixture(scope="module")
def compose_kafka(tmp_path_factory):
    root = tmp_path_factory.mktemp("compose-kafka")
    port, cport = free_port(), free_port()
    settings = Settings.from_env().replace(data_dir=root, kafka_port=port, kafka_controller_port=cport)
    broker.fetch(settings)
    kafka_bin, secrets = _fake_kafka_bin(settings, root), _secrets(root)
    env = {k: str(v).replace("/run/secrets", secrets) for k, v in COMPOSE["services"]["kafka"]["environment"].items()}
    env.update({  # the compose values but for where it listens and keeps its data
        "KAFKA_LISTENERS": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://localhost:{cport}",
        "KAFKA_ADVERTISED_LISTENERS": f"SASL_SSL://127.0.0.1:{port}",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@localhost:{cport}",
        "KAFKA_LOG_DIRS": str(root / "data"),
        "PATH": os.environ["PATH"], "HOME": str(root), "KAFKA_BIN": kafka_bin, "SECRETS": secrets,
        "CONF": str(root / "server.properties"), "ADMIN_CLIENT": str(root / "admin-client.properties"),
    })
    with open(root / "broker.log", "ab") as log:
        proc = subprocess.Popen(["bash", str(PROJECT_ROOT / "ops" / "kafka" / "compose-start.sh")], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    client = Settings().replace(kafka_bootstrap=f"127.0.0.1:{port}", kafka_security_protocol="SASL_SSL",
                                kafka_ca_file=f"{secrets}/kafka_ca", store="memory://")
    users = {p: client.replace(kafka_username=p, kafka_password_file=f"{secrets}/kafka_{p}_password")
             for p in ("admin", "worker", "pollers")}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (root / "broker.log").read_text()[-3000:]
            try:
                ensure_topics_sync(users["admin"], ())
                break
            except BrokerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        acls = subprocess.run(["bash", str(PROJECT_ROOT / "ops" / "kafka" / "compose-acls.sh")], capture_output=True,
                              text=True, timeout=300,
                              env={"PATH": os.environ["PATH"], "KAFKA_BIN": kafka_bin, "SECRETS": secrets,
                                   "CLIENT": str(root / "acl-client.properties"),
                                   "KAFKA_BOOTSTRAP": f"127.0.0.1:{port}", "CITYCREDIT_APP_ID": "citycredit"})
        assert acls.returncode == 0, acls.stdout + acls.stderr
        assert ensure_topics_sync(users["admin"])  # the topics service's step, as admin
        yield users
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


async def _produce(settings: Settings, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**client_args(settings), acks="all", enable_idempotence=True, request_timeout_ms=10000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, b"{}", key=b"k"), 20)
    finally:
        await producer.stop()


async def _read(settings: Settings, topic: str) -> tuple[set[str], int]:
    """(the topics this principal sees, the records it reads from ``topic``)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(**client_args(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        visible = await consumer.topics()
        if topic not in visible:
            return visible, 0
        consumer.subscribe(topics=[topic])  # without a group: every partition
        got = 0
        for _ in range(10):
            got += sum(len(v) for v in (await consumer.getmany(timeout_ms=500)).values())
        return visible, got
    finally:
        await consumer.stop()


def test_pollers_write_only_their_topics(compose_kafka):
    from aiokafka.errors import TopicAuthorizationFailedError

    pollers = compose_kafka["pollers"]
    asyncio.run(_produce(pollers, "sightings"))
    asyncio.run(_produce(pollers, "source-health"))
    for topic in ("responses", "records", "alerts"):
        with pytest.raises(TopicAuthorizationFailedError):
            asyncio.run(_produce(pollers, topic))
    # they see no topic but their own, so not subscriptions, where the webhook secrets live
    asyncio.run(_produce(compose_kafka["worker"], "subscriptions"))
    visible, got = asyncio.run(_read(pollers, "subscriptions"))
    assert visible == {"sightings", "source-health"} and got == 0
    assert asyncio.run(_read(compose_kafka["worker"], "subscriptions"))[1] >= 1


def test_the_worker_writes_responses_and_records_and_reads_sightings(compose_kafka):
    worker = compose_kafka["worker"]
    for topic in ("responses", "records", "items"):
        asyncio.run(_produce(worker, topic))
    visible, _ = asyncio.run(_read(worker, "sightings"))
    assert {"sightings", "responses", "records", "subscriptions"} <= visible
    # the worker's own startup step (topics plus its changelogs) passes under its ACLs
    assert ensure_topics_sync(worker) == []


def test_a_wrong_password_and_no_login_get_nothing(compose_kafka):
    worker = compose_kafka["worker"]
    with pytest.raises(BrokerError, match="Kafka rejected the SASL credentials for user worker: check CITYCREDIT_KAFKA_PASSWORD"):
        ensure_topics_sync(worker.replace(kafka_password="not-the-password"))
    with pytest.raises(BrokerError, match="no Kafka broker answers"):
        ensure_topics_sync(worker.replace(kafka_security_protocol="PLAINTEXT"))


def test_the_faust_worker_runs_under_its_acls(compose_kafka, tmp_path):
    """Group, changelogs and Faust's internal topics are all allowed by the app-id prefix: the
    worker gets Ready as the worker principal. The pollers' start step passes as theirs."""
    from citycredit.topics import SIGHTINGS, SOURCE_HEALTH
    from tests.conftest import Worker

    assert ensure_topics_sync(compose_kafka["pollers"], (SIGHTINGS, SOURCE_HEALTH)) == []
    worker = compose_kafka["worker"]
    env = {"CITYCREDIT_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CITYCREDIT_KAFKA_USERNAME": "worker",
           "CITYCREDIT_KAFKA_PASSWORD_FILE": worker.kafka_password_file, "CITYCREDIT_KAFKA_CA_FILE": worker.kafka_ca_file}
    w = Worker(worker.replace(data_dir=tmp_path), **env)  # app id citycredit-test-<random>: under the prefix
    w.start()
    try:
        w.wait_ready()
        time.sleep(3)
        denied = [line for line in w.log().splitlines() if "authoriz" in line.lower()]
        assert w.proc.poll() is None and not denied, denied[:5] or w.log()[-3000:]
    finally:
        w.stop()
