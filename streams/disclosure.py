"""Disclosure-website check poller: each city's credit website, checked for the columns
the policy document asks for (双公示, 红黑名单, 信用承诺), as CreditRecords on ``records``.

    citycredit disclosure check [--city 320500] [--dry-run]   # once
    citycredit disclosure poll                                # every CITYCREDIT_DISCLOSURE_INTERVAL s

A column counts as present when any of its marker strings appears in the page's text
(markers per column in citycredit/config/disclosure_sites.toml, overridable per city).
Pages are fetched with the pollers' ``Fetcher`` (one request per host at a time,
bounded size and time, retries) and decoded with their ``decode_body``. A page that
cannot be fetched gives a check with ``ok: false`` and the error — recorded so the desk
sees it, but never scored as "columns missing".
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping

from urllib.parse import urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser

from citycredit.exceptions import ConfigError, InputError
from citycredit.configfiles import read_toml
from citycredit.scoring.config import DISCLOSURE_COLUMNS
from citycredit.scoring.filings import disclosure_record
from citycredit.scoring.periods import CST
from citycredit.settings import Settings
from schemas import CreditRecord

from .encoding import decode_body
from .exceptions import FetchError
from .fetch import Fetcher, FetchPolicy
from .poller import policy_from

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteCheck:
    adcode: str
    name: str
    url: str
    markers: Mapping[str, tuple[str, ...]]


def load_sites(path: Path) -> list[SiteCheck]:
    data = read_toml(path, "disclosure sites")
    columns = data.get("columns", {})
    if set(columns) != set(DISCLOSURE_COLUMNS):
        raise ConfigError(f"disclosure sites {path}: [columns] must list {', '.join(DISCLOSURE_COLUMNS)}")
    sites = []
    for adcode, spec in sorted(data.get("cities", {}).items()):
        url = spec.get("url", "")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"disclosure sites {path}: cities.{adcode}.url is not an http(s) URL")
        markers = {c: tuple(spec.get("markers", {}).get(c, columns[c])) for c in DISCLOSURE_COLUMNS}
        sites.append(SiteCheck(adcode, spec.get("name", adcode), url, markers))
    return sites


def page_text(content: bytes, content_type: str | None = None) -> str:
    """Visible text of a page, decoded as the pollers decode (declared charset, UTF-8 wins
    over a wrong declaration, GB18030 fallback); scripts and styles removed."""
    html = decode_body(content, content_type).text
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript"])  # words in code are not columns on the page
    root = tree.body or tree.root
    return root.text(separator=" ") if root is not None else ""


def columns_found(text: str, markers: Mapping[str, tuple[str, ...]]) -> dict[str, bool]:
    return {c: any(m in text for m in markers[c]) for c in DISCLOSURE_COLUMNS}


async def check_site(fetcher: Fetcher, site: SiteCheck, now: datetime | None = None) -> CreditRecord:
    """One check with the pollers' fetcher: polite per host, bounded, retried."""
    ts = (now or datetime.now(CST)).replace(microsecond=0).isoformat()
    try:
        result = await fetcher.fetch(site.url, urlsplit(site.url).hostname or site.url)
    except FetchError as exc:
        return disclosure_record(site.adcode, ts, site.url, None, error=f"{exc.reason}: {exc.message}"[:300])
    text = page_text(result.body, result.headers.get("content-type"))
    return disclosure_record(site.adcode, ts, site.url, columns_found(text, site.markers))


async def check_all(sites: list[SiteCheck], policy: FetchPolicy | None = None,
                    transport: httpx.AsyncBaseTransport | None = None, now: datetime | None = None) -> list[CreditRecord]:
    fetcher = Fetcher(policy or FetchPolicy(), transport=transport)
    try:
        # Sites are on different hosts; the fetcher keeps one request per host at a time.
        return list(await asyncio.gather(*(check_site(fetcher, s, now) for s in sites)))
    finally:
        await fetcher.aclose()


def run(settings: Settings, once: bool = True, cities: list[str] | None = None, dry_run: bool = False) -> int:
    import json
    import time

    from citycredit.topic_io import produce

    sites = load_sites(settings.disclosure_config)
    if cities:
        unknown = sorted(set(cities) - {s.adcode for s in sites})
        if unknown:
            raise InputError(f"--city: no disclosure site configured for {', '.join(unknown)}")
        sites = [s for s in sites if s.adcode in cities]
    while True:
        records = asyncio.run(check_all(sites, policy_from(settings)))
        for rec in records:
            p = rec.payload
            status = "ok " + ",".join(c for c, v in p["columns"].items() if v) if p["ok"] else "failed: " + p["error"]
            log.info("disclosure %s %s %s", rec.city_adcode, p["url"], status)
            if dry_run:
                print(json.dumps(rec.asdict(), ensure_ascii=False))
        if not dry_run:
            produce(settings, "records", records)
            print(f"checked {len(records)} sites, {sum(r.payload['ok'] for r in records)} answered; sent to records")
        if once:
            return 0
        time.sleep(settings.disclosure_interval)
