"""The SSRF guard shared by webhook delivery and the pollers' redirects (citycredit/netguard.py)."""
from __future__ import annotations

import pytest

from citycredit.netguard import address_refusal, first_refusal


@pytest.mark.parametrize("address,words", [
    ("127.0.0.1", "127.0.0.1, a private"),
    ("10.0.0.5", "10.0.0.5, a private"),
    ("100.64.0.1", "100.64.0.1, a private"),                      # carrier-grade NAT
    ("::1", "::1, a private"),
    ("fe80::1%eth0", "fe80::1, a private"),                       # a scope id does not hide it
    ("::ffff:10.0.0.1", "IPv4-mapped, carries 10.0.0.1"),
    ("2002:7f00:1::", "6to4, carries 127.0.0.1"),                 # the security read's address
    ("2002:a9fe:a9fe::1", "6to4, carries 169.254.169.254"),       # cloud metadata over 6to4
    ("64:ff9b::7f00:1", "NAT64, carries 127.0.0.1"),
    ("64:ff9b::a00:5", "NAT64, carries 10.0.0.5"),
    ("64:ff9b:1::a00:5", "a private"),                            # local-use NAT64 prefix: not global at all
    # Teredo: the client address is stored inverted; this one is 127.0.0.1 behind a public server
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo, carries 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:a247:27dd", "a private"),        # Teredo to a public client: the range is not global
    ("::7f00:1", "IPv4-compatible, carries 127.0.0.1"),
    ("::5db8:d822", "a private"),                                 # IPv4-compatible (deprecated) even when public
])
def test_internal_addresses_are_refused_with_the_reason(address, words):
    refusal = address_refusal(address)
    assert refusal is not None and words in refusal and "private/loopback/link-local" in refusal


@pytest.mark.parametrize("address", [
    "93.184.216.34", "2606:2800:220:1::1",
    "::ffff:93.184.216.34",   # IPv4-mapped: the socket connects to the IPv4 address
    "64:ff9b::5db8:d822",     # NAT64 of a public IPv4 address (DNS64 on an IPv6-only network)
    "2002:5db8:d822::1",      # 6to4 of a public IPv4 address
])
def test_public_addresses_pass(address):
    assert address_refusal(address) is None


def test_one_internal_answer_refuses_the_name():
    assert first_refusal(["93.184.216.34", "2002:7f00:1::", "10.0.0.1"]).startswith("2002:7f00:1::")
    assert first_refusal(["93.184.216.34"]) is None
