"""企业微信, 钉钉 and email subscribers on the real broker, across a worker SIGKILLed between
enqueue and delivery: the channel is down while alerts queue, the worker is killed, a new
worker (same app, memory store: the outbox comes back from its changelog alone) delivers
every alert once, in order, when the channel is back. Local servers only: a robot endpoint
that checks the format and the 钉钉 signature (tests/unit/test_robots.py), and aiosmtpd."""
from __future__ import annotations

import email
import re
import signal
import urllib.request
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port
from tests.integration.desk_helpers import call, produce, wait_delivery_settled, wait_for
from tests.integration.test_delivery_webhooks import alert
from tests.unit.test_robots import ROBOT_SECRET, RobotServer

pytestmark = pytest.mark.broker
TOKEN = "channel-test-token-0123456789"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def _stories(texts: list[str]) -> list[str]:
    return [m.group(0) for t in texts for m in [re.search(r"第\d+条", t)] if m]


@pytest.mark.parametrize("kind", ["wecom", "dingtalk", "email"])
def test_a_channel_gets_every_alert_once_after_the_worker_is_killed(kafka, worker_factory, kind):
    port = free_port()
    env = dict(CITYCREDIT_API_TOKEN=TOKEN, CITYCREDIT_WEBHOOK_ALLOW_PRIVATE="true", CITYCREDIT_WEBHOOK_MAX_ATTEMPTS="2",
               CITYCREDIT_WEBHOOK_BACKOFF_BASE="0.2", CITYCREDIT_WEBHOOK_BACKOFF_MAX="1.0", CITYCREDIT_STORE="memory://",
               CITYCREDIT_SMTP_HOST="127.0.0.1", CITYCREDIT_SMTP_PORT=str(port), CITYCREDIT_SMTP_TLS="none")
    first = worker_factory(**env).start()
    first.wait_ready()
    body = ({"kind": "email", "url": "mailto:officer@example.gov.cn"} if kind == "email" else
            {"kind": kind, "url": (f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=robot-key" if kind == "wecom"
                                   else f"http://127.0.0.1:{port}/robot/send?access_token=robot-token")})
    if kind == "dingtalk":
        body["secret"] = ROBOT_SECRET
    status, sub = call(first.web_port, "POST", "/api/subscriptions", token=TOKEN, body={**body, "filters": {"cities": ["320300"]}})
    assert status == 201 and "secret" not in sub, sub
    wait_for(lambda: any(s["id"] == sub["id"] for s in call(first.web_port, "GET", "/api/subscriptions", token=TOKEN)[1]["rows"]),
             30, "the subscription to reach the desk", first.log)
    alerts = [alert(n, "徐州市", "320300", "江苏省") for n in range(5)]
    produce(kafka.kafka_bootstrap, "alerts", [(a["story_id"], a) for a in alerts])
    # nothing listens on the channel's port: the five alerts wait in the outbox
    wait_for(lambda: "citycredit_webhook_outbox_alerts 5.0" in urllib.request.urlopen(
        f"http://127.0.0.1:{first.web_port}/metrics").read().decode(), 60, "five queued alerts", first.log)
    first.kill(signal.SIGKILL)

    if kind == "email":
        mailbox = Mailbox()
        server = Controller(mailbox, hostname="127.0.0.1", port=port)
        server.start()
        received = lambda: [m["Subject"] for m in mailbox.messages]  # noqa: E731
    else:
        robot = RobotServer(kind, ROBOT_SECRET, port=port)
        received = lambda: [b["markdown"].get("content") or b["markdown"]["text"] for b, _q, _h in robot.seen]  # noqa: E731
    second = worker_factory(app_id=first.app_id, data_dir=first.data_dir, **env).start()
    try:
        second.wait_ready()  # after the killed member's session expired
        wait_for(lambda: len(received()) >= len(alerts), 120, f"five {kind} deliveries after the kill", second.log)
        wait_delivery_settled(kafka.kafka_bootstrap, second)  # nothing left that could deliver a repeat
        assert _stories(received()) == [f"第{n}条" for n in range(5)], received()
        if kind != "email":
            assert all(code == 0 for code, _ in robot.answers), robot.answers
    finally:
        call(second.web_port, "DELETE", f"/api/subscriptions/{sub['id']}", token=TOKEN)
        (server.stop() if kind == "email" else robot.close())
