"""Page templates of the recorded-sites server, shaped like the real sites' surfaces.

Article URLs follow each site's real URL scheme (the registry's link patterns match
them); homepages carry navigation, image links with the headline in ``title=``, and
tracking query strings, as the real ones do. Three homepages reproduce real encoding
traps: people declares gb2312 but is UTF-8, tencent is GBK labelled gb2312, ce is GBK
with no declaration at all (the registry's hint decides). Sohu's feed is GBK too.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from html import escape
from xml.sax.saxutils import escape as xml_escape

from streams.registry import Surface
from .timeline import Entry


def _h(site: str, number: int, n: int = 32) -> str:
    return hashlib.sha1(f"{site}:{number}".encode()).hexdigest()[:n]


def article_url(site: str, number: int, day: datetime) -> str:
    """The article URL of entry ``number`` on ``site``, in the site's real scheme."""
    Y, m, d = day.strftime("%Y"), day.strftime("%m"), day.strftime("%d")
    ymd = Y + m + d
    h = _h(site, number)
    return {
        "people": f"http://society.people.com.cn/n1/{Y}/{m}{d}/c1008-{number}.html",
        "xinhua": f"http://www.news.cn/local/{ymd}/{h}/c.html",
        "chinacom": f"http://news.china.com.cn/{Y}-{m}/{d}/content_{number}.htm",
        "cctv": f"https://news.cctv.com/{Y}/{m}/{d}/ARTI{h[:18]}{number}.shtml",
        "qstheory": f"http://www.qstheory.cn/dukan/{Y}-{m}/{d}/c_{number}.htm",
        "chinadaily": f"https://cn.chinadaily.com.cn/a/{Y}{m}/{d}/WS{h[:24]}.html",
        "cnr": f"http://news.cnr.cn/native/gd/{ymd}/t{ymd}_{number}.shtml",
        "cri": f"https://news.cri.cn/{ymd}/{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}.html",
        "cyol": f"http://news.cyol.com/gb/articles/content/{Y}-{m}/{d}/content_{number}.htm",
        "gmw": f"https://news.gmw.cn/{Y}-{m}/{d}/content_{number}.htm",
        "ce": f"http://www.ce.cn/xwzx/gnsz/gdxw/{Y}{m}/{d}/t{ymd}_{number}.shtml",
        "sina": f"https://news.sina.com.cn/c/{Y}-{m}-{d}/doc-i{h[:15]}.shtml",
        "netease": f"https://www.163.com/dy/article/{netease_docid(number)}.html",
        "sohu": f"https://www.sohu.com/a/{number}_{int(h[:6], 16) % 900000 + 100000}",
        "tencent": f"https://new.qq.com/rain/a/{tencent_id(number, day)}",
    }.get(site, f"https://{site}.example.cn/{ymd}/{number}.html")


def netease_docid(number: int) -> str:
    return hashlib.sha1(f"netease:{number}".encode()).hexdigest()[:16].upper()


def tencent_id(number: int, day: datetime) -> str:
    return f"{day.strftime('%Y%m%d')}A0{hashlib.sha1(f'tencent:{number}'.encode()).hexdigest()[:6].upper()}00"


_NAV = ("国内", "国际", "财经", "社会", "评论", "图片", "视频", "更多>>")
# How each homepage is encoded and labelled: (bytes encoding, <meta> charset or None, header charset or None)
_HOMEPAGE_ENCODING = {
    "people": ("utf-8", "gb2312", None),  # the real gne people page: says gb2312, is UTF-8
    "tencent": ("gb18030", "gb2312", "GB2312"),  # the real 2023 qq.com: GBK bytes
    "ce": ("gb18030", None, None),  # no declaration anywhere: the registry hint decides
}


def homepage(surface: Surface, name: str, entries: list[Entry], day: datetime) -> tuple[bytes, str]:
    enc, meta, header = _HOMEPAGE_ENCODING.get(surface.site, ("utf-8", "utf-8", "utf-8"))
    host = surface.host
    nav = "".join(f'<li><a href="http://{host}/{i}/">{escape(t)}</a></li>' for i, t in enumerate(_NAV))
    blocks = []
    for i in range(0, len(entries), 10):
        items = []
        for e in entries[i:i + 10]:
            url = article_url(surface.site, e.number, day)
            if surface.site == "sohu":
                url += f"?spm=smpc.home.top-news{i // 10}.{e.number % 97}"
            items.append(f'<li><a href="{escape(url)}" target="_blank">{escape(e.title)}</a></li>')
        first = article_url(surface.site, entries[i].number, day)
        blocks.append(f'<div class="news-block"><div class="pic"><a href="{escape(first)}" title="{escape(entries[i].title)}">'
                      f'<img src="//img.{host}/{i}.jpg"></a></div><ul class="list">{"".join(items)}</ul>'
                      f'<a class="more" href="http://{host}/more{i}/">更多</a></div>')
    meta_tag = f'<meta charset="{meta}">' if meta else ""
    html = (f"<!DOCTYPE html><html><head>{meta_tag}<title>{escape(name)}</title>"
            f'<script>var pageConfig = {{"site": "{surface.site}"}};</script></head><body>'
            f'<div class="top-nav"><ul>{nav}</ul></div><div class="main">{"".join(blocks)}</div>'
            f'<div class="footer"><a href="http://{host}/about/">关于我们</a> 版权所有 {escape(name)}</div></body></html>')
    ctype = "text/html" + (f"; charset={header}" if header else "")
    return html.encode(enc, errors="xmlcharrefreplace"), ctype


def rss(surface: Surface, name: str, entries: list[Entry], day: datetime) -> tuple[bytes, str]:
    gbk = surface.site == "sohu"  # the real rss.news.sohu.com feeds are GBK
    enc_label = "gb2312" if gbk else "utf-8"
    items = []
    for e in entries:
        url = article_url(surface.site, e.number, day)
        desc = f"<description>{xml_escape(e.summary)}</description>" if e.summary else ""
        items.append(f"<item><title>{xml_escape(e.title)}</title><link>{xml_escape(url)}</link>{desc}"
                     f"<pubDate>{day.strftime('%a, %d %b %Y %H:%M:%S %z')}</pubDate></item>")
    xml = (f'<?xml version="1.0" encoding="{enc_label}"?><rss version="2.0"><channel><title>{xml_escape(name)}</title>'
           f"<link>{xml_escape(surface.url)}</link><description>{xml_escape(name)}</description>{''.join(items)}</channel></rss>")
    return xml.encode("gb18030" if gbk else "utf-8", errors="xmlcharrefreplace"), "application/xml"


def json_list(surface: Surface, entries: list[Entry], day: datetime) -> tuple[bytes, str]:
    """The JSON/JSONP ranking and channel lists, in each API's own shape."""
    site = surface.site
    if site == "sina":
        data = {"data": [{"id": _h(site, e.number, 10), "title": e.title, "media": "新浪新闻", "top_num": str(100000 - 997 * i),
                          "url": article_url(site, e.number, day), "create_date": day.strftime("%Y-%m-%d"),
                          "create_time": day.strftime("%H:%M:%S")} for i, e in enumerate(entries)]}
        return ("var data = " + json.dumps(data, ensure_ascii=False) + ";").encode(), "application/javascript; charset=utf-8"
    if site == "netease":
        data = {"code": 200, "message": "成功", "data": {"list": [
            {"docid": netease_docid(e.number), "title": e.title, "imgsrc": "", "source": "网易新闻",
             "ptime": day.strftime("%Y-%m-%d %H:%M:%S")} for e in entries]}}
        return json.dumps(data, ensure_ascii=False).encode(), "application/json;charset=UTF-8"
    if site == "tencent":
        header = {"id": "header", "title": "腾讯新闻热点榜", "articletype": "560"}
        news = [{"id": tencent_id(e.number, day), "title": e.title, "abstract": e.summary or "", "source": "腾讯新闻",
                 "hotEvent": {"hotScore": 5000000 - 40000 * i}, "timestamp": int(day.timestamp())}
                for i, e in enumerate(entries)]
        data = {"ret": 0, "idlist": [{"newslist": [header] + news}]}
        return json.dumps(data, ensure_ascii=False).encode(), "application/json"
    if site == "cctv":
        data = {"data": {"total": len(entries), "list": [
            {"title": e.title, "url": article_url(site, e.number, day), "brief": e.summary or "",
             "focus_date": day.strftime("%Y-%m-%d %H:%M:%S"), "image": ""} for e in entries]}}
        return ("news(" + json.dumps(data, ensure_ascii=False) + ")").encode(), "application/javascript"
    # a site added to the registry later: a plain list in the configured paths' simplest shape
    return json.dumps({"items": [{"title": e.title, "url": article_url(site, e.number, day)} for e in entries]},
                      ensure_ascii=False).encode(), "application/json"


FILLER_COUNT = {"homepage": 60, "hotlist": 30, "rss": 20}


def render(surface: Surface, name: str, entries: list[Entry], day: datetime) -> tuple[bytes, str]:
    if surface.parser == "html":
        return homepage(surface, name, entries, day)
    if surface.parser == "feed":
        return rss(surface, name, entries, day)
    return json_list(surface, entries, day)
