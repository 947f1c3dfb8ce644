"""Delivery rules as pure functions: backoff, delivery order, filters, signatures, the SSRF guard."""
from __future__ import annotations

import pytest

from citycredit.exceptions import InputError
from citycredit.web.delivery import Outbox, Pending, backoff, webhook_body, webhook_headers
from citycredit.web.subscriptions import Filters, Subscription, check_url, parse_filters, verify, webhook_target
from citycredit.settings import Settings


@pytest.mark.parametrize("attempt,expected", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (20, 10.0)])
def test_backoff_doubles_up_to_the_cap(attempt, expected):
    assert backoff(attempt, 0.5, 10.0) == expected


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


def test_signature_covers_timestamp_and_body():
    sub = Subscription(id="sub-0123456789", sealed_secret="(sealed)", url="https://hooks.example/a", filters=Filters())
    body = webhook_body({"story_id": "s-1", "title": "标题"})
    h = webhook_headers(sub, "x" * 32, "key-1", body, 1_770_000_000)
    assert verify("x" * 32, h["X-CityCredit-Timestamp"], body, h["X-CityCredit-Signature"])
    assert not verify("x" * 32, str(1_770_000_001), body, h["X-CityCredit-Signature"])
    assert not verify("x" * 32, h["X-CityCredit-Timestamp"], body + b" ", h["X-CityCredit-Signature"])
    assert h["Idempotency-Key"] == "key-1"


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


def test_a_post_to_the_target_never_looks_the_name_up_again():
    """DNS rebinding: the name is checked, then re-pointed before the client connects. With the
    pin the request goes to the address checked; here the name is not resolvable at all by the
    system, so the POST arriving proves the client did not resolve it again."""
    import http.server
    import threading

    import httpx

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
        # allow_private: the receiver is on loopback; the pin is the same either way
        target = webhook_target(f"http://rebound.invalid:{port}/hook?x=1", True, lambda h, p: ["127.0.0.1"])
        with httpx.Client() as client:  # what Outbox.post does, synchronously
            response = client.post(target.url, content=b"{}", headers={"Host": target.host_header},
                                   extensions=target.extensions)
        assert response.status_code == 204
        assert seen == [("/hook?x=1", f"rebound.invalid:{port}", b"{}")]
    finally:
        server.shutdown()
