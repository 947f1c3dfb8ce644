"""The HTTP side of polling: polite, bounded, conditional, retried.

* one request at a time per host, with a politeness delay between them (keyed by the
  real site's host, so pointing at the recorded-sites server changes nothing);
* conditional GET with the previous ETag / Last-Modified (304 = nothing to parse);
* a connect/read timeout *and* a whole-request deadline (a server that trickles one
  byte per second never hits a read timeout);
* retries of transient failures (timeouts, resets, 5xx, 429) with exponential backoff
  and full jitter (the project's retry policy, ``citycredit.retrying``); 4xx and size/type
  errors are not retried;
* the body is read raw and decompressed here with a size cap checked while streaming
  and after decompression (a 50 MB page and a gzip bomb stop at the cap);
* redirects followed by hand, at most ``max_redirects``, loops detected; a hop that leaves
  the host the poll started from must resolve to public addresses only and is connected to
  the address checked (``citycredit.netguard``): a site, or whoever took it over, cannot
  send the poller into its own network (169.254.169.254, 127.0.0.1:9092, ...).

Every failure becomes a ``FetchError`` with a bounded ``reason`` for source health.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
import zlib
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin, urlsplit

import httpx

from citycredit.netguard import PinnedTarget, first_refusal, pin, system_resolve
from citycredit.retrying import backoff, retrying

from .exceptions import FetchError

ACCEPTED_TYPES = ("text/html", "application/xhtml", "text/xml", "application/xml", "application/rss",
                  "application/atom", "application/json", "text/json", "application/javascript",
                  "text/javascript", "application/x-javascript", "text/plain")


@dataclass(frozen=True)
class FetchPolicy:
    politeness_delay_s: float = 2.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    deadline_s: float = 20.0
    retries: int = 2
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    max_bytes: int = 8 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = "citycredit/0.1 (city credit monitoring desk)"


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes  # decompressed
    headers: dict[str, str]
    not_modified: bool
    raw_bytes: int  # bytes on the wire
    attempts: int
    elapsed_s: float

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


@dataclass
class Validators:
    """What the last successful response said, for the next conditional GET."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        h = {}
        if self.etag:
            h["If-None-Match"] = self.etag
        if self.last_modified:
            h["If-Modified-Since"] = self.last_modified
        return h


class _Decompressor:
    """Content-Encoding decoding with the size cap applied to the *output*."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._d = None
        elif enc in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._d = zlib.decompressobj()
            self._deflate_raw_fallback = True
        else:
            raise FetchError("content_encoding", f"unsupported Content-Encoding {encoding!r}")
        self._first = True

    def feed(self, chunk: bytes) -> bytes:
        if self._d is None:
            out = chunk
        else:
            try:
                # max_length bounds what one small compressed chunk may expand to
                out = self._d.decompress(chunk, self.limit - self.size + 1)
                if self._d.unconsumed_tail:
                    raise FetchError("too_large", f"decompressed body exceeds {self.limit} bytes (compression bomb?)")
            except zlib.error as exc:
                if self._first and getattr(self, "_deflate_raw_fallback", False):
                    # servers send raw deflate under "deflate" as often as zlib-wrapped
                    self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._first = False
                    return self.feed(chunk)
                raise FetchError("bad_compression", f"body does not decompress: {exc}") from exc
        self._first = False
        self.size += len(out)
        if self.size > self.limit:
            raise FetchError("too_large", f"body exceeds {self.limit} bytes after decompression")
        return out


def _transient(exc: BaseException) -> bool:
    """What another try may fix: the failures marked retryable (timeouts, resets, 5xx, 429)."""
    return isinstance(exc, FetchError) and exc.retryable


def content_type_ok(content_type: str | None) -> bool:
    if not content_type:
        return True  # many old servers send none; the parser decides
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith(ACCEPTED_TYPES) or mime.endswith(("+xml", "+json"))


class HostGate:
    """At most one request in flight per host, and ``delay`` seconds between them."""

    def __init__(self, delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.delay = delay
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    def lock(self, host: str) -> asyncio.Lock:
        return self._locks.setdefault(host, asyncio.Lock())

    async def wait_turn(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None:
            wait = last + self.delay - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)

    def done(self, host: str) -> None:
        self._last[host] = self.clock()


class Fetcher:
    def __init__(self, policy: FetchPolicy, transport: httpx.AsyncBaseTransport | None = None,
                 resolve: Callable[[str, int], list[str]] | None = None) -> None:
        self.policy = policy
        self.resolve = resolve or system_resolve  # DNS for the redirect guard (tests pass their own)
        self.gate = HostGate(policy.politeness_delay_s)
        # full jitter: the retries of many pollers do not synchronise
        self.wait = backoff(policy.backoff_s, policy.backoff_max_s, jitter=True)
        timeout = httpx.Timeout(connect=policy.connect_timeout_s, read=policy.read_timeout_s,
                                write=policy.read_timeout_s, pool=policy.deadline_s)
        self.client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport,
            headers={"User-Agent": policy.user_agent, "Accept-Encoding": "gzip, deflate",
                     "Accept": "text/html,application/xhtml+xml,application/xml,application/json;q=0.9,*/*;q=0.5"},
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str, host: str, validators: Validators | None = None) -> FetchResult:
        """Fetch ``url`` politely for ``host`` (the real site's host), with retries."""
        async with self.gate.lock(host):
            attempt = 0
            t0 = time.monotonic()
            try:
                async for tried in retrying(_transient, self.wait, tries=self.policy.retries + 1):
                    with tried:
                        attempt = tried.retry_state.attempt_number
                        result = await self._turn(url, host, validators)
            except FetchError as err:
                if attempt > 1:
                    raise FetchError(err.reason, f"{err.message} (after {attempt} attempts)", err.retryable) from err
                raise
            return dataclasses.replace(result, attempts=attempt, elapsed_s=time.monotonic() - t0)

    async def _turn(self, url: str, host: str, validators: Validators | None) -> FetchResult:
        """One try, in the host's turn."""
        await self.gate.wait_turn(host)
        try:
            return await asyncio.wait_for(self._once(url, validators), self.policy.deadline_s)
        except asyncio.TimeoutError as exc:
            raise FetchError("timeout", f"no complete response within {self.policy.deadline_s:.0f}s", retryable=True) from exc
        finally:
            self.gate.done(host)

    async def _once(self, url: str, validators: Validators | None) -> FetchResult:
        seen = [url]
        headers = validators.headers() if validators else {}
        current = url
        target: PinnedTarget | None = None  # set for a hop off the starting host: the address checked
        for _hop in range(self.policy.max_redirects + 1):
            try:
                if target is None:
                    request = self.client.stream("GET", current, headers=headers)
                else:
                    request = self.client.stream("GET", target.url, headers={**headers, "Host": target.host_header},
                                                 extensions=target.extensions)
                async with request as resp:
                    if resp.status_code in (301, 302, 303, 307, 308):
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError("bad_redirect", f"{resp.status_code} without Location")
                        try:
                            nxt = urljoin(current, location)
                        except ValueError as exc:  # Location: //[not-an-ip]/ — urllib raises for the host
                            raise FetchError("bad_redirect", f"{resp.status_code} to a malformed Location: {exc}") from exc
                        if nxt in seen:
                            raise FetchError("redirect_loop", f"redirect loop: {' -> '.join(seen + [nxt])}")
                        seen.append(nxt)
                        target = await self._redirect_target(url, current, nxt)
                        current = nxt
                        continue
                    return await self._read(current, resp)
            except httpx.TimeoutException as exc:
                raise FetchError("timeout", f"{type(exc).__name__} from {current}", retryable=True) from exc
            except httpx.RemoteProtocolError as exc:
                if "location header" in str(exc).lower():  # httpx refuses the redirect's URL: retrying cannot help
                    raise FetchError("bad_redirect", f"malformed redirect from {current}: {exc}") from exc
                raise FetchError("connection_reset", f"connection broken: {exc or type(exc).__name__}", retryable=True) from exc
            except (httpx.ReadError, httpx.WriteError) as exc:
                raise FetchError("connection_reset", f"connection broken: {exc or type(exc).__name__}", retryable=True) from exc
            except httpx.ConnectError as exc:
                raise FetchError("connect", f"cannot connect: {exc}", retryable=True) from exc
            except httpx.HTTPError as exc:
                raise FetchError("http_error", f"{type(exc).__name__}: {exc}", retryable=True) from exc
        raise FetchError("too_many_redirects", f"more than {self.policy.max_redirects} redirects from {url}")

    async def _redirect_target(self, start: str, current: str, nxt: str) -> PinnedTarget | None:
        """None for a hop on the host the poll started from (the registry's choice, maybe the
        recorded-sites server on 127.0.0.1); else the checked address to connect to, or FetchError."""
        parts = urlsplit(nxt)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchError("bad_redirect", f"redirect from {current} to a bad port: {exc}") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("bad_redirect", f"redirect from {current} to {nxt!r}: only http(s) URLs with a host are followed")
        if parts.hostname == urlsplit(start).hostname:
            return None
        try:
            addresses = await asyncio.get_running_loop().run_in_executor(None, self.resolve, parts.hostname, port)
        except OSError as exc:  # socket.gaierror: the name does not resolve (now)
            raise FetchError("connect", f"redirect from {current} to {parts.hostname}, which does not resolve: {exc}",
                             retryable=True) from exc
        if not addresses:
            raise FetchError("connect", f"redirect from {current} to {parts.hostname}, which does not resolve", retryable=True)
        refusal = first_refusal(addresses)
        if refusal:
            raise FetchError("redirect_refused", f"redirect from {current} to {nxt}: {parts.hostname} resolves to "
                                                 f"{refusal}; refused (a site may not send the poller into the local network)")
        return pin(parts, port, addresses[0])

    async def _read(self, url: str, resp: httpx.Response) -> FetchResult:
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        status = resp.status_code
        if status == 304:
            return FetchResult(url, status, b"", hdrs, True, 0, 0, 0.0)
        if status == 429 or status >= 500:
            raise FetchError(f"http_{status}", f"server answered {status}", retryable=True)
        if status != 200:
            raise FetchError(f"http_{status}", f"server answered {status}")
        if not content_type_ok(hdrs.get("content-type")):
            raise FetchError("content_type", f"not a page, feed or JSON: Content-Type {hdrs.get('content-type')!r}")
        limit = self.policy.max_bytes
        declared = hdrs.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FetchError("too_large", f"Content-Length {declared} exceeds {limit} bytes")
        dec = _Decompressor(hdrs.get("content-encoding", ""), limit)
        parts: list[bytes] = []
        raw = 0
        async for chunk in resp.aiter_raw():
            raw += len(chunk)
            if raw > limit:
                raise FetchError("too_large", f"body exceeds {limit} bytes while streaming")
            parts.append(dec.feed(chunk))
        body = b"".join(parts)
        if not body.strip():
            raise FetchError("empty", "the server sent an empty body")
        return FetchResult(url, status, body, hdrs, False, raw, 0, 0.0)
