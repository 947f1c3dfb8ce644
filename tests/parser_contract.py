"""What any bytes a site sends may do to the parsers, shared by the hypothesis test
(tests/unit/test_streams_fuzz.py) and the atheris harness (tests/atheris_harness.py):
decoding never raises, and each parser gives headlines with a title and an http(s) URL, or
ParseError."""
from __future__ import annotations

from streams.encoding import decode_body
from streams.exceptions import ParseError
from streams.parsers import parse_body
from streams.registry import load_registry

# a homepage, an RSS feed, a JSON and an HTML ranking list, a news list
SURFACES = [load_registry().surface(k) for k in
            ("people/homepage", "people/rss", "sina/hotlist", "tencent/hotlist", "cctv/news-list")]


def check_parsers(data: bytes, content_type: str | None) -> None:
    decode_body(data, content_type)
    for surface in SURFACES:
        try:
            headlines = parse_body(surface, data, content_type)
        except ParseError:
            continue
        for h in headlines:
            assert h.title and h.url.startswith(("http://", "https://")), (surface.key, h)
