"""Decoded page text -> headlines, one parser per registry ``parser`` kind.

All three are driven by the surface's registry entry; no site has code of its own, so a
redesign is fixed in ``sites.toml``. Every parser returns headlines in page order,
de-duplicated by URL (the first occurrence wins: a homepage links its top story twice).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
from defusedxml import DefusedXmlException, DTDForbidden
from defusedxml.ElementTree import DefusedXMLParser, ParseError as XMLSyntaxError
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from .encoding import decode_body
from .exceptions import ParseError
from .registry import Surface

_SPACE = re.compile(r"\s+")
# feedparser.sanitizer.replace_doctype splits the document at its first "<letter" and
# re-declares every "<!ENTITY" line of the part before it, even one inside a comment.
_FIRST_ELEMENT = re.compile(rb"<\w")
_ENTITY_TEXT = re.compile(rb"<!ENTITY", re.I)
_XML_DECL_ENCODING = re.compile(r"(<\?xml[^>]{0,100}?encoding\s*=\s*[\"'])[\w.:-]+([\"'])", re.I)
_JSONP = re.compile(r"^[^{\[]*?(?:=|\()\s*(?P<body>[\[{].*[\]}])\s*\)?\s*;?\s*$", re.S)


@dataclass(frozen=True)
class Headline:
    title: str
    url: str
    rank: int | None = None
    summary: str | None = None


def clean_title(text: str) -> str:
    return _SPACE.sub(" ", text.replace("\u3000", " ")).strip()


def normalise_url(href: str, base: str, keep_query: bool) -> str | None:
    href = href.strip()
    if not href or href.startswith(("javascript:", "mailto:", "#")):
        return None
    try:
        parts = urlsplit(urljoin(base, href))
    except ValueError:
        # //[not-an-ip]/…, a bad port: urllib raises for a malformed host. One broken link
        # must not fail the whole page (found by atheris on a real homepage, mutated).
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path, parts.query if keep_query else "", ""))


def _finish(surface: Surface, found: list[Headline]) -> list[Headline]:
    out: list[Headline] = []
    seen: set[str] = set()
    for h in found:
        if h.url in seen or len(h.title) < surface.min_title_chars:
            continue
        seen.add(h.url)
        out.append(h)
        if len(out) >= surface.max_items:
            break
    if surface.ranked:
        out = [Headline(h.title, h.url, i + 1, h.summary) for i, h in enumerate(out)]
    return out


def parse_html(surface: Surface, text: str, base_url: str) -> list[Headline]:
    tree = HTMLParser(text)
    roots = tree.css(surface.container) if surface.container else [tree.root] if tree.root else []
    if surface.container and not roots:
        raise ParseError("no_container", f"no element matches container {surface.container!r}")
    pattern = surface.link_re
    assert pattern is not None  # the registry requires one for html surfaces
    found: list[Headline] = []
    for root in roots:
        for a in root.css("a[href]"):
            url = normalise_url(a.attributes.get("href") or "", base_url, surface.keep_query)
            if url is None or not pattern.search(url):
                continue
            title = clean_title(a.text(deep=True, separator=""))
            if len(title) < surface.min_title_chars:
                # image links carry the headline in title=; short visible text is navigation
                title = clean_title(a.attributes.get("title") or "")
            found.append(Headline(title, url))
    return _finish(surface, found)


class _PrologRead(Exception):
    """Raised at the root element's start tag: no DTD or entity declaration can follow it."""


class _StopAtRoot:
    """ElementTree parser target that builds nothing and stops the parse at the root element."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _PrologRead

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        return None


def _refuse_internal_subset(name: str, sysid: str | None, pubid: str | None, has_internal_subset: bool) -> None:
    # The internal subset is where entities are declared, and after an unread parameter entity
    # expat stops reporting its declarations: refuse the subset itself, not only what it reports.
    if has_internal_subset:
        raise DTDForbidden(name, sysid, pubid)


def refuse_xml_entities(body: bytes) -> None:
    """ParseError ``xml_entity`` if either of feedparser's two readings could declare an entity.

    Entity declarations are the billion-laughs / external-entity vector; real feeds never need
    one. A DOCTYPE with no internal subset (the RSS 0.91 Netscape one) stays accepted.
    """
    # 1. The strict reading (feedparser's strict parser is expat): defusedxml runs expat on the
    # same bytes with entity declarations and external references forbidden, so the DTD is
    # read by a real XML parser, not a pattern (a ">" in a system id, a "]" in a comment, a
    # long prolog). Only the prolog matters; the parse stops at the root element.
    parser = DefusedXMLParser(target=_StopAtRoot(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
    parser.parser.StartDoctypeDeclHandler = _refuse_internal_subset
    try:
        parser.feed(body)
        parser.close()
    except _PrologRead:
        pass
    except DefusedXmlException as exc:
        raise ParseError("xml_entity", f"feed has a DOCTYPE internal subset, an entity declaration or an external "
                                       f"reference ({exc}): refused before parsing (entity-expansion guard)") from exc
    except XMLSyntaxError:
        pass  # malformed before any entity was declared: feedparser's lenient mode decides, as before
    # 2. The lenient reading: feedparser rewrites the prolog by pattern before either of its
    # parsers runs and re-declares what it finds there, including entities expat never saw
    # (inside a comment). Refuse any entity text in that part of the document.
    first = _FIRST_ELEMENT.search(body)
    if _ENTITY_TEXT.search(body, 0, first.start() if first else len(body)):
        raise ParseError("xml_entity", "feed has an <!ENTITY declaration before its first element, which "
                                       "feedparser would declare: refused before parsing (entity-expansion guard)")


def parse_feed(surface: Surface, body: bytes) -> list[Headline]:
    refuse_xml_entities(body)
    try:
        parsed = feedparser.parse(body, response_headers={"content-type": "application/xml; charset=utf-8"})
    except Exception as exc:  # noqa: BLE001 - feedparser's lenient path can itself break on hostile bytes
        # b"</height<" raises TypeError inside feedparser (found by atheris): a broken feed, not a crash
        raise ParseError("malformed_xml", f"feed parser failed: {type(exc).__name__}: {exc}") from exc
    entries = parsed.get("entries", [])
    found = []
    for e in entries:
        url = normalise_url(e.get("link") or "", surface.url, keep_query=True)
        title = clean_title(e.get("title") or "")
        if not url or not title:
            continue
        summary = e.get("summary")
        if summary:
            summary = clean_title(HTMLParser(summary).text(separator=" ")) or None
        found.append(Headline(title, url, None, summary))
    if not found and parsed.get("bozo"):
        # lenient parsing keeps what it can; only a feed that yields nothing is reported as broken XML
        raise ParseError("malformed_xml", f"not a readable RSS/Atom feed: {parsed.get('bozo_exception')}")
    if not found and not parsed.get("version"):
        raise ParseError("not_a_feed", "the body is not RSS or Atom")
    return _finish(surface, found)


def _path(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, list) and part.lstrip("-").isdigit():
            idx = int(part)
            data = data[idx] if -len(data) <= idx < len(data) else None
        elif isinstance(data, dict):
            data = data.get(part)
        else:
            return None
        if data is None:
            return None
    return data


def parse_json(surface: Surface, text: str) -> list[Headline]:
    body = text.strip()
    if surface.jsonp:
        m = _JSONP.match(body)
        if not m:
            raise ParseError("malformed_json", "no JSONP wrapper around a JSON value")
        body = m.group("body")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ParseError("malformed_json", f"not JSON: {exc}") from exc
    assert surface.items_path and surface.title_path
    items = _path(data, surface.items_path)
    if not isinstance(items, list):
        raise ParseError("json_shape", f"{surface.items_path!r} is not a list in the response")
    found = []
    for item in items[surface.skip:]:
        if not isinstance(item, dict):
            continue
        title = _path(item, surface.title_path)
        if not isinstance(title, str):
            continue
        if surface.url_path:
            raw_url = _path(item, surface.url_path)
        else:
            try:
                raw_url = surface.url_template.format(**item)  # type: ignore[union-attr]
            except (KeyError, IndexError, ValueError):
                raw_url = None
        url = normalise_url(raw_url, surface.url, keep_query=True) if isinstance(raw_url, str) else None
        if url is None:
            continue
        summary = _path(item, surface.summary_path) if surface.summary_path else None
        found.append(Headline(clean_title(title), url, None, clean_title(summary) or None if isinstance(summary, str) else None))
    return _finish(surface, found)


def parse_body(surface: Surface, body: bytes, content_type: str | None = None) -> list[Headline]:
    """Raw (decompressed) body -> headlines: decode, then the surface's parser.

    The one entry point of the poller and of ``citycredit reparse``, so re-parsing stored
    snapshots runs exactly the code that polling runs.
    """
    if not body.strip():
        raise ParseError("empty", "empty body")
    decoded = decode_body(body, content_type, surface.encoding)
    if surface.parser == "feed":
        # feedparser gets UTF-8 we decoded ourselves: it would trust a gb2312 label on a UTF-8 feed
        text = _XML_DECL_ENCODING.sub(r"\1utf-8\2", decoded.text, count=1)
        return parse_feed(surface, text.encode("utf-8"))
    if surface.parser == "html":
        return parse_html(surface, decoded.text, surface.url)
    return parse_json(surface, decoded.text)
