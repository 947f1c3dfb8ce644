"""The SSRF guard: which addresses a request may reach when someone outside chose its URL.

Two places send requests to URLs they did not choose: webhook delivery (a subscriber's URL,
``alerting/subscriptions.py``) and the pollers following a site's redirects (``streams/fetch.py``).
Both ask ``address_refusal`` about every address a host name resolves to, and connect to the
address they checked (``pin``): a name looked up again after the check could have been
re-pointed to an internal address in between (DNS rebinding, TTL 0).

Here in the core package so that ``streams/`` can import it; it imports nothing of ours.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlunsplit

PRIVATE = "a private/loopback/link-local address"
# RFC 6052 well-known NAT64 prefix: a translator sends the packets to the IPv4 address in the
# last 32 bits. (The local-use 64:ff9b:1::/48 is not global and is refused as it is.)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


def _carried_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address, bool] | None:
    """(form, the IPv4 address an IPv6 one carries, whether the packets simply go there) or None.

    ``ipaddress`` judges 6to4 (2002::/16) and NAT64 (64:ff9b::/96) by their IPv6 prefix, which
    is global: 2002:7f00:1:: passed as public while a relay delivers it to 127.0.0.1.
    """
    if ip.ipv4_mapped:
        return "IPv4-mapped", ip.ipv4_mapped, True
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), True
    if ip.sixtofour:
        return "6to4", ip.sixtofour, False
    if ip.teredo:
        return "Teredo", ip.teredo[1], False  # (server, client): the relay delivers to the client
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return "IPv4-compatible", ipaddress.IPv4Address(int(ip)), False  # ::a.b.c.d, deprecated (RFC 4291)
    return None


def address_refusal(address: str) -> str | None:
    """Why a request must not go to ``address`` (an IP literal, maybe with a %scope); None if it may.

    An IPv6 address that carries an IPv4 one is refused when that IPv4 address is not public;
    a translated form (IPv4-mapped, NAT64) is then judged by the IPv4 address alone, the others
    by their own IPv6 range as well (Teredo and IPv4-compatible ranges are not global).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (carried := _carried_ipv4(ip)):
        form, v4, translated = carried
        if not _public(v4):
            return f"{ip} ({form}, carries {v4}), {PRIVATE}"
        if translated:
            return None
    return None if _public(ip) else f"{ip}, {PRIVATE}"


def first_refusal(addresses: list[str]) -> str | None:
    """``address_refusal`` of the first refused address: one internal answer is enough to refuse a
    name, since the client may connect to any of them."""
    return next((r for r in map(address_refusal, addresses) if r), None)


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host``; socket.gaierror when none."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


@dataclass(frozen=True)
class PinnedTarget:
    """Where one request goes: the checked address in place of the host name, which travels in
    the Host header and, for https, as the TLS server name the certificate is verified against."""
    url: str
    host_header: str
    tls_server_name: str | None

    @property
    def extensions(self) -> dict[str, str]:
        """httpx request extensions: the TLS server name when connecting to an address."""
        return {"sni_hostname": self.tls_server_name} if self.tls_server_name else {}


def pin(parts: SplitResult, port: int, address: str) -> PinnedTarget:
    """``parts`` (a split http(s) URL) sent to ``address`` instead of a fresh lookup of its host."""
    address = address.split("%", 1)[0]
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return PinnedTarget(url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
                        host_header=parts.netloc.rpartition("@")[2],
                        tls_server_name=parts.hostname if parts.scheme == "https" else None)
