"""Encoding detection on real pages (html/gne, realsites) and on the traps they show."""
from __future__ import annotations

import codecs

import pytest

from streams.encoding import decode_body

TEXT = "苏州一食品企业使用过期原料被立案调查，涉事企业负责人已被约谈"


def test_real_pages_mislabelled_gb2312_are_read_as_utf8(shared_data):
    # GeneralNewsExtractor's fixtures: these three declare gb2312 but are UTF-8
    for rel in ("tests/163/9.html", "tests/people/1.html", "tests/qq/2.html"):
        body = (shared_data / "html" / "gne" / rel).read_bytes()
        d = decode_body(body, "text/html")
        assert d.encoding == "utf-8" and d.source == "utf8-override", rel
        assert d.replaced == 0
        assert d.declared.lower() == "gb2312"


def test_real_gbk_homepage_is_read_as_gb18030(shared_data):
    body = (shared_data / "realsites" / "homepages" / "qq.com" / "qq.com").read_bytes()
    d = decode_body(body, "text/html")  # no charset in the header: the <meta charset="gb2312"> decides
    assert d.encoding == "gb18030" and d.source == "meta"
    assert d.replaced == 0
    assert "习近平同委内瑞拉总统马杜罗会谈" in d.text


@pytest.mark.parametrize("body, ctype, hint, encoding, source", [
    # BOM beats every label
    (codecs.BOM_UTF8 + TEXT.encode(), "text/html; charset=gbk", None, "utf-8", "bom"),
    # header says GBK and it is GBK
    (TEXT.encode("gbk"), "text/html; charset=GBK", None, "gb18030", "header"),
    # header says UTF-8 but the bytes are GBK: the legacy encoding fits better
    (TEXT.encode("gbk"), "text/html; charset=utf-8", None, "gb18030", "gb18030-fallback"),
    # no label anywhere, GBK bytes, the registry's hint
    (TEXT.encode("gbk"), "text/html", "gb18030", "gb18030", "hint"),
    # no label, no hint, GBK bytes
    (TEXT.encode("gbk"), None, None, "gb18030", "gb18030-fallback"),
    # meta says gb2312, content is UTF-8
    (f'<meta charset="gb2312"><p>{TEXT}</p>'.encode(), "text/html", None, "utf-8", "utf8-override"),
    # XML declaration
    (f'<?xml version="1.0" encoding="gb2312"?><rss><title>{TEXT}</title></rss>'.encode("gbk"), "application/xml", None, "gb18030", "meta"),
    # characters outside GB2312 (𠮷 is GB18030 only) under a gb2312 label
    (("𠮷野家" + TEXT).encode("gb18030"), "text/html; charset=gb2312", None, "gb18030", "header"),
])
def test_label_cases(body, ctype, hint, encoding, source):
    d = decode_body(body, ctype, hint)
    assert (d.encoding, d.source) == (encoding, source)
    assert TEXT in d.text
    assert d.replaced == 0


def test_unknown_label_falls_back_without_crashing():
    d = decode_body(TEXT.encode(), "text/html; charset=x-klingon")
    assert d.encoding == "utf-8" and TEXT in d.text
