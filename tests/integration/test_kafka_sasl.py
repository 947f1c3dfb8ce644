"""The product against a SASL_SSL listener (SCRAM-SHA-512 over TLS) of the real local broker.

The compose deployment runs Kafka this way (issue 14 item 1); here the local broker opens the
same kind of listener beside its PLAINTEXT one (CITYCREDIT_KAFKA_SASL_PORT), with certificates
from citycredit.kafka_tls (what ops/make_kafka_certs.py writes) and its SCRAM user added when
the storage is formatted. The same settings switch every client: a wrong password is one clear
line from the CLI, the right one runs the worker and carries records both ways."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from citycredit import broker
from citycredit.admin import ensure_topics_sync
from citycredit.exceptions import BrokerError
from citycredit.kafka_client import client_args
from citycredit.settings import Settings
from schemas import Observation
from streams.publisher import Publisher, observation_record
from tests.conftest import Worker, free_port, settings_env

pytestmark = pytest.mark.broker

USER, PASSWORD = "citycredit", "right-Pa55word"


@pytest.fixture(scope="module")
def sasl_kafka(tmp_path_factory):
    """(client settings on the SASL_SSL listener, the broker's settings)."""
    port, cport, sasl_port = free_port(), free_port(), free_port()
    served = Settings.from_env().replace(
        data_dir=tmp_path_factory.mktemp("sasl-broker"), kafka_port=port, kafka_controller_port=cport,
        kafka_sasl_port=sasl_port, kafka_bootstrap=f"127.0.0.1:{port}", store="memory://",
        kafka_username=USER, kafka_password=PASSWORD)
    broker.start(served)
    client = served.replace(kafka_bootstrap=f"127.0.0.1:{sasl_port}", kafka_security_protocol="SASL_SSL",
                            kafka_ca_file=str(broker.tls_files(served).ca_cert))
    try:
        yield client, served
    finally:
        broker.stop(served)


def _sasl_env(client: Settings, **changes: str) -> dict[str, str]:
    env = settings_env(client, CITYCREDIT_KAFKA_SECURITY_PROTOCOL="SASL_SSL", CITYCREDIT_KAFKA_USERNAME=USER,
                       CITYCREDIT_KAFKA_PASSWORD=PASSWORD, CITYCREDIT_KAFKA_CA_FILE=client.kafka_ca_file)
    env.update(changes)
    return env


def test_a_wrong_password_is_one_clear_line_from_the_worker(sasl_kafka, tmp_path):
    client, _ = sasl_kafka
    env = _sasl_env(client, CITYCREDIT_KAFKA_PASSWORD="wrong-password", CITYCREDIT_DATA_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "citycredit.cli", "worker"], env=env, capture_output=True, text=True,
                          timeout=180)
    print(proc.stderr)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "wrong-password" not in proc.stderr + proc.stdout
    assert proc.stderr.strip().splitlines() == [
        f"citycredit: Kafka rejected the SASL credentials for user {USER}: check CITYCREDIT_KAFKA_PASSWORD"]


def test_an_untrusted_certificate_and_a_plaintext_client_are_named(sasl_kafka):
    client, _ = sasl_kafka
    with pytest.raises(BrokerError, match="TLS certificate .* not trusted.*CITYCREDIT_KAFKA_CA_FILE"):
        ensure_topics_sync(client.replace(kafka_ca_file=""))  # the system CAs do not know ours
    with pytest.raises(BrokerError, match="no Kafka broker answers"):
        ensure_topics_sync(client.replace(kafka_security_protocol="PLAINTEXT"))


def test_with_the_right_password_the_worker_runs_and_records_go_both_ways(sasl_kafka, tmp_path):
    client, _ = sasl_kafka
    assert ensure_topics_sync(client) is not None  # topics created over SASL_SSL
    worker = Worker(client, data_dir=tmp_path / "worker", **{k: v for k, v in _sasl_env(client).items()
                                                             if k.startswith("CITYCREDIT_KAFKA_")})
    worker.start()
    try:
        worker.wait_ready()  # Faust joined its group and recovered its tables over SASL_SSL
        assert PASSWORD not in worker.log()
        obs = Observation(ts="2032-01-02T08:00:00+08:00", site="cnr", surface="homepage", title="江阴通报一起失信案件",
                          url="http://news.cnr.cn/native/gd/20320102/t20320102_sasl.shtml", rank=None, summary=None,
                          change="appeared")
        got = asyncio.run(_publish_and_read(client, tmp_path, obs))
        assert got == [obs.url]
        # the index CLI's reader takes the same arguments
        from citycredit.topic_io import read_topics
        assert [json.loads(v)["url"] for _, _, v in read_topics(client, ("sightings",))] == [obs.url]
        assert worker.proc.poll() is None, worker.log()[-3000:]
    finally:
        worker.stop()


async def _publish_and_read(client: Settings, tmp_path, obs: Observation) -> list[str]:
    from aiokafka import AIOKafkaConsumer

    from citycredit.kafka_client import security_args

    publisher = Publisher(client.kafka_bootstrap, spool=tmp_path / "spool.jsonl", security=security_args(client))
    publisher.start()
    publisher.enqueue([observation_record(obs)])
    assert await publisher.flush(60) and publisher.broker_up
    await publisher.close()
    consumer = AIOKafkaConsumer("sightings", **client_args(client), auto_offset_reset="earliest", group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    got: list[str] = []
    try:
        for _ in range(40):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                got += [json.loads(r.value)["url"] for r in batch]
            if got:
                break
    finally:
        await consumer.stop()
    return got
