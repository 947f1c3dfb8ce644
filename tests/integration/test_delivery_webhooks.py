"""Webhook delivery on the real broker: a local receiver that fails its first calls still
gets every matching alert exactly once, signed, in event-time order; the failed tries
leave a dead-letter record; alerts that do not match the filters never arrive."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from citycredit.alerting.subscriptions import WebhookVerificationError, verify
from tests.conftest import free_port
from tests.integration.desk_helpers import call, produce, wait_delivery_settled, wait_for
from tests.integration.kafka_console import console_consume

pytestmark = pytest.mark.broker
TOKEN = "webhook-test-token-0123456789"


class Receiver:
    """A subscriber's endpoint that answers 503 to its first ``fail_first`` calls."""

    def __init__(self, fail_first: int, port: int | None = None) -> None:
        self.fail_first = fail_first
        self.calls: list[dict] = []
        self.accepted: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # "at": verified as of its arrival; the test looks at it minutes later
                call = {"headers": dict(self.headers), "body": body, "at": time.time()}
                receiver.calls.append(call)
                ok = len(receiver.calls) > receiver.fail_first
                if ok:
                    receiver.accepted.append(call)
                self.send_response(200 if ok else 503)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = port or free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def alert(n: int, city: str, adcode: str, province: str, type_: str = "major_dishonesty") -> dict:
    return {"type": type_, "story_id": f"s-webhook-{n:02d}", "city": city, "city_adcode": adcode, "domain": "business",
            "trigger": "homepages", "sites": ["people", "xinhua", "cctv"], "first_seen": f"2026-02-03T0{n % 10}:00:00+08:00",
            "triggered_at": f"2026-02-03T{10 + n:02d}:00:00+08:00", "title": f"第{n}条 无锡企业拖欠工资 <b>x</b>",
            "urls": [f"http://example.com/{n}"], "province": province, "subfield": "wages_social_insurance"}


def test_receiver_down_at_first_gets_every_alert_once_signed_in_order(kafka, worker_factory):
    receiver = Receiver(fail_first=5)
    worker = worker_factory(CITYCREDIT_API_TOKEN=TOKEN, CITYCREDIT_WEBHOOK_ALLOW_PRIVATE="true",
                            CITYCREDIT_WEBHOOK_MAX_ATTEMPTS="3", CITYCREDIT_WEBHOOK_BACKOFF_BASE="0.2",
                            CITYCREDIT_WEBHOOK_BACKOFF_MAX="1.5").start()
    worker.wait_ready()
    try:
        status, sub = call(worker.web_port, "POST", "/api/subscriptions", token=TOKEN, body={
            "url": f"http://127.0.0.1:{receiver.port}/hook", "label": "无锡市信用办",
            "filters": {"cities": ["320200"], "types": ["major_dishonesty", "early_warning"]}})
        assert status == 201, sub
        wait_for(lambda: any(s["id"] == sub["id"] for s in call(worker.web_port, "GET", "/api/subscriptions", token=TOKEN)[1]["rows"]),
                 30, "the subscription to reach the desk", worker.log)

        wanted = [alert(n, "无锡市", "320200", "江苏省") for n in range(6)]
        noise = [alert(10, "苏州市", "320500", "江苏省"), alert(11, "无锡市", "320200", "江苏省", "major_trustworthy")]
        # Produced out of event-time order, across partitions (keys are story ids):
        # the receiver must still see them in event-time order.
        order = [wanted[2], noise[0], wanted[0], wanted[1], noise[1], wanted[5], wanted[3], wanted[4]]
        produce(kafka.kafka_bootstrap, "alerts", [(a["story_id"], a) for a in order] + [("s-bad", b'{"type": "nonsense"}')])

        wait_for(lambda: len(receiver.accepted) >= len(wanted), 120, "six deliveries", worker.log)  # generous: a loaded 2-core CI
        # every alert routed, every routed alert in the outbox, the outbox empty: nothing is left
        # that could bring a duplicate or a noise alert, so counting now counts everything
        wait_delivery_settled(kafka.kafka_bootstrap, worker)

        bodies = [json.loads(c["body"]) for c in receiver.accepted]
        assert [b["story_id"] for b in bodies] == [a["story_id"] for a in wanted]          # in order, once each
        assert bodies == wanted                                                            # the design.md Alert, as produced
        keys = [c["headers"]["Idempotency-Key"] for c in receiver.accepted]
        assert len(set(keys)) == len(keys)
        for c in receiver.accepted:
            h = c["headers"]
            assert verify(sub["secret"], h, c["body"], now=c["at"]) == h["Idempotency-Key"]
            with pytest.raises(WebhookVerificationError, match="does not match"):
                verify("another-secret-of-someone", h, c["body"], now=c["at"])
        # The first five calls failed: three tries on the head alert -> a dead-letter record, then probes.
        assert len(receiver.calls) == len(wanted) + 5

        dead = [json.loads(line.split("\t", 1)[1]) for line in
                console_consume(kafka, "deadletter", max_messages=50, timeout_ms=15000)]
        stages = {d["stage"] for d in dead}
        assert "deliver_alerts" in stages and "route_alerts" in stages, dead
        reason = next(d["reason"] for d in dead if d["stage"] == "deliver_alerts" and sub["id"] in d["reason"])
        assert "failed 3 tries" in reason and "HTTP 503" in reason

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/metrics").read().decode()
        assert 'citycredit_webhook_deliveries_total{result="delivered"} 6.0' in metrics
    finally:
        # Later tests share the subscriptions topic: leave no subscriber pointing at a closed port.
        for s in call(worker.web_port, "GET", "/api/subscriptions", token=TOKEN)[1]["rows"]:
            call(worker.web_port, "DELETE", f"/api/subscriptions/{s['id']}", token=TOKEN)
        receiver.close()


# a receiver that is down fails fast: two tries, then the subscription is marked down and probed every second
OUTAGE_ENV = dict(CITYCREDIT_API_TOKEN=TOKEN, CITYCREDIT_WEBHOOK_ALLOW_PRIVATE="true", CITYCREDIT_WEBHOOK_MAX_ATTEMPTS="2",
                  CITYCREDIT_WEBHOOK_BACKOFF_BASE="0.2", CITYCREDIT_WEBHOOK_BACKOFF_MAX="1.0")


def outage(kafka, worker_factory, queued: int, total: int):
    """A worker (``OUTAGE_ENV``) with a subscription of 徐州 (320300) alerts to a port nobody
    listens on, and ``total`` such alerts of which the first ``queued`` are produced and wait
    in its outbox. Returns (worker, subscription, port, alerts)."""
    port = free_port()
    worker = worker_factory(**OUTAGE_ENV).start()
    worker.wait_ready()
    status, sub = call(worker.web_port, "POST", "/api/subscriptions", token=TOKEN, body={
        "url": f"http://127.0.0.1:{port}/hook", "filters": {"cities": ["320300"]}})
    assert status == 201, sub
    wait_for(lambda: any(s["id"] == sub["id"] for s in call(worker.web_port, "GET", "/api/subscriptions", token=TOKEN)[1]["rows"]),
             30, "the subscription to reach the desk", worker.log)
    alerts = [alert(n, "徐州市", "320300", "江苏省") for n in range(total)]
    produce(kafka.kafka_bootstrap, "alerts", [(a["story_id"], a) for a in alerts[:queued]])
    wait_for(lambda: worker.metric("citycredit_webhook_outbox_alerts") == queued, 30, f"{queued} queued alerts", worker.log)
    return worker, sub, port, alerts


@pytest.mark.restart_race
def test_outbox_survives_a_worker_restart_during_the_outage(kafka, worker_factory):
    """The subscriber is down, the worker is stopped with alerts queued, more alerts arrive
    while no worker runs; a new worker (memory store: nothing on disk) recovers the outbox
    from its changelog and the receiver, once back, gets every alert of the outage once, in
    order. (A SIGKILLed worker behaves the same once Kafka expires its group membership,
    after the session timeout; a graceful stop leaves the group at once.)

    Rerun (restart_race) only when a worker start ran past its bound (tests/conftest.py): the
    first worker's start on a fresh broker (``__consumer_offsets`` and every changelog topic
    are created first), and the restarted worker's recovery of every changelog from offset 0
    (memory store). A delivery lost, doubled or out of order fails at once."""
    first, sub, rport, alerts = outage(kafka, worker_factory, queued=5, total=7)
    first.stop()
    produce(kafka.kafka_bootstrap, "alerts", [(a["story_id"], a) for a in alerts[5:]])

    receiver = Receiver(fail_first=0, port=rport)
    second = worker_factory(app_id=first.app_id, data_dir=first.data_dir, **OUTAGE_ENV).start()
    try:
        second.wait_ready()
        wait_for(lambda: len(receiver.accepted) >= len(alerts), 120, "seven deliveries after the restart", second.log)
        wait_delivery_settled(kafka.kafka_bootstrap, second)  # nothing left that could deliver a repeat
        bodies = [json.loads(c["body"]) for c in receiver.accepted]
        assert [b["story_id"] for b in bodies] == [a["story_id"] for a in alerts]
        for c in receiver.accepted:
            h = c["headers"]
            assert verify(sub["secret"], h, c["body"], now=c["at"]) == h["Idempotency-Key"]
    finally:
        call(second.web_port, "DELETE", f"/api/subscriptions/{sub['id']}", token=TOKEN)
        receiver.close()


def partition_of(bootstrap: str, topic: str, key_part: str) -> int:
    """The partition of the first record of ``topic`` whose key contains ``key_part``."""
    async def run() -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            cluster = await consumer._client.fetch_all_metadata()  # the consumer subscribes to nothing
            parts = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    if any(key_part.encode() in (r.key or b"") for r in records):
                        return tp.partition
            raise AssertionError(f"no record keyed {key_part!r} on {topic}")
        finally:
            await consumer.stop()
    import asyncio
    return asyncio.run(run())


def test_two_workers_deliver_each_queued_alert_once_after_the_outbox_moves(kafka, worker_factory):
    """Webhook delivery across two workers of one app: alerts queue for a receiver that is down
    on the first worker; a second joins; the subscription's outbox partition then moves to the
    other worker (with the join, or when the first worker leaves if the join did not move it).
    Once the receiver is back it gets every queued alert once, in order.

    Failed both ways before the outbox followed rebalances, in 4 of 4 runs: when the join moved
    the partition, both workers' outbox gauges read 4 for the 4 queued alerts and the receiver
    got 7 or 8 deliveries, the losing worker's stale sender repeating them (same Idempotency-Key);
    when the first worker's leave moved it, the second never indexed the queued alerts and the
    four were not delivered within 60 s."""
    first, sub, rport, alerts = outage(kafka, worker_factory, queued=4, total=4)
    partition = partition_of(kafka.kafka_bootstrap, "deliveries", sub["id"])

    second = worker_factory(app_id=first.app_id, **OUTAGE_ENV).start()
    second.wait_ready()
    wait_for(lambda: len(first.assignments()) >= 2 and second.assignments()
             and not first.assignments()[-1]["deliveries"] & second.assignments()[-1]["deliveries"],
             30, "the two workers to split deliveries", second.log)
    workers = [first, second]
    moved = partition in second.assignments()[-1]["deliveries"]
    print(f"\nDELIVERY two workers: deliveries partition {partition} {'moved at the join' if moved else 'moves as the first leaves'}")
    if not moved:  # the first worker leaves
        first.stop()
        wait_for(lambda: len(second.assignments()) >= 2 and partition in second.assignments()[-1]["deliveries"], 60,
                 "the second worker to take the subscription's partition", second.log)
        workers = [second]

    receiver = Receiver(fail_first=0, port=rport)
    try:
        wait_for(lambda: len(receiver.accepted) >= len(alerts), 60, "four deliveries after the move", workers[-1].log)
        for w in workers:
            wait_delivery_settled(kafka.kafka_bootstrap, w)
        assert [json.loads(c["body"])["story_id"] for c in receiver.accepted] == [a["story_id"] for a in alerts]
    finally:
        receiver.close()
