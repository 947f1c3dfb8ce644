"""Delivery rules as pure functions: delivery order, filters, signatures, the SSRF guard."""
from __future__ import annotations

import re

import pytest

from citycredit.exceptions import InputError
from citycredit.alerting.delivery import Outbox, Pending, webhook_body, webhook_headers
from citycredit.alerting.subscriptions import (Filters, Subscription, WebhookVerificationError, check_url, parse_filters, sign,
                                          signing_key, verify, webhook_target)
from citycredit.settings import Settings


def test_outbox_head_is_earliest_event_time_then_arrival():
    # arrival:   seq 0 (10:00 +08)   seq 1 (01:30 UTC = 09:30 +08)   seq 2 (10:00 +08)
    # delivery:  seq 1, seq 0, seq 2
    box = Outbox(Settings())
    box.add("sub-1", Pending("a", 0, {"triggered_at": "2026-02-03T10:00:00+08:00"}))
    box.add("sub-1", Pending("b", 1, {"triggered_at": "2026-02-03T01:30:00Z"}))
    box.add("sub-1", Pending("c", 2, {"triggered_at": "2026-02-03T10:00:00+08:00"}))
    order = []
    while (head := box.head("sub-1")) is not None:
        order.append(head.key)
        box.acked.add(head.key)
    assert order == ["b", "a", "c"]


def test_an_outbox_over_its_cap_drops_its_oldest_alert_in_delivery_order():
    """``webhook_outbox_max``: a receiver down for long keeps at most ``cap`` alerts queued;
    the one beyond goes (the agent dead-letters it), oldest in event time first, not the
    first to arrive, and the other subscriptions keep theirs."""
    from prometheus_client import CollectorRegistry

    from citycredit.metrics import build_metrics

    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    box = Outbox(Settings(), metrics)
    box.add("other", Pending("o", 0, {"triggered_at": "2026-02-01T00:00:00Z"}))
    arrivals = ["2026-02-03T10:00:00Z", "2026-02-03T08:00:00Z", "2026-02-03T12:00:00Z"]
    for seq, when in enumerate(arrivals):
        box.add("sub-1", Pending(f"k{seq}", seq, {"triggered_at": when}))
        assert box.enforce_cap("sub-1", 3) is None  # within the cap: nothing dropped
    box.add("sub-1", Pending("k3", 3, {"triggered_at": "2026-02-03T09:00:00Z"}))
    dropped = box.enforce_cap("sub-1", 3)
    assert dropped is not None and dropped.key == "k1"  # 08:00, the earliest event, though it arrived second
    assert box.size("sub-1") == 3 and box.head("sub-1").key == "k3" and box.size("other") == 1
    assert registry.get_sample_value("citycredit_webhook_outbox_alerts") == 4  # three queued for sub-1, one for the other
    box.add("sub-1", Pending("k4", 4, {"triggered_at": "2026-02-03T07:00:00Z"}))
    assert box.enforce_cap("sub-1", 3).key == "k4"  # a late alert older than the rest is the one to go
    assert [e.key for e in box.waiting("sub-1")] == ["k3", "k0", "k2"]


def test_a_rebalance_stops_the_senders_of_partitions_taken_and_holds_those_given():
    """Outbox partitions move between workers: the subscriptions of a partition taken away lose
    their entries and senders here (the table keeps them for the next owner); a partition just
    given sends nothing until the agent has read up to this worker's marker in it."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from citycredit.metrics import build_metrics

    async def run() -> None:
        registry = CollectorRegistry()
        metrics = build_metrics(registry)
        box = Outbox(Settings(), metrics)
        for sub_id, p in (("sub-a", 0), ("sub-b", 1)):
            box.add(sub_id, Pending(f"{sub_id}-1", 0, {"triggered_at": "2026-02-03T10:00:00Z"}))
            box.partition_of[sub_id] = p
        box.acked.add("sub-a-1")  # delivered here, its "done" not yet read
        started: list[str] = []

        async def drain(sub_id, *args):
            started.append(sub_id)
            await asyncio.sleep(3600)  # a sender busy with a down receiver

        box.drain = drain
        box.hold({1: "marker-1"})
        box.ensure_senders(lambda s: None, None, None)
        await asyncio.sleep(0)
        assert started == ["sub-a"]  # sub-b's partition is held
        sender = box.tasks["sub-a"]
        assert box.forget({0}) == ["sub-a"]
        await asyncio.sleep(0)
        assert sender.cancelled() and box.size("sub-a") == 0 and "sub-a" not in box.partition_of
        assert "sub-a-1" in box.acked  # if partition 0 comes back before its "done" is read: not sent again
        assert registry.get_sample_value("citycredit_webhook_outbox_alerts") == 1  # sub-b's, undelivered
        assert not box.release(1, "marker-of-another-worker")
        assert box.release(1, "marker-1")
        box.ensure_senders(lambda s: None, None, None)
        await asyncio.sleep(0)
        assert started == ["sub-a", "sub-b"]
        box.forget({1})
    asyncio.run(run())


ALERT = {"type": "early_warning", "city_adcode": "320200", "city": "无锡市", "province": None, "domain": "social",
         "subfield": "wages_social_insurance"}


@pytest.mark.parametrize("filters,matches", [
    ({}, True),
    ({"cities": ["320200"]}, True),
    ({"cities": ["无锡市"]}, True),
    ({"cities": ["320500"]}, False),
    ({"provinces": ["江苏省"]}, True),    # province learned from the index (province_of)
    ({"provinces": ["32"]}, True),        # or the 2-digit province code of the adcode
    ({"provinces": ["浙江省"]}, False),
    ({"types": ["major_dishonesty"]}, False),
    ({"domains": ["social"], "subfields": ["wages_social_insurance"]}, True),
    ({"subfields": ["food_safety"]}, False),
])
def test_filters(filters, matches):
    assert parse_filters(filters).matches(ALERT, lambda adcode: "江苏省" if adcode == "320200" else None) is matches


SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_is_the_standard_webhooks_one():
    """The example of the Standard Webhooks spec and its libraries' tests: same inputs, same signature."""
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _signed(now=1_770_000_000):
    sub = Subscription(id="sub-0123456789", sealed_secret="(sealed)", url="https://hooks.example/a", filters=Filters())
    body = webhook_body({"story_id": "s-1", "title": "标题"})
    return webhook_headers(sub, SECRET, "key-1", body, now), body


def test_signature_covers_id_timestamp_and_body():
    h, body = _signed()
    assert h["webhook-id"] == h["Idempotency-Key"] == "key-1" and h["webhook-timestamp"] == "1770000000"
    assert verify(SECRET, h, body, now=1_770_000_000 + 299) == "key-1"
    assert verify(SECRET, {k.upper(): v for k, v in h.items()}, body, now=1_770_000_000) == "key-1"  # any case


@pytest.mark.parametrize("change,now,words", [
    ({}, 1_770_000_000 + 301, "301s old, beyond the tolerance of 300s"),              # a replay, 5 min later
    ({}, 1_770_000_000 - 301, "in the future"),
    ({"webhook-id": "key-2", "Idempotency-Key": "key-2"}, 1_770_000_000, "does not match"),   # another id
    ({"webhook-timestamp": "1770000100"}, 1_770_000_100, "does not match"),         # a refreshed timestamp
    ({"webhook-timestamp": "soon"}, 1_770_000_000, "expected Unix seconds"),
    ({"webhook-signature": ""}, 1_770_000_000, "missing header(s) webhook-signature"),
])
def test_verification_refuses_what_the_signature_does_not_vouch_for(change, now, words):
    h, body = _signed()
    with pytest.raises(WebhookVerificationError, match=re.escape(words)):
        verify(SECRET, {**h, **change}, body, now=now)


def test_verification_refuses_a_tampered_body_or_another_secret():
    h, body = _signed()
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify(SECRET, h, body + b" ", now=1_770_000_000)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify("whsec_" + "A" * 44, h, body, now=1_770_000_000)
    # several signatures (a sender rotating its secret): one match is enough
    other = sign("another-secret-of-16+", "key-1", h["webhook-timestamp"], body)
    assert verify(SECRET, {**h, "webhook-signature": f"{other} {h['webhook-signature']}"}, body, now=1_770_000_000)


def test_generated_secrets_are_whsec_and_a_bad_whsec_secret_is_refused():
    from citycredit.secretbox import SecretBox
    from citycredit.alerting.subscriptions import parse_subscription

    box = SecretBox.from_settings(Settings())
    _, secret = parse_subscription({}, allow_private=False, now_iso="", box=box)
    assert secret.startswith("whsec_") and len(signing_key(secret)) == 32
    for bad in ("whsec_not*base64*at*all", "whsec_" + "QUFB" * 3):  # not base64 / 9 bytes only
        with pytest.raises(InputError, match="whsec_"):
            parse_subscription({"secret": bad}, allow_private=False, now_iso="", box=box)


class _Receiver:
    """A webhook receiver on loopback: runs ``check(headers, body)`` on each POST; it answers 204
    if that returns true, 401 otherwise, with ``extra`` bytes of body (``-1``: a body without end)."""

    def __init__(self, check, extra: int = 0):
        import http.server
        import threading

        self.seen: list[tuple[dict, bytes, bool]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = bool(check(self.headers, body))
                receiver.seen.append((dict(self.headers), body, ok))
                self.send_response(200 if ok and extra else 204 if ok else 401)
                if extra < 0:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    try:
                        while True:  # a receiver that never stops answering
                            self.wfile.write(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
                    except OSError:
                        return  # the sender hung up: what the cap is for
                self.send_header("Content-Length", str(extra))
                self.end_headers()
                self.wfile.write(b"x" * extra)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def _deliver(receiver: _Receiver, secret: str = SECRET, **settings) -> tuple[bool, str]:
    """One try of ``Outbox.post`` to the receiver, as the sender does it."""
    import asyncio

    import httpx

    from citycredit.secretbox import SecretBox

    box = SecretBox.from_settings(Settings())
    box_settings = Settings(webhook_allow_private=True, **settings)
    sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(secret), url=receiver.url, filters=Filters())
    entry = Pending("key-1", 0, {"type": "major_dishonesty", "story_id": "s-1", "title": "苏州食品企业用过期原料"})

    async def go():
        async with httpx.AsyncClient(timeout=5.0) as client:
            return await Outbox(box_settings, box=box).post(client, sub, entry)
    return asyncio.run(go())


def _readme_receiver():
    """The receiver check docs/delivery.md shows, run as written."""
    from citycredit.settings import PROJECT_ROOT

    guide = (PROJECT_ROOT / "docs" / "delivery.md").read_text()
    section = guide[guide.index("### Alert subscribers"):]
    code = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 3)]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - our own docs' example
    return namespace["verified"]


def test_a_receiver_verifies_a_delivered_request_and_the_readme_check_agrees():
    readme_verified = _readme_receiver()
    receiver = _Receiver(lambda headers, body: verify(SECRET, headers, body) and readme_verified(SECRET, headers, body))
    try:
        assert _deliver(receiver) == (True, "")
    finally:
        receiver.close()
    [(headers, body, ok)] = receiver.seen
    assert ok and headers["Idempotency-Key"] == headers["webhook-id"] == "key-1"
    ts = int(headers["webhook-timestamp"])
    # what the documented check refuses: a tampered body, an old timestamp, another id, another secret
    assert not readme_verified(SECRET, headers, body.replace("过期".encode(), "新鲜".encode()))
    assert not readme_verified(SECRET, {**headers, "webhook-timestamp": str(ts - 301)}, body)
    assert not readme_verified(SECRET, {**headers, "webhook-id": "key-2"}, body)
    assert not readme_verified("whsec_" + "A" * 44, headers, body)
    with pytest.raises(WebhookVerificationError, match="old"):
        verify(SECRET, headers, body, now=ts + 301)


def test_a_delivery_signed_with_another_secret_is_refused_by_the_receiver():
    receiver = _Receiver(lambda headers, body: _verifies(SECRET, headers, body))
    try:
        assert _deliver(receiver, secret="whsec_" + "A" * 44) == (False, "HTTP 401")
    finally:
        receiver.close()


def _verifies(secret, headers, body) -> bool:
    try:
        return bool(verify(secret, headers, body))
    except WebhookVerificationError:
        return False


@pytest.mark.parametrize("addresses,refused", [
    (["93.184.216.34"], False), (["127.0.0.1"], True), (["::1"], True), (["169.254.169.254"], True),
    (["192.168.1.1"], True), (["172.16.0.1"], True), (["100.64.0.1"], True), (["::ffff:10.0.0.1"], True),
    (["fe80::1"], True), (["0.0.0.0"], True), (["93.184.216.34", "10.0.0.1"], True),
    # IPv6 forms that carry 127.0.0.1 (6to4, NAT64): the IPv6 prefix alone looked global
    (["2002:7f00:1::"], True), (["64:ff9b::7f00:1"], True), (["2002:5db8:d822::"], False),
])
def test_ssrf_guard_checks_every_resolved_address(addresses, refused):
    resolve = lambda host, port: addresses  # noqa: E731 - the DNS answer under test
    if refused:
        with pytest.raises(InputError, match="private/loopback/link-local"):
            check_url("http://hooks.example/a", False, resolve)
    else:
        assert check_url("http://hooks.example/a", False, resolve)
    assert check_url("http://hooks.example/a", True, resolve)  # allowed explicitly by the setting


@pytest.mark.parametrize("url,addresses,want_url,host,sni", [
    ("https://hooks.example:8443/in?x=1", ["93.184.216.34"], "https://93.184.216.34:8443/in?x=1", "hooks.example:8443", "hooks.example"),
    ("https://hooks.example", ["2606:2800:220:1::1"], "https://[2606:2800:220:1::1]:443/", "hooks.example", "hooks.example"),
    ("http://hooks.example/a", ["93.184.216.34", "93.184.216.35"], "http://93.184.216.34:80/a", "hooks.example", None),
])
def test_webhook_target_connects_to_the_checked_address(url, addresses, want_url, host, sni):
    target = webhook_target(url, False, lambda h, p: addresses)
    assert (target.url, target.host_header, target.tls_server_name) == (want_url, host, sni)
    assert target.extensions == ({"sni_hostname": sni} if sni else {})


def test_webhook_target_refuses_what_check_url_refuses():
    with pytest.raises(InputError, match="private/loopback"):
        webhook_target("http://hooks.example/a", False, lambda h, p: ["93.184.216.34", "10.0.0.1"])


def test_a_post_to_the_target_never_looks_the_name_up_again(monkeypatch):
    """DNS rebinding: the name is checked, then re-pointed before the client connects. With the
    pin the request goes to the address checked; here the name is not resolvable at all by the
    system, so the POST arriving proves the client did not resolve it again. ``Outbox.post``
    itself sends it (it re-implemented the POST before); only the check's resolver is ours."""
    import asyncio
    import http.server
    import threading

    import httpx

    from citycredit.secretbox import SecretBox
    from citycredit.alerting import delivery

    seen: list[tuple[str, str | None, bytes]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            seen.append((self.path, self.headers.get("Host"), self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        # the check resolves the name to loopback (allowed here); nothing else may look it up
        monkeypatch.setattr(delivery, "webhook_target",
                            lambda url, allow: webhook_target(url, allow, lambda h, p: ["127.0.0.1"]))
        box = SecretBox.from_settings(Settings())
        sub = Subscription(id="sub-0123456789", sealed_secret=box.seal(SECRET), url=f"http://rebound.invalid:{port}/hook?x=1")
        entry = Pending("key-1", 0, {"type": "major_dishonesty", "story_id": "s-1"})

        async def go():
            async with httpx.AsyncClient(timeout=5.0) as client:
                return await Outbox(Settings(webhook_allow_private=True), box=box).post(client, sub, entry)
        assert asyncio.run(go()) == (True, "")
        assert seen == [("/hook?x=1", f"rebound.invalid:{port}", webhook_body(entry.alert))]
    finally:
        server.shutdown()


def test_a_receiver_answering_without_end_is_read_only_up_to_the_cap():
    """An endless 200 answer: the sender reads its first bytes, hangs up and counts the delivery;
    without the cap it read until the deadline and counted a failed try."""
    import time

    receiver = _Receiver(lambda headers, body: True, extra=-1)
    try:
        started = time.monotonic()
        assert _deliver(receiver, webhook_max_response_bytes=1024, webhook_timeout=5.0) == (True, "")
        assert time.monotonic() - started < 3.0
    finally:
        receiver.close()


def test_a_refusal_keeps_the_start_of_its_answer_in_the_reason():
    receiver = _Receiver(lambda headers, body: False, extra=100_000)
    try:
        ok, reason = _deliver(receiver)
    finally:
        receiver.close()
    assert not ok and reason == "HTTP 401: " + repr("x" * 200)


def test_a_trickling_receiver_is_a_failed_try_at_the_deadline():
    import http.server
    import threading
    import time

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):  # a byte every 0.1 s: never a read timeout, never done
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class At:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        assert _deliver(At, webhook_timeout=1.0) == (False, "no complete answer within 1s")
    finally:
        server.shutdown()
