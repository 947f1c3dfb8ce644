"""The site registry: ``citycredit/config/sites.toml`` -> frozen ``Site``/``Surface`` values.

Adding a site (a provincial or city one too) is a data change: a new ``[[site]]``
block. Everything a poller needs to fetch and parse a surface is in ``Surface``.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from citycredit.ids import SURFACES

from .exceptions import RegistryError

PARSERS = ("html", "feed", "json")
_SITE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_SURFACE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "citycredit" / "config" / "sites.toml"


@dataclass(frozen=True)
class Surface:
    """One pollable list of headlines: a homepage, a ranking list or a feed."""

    site: str
    id: str  # unique within the site; the health key is "site/id"
    kind: str  # homepage | hotlist | rss (the observation's ``surface``)
    url: str  # may contain {yyyymmdd}: formatted with the poll date
    parser: str  # html | feed | json
    interval_s: float
    min_title_chars: int
    max_items: int
    encoding: str | None = None
    # html
    link_pattern: str | None = None
    container: str | None = None
    keep_query: bool = False
    # json / jsonp
    jsonp: bool = False
    items_path: str | None = None
    title_path: str | None = None
    url_path: str | None = None
    url_template: str | None = None
    summary_path: str | None = None
    skip: int = 0
    note: str = ""
    link_re: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.site}/{self.id}"

    @property
    def ranked(self) -> bool:
        return self.kind == "hotlist"

    @property
    def host(self) -> str:
        """The real site's host: the politeness unit, also when the URL is rewritten for the recorded server."""
        return urlsplit(self.url).hostname or ""

    def url_for(self, when: datetime, base_url: str = "") -> str:
        url = self.url.replace("{yyyymmdd}", when.strftime("%Y%m%d"))
        return rewrite_url(url, base_url) if base_url else url


def rewrite_url(url: str, base_url: str) -> str:
    """``http://www.people.com.cn/rss/x.xml`` -> ``{base}/www.people.com.cn/rss/x.xml``.

    The recorded-sites server routes by the first path segment, so one server can stand in
    for every host while the pollers keep the real URLs in the registry.
    """
    parts = urlsplit(url)
    rest = parts.path or "/"
    if parts.query:
        rest += "?" + parts.query
    return f"{base_url.rstrip('/')}/{parts.netloc}{rest}"


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    surfaces: tuple[Surface, ...]
    no_hotlist: str = ""  # why a site has no ranking list (said in the file, shown to the desk)


@dataclass(frozen=True)
class Registry:
    sites: tuple[Site, ...]
    path: Path

    def surfaces(self) -> list[Surface]:
        return [s for site in self.sites for s in site.surfaces]

    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        raise RegistryError(f"{self.path}: no site {site_id!r}")

    def surface(self, key: str) -> Surface:
        for s in self.surfaces():
            if s.key == key:
                return s
        raise RegistryError(f"{self.path}: no surface {key!r} (expected site/id)")


def _get(table: dict[str, Any], name: str, kind: type, where: str, default: Any = ...) -> Any:
    if name not in table:
        if default is ...:
            raise RegistryError(f"{where}: '{name}' is missing")
        return default
    value = table[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RegistryError(f"{where}: '{name}' must be {kind.__name__}, got {value!r}")
    return value


def _surface(site_id: str, raw: dict[str, Any], defaults: dict[str, Any], where: str) -> Surface:
    kind = _get(raw, "kind", str, where)
    if kind not in SURFACES:
        raise RegistryError(f"{where}: kind {kind!r} is not one of {', '.join(SURFACES)}")
    sid = _get(raw, "id", str, where, kind)
    if not _SURFACE_ID.match(sid):
        raise RegistryError(f"{where}: id {sid!r} must be lower-case letters, digits, - or _")
    parser = _get(raw, "parser", str, where)
    if parser not in PARSERS:
        raise RegistryError(f"{where}: parser {parser!r} is not one of {', '.join(PARSERS)}")
    url = _get(raw, "url", str, where)
    if not url.startswith(("http://", "https://")):
        raise RegistryError(f"{where}: url {url!r} must start with http:// or https://")
    merged = {**defaults, **raw}
    link_pattern = _get(raw, "link_pattern", str, where, None)
    link_re = None
    if link_pattern is not None:
        try:
            link_re = re.compile(link_pattern)
        except re.error as exc:
            raise RegistryError(f"{where}: link_pattern {link_pattern!r} is not a valid regex: {exc}") from exc
    if parser == "html" and link_re is None:
        raise RegistryError(f"{where}: an html surface needs a link_pattern (which links are articles)")
    if parser == "json":
        for need in ("items_path", "title_path"):
            _get(raw, need, str, where)
        if "url_path" not in raw and "url_template" not in raw:
            raise RegistryError(f"{where}: a json surface needs url_path or url_template")
    surface = Surface(
        site=site_id, id=sid, kind=kind, url=url, parser=parser,
        interval_s=_get(merged, "interval_s", float, where),
        min_title_chars=_get(merged, "min_title_chars", int, where),
        max_items=_get(merged, "max_items", int, where),
        encoding=_get(merged, "encoding", str, where, None),
        link_pattern=link_pattern, container=_get(raw, "container", str, where, None),
        keep_query=_get(raw, "keep_query", bool, where, False),
        jsonp=_get(raw, "jsonp", bool, where, False),
        items_path=_get(raw, "items_path", str, where, None), title_path=_get(raw, "title_path", str, where, None),
        url_path=_get(raw, "url_path", str, where, None), url_template=_get(raw, "url_template", str, where, None),
        summary_path=_get(raw, "summary_path", str, where, None), skip=_get(raw, "skip", int, where, 0),
        note=_get(raw, "note", str, where, ""), link_re=link_re,
    )
    if surface.interval_s <= 0 or surface.min_title_chars < 1 or surface.max_items < 1:
        raise RegistryError(f"{where}: interval_s, min_title_chars and max_items must be positive")
    return surface


def read_toml(p: Path, what: str) -> dict[str, Any]:
    """A desk-edited TOML file, or a RegistryError naming the file and the problem."""
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{what} {p} not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{what} {p} is not valid TOML: {exc}") from exc


def load_registry(path: Path | str | None = None) -> Registry:
    p = Path(path) if path else DEFAULT_FILE
    data = read_toml(p, "site registry (CITYCREDIT_SITES_FILE)")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise RegistryError(f"{p}: [defaults] must be a table")
    defaults = {k: v for k, v in defaults.items() if k in ("interval_s", "min_title_chars", "max_items", "encoding")}
    sites: list[Site] = []
    seen: set[str] = set()
    for i, raw in enumerate(data.get("site", [])):
        where = f"{p.name} site #{i + 1}"
        sid = _get(raw, "id", str, where)
        where = f"{p.name} site {sid!r}"
        if not _SITE_ID.match(sid):
            raise RegistryError(f"{where}: id must be lower-case letters, digits, - or _")
        if sid in seen:
            raise RegistryError(f"{where}: declared twice")
        seen.add(sid)
        site_defaults = {**defaults, **{k: raw[k] for k in ("interval_s", "min_title_chars", "max_items", "encoding") if k in raw}}
        surfaces = tuple(_surface(sid, s, site_defaults, f"{where} surface #{j + 1}") for j, s in enumerate(raw.get("surface", [])))
        ids = [s.id for s in surfaces]
        if len(set(ids)) != len(ids):
            raise RegistryError(f"{where}: surface ids must be unique, got {ids}")
        if not surfaces:
            raise RegistryError(f"{where}: no surfaces")
        no_hotlist = _get(raw, "no_hotlist", str, where, "")
        if not no_hotlist and not any(s.kind == "hotlist" for s in surfaces):
            raise RegistryError(f"{where}: has no hotlist surface; say why in no_hotlist = \"...\"")
        sites.append(Site(id=sid, name=_get(raw, "name", str, where), surfaces=surfaces, no_hotlist=no_hotlist))
    if not sites:
        raise RegistryError(f"{p}: no [[site]] entries")
    return Registry(sites=tuple(sites), path=p)
