"""Email alerts through ``Outbox.post`` to a real local SMTP server (aiosmtpd), never a real one."""
from __future__ import annotations

import asyncio
import email
from email.policy import default as default_policy

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from citycredit.exceptions import InputError
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings
from citycredit.alerting.delivery import Outbox, Pending
from citycredit.alerting.mail import recipients
from citycredit.alerting.subscriptions import Subscription, parse_subscription

from .test_robots import ALERT


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    # handled=False: aiosmtpd answers 235 or 535 itself
    return AuthResult(success=auth_data.login == b"desk" and auth_data.password == b"right-password", handled=False)


@pytest.fixture
def smtp_server():
    import socket

    with socket.socket() as s:  # aiosmtpd checks its own server by connecting to the port it was given
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_auth, auth_require_tls=False)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _send(port: int, smtp_host: str = "127.0.0.1", **smtp) -> tuple[bool, str]:
    box = SecretBox.from_settings(Settings())
    sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(""), url="mailto:officer@example.gov.cn,desk@example.gov.cn",
                       kind="email")
    settings = Settings(smtp_host=smtp_host, smtp_port=port, desk_url="https://desk.example.gov.cn",
                        smtp_from="citycredit@example.gov.cn", **smtp)

    async def go():
        async with httpx.AsyncClient() as client:
            return await Outbox(settings, box=box).post(client, sub, Pending("key-1", 0, dict(ALERT)))
    return asyncio.run(go())


def test_an_alert_arrives_as_a_chinese_email_with_its_idempotency_key(smtp_server):
    inbox, port = smtp_server
    assert _send(port, smtp_tls="none", smtp_username="desk", smtp_password="right-password") == (True, "")
    [msg] = inbox.messages
    assert msg["Subject"] == "苏州市·重大失信事件：苏州一食品企业使用过期原料生产糕点"
    assert msg["Message-ID"] == "<key-1@citycredit>"
    assert sorted(inbox.envelopes[0].rcpt_tos) == ["desk@example.gov.cn", "officer@example.gov.cn"]
    body = msg.get_content()
    assert "多站首页（people、xinhua、cctv）" in body and "https://desk.example.gov.cn/desk/#/city/320500" in body


def test_a_wrong_password_is_a_failed_try_that_says_so(smtp_server):
    inbox, port = smtp_server
    ok, reason = _send(port, smtp_tls="none", smtp_username="desk", smtp_password="wrong")
    assert not ok and reason.startswith("SMTP login refused") and not inbox.messages


def test_starttls_is_required_unless_the_operator_says_otherwise(smtp_server):
    """The default is STARTTLS; a server that cannot offer it gets nothing, not a mail in clear."""
    inbox, port = smtp_server
    ok, reason = _send(port, smtp_username="desk", smtp_password="right-password")
    assert not ok and "STARTTLS" in reason and not inbox.messages


def test_without_an_smtp_server_the_reason_names_the_setting():
    assert _send(1, smtp_host="") == (False, "no SMTP server: set CITYCREDIT_SMTP_HOST to send email alerts")


@pytest.mark.parametrize("url, words", [
    ("https://example.com/hook", "mailto:"),
    ("mailto:", "addresses only"),
    ("mailto:a@example.com?bcc=spy@example.com", "addresses only"),
    ("mailto:not-an-address", "not an email address"),
    ("mailto:" + ",".join(f"u{i}@example.com" for i in range(21)), "1 to 20 addresses"),
])
def test_bad_mailto_urls_are_refused(url, words):
    with pytest.raises(InputError, match=words):
        recipients(url)


def test_an_email_subscription_has_no_secret_to_answer():
    sub, secret = parse_subscription({"kind": "email", "url": "mailto:officer@example.gov.cn"}, allow_private=False,
                                     now_iso="2026-12-06T00:00:00+00:00", box=SecretBox.from_settings(Settings()))
    assert secret is None and sub.kind == "email" and sub.url == "mailto:officer@example.gov.cn"
