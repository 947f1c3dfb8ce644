"""企业微信 and 钉钉 group robots as subscription kinds: their documented message formats, 钉钉's
加签, and their errcode answers, through the same ``Outbox.post`` as a signed webhook, against
local servers that check the protocol the way the robots' servers do (never the real ones)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from citycredit.exceptions import InputError
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings
from citycredit.alerting.delivery import Outbox, Pending
from citycredit.alerting.robots import alert_markdown
from citycredit.alerting.subscriptions import Subscription, parse_subscription

ROBOT_SECRET = "SEC0123456789abcdef0123456789abcdef"
ALERT = {"type": "major_dishonesty", "story_id": "s-1", "city": "苏州市", "city_adcode": "320500", "province": "江苏省",
         "title": "苏州一食品企业使用过期原料生产糕点", "trigger": "homepages", "sites": ["people", "xinhua", "cctv"],
         "first_seen": "2026-11-27T08:30:00+08:00", "triggered_at": "2026-11-27T09:00:00+08:00",
         "urls": ["http://www.people.com.cn/n1/1.html"]}


class RobotServer:
    """A local robot endpoint: checks what the real one checks and answers as it does (HTTP 200, errcode)."""

    def __init__(self, kind: str, secret: str = "", port: int = 0):
        self.kind, self.secret, self.seen, self.answers = kind, secret, [], []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                query = parse_qs(urlsplit(self.path).query)
                code, msg = server.check(body, query)
                server.seen.append((body, query, dict(self.headers)))
                server.answers.append((code, msg))
                answer = json.dumps({"errcode": code, "errmsg": msg}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        port = self.http.server_address[1]
        self.url = (f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=robot-key" if kind == "wecom"
                    else f"http://127.0.0.1:{port}/robot/send?access_token=robot-token")
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def check(self, body: dict, query: dict) -> tuple[int, str]:
        if body.get("msgtype") != "markdown":
            return 40008, "invalid message type"
        if self.kind == "wecom":
            return (0, "ok") if query.get("key") == ["robot-key"] and body["markdown"].get("content") else (93000, "invalid webhook url")
        # 钉钉: the sign is recomputed from the timestamp and the robot's secret, as its documentation says
        if not {"timestamp", "sign", "access_token"} <= set(query) or not body["markdown"].get("title"):
            return 310000, "sign not match"
        ts = int(query["timestamp"][0])
        want = base64.b64encode(hmac.new(self.secret.encode(), f"{ts}\n{self.secret}".encode(), hashlib.sha256).digest()).decode()
        if query["sign"][0] != want or abs(time.time() * 1000 - ts) > 3600_000:
            return 310000, "sign not match"
        return 0, "ok"

    def close(self):
        self.http.shutdown()


def _post(kind: str, url: str, secret: str) -> tuple[bool, str]:
    box = SecretBox.from_settings(Settings())
    sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(secret), url=url, kind=kind)

    async def go():
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await Outbox(Settings(webhook_allow_private=True, desk_url="https://desk.example.gov.cn"),
                                box=box).post(client, sub, Pending("key-1", 0, dict(ALERT)))
    return asyncio.run(go())


def test_wecom_gets_a_markdown_message_in_chinese_with_the_links():
    robot = RobotServer("wecom")
    try:
        assert _post("wecom", robot.url, "") == (True, "")
    finally:
        robot.close()
    [(body, _query, headers)] = robot.seen
    content = body["markdown"]["content"]
    for words in ("苏州市·重大失信事件", "苏州一食品企业使用过期原料生产糕点", "多站首页（people、xinhua、cctv）",
                  "http://www.people.com.cn/n1/1.html", "https://desk.example.gov.cn/desk/#/city/320500"):
        assert words in content
    assert headers["Idempotency-Key"] == "key-1"


def test_dingtalk_signs_each_try_and_a_wrong_secret_is_a_failed_try_with_the_robot_s_reason():
    robot = RobotServer("dingtalk", ROBOT_SECRET)
    try:
        assert _post("dingtalk", robot.url, ROBOT_SECRET) == (True, "")
        ok, reason = _post("dingtalk", robot.url, ROBOT_SECRET[:-1] + "0")
    finally:
        robot.close()
    assert not ok and reason == "robot errcode 310000: sign not match"  # HTTP 200, but not taken
    assert robot.seen[0][0]["markdown"]["title"] == "苏州市·重大失信事件"


def test_a_robot_answer_that_is_not_its_json_is_a_failed_try():
    from citycredit.alerting.robots import robot_answer
    assert robot_answer(b"<html>gateway</html>")[0] is False
    assert robot_answer(b'{"ok": true}') == (False, "no errcode in the robot's answer: b'{\"ok\": true}'")


def test_a_hot_list_trigger_names_the_list_and_the_rank():
    _, text = alert_markdown({**ALERT, "trigger": "hotlist", "sites": ["sina"], "evidence": {"site": "sina", "rank": 4}},
                             "http://127.0.0.1:6066")
    assert "排行榜（sina 第4名）" in text


@pytest.mark.parametrize("body, words", [
    ({"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=x"}, "加签 secret"),
    ({"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", "secret": "0123456789abcdef"}, "has none"),
    ({"kind": "wecom"}, "needs its robot's webhook URL"),
    ({"kind": "sms", "url": "https://example.com/x"}, "kind: expected one of webhook, wecom, dingtalk"),
])
def test_robot_subscriptions_say_what_is_missing(body, words):
    with pytest.raises(InputError, match=words):
        parse_subscription(body, allow_private=False, now_iso="2026-12-06T00:00:00+00:00",
                           box=SecretBox.from_settings(Settings()), resolve=lambda host, port: ["93.184.216.34"])


def test_a_robot_s_secret_is_sealed_and_never_answered():
    box = SecretBox.from_settings(Settings())
    sub, answered = parse_subscription({"kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=x",
                                        "secret": ROBOT_SECRET}, allow_private=False, now_iso="2026-12-06T00:00:00+00:00",
                                       box=box, resolve=lambda host, port: ["93.184.216.34"])
    assert answered is None and ROBOT_SECRET not in json.dumps(sub.to_json()) and sub.secret(box) == ROBOT_SECRET
    assert Subscription.from_json(sub.to_json()).kind == "dingtalk" and "sealed_secret" not in sub.public()
