"""The API's per-client token bucket: a burst is served, beyond it 429 with Retry-After,
the bucket refills at the configured rate, clients do not share buckets."""
from __future__ import annotations

import pytest

from citycredit.exceptions import ConfigError
from citycredit.web.ratelimit import RateLimiter, client_address, retry_after_header, trusted_networks

from tests.unit.test_desk_api import AUTH, GOOD, run


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_serves_the_burst_then_refills_at_the_rate():
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == 0.5  # one token at 2/s
    assert limiter.take("b") == 0.0  # another client has its own bucket
    clock.t += 0.5
    assert limiter.take("a") == 0.0 and limiter.take("a") > 0
    clock.t += 100
    assert [limiter.take("a") for _ in range(4)][-1] > 0  # refills only up to the burst


def test_disabled_with_rate_zero_and_idle_buckets_are_forgotten():
    assert RateLimiter(0, 1).take("x") == 0.0
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=1, clock=clock, max_clients=4)
    for i in range(4):
        limiter.take(f"c{i}")
    clock.t += 1.0
    limiter.take("new")
    assert set(limiter.buckets) == {"new"}
    for i in range(10):  # a flood of fresh clients stays bounded
        limiter.take(f"f{i}")
    assert len(limiter.buckets) <= 4


def test_retry_after_is_whole_seconds_rounded_up():
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"


def test_api_answers_429_with_retry_after_beyond_the_burst():
    async def go(client):
        statuses = [(await client.get("/api/meta")).status for _ in range(5)]
        assert statuses == [200] * 5
        r = await client.get("/api/ranking")
        assert r.status == 429
        assert int(r.headers["Retry-After"]) >= 1
        assert "too many requests" in (await r.json())["error"]
        # writes share the bucket: a token guesser is slowed down as much as a scraper
        r = await client.post("/api/responses", json=GOOD, headers={**AUTH, "Authorization": "Bearer guess"})
        assert r.status == 429
        # /metrics is for Prometheus and not limited
        assert (await client.get("/metrics")).status == 200
    run(go, api_rate_limit=0.01, api_rate_burst=5)


PROXIES = trusted_networks("10.0.0.5, 172.18.0.0/16,::1")


@pytest.mark.parametrize("remote,forwarded,client", [
    ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),                    # not a proxy of ours: the header is the client's word
    ("10.0.0.5", ["198.51.100.1"], "198.51.100.1"),                      # our proxy: the address it saw
    ("10.0.0.5", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),             # what the client wrote before it proves nothing
    ("10.0.0.5", ["198.51.100.1, 172.18.3.4"], "198.51.100.1"),          # a chain of our proxies: the last untrusted hop
    ("10.0.0.5", ["6.6.6.6", "198.51.100.1,172.18.3.4"], "198.51.100.1"),  # several headers are one list, in order
    ("::ffff:10.0.0.5", ["2001:db8::1"], "2001:db8::1"),                 # IPv4-mapped proxy address, IPv6 client
    ("::1", [" ::ffff:198.51.100.1 "], "198.51.100.1"),
    ("10.0.0.5", [], "10.0.0.5"),                                        # no header: the proxy itself
    ("10.0.0.5", ["172.18.0.9"], "10.0.0.5"),                            # only our proxies: the connecting one
    ("10.0.0.5", ["198.51.100.1, garbage"], "10.0.0.5"),                 # a hop no proxy of ours wrote
    ("10.0.0.6", ["198.51.100.1"], "10.0.0.6"),
    (None, ["198.51.100.1"], "unknown"),
])
def test_the_client_behind_a_trusted_proxy_is_its_last_untrusted_hop(remote, forwarded, client):
    assert client_address(remote, forwarded, PROXIES) == client


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_address("10.0.0.5", ["198.51.100.1"], trusted_networks("")) == "10.0.0.5"


def test_a_bad_trusted_proxy_entry_is_a_clear_error():
    with pytest.raises(ConfigError, match="CITYCREDIT_TRUSTED_PROXIES: 'proxy.local' is not an IP address or CIDR"):
        trusted_networks("10.0.0.5, proxy.local")


def test_api_keys_the_bucket_on_the_forwarded_client_only_behind_a_trusted_proxy():
    """The test client connects from 127.0.0.1."""
    async def limited(client, forwarded: str) -> int:
        return (await client.get("/api/meta", headers={"X-Forwarded-For": forwarded})).status

    async def behind_proxy(client):
        assert [await limited(client, "198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert await limited(client, "198.51.100.2") == 200  # another client behind the same proxy
        assert await limited(client, "198.51.100.9, 198.51.100.1") == 429  # a forged first hop changes nothing

    async def direct(client):
        # not a trusted proxy: a new X-Forwarded-For per request does not buy a new bucket
        assert [await limited(client, f"198.51.100.{i}") for i in range(3)] == [200, 200, 429]

    run(behind_proxy, api_rate_limit=0.01, api_rate_burst=2, trusted_proxies="127.0.0.1")
    run(direct, api_rate_limit=0.01, api_rate_burst=2)
