"""The API's per-client token bucket: a burst is served, beyond it 429 with Retry-After,
the bucket refills at the configured rate, clients do not share buckets."""
from __future__ import annotations

from citycredit.web.ratelimit import RateLimiter, retry_after_header

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
