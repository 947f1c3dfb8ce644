"""Per-client token buckets for the HTTP API: a steady rate with a burst, 429 beyond it.

A bucket per client address holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each request takes one. Monotonic (wall) time is right here: this limits load on
the server, it scores nothing. Idle buckets are forgotten so a scan from many addresses
cannot grow the table without bound.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self.max_clients = max_clients
        self.buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0.0 if allowed, else the seconds until one is free."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        b = self.buckets.get(client)
        if b is None:
            if len(self.buckets) >= self.max_clients:
                self._forget_idle(now)
            b = self.buckets[client] = _Bucket(float(self.burst), now)
        else:
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        # a bucket that has refilled completely carries no information: drop it
        full_after = self.burst / self.rate
        for key in [k for k, b in self.buckets.items() if now - b.at >= full_after]:
            del self.buckets[key]
        if len(self.buckets) >= self.max_clients:  # still full (a flood of fresh clients): drop the oldest half
            for key in sorted(self.buckets, key=lambda k: self.buckets[k].at)[: self.max_clients // 2]:
                del self.buckets[key]


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait_s)))
