"""The HTTP surface on the worker's web server: desk pages, JSON API, CSV, SSE, /metrics.

Routes are plain aiohttp handlers added to the aiohttp application Faust's web server
runs (``app.web.web_app``); tests add the same routes to their own aiohttp app.
Reads are open (a desk is a reading room); writes need ``Authorization: Bearer
<CITYCREDIT_API_TOKEN>``, take JSON of bounded size and answer errors as
``{"error": "..."}`` with a 4xx status that says which.
"""
from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from citycredit.exceptions import InputError
from citycredit.scoring.exceptions import UnknownEvent
from citycredit.ids import ALERT_TYPES, ASPECTS, DOMAINS, POLARITIES, RESPONSE_KINDS, SITES, SUBFIELDS, SURFACES
from citycredit.metrics import Metrics
from citycredit.scoring.scope import GROUPS, PROVINCE_SET_LABELS
from citycredit.secretbox import SecretBox
from citycredit.settings import Settings

from .desk import DeskView, aspect_points
from .exceptions import HTTPProblem
from .filings import validate_filing
from .ratelimit import RateLimiter, client_address, retry_after_header, trusted_networks
from citycredit.alerting.exceptions import SubscriptionURLRefused
from citycredit.alerting.subscriptions import (Filters, alert_key, parse_filters, parse_subscription, valid_subscription_id)

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
Publish = Callable[[str, str, "dict[str, Any] | None"], Awaitable[None]]
_ADCODE = re.compile(r"^\d{6}$")
_PERIOD = re.compile(r"^(12m:)?\d{4}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
SSE_KEEPALIVE_SECONDS = 15.0
SSE_BUSY_RETRY_SECONDS = 30  # Retry-After when every stream slot is taken: streams are long-lived, a slot frees slowly


@dataclass
class DeskContext:
    desk: DeskView
    settings: Settings
    publish: Publish                       # (topic, key, JSON value or None for a tombstone)
    metrics: Metrics | None = None
    registry: CollectorRegistry | None = None
    resolve: Callable[[str, int], list[str]] | None = None   # DNS for the SSRF guard (None: the system's)
    caught_up: Callable[[], bool] = lambda: True
    box: SecretBox | None = None          # seals webhook secrets (None: from settings); the worker shares one with delivery
    # the scored topics' records for the monthly report (None: read from the broker on each request)
    report_records: Callable[[], Awaitable[tuple[list[Any], int]]] | None = None


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=_dumps)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole request body, or HTTPProblem 413 as soon as it passes ``limit`` bytes.

    ``content.read(n)`` returns what has arrived so far, not ``n`` bytes: a body sent in two
    TCP segments would be cut at the first, so read until EOF. Counting as it arrives catches
    a chunked body without Content-Length, however slowly it comes.
    """
    parts: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"body is larger than the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def add_routes(router: web.UrlDispatcher, ctx: DeskContext) -> None:
    settings, desk = ctx.settings, ctx.desk
    limiter = RateLimiter(settings.api_rate_limit, settings.api_rate_burst)
    proxies = trusted_networks(settings.trusted_proxies)  # a bad entry stops the worker at start, saying which
    open_streams = 0  # alert streams being served; one event loop, so no lock between the check and the count
    box = ctx.box or SecretBox.from_settings(settings)

    def route(name: str) -> Callable[[Callable[[web.Request], Awaitable[web.StreamResponse]]], Any]:
        """Turn raised problems into JSON errors and count every request by route and status."""
        def wrap(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
            async def run(request: web.Request) -> web.StreamResponse:
                try:
                    # per client: the connecting address, or behind a trusted proxy the address it
                    # forwarded (without CITYCREDIT_TRUSTED_PROXIES every desk shares the proxy's bucket)
                    wait = limiter.take(client_address(request.remote, request.headers.getall("X-Forwarded-For", ()),
                                                       proxies))
                    if wait:
                        raise HTTPProblem(429, f"too many requests: at most {settings.api_rate_limit:g}/s "
                                               f"(burst {settings.api_rate_burst}); retry in {wait:.1f}s",
                                          {"Retry-After": retry_after_header(wait)})
                    response = await handler(request)
                except HTTPProblem as exc:
                    response = _error(exc.status, exc.message, exc.headers)
                except UnknownEvent as exc:
                    response = _error(422, str(exc))
                except SubscriptionURLRefused as exc:
                    response = _error(422, str(exc))
                except InputError as exc:
                    response = _error(400, str(exc))
                if ctx.metrics:
                    ctx.metrics.api_requests_total.labels(route=name, status=str(response.status)).inc()
                return response
            return run
        return wrap

    def require_token(request: web.Request) -> None:
        expected = settings.api_token
        if not expected:
            raise HTTPProblem(503, "writes are disabled: the server has no API token (set CITYCREDIT_API_TOKEN)")
        header = request.headers.get("Authorization", "")
        if not header:
            raise HTTPProblem(401, "missing token: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        scheme, _, token = header.partition(" ")
        # compare_digest: the time taken does not reveal how much of a guess was right. Both sides
        # are hashed first: compare_digest returns at once on unequal lengths, which would tell
        # a guesser the token's length.
        if scheme.lower() != "bearer" or not hmac.compare_digest(hashlib.sha256(token.strip().encode()).digest(),
                                                                 hashlib.sha256(expected.encode()).digest()):
            raise HTTPProblem(403, "wrong token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    async def read_json(request: web.Request) -> Any:
        limit = settings.web_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise HTTPProblem(413, f"body of {request.content_length} bytes is larger than the limit of {limit} bytes")
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise HTTPProblem(415, f"expected Content-Type: application/json, got {ctype or 'none'}")
        body = await read_body(request, limit)
        if not body:
            raise HTTPProblem(400, "empty body: expected a JSON object")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPProblem(400, f"body is not valid JSON: {exc}") from exc

    def period_arg(request: web.Request) -> str | None:
        period = request.query.get("period") or desk.default_period()
        if period and not _PERIOD.match(period):
            raise HTTPProblem(400, f"period: expected YYYY-MM or 12m:YYYY-MM, got {period!r}")
        return period

    def limit_arg(request: web.Request, default: int, most: int) -> int:
        try:
            n = int(request.query.get("limit", default))
        except ValueError as exc:
            raise HTTPProblem(400, "limit: expected an integer") from exc
        return max(1, min(n, most))

    # ---- pages -------------------------------------------------------------------
    async def desk_page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=_page_headers())

    # ---- reads -------------------------------------------------------------------
    @route("meta")
    async def meta(request: web.Request) -> web.StreamResponse:
        return _json({"periods": desk.periods(), "default_period": desk.default_period(),
                      "provinces": desk.province_names(), "sites": SITES, "surfaces": SURFACES, "domains": DOMAINS,
                      "aspects": ASPECTS, "subfields": SUBFIELDS, "alert_types": ALERT_TYPES, "polarities": POLARITIES,
                      "response_kinds": RESPONSE_KINDS, "caught_up": ctx.caught_up(),
                      "groups": GROUPS, "province_sets": PROVINCE_SET_LABELS,
                      "writes_enabled": bool(settings.api_token)})

    def ranking_rows(request: web.Request) -> tuple[str | None, str | None, str | None, list[dict[str, Any]]]:
        period = period_arg(request)
        province = request.query.get("province") or None
        group = request.query.get("group") or None
        return period, province, group, desk.ranking(period, province, group) if period else []

    @route("ranking")
    async def ranking(request: web.Request) -> web.StreamResponse:
        period, province, group, rows = ranking_rows(request)
        return _json({"period": period, "province": province, "group": group, "rows": rows})

    report_busy = asyncio.Lock()  # one report at a time: each reads every scored topic from its start

    @route("report")
    async def report(request: web.Request) -> web.StreamResponse:
        from citycredit.reporting import FORMATS, NATIONAL

        period = request.query.get("period", "")
        if not _MONTH.match(period):
            raise HTTPProblem(400, f"period: expected a calendar month YYYY-MM, got {period!r}")
        fmt = request.query.get("format", "html")
        if fmt not in FORMATS:
            raise HTTPProblem(400, f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
        scope = request.query.get("scope") or NATIONAL
        if report_busy.locked():
            raise HTTPProblem(503, "another report is being made; retry shortly", {"Retry-After": "10"})
        async with report_busy:
            if ctx.report_records is not None:
                records, _ = await ctx.report_records()
            else:
                from citycredit.topic_io import read_records

                records, _ = await read_records(settings)
            # CPU-bound (scoring every city, charts, PDF layout): off the event loop
            data = await asyncio.get_running_loop().run_in_executor(None, _make_report, records, period, scope, fmt)
        return web.Response(body=data, headers={"Content-Type": REPORT_TYPES[fmt],
                                                "Content-Disposition": _attachment(f"citycredit-{scope}-{period}.{fmt}")})

    @route("ranking_csv")
    async def ranking_csv(request: web.Request) -> web.StreamResponse:
        # the board's columns: rank among its peers, the peer set, and what the score rests on
        period, province, group, rows = ranking_rows(request)
        header = ["rank", "of", "peers", "city", "city_adcode", "province", "period", "score", *ASPECTS, "penalty",
                  "offset", "measured_share", "unmeasured", "previous_period", "score_change", "rank_change"]
        table = [[r["rank"], r["of"], r["peers"], r["city"], r["city_adcode"], r["province"], r["period"], r["score"],
                  *[aspect_points(r)[a] for a in ASPECTS], r["penalty"], r["offset"],
                  r["coverage"]["measured_share"], " ".join(r["coverage"]["unmeasured"]),
                  *((r["change"]["previous_period"], r["change"]["score"], r["change"]["rank"]) if r["change"] else ("", "", ""))]
                 for r in rows]
        name = (f"ranking-{(period or 'none').replace(':', '-')}{'-' + province if province else ''}"
                f"{'-' + group if group else ''}.csv")
        return _csv(header, table, name)

    @route("city")
    async def city(request: web.Request) -> web.StreamResponse:
        adcode = request.match_info["adcode"]
        if not _ADCODE.match(adcode):
            raise HTTPProblem(400, f"city: expected a 6-digit adcode, got {adcode!r}")
        data = desk.city(adcode, period_arg(request))
        if data is None:
            raise HTTPProblem(404, f"no data for city {adcode}")
        return _json(data)

    def event_rows(request: web.Request) -> list[dict[str, Any]]:
        q = request.query.get("q", "")
        if len(q) > 100:
            raise HTTPProblem(400, "q: at most 100 characters")
        city = request.query.get("city") or None
        if city and not _ADCODE.match(city):
            raise HTTPProblem(400, f"city: expected a 6-digit adcode, got {city!r}")
        domain = request.query.get("domain") or None
        polarity = request.query.get("polarity") or None
        if domain and domain not in DOMAINS:
            raise HTTPProblem(400, f"domain: not one of {', '.join(DOMAINS)}")
        if polarity and polarity not in POLARITIES:
            raise HTTPProblem(400, f"polarity: not one of {', '.join(POLARITIES)}")
        return desk.search(q, city, domain, polarity, limit_arg(request, 200, 5000))

    @route("events")
    async def events(request: web.Request) -> web.StreamResponse:
        return _json({"rows": event_rows(request)})

    @route("events_csv")
    async def events_csv(request: web.Request) -> web.StreamResponse:
        cols = ["ts", "city", "city_adcode", "province", "domain", "subfield", "polarity", "aspect", "site", "surface",
                "rank", "title", "url", "story_id"]
        return _csv(cols, [[r.get(c) for c in cols] for r in event_rows(request)], "events.csv")

    @route("alerts")
    async def alerts(request: web.Request) -> web.StreamResponse:
        return _json({"rows": desk.recent_alerts(limit_arg(request, 100, 1000))})

    @route("sources")
    async def sources(request: web.Request) -> web.StreamResponse:
        known = {f"{h['site']}/{h['surface']}": h for h in desk.health()}
        rows = []
        for site, name in SITES.items():
            surfaces = [known[k] for k in sorted(known) if k.split("/", 1)[0] == site]
            rows.append({"site": site, "name": name, "surfaces": surfaces})
        return _json({"rows": rows})

    @route("stream")
    async def stream(request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: alerts in event-time order; resumes after ``Last-Event-ID``."""
        filters = Filters()
        sub_id = request.query.get("subscription")
        if sub_id:
            sub = desk.subscriptions.get(sub_id)
            if sub is None:
                raise HTTPProblem(404, f"no subscription {sub_id!r}")
            filters = sub.filters
        else:
            raw = {k: request.query.getall(k) for k in ("cities", "provinces", "domains", "subfields", "types")
                   if k in request.query}
            filters = parse_filters(raw)
        last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
        nonlocal open_streams
        # Each stream holds a connection and a queue for as long as the client likes: without a
        # cap, clients that open streams and never read exhaust the worker's file descriptors.
        if open_streams >= settings.sse_max_streams:
            raise HTTPProblem(503, f"too many open alert streams (at most {settings.sse_max_streams}, "
                                   "CITYCREDIT_SSE_MAX_STREAMS); retry later",
                              {"Retry-After": str(SSE_BUSY_RETRY_SECONDS)})
        open_streams += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        queue = desk.listen()  # listen before the backlog so nothing falls between the two
        if ctx.metrics:
            ctx.metrics.sse_clients.inc()
        sent: set[str] = set()
        try:
            await response.prepare(request)
            await response.write(b"retry: 3000\n\n")
            if last is not None:
                for alert in desk.alerts_after(last or None, limit=100_000):
                    if filters.matches(alert, desk.province_of):
                        await response.write(_sse(alert))
                        sent.add(alert["key"])
            while True:
                try:
                    alert = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    if getattr(queue, "overflowed", False):
                        break  # the client fell behind; it reconnects with Last-Event-ID
                    await response.write(b": keepalive\n\n")
                    continue
                if alert["key"] not in sent and filters.matches(alert, desk.province_of):
                    await response.write(_sse(alert))
        except ConnectionResetError:
            pass  # the client went away; a cancellation (server stopping) propagates
        finally:
            open_streams -= 1
            desk.unlisten(queue)
            if ctx.metrics:
                ctx.metrics.sse_clients.dec()
        return response

    async def metrics(request: web.Request) -> web.StreamResponse:
        body = generate_latest(ctx.registry) if ctx.registry is not None else b""
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # ---- writes ------------------------------------------------------------------
    @route("responses")
    async def file_response(request: web.Request) -> web.StreamResponse:
        require_token(request)
        payload = await read_json(request)
        adcode = payload.get("city_adcode") if isinstance(payload, dict) else None
        known = desk.major_events(adcode) if isinstance(adcode, str) else {}
        response = validate_filing(payload, known)
        value = response.asdict()
        await ctx.publish("responses", response.city_adcode, value)
        return _json({"accepted": True, "response": value}, status=202)

    @route("subscriptions")
    async def create_subscription(request: web.Request) -> web.StreamResponse:
        require_token(request)
        payload = await read_json(request)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # DNS lookups block; keep them off the event loop.
        sub, secret = await asyncio.get_running_loop().run_in_executor(
            None, lambda: parse_subscription(payload, allow_private=settings.webhook_allow_private, now_iso=now,
                                             box=box, resolve=ctx.resolve))
        await ctx.publish("subscriptions", sub.id, sub.to_json())  # sealed: the topic never holds it in clear
        # The secret is shown once, here; listings never repeat it.
        return _json({**sub.public(), **({"secret": secret} if secret is not None else {})}, status=201)

    @route("subscriptions_list")
    async def list_subscriptions(request: web.Request) -> web.StreamResponse:
        require_token(request)
        return _json({"rows": [s.public() for s in desk.subscriptions.values()]})

    @route("subscription_delete")
    async def delete_subscription(request: web.Request) -> web.StreamResponse:
        require_token(request)
        sub_id = request.match_info["sub_id"]
        if not valid_subscription_id(sub_id):
            raise HTTPProblem(400, f"not a subscription id: {sub_id!r}")
        if sub_id not in desk.subscriptions:
            raise HTTPProblem(404, f"no subscription {sub_id!r}")
        await ctx.publish("subscriptions", sub_id, None)
        return _json({"deleted": sub_id})

    router.add_get("/desk/", desk_page)
    router.add_static("/desk/static/", STATIC, append_version=False)
    router.add_get("/api/meta", meta)
    router.add_get("/api/ranking", ranking)
    router.add_get("/api/ranking.csv", ranking_csv)
    router.add_get("/api/report", report)
    router.add_get("/api/cities/{adcode}", city)
    router.add_get("/api/events", events)
    router.add_get("/api/events.csv", events_csv)
    router.add_get("/api/alerts", alerts)
    router.add_get("/api/alerts/stream", stream)
    router.add_get("/api/sources", sources)
    router.add_post("/api/responses", file_response)
    router.add_post("/api/subscriptions", create_subscription)
    router.add_get("/api/subscriptions", list_subscriptions)
    router.add_delete("/api/subscriptions/{sub_id}", delete_subscription)
    router.add_get("/metrics", metrics)


def _sse(alert: dict[str, Any]) -> bytes:
    body = {k: v for k, v in alert.items() if k != "key"}
    return f"id: {alert_key(alert)}\nevent: alert\ndata: {_dumps(body)}\n\n".encode()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


REPORT_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _make_report(records: list[Any], period: str, scope: str, fmt: str) -> bytes:
    from citycredit.reporting import ReportInputs, build_report, render

    inputs = ReportInputs()
    inputs.feed(records)
    return render(build_report(inputs, period, scope), fmt)


def _csv(header: list[str], rows: list[list[Any]], filename: str) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        # A headline starting with "=" must not become a formula in a spreadsheet.
        writer.writerow(["'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else ("" if v is None else v)
                         for v in row])
    # UTF-8 with BOM: Excel on a Chinese desktop opens it with the right encoding.
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"),
                        headers={"Content-Type": "text/csv; charset=utf-8",
                                 "Content-Disposition": _attachment(filename)})


def _attachment(filename: str) -> str:
    """Content-Disposition for a download whose name carries query text (the province).

    The name came from the request: a CR/LF in it made aiohttp refuse the header (a 500,
    found by fuzzing) and a quote broke out of it. The plain ``filename`` keeps only safe
    ASCII; ``filename*`` (RFC 6266/5987) carries the full UTF-8 name percent-encoded.
    """
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", filename)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _page_headers() -> dict[str, str]:
    # The desk renders data as text only; the policy makes an injected script inert anyway.
    return {"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                                       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
