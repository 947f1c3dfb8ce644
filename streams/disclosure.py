"""Disclosure-website check poller: each city's credit website, checked for the columns
the policy document asks for (双公示, 红黑名单, 信用承诺), as CreditRecords on ``records``.

    citycredit disclosure check [--city 320500] [--dry-run]   # once
    citycredit disclosure poll                                # every CITYCREDIT_DISCLOSURE_INTERVAL s

A column counts as present when any of its marker strings appears in the page's text
(markers per column in citycredit/config/disclosure_sites.toml, overridable per city).
A page that cannot be fetched gives a check with ``ok: false`` and the error — recorded
so the desk sees it, but never scored as "columns missing".
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping

import httpx
from selectolax.lexbor import LexborHTMLParser

from citycredit.exceptions import ConfigError, InputError
from citycredit.scoring.config import DISCLOSURE_COLUMNS, read_toml
from citycredit.scoring.filings import disclosure_record
from citycredit.scoring.periods import CST
from citycredit.settings import Settings
from schemas import CreditRecord

log = logging.getLogger(__name__)
MAX_PAGE_BYTES = 3_000_000  # a credit website's homepage is < 500 kB; more is not a homepage
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
USER_AGENT = "citycredit-disclosure-check/0.1 (city credit monitoring desk)"


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


def page_text(content: bytes, encoding: str | None) -> str:
    """Visible text of a page; the declared charset is tried first, then UTF-8 and GB18030
    (Chinese government sites often declare one and send the other)."""
    for enc in (encoding, "utf-8", "gb18030"):
        if not enc:
            continue
        try:
            html = content.decode(enc)
            break
        except (LookupError, UnicodeDecodeError):
            continue
    else:
        html = content.decode("utf-8", errors="replace")
    tree = LexborHTMLParser(html)
    tree.strip_tags(["script", "style", "noscript"])  # words in code are not columns on the page
    root = tree.body or tree.root
    return root.text(separator=" ") if root is not None else ""


def columns_found(text: str, markers: Mapping[str, tuple[str, ...]]) -> dict[str, bool]:
    return {c: any(m in text for m in markers[c]) for c in DISCLOSURE_COLUMNS}


async def check_site(client: httpx.AsyncClient, site: SiteCheck, now: datetime | None = None) -> CreditRecord:
    ts = (now or datetime.now(CST)).replace(microsecond=0).isoformat()
    try:
        async with client.stream("GET", site.url) as resp:
            if resp.status_code >= 400:
                return disclosure_record(site.adcode, ts, site.url, None, error=f"HTTP {resp.status_code}")
            chunks, size = [], 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > MAX_PAGE_BYTES:
                    return disclosure_record(site.adcode, ts, site.url, None, error=f"page larger than {MAX_PAGE_BYTES} bytes")
                chunks.append(chunk)
            text = page_text(b"".join(chunks), resp.charset_encoding)
    except httpx.HTTPError as exc:
        return disclosure_record(site.adcode, ts, site.url, None, error=f"{type(exc).__name__}: {exc}"[:300])
    return disclosure_record(site.adcode, ts, site.url, columns_found(text, site.markers))


async def check_all(sites: list[SiteCheck], transport: httpx.AsyncBaseTransport | None = None,
                    now: datetime | None = None) -> list[CreditRecord]:
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, transport=transport,
                                 headers={"User-Agent": USER_AGENT}) as client:
        # A handful of sites at a time: polite to government servers, quick enough for ~670 cities a day.
        sem = asyncio.Semaphore(4)

        async def one(site: SiteCheck) -> CreditRecord:
            async with sem:
                return await check_site(client, site, now)

        return list(await asyncio.gather(*(one(s) for s in sites)))


def run(settings: Settings, once: bool = True, cities: list[str] | None = None, dry_run: bool = False) -> int:
    import json
    import time

    from citycredit.scoring.inputs import produce

    sites = load_sites(settings.disclosure_config)
    if cities:
        unknown = sorted(set(cities) - {s.adcode for s in sites})
        if unknown:
            raise InputError(f"--city: no disclosure site configured for {', '.join(unknown)}")
        sites = [s for s in sites if s.adcode in cities]
    while True:
        records = asyncio.run(check_all(sites))
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
