"""Parsers per site: on pages the recorded-sites server renders (every registry surface)
and on real saved pages of the sites (../shared/data)."""
from __future__ import annotations

import json

import feedparser
import pytest

from citycredit.ids import SITES
from streams.exceptions import ParseError
from streams.parsers import parse_body
from demo.pages import FILLER_COUNT, article_url, render
from demo.timeline import load_timeline
from streams.registry import load_registry

REGISTRY = load_registry()
TIMELINE = load_timeline()
LAST = len(TIMELINE.frames) - 1
SURFACES = REGISTRY.surfaces()


def _frame_of(minute: int) -> int:
    return TIMELINE.frames.index(minute)


@pytest.mark.parametrize("surface", SURFACES, ids=[s.key for s in SURFACES])
@pytest.mark.parametrize("minute", [0, 160, 330])
def test_recorded_pages_parse_to_exactly_what_the_timeline_shows(surface, minute):
    frame = _frame_of(minute)
    entries = TIMELINE.entries(surface.site, surface.kind, frame, FILLER_COUNT[surface.kind])
    body, ctype = render(surface, SITES[surface.site], entries, TIMELINE.start)
    headlines = parse_body(surface, body, ctype)
    expected = [(e.title, article_url(surface.site, e.number, TIMELINE.start)) for e in entries]
    assert [(h.title, h.url) for h in headlines] == expected
    if surface.ranked:
        assert [h.rank for h in headlines] == list(range(1, len(entries) + 1))
    else:
        assert all(h.rank is None for h in headlines)


def test_every_site_and_story_placement_is_served_at_its_rank():
    # the 苏州 story at minute 160: netease rank 3, tencent rank 5
    frame = _frame_of(160)
    story = TIMELINE.stories[0].title
    for key, rank in (("netease/hotlist", 3), ("tencent/hotlist", 5)):
        s = REGISTRY.surface(key)
        entries = TIMELINE.entries(s.site, s.kind, frame, FILLER_COUNT["hotlist"])
        body, ctype = render(s, SITES[s.site], entries, TIMELINE.start)
        ranks = {h.title: h.rank for h in parse_body(s, body, ctype)}
        assert ranks[story] == rank, key


def test_all_fifteen_sites_have_a_surface_and_the_recorded_server_serves_them():
    assert {s.id for s in REGISTRY.sites} == set(SITES)
    for site in REGISTRY.sites:
        assert site.surfaces
        assert site.no_hotlist or any(s.kind == "hotlist" for s in site.surfaces)


@pytest.mark.parametrize("key, rel, at_least, must_contain", [
    ("tencent/homepage", "realsites/homepages/qq.com/qq.com", 50, "独家视频丨习近平同委内瑞拉总统马杜罗会谈"),  # 2023, GBK bytes
    ("tencent/homepage", "realsites/homepages/qq.com/index.php", 200, "江苏两地团委书记偷情被免职 女方还与镇书记开房"),  # 2014
    ("sina/homepage", "realsites/homepages/sina.com.cn/index.php", 20, "库克发公开信赞财报：将赴北京会见中国员工"),
    ("sina/homepage", "realsites/homepages/sina.com.cn/index.nojs.php", 20, "库克发公开信赞财报：将赴北京会见中国员工"),
    ("sohu/homepage", "realsites/homepages/sohu.com/sohu.html", 200, "聋人学生高考路：一次改写人生的机会"),
    ("xinhua/homepage", "realsites/homepages/xinhuanet.com/xinhua.html", 200, "北大农村户籍新生超18%"),
    ("netease/homepage", "html/gne/test_list_page/163/1.html", 100, "在中国，读文科到底有多惨"),
])
def test_real_homepages(shared_data, key, rel, at_least, must_contain):
    surface = REGISTRY.surface(key)
    headlines = parse_body(surface, (shared_data / rel).read_bytes(), "text/html")
    titles = [h.title for h in headlines]
    assert len(headlines) >= at_least
    assert must_contain in titles
    assert len({h.url for h in headlines}) == len(headlines)
    assert all(len(t) >= surface.min_title_chars for t in titles)
    assert all("?" not in h.url and "#" not in h.url for h in headlines)  # tracking parameters dropped
    assert not any(t in ("更多>>", "国内", "新闻") for t in titles)


def test_real_hotlist_rows_round_trip_through_the_json_parsers(shared_data):
    """Real sina hot-list titles (Haoqi7/news-archive) in the JSONP shape parse in order."""
    rows = []
    with open(shared_data / "realsites" / "lists" / "sina_hotlist_Haoqi7.tsv", encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        for line in fh:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.append(row)
            if len(rows) == 20:
                break
    data = {"data": [{"id": str(i), "title": r["title"], "url": f"https://news.sina.com.cn/c/2025-03-27/doc-i{i:08d}.shtml"}
                     for i, r in enumerate(rows)]}
    body = ("var data = " + json.dumps(data, ensure_ascii=False) + ";").encode()
    got = parse_body(REGISTRY.surface("sina/hotlist"), body, "application/javascript")
    expected = [r["title"].strip() for r in rows if len(r["title"].strip()) >= 8]
    assert [h.title for h in got] == expected
    assert [h.rank for h in got] == list(range(1, len(expected) + 1))


def test_tencent_header_item_is_skipped_and_summary_kept():
    data = {"idlist": [{"newslist": [{"id": "hdr", "title": "腾讯新闻热点榜 每日更新"},
                                     {"id": "20261127A01", "title": "成都一出租车司机拾金不昧", "abstract": " 归还 20 万元 "}]}]}
    got = parse_body(REGISTRY.surface("tencent/hotlist"), json.dumps(data).encode(), "application/json")
    assert [(h.title, h.url, h.rank, h.summary) for h in got] == [
        ("成都一出租车司机拾金不昧", "https://new.qq.com/rain/a/20261127A01", 1, "归还 20 万元")]


@pytest.mark.parametrize("key, body, reason", [
    ("sina/hotlist", b"var data = {not json};", "malformed_json"),
    ("sina/hotlist", b"<html>blocked</html>", "malformed_json"),
    ("netease/hotlist", b'{"data": {"items": []}}', "json_shape"),
    ("people/rss", b"this is not xml at all", "malformed_xml"),
    ("people/rss", b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                   b"<rss><channel><item><title>&lol2;</title><link>http://www.people.com.cn/n1/2026/1127/c1-1.html</link></item></channel></rss>",
     "xml_entity"),
    ("people/homepage", b"   \n  ", "empty"),
])
def test_bad_bodies_raise_a_parse_error_with_a_reason(key, body, reason):
    surface = REGISTRY.surface(key)
    with pytest.raises(ParseError) as err:
        parse_body(surface, body, "application/xml")
    assert err.value.reason == reason


def test_gbk_feed_mislabelled_and_correct_both_parse():
    item = "<item><title>无锡一餐馆使用地沟油被查处</title><link>https://www.sohu.com/a/1_2</link></item>"
    xml = f'<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>搜狐</title>{item}</channel></rss>'
    surface = REGISTRY.surface("sohu/rss")
    for body in (xml.encode("gbk"), xml.encode("utf-8")):  # real GBK, and UTF-8 under a gb2312 label
        got = parse_body(surface, body, "text/xml")
        assert [h.title for h in got] == ["无锡一餐馆使用地沟油被查处"]


def test_truncated_feed_keeps_the_items_it_has():
    # feedparser's lenient mode: a feed cut off mid-item still yields what arrived
    body = b"<rss><channel><item><title>\xe8\x8b\x8f\xe5\xb7\x9e\xe9\xa3\x9f\xe5\x93\x81\xe4\xbc\x81\xe4\xb8\x9a\xe8\xa2\xab\xe7\xab\x8b\xe6\xa1\x88</title><link>http://www.people.com.cn/n1/2026/1127/c1-1.html</link></item"
    got = parse_body(REGISTRY.surface("people/rss"), body, "application/xml")
    assert [h.title for h in got] == ["苏州食品企业被立案"]


def test_a_malformed_link_is_skipped_not_the_whole_page():
    # Found by atheris (tests/atheris_harness.py parsers) on a mutated real homepage: an href
    # whose host urllib refuses (//[not-an-ip]/...) raised ValueError out of the parser.
    surface = load_registry().surface("people/homepage")
    good = "http://society.people.com.cn/n1/2026/1127/c1008-40610000.html"
    page = (f'<html><body><a href="//[em_func_btn]/x">苏州一食品企业使用过期原料被立案调查</a>'
            f'<a href="{good}">南京一药企虚假宣传被罚款二十万元</a></body></html>').encode()
    headlines = parse_body(surface, page, "text/html; charset=utf-8")
    assert [h.url for h in headlines] == [good]


def test_bytes_that_break_feedparser_are_a_malformed_feed():
    # Found by atheris: feedparser's lenient SGML path raises TypeError on b"</height<".
    with pytest.raises(ParseError, match="feed parser failed"):
        parse_body(load_registry().surface("people/rss"), b"</height<", "application/xml")


# Entities that expand one "&big;" in a title to 10,002 characters (the size the security read saw).
_ENTITIES = ('<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
             '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY big "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;xy">')
_LINK = "http://www.people.com.cn/n1/2026/1127/c1-1.html"
_BIG_ITEM = f"<rss version=\"2.0\"><channel><item><title>&big;</title><link>{_LINK}</link></item></channel></rss>"


@pytest.mark.parametrize("prolog", [
    # The first three passed the old DOCTYPE regex and came out as a 10,002-character title.
    pytest.param(f'<!DOCTYPE rss SYSTEM "x>y" [{_ENTITIES}]>', id="gt-inside-system-id"),
    pytest.param(f"<!DOCTYPE rss [<!-- ] -->{_ENTITIES}]>", id="bracket-inside-subset-comment"),
    pytest.param("<!--" + "x" * 70_000 + f"--><!DOCTYPE rss [{_ENTITIES}]>", id="doctype-after-64kb-comment"),
    # expat sees only a comment, but feedparser re-declares the <!ENTITY lines it finds in it
    pytest.param("<!--\n<!DOCTYPE rss>\n" + _ENTITIES.replace("><", ">\n<") + "\n-->", id="entities-in-a-prolog-comment"),
    # declarations after an unread parameter entity are not reported by expat: the subset is refused
    pytest.param(f'<!DOCTYPE rss SYSTEM "x" [ %pe; {_ENTITIES} ]>', id="entities-after-parameter-entity"),
    pytest.param(f"<!DOCTYPE rss [{_ENTITIES}]>", id="plain-internal-subset"),
])
def test_entity_declarations_are_refused_however_the_doctype_is_dressed(prolog):
    body = f'<?xml version="1.0"?>{prolog}{_BIG_ITEM}'.encode()
    with pytest.raises(ParseError) as err:
        parse_body(REGISTRY.surface("people/rss"), body, "application/xml")
    assert err.value.reason == "xml_entity" and "refused before parsing" in str(err.value)


def test_a_10002_character_entity_title_is_refused_not_parsed():
    body = f'<?xml version="1.0"?><!DOCTYPE rss [{_ENTITIES}]>{_BIG_ITEM}'.encode()
    # the premise: feedparser on its own expands the title to 10,002 characters
    assert len(feedparser.parse(body).entries[0].title) == 10_002
    with pytest.raises(ParseError) as err:
        parse_body(REGISTRY.surface("people/rss"), body, "application/xml")
    assert err.value.reason == "xml_entity"


@pytest.mark.parametrize("body", [
    # RSS 0.91 as Netscape published it: a DOCTYPE that names an external DTD, no internal subset
    pytest.param('<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
                 '"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel>'
                 f"<item><title>无锡一餐馆使用地沟油被查处</title><link>{_LINK}</link></item></channel></rss>", id="rss091-doctype"),
    pytest.param(f'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>无锡一餐馆使用地沟油被查处</title>'
                 f'<link href="{_LINK}"/></entry></feed>', id="atom"),
    # not well-formed (an HTML entity XML does not know, a stray "<"), no DOCTYPE: feedparser's lenient mode reads it
    pytest.param(f"<rss><channel><item><title>无锡一餐馆&nbsp;使用地沟油被查处 < </title><link>{_LINK}</link></item></channel></rss>",
                 id="malformed-without-doctype"),
])
def test_feeds_without_entity_declarations_still_parse(body):
    got = parse_body(REGISTRY.surface("people/rss"), body.encode(), "application/xml")
    assert [h.url for h in got] == [_LINK] and got[0].title.startswith("无锡一餐馆")
