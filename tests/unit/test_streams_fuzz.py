"""Whatever bytes a site sends, decoding never raises and parsing raises only ParseError."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.parser_contract import check_parsers

PREFIXES = [b"", b"<?xml version='1.0' encoding='gb2312'?><rss><channel><item><title>", b"var data = {\"data\": [",
            b"<html><meta charset=gbk><a href='http://society.people.com.cn/n1/2026/1127/c1-1.html'>", b"\xef\xbb\xbf{"]


@settings(max_examples=150, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=400), ctype=st.sampled_from(
    [None, "text/html", "text/html; charset=utf-8", "text/html; charset=gb2312", "application/json", "text/xml; charset=bogus"]))
def test_any_bytes(prefix, body, ctype):
    check_parsers(prefix + body, ctype)
