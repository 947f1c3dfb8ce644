# Kept: aiolimiter is one leaky bucket whose acquire() waits (no per-client buckets, no wait for Retry-After); limits has no token bucket.
"""Per-client token buckets for the HTTP API: a steady rate with a burst, 429 beyond it.

A bucket per client address holds up to ``burst`` tokens and refills at ``rate`` tokens per
second; each request takes one. Monotonic (wall) time is right here: this limits load on
the server, it scores nothing. Idle buckets are forgotten so a scan from many addresses
cannot grow the table without bound.

Behind a reverse proxy every request comes from the proxy's address, so the client is read
from ``X-Forwarded-For``, but only when the connecting address is a configured trusted
proxy (``client_address``): anyone else could send that header and pick a fresh bucket for
every request.
"""
from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from citycredit.exceptions import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


def trusted_networks(text: str) -> tuple[Network, ...]:
    """``CITYCREDIT_TRUSTED_PROXIES`` -> networks (an address is a /32 or /128), or ConfigError."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ConfigError(f"CITYCREDIT_TRUSTED_PROXIES: {part!r} is not an IP address or CIDR: {exc}") from exc
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # an IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d; it is the same client
    return (address.ipv4_mapped or address) if isinstance(address, ipaddress.IPv6Address) else address


def client_address(remote: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str:
    """The client a request is counted against.

    The connecting address, unless it is a trusted proxy: then the last hop of
    ``X-Forwarded-For`` (all its headers, in order) that is not a trusted proxy. Hops are
    read from the right because each proxy appends the address it saw; everything left of
    the first untrusted hop was written by the client and proves nothing. A hop that is no
    address (not written by a proxy of ours) or a chain of trusted proxies only keeps the
    connecting address.
    """
    peer = _address(remote or "")
    if peer is None or not any(peer in net for net in trusted):
        return remote or "unknown"
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        if not any(address in net for net in trusted):
            return str(address)
    return remote or "unknown"


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds; round up so a client that obeys it is let in."""
    return str(max(1, math.ceil(wait_s)))
