"""Bytes -> text for Chinese news pages.

Order of evidence: byte-order mark, HTTP ``charset``, ``<meta>``/XML declaration,
the registry's hint, then UTF-8. Two traps from real pages decide the rest:

* pages that *declare* gb2312/gbk but are UTF-8 (several in ``html/gne/``): a body
  with non-ASCII bytes that decodes as strict UTF-8 is UTF-8 — real GBK text is
  practically never valid UTF-8, so this test has no false positives worth naming;
* real GBK pages (``homepages/qq.com/qq.com``) often contain characters outside
  GB2312 and even outside GBK, so every GB label decodes as GB18030, its superset.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
# <meta charset="gbk"> or <meta http-equiv=... content="text/html; charset=gbk">, and <?xml encoding=...?>
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)
_XML_ENCODING = re.compile(rb"<\?xml[^>]{0,100}?encoding\s*=\s*[\"']([\w.:-]+)", re.I)
_SNIFF_BYTES = 4096
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn", "hz-gb-2312"}


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # what was used
    declared: str | None  # what the page or server said, if anything
    source: str  # bom | header | meta | hint | default | utf8-override | gb18030-fallback
    replaced: int  # U+FFFD characters introduced by decoding errors


def _normalise(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if label in _GB_FAMILY or name in ("gb2312", "gbk", "gb18030", "hz"):
        return "gb18030"
    return name


def header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = _HEADER_CHARSET.search(content_type)
    return m.group(1) if m else None


def sniff_declared(body: bytes) -> str | None:
    head = body[:_SNIFF_BYTES]
    m = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def decode_body(body: bytes, content_type: str | None = None, hint: str | None = None) -> Decoded:
    for bom, enc in _BOMS:
        if body.startswith(bom):
            text = body[len(bom):].decode(enc, errors="replace")
            return Decoded(text, enc, enc, "bom", text.count("\ufffd"))
    declared_raw = header_charset(content_type)
    source = "header"
    if declared_raw is None:
        declared_raw, source = sniff_declared(body), "meta"
    if declared_raw is None and hint:
        declared_raw, source = hint, "hint"
    declared = _normalise(declared_raw)
    if declared is None:
        source = "default"
    if declared in ("utf-16-le", "utf-16-be", "utf-16", "utf-32"):
        text = body.decode(declared, errors="replace")
        return Decoded(text, declared, declared_raw, source, text.count("\ufffd"))
    # Valid UTF-8 wins over any declaration: mislabelled gb2312 pages are UTF-8 in fact.
    try:
        text = body.decode("utf-8")
        utf8_ok = True
    except UnicodeDecodeError:
        utf8_ok = False
    if utf8_ok:
        used_source = source if declared in (None, "utf-8", "ascii") else "utf8-override"
        return Decoded(text, "utf-8", declared_raw, used_source, 0)
    if declared not in (None, "utf-8", "ascii"):
        text = body.decode(declared, errors="replace")
        return Decoded(text, declared, declared_raw, source, text.count("\ufffd"))
    # Said UTF-8 (or nothing) but is not: Chinese sites' legacy encoding is the best guess.
    gb = body.decode("gb18030", errors="replace")
    utf = body.decode("utf-8", errors="replace")
    gb_bad, utf_bad = gb.count("\ufffd"), utf.count("\ufffd")
    if gb_bad < utf_bad:
        return Decoded(gb, "gb18030", declared_raw, "gb18030-fallback", gb_bad)
    return Decoded(utf, "utf-8", declared_raw, source, utf_bad)
