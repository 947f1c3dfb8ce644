"""Bad input from sites: a real local server that misbehaves on purpose (sockets, resets,
trickling, 50 MB, gzip bomb, redirect loops, ...). Each failure is counted in source health
with its reason, the other surfaces keep being polled, and nothing collected is lost."""
from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import threading
from pathlib import Path

import httpx
import pytest

from streams.exceptions import FetchError
from streams.fetch import Fetcher, FetchPolicy
from streams.poller import Poller
from streams.registry import load_registry

GOOD_LINKS = "".join(f'<li><a href="http://society.people.com.cn/n1/2026/1127/c1008-{i}.html">第{i}条新闻标题足够长的一条</a></li>'
                     for i in range(1, 41))
GOOD_HTML = f'<html><head><meta charset="utf-8"></head><body><ul>{GOOD_LINKS}</ul></body></html>'.encode()
GBK_HTML = f'<html><body><ul>{GOOD_LINKS}</ul></body></html>'.encode("gbk")
ENTITY_XML = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
              b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><rss><channel><item><title>&c;</title></item></channel></rss>')
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MB of zeros in ~64 kB


def _resp(status: str, body: bytes, ctype: str | None = "text/html; charset=utf-8", extra: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    return head.encode() + b"\r\n" + body


class BadServer:
    """A raw-socket HTTP server: every path is one kind of misbehaviour."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        path = request.split(b" ")[1].decode()
        self.hits[path] = self.hits.get(path, 0) + 1
        try:
            await self._respond(path, writer)
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _respond(self, path: str, w: asyncio.StreamWriter) -> None:
        if path == "/ok":
            w.write(_resp("200 OK", GOOD_HTML))
        elif path == "/timeout":
            await asyncio.sleep(30)
        elif path == "/404":
            w.write(_resp("404 Not Found", b"gone"))
        elif path == "/500":
            w.write(_resp("500 Internal Server Error", b"oops"))
        elif path == "/reset":
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
            w.transport.abort()
        elif path == "/trickle":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
            for _ in range(100000):
                w.write(b"<")
                await w.drain()
                await asyncio.sleep(0.05)
        elif path == "/huge":  # 50 MB with no Content-Length: only the streaming check can stop it
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
            chunk = b"<p>" + b"x" * 65533
            for _ in range(50 * 16):
                w.write(chunk)
                await w.drain()
        elif path == "/huge-declared":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 52428800\r\n\r\n")
        elif path == "/bomb":
            w.write(_resp("200 OK", BOMB, extra="Content-Encoding: gzip\r\n"))
        elif path == "/malformed-xml":
            w.write(_resp("200 OK", b"<rss><channel><<item>>&&&</rss", "application/rss+xml"))
        elif path == "/entities":
            w.write(_resp("200 OK", ENTITY_XML, "application/xml"))
        elif path == "/wrong-charset":
            w.write(_resp("200 OK", GBK_HTML, "text/html; charset=utf-8"))
        elif path == "/missing-charset":
            w.write(_resp("200 OK", GBK_HTML, None))
        elif path == "/empty":
            w.write(_resp("200 OK", b""))
        elif path == "/image":
            w.write(_resp("200 OK", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png"))
        elif path == "/loop-a":
            w.write(_resp("302 Found", b"", extra="Location: /loop-b\r\n"))
        elif path == "/loop-b":
            w.write(_resp("302 Found", b"", extra="Location: /loop-a\r\n"))
        elif path == "/bad-location":  # a host urllib refuses to parse (found by atheris in an href)
            w.write(_resp("302 Found", b"", extra="Location: //[not-an-ip]/x\r\n"))
        elif path.startswith("/chain-"):
            n = int(path.rsplit("-", 1)[1])
            w.write(_resp("302 Found", b"", extra=f"Location: /chain-{n + 1}\r\n"))
        elif path == "/no-headlines":
            w.write(_resp("200 OK", b"<html><body><a href='/about'>about us and more text</a></body></html>"))
        else:
            w.write(_resp("404 Not Found", b""))

    def close(self) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def bad_server():
    s = BadServer()
    yield s
    s.close()


CASES = {
    # surface id: (path, parser, expected health reason or None for success)
    "ok": ("/ok", "html", None),
    "timeout": ("/timeout", "html", "timeout"),
    "http404": ("/404", "html", "http_404"),
    "http500": ("/500", "html", "http_500"),
    "reset": ("/reset", "html", "connection_reset"),
    "trickle": ("/trickle", "html", "timeout"),
    "huge": ("/huge", "html", "too_large"),
    "huge-declared": ("/huge-declared", "html", "too_large"),
    "bomb": ("/bomb", "html", "too_large"),
    "malformed-xml": ("/malformed-xml", "feed", "malformed_xml"),
    "entities": ("/entities", "feed", "xml_entity"),
    "wrong-charset": ("/wrong-charset", "html", None),
    "missing-charset": ("/missing-charset", "html", None),
    "empty": ("/empty", "html", "empty"),
    "image": ("/image", "html", "content_type"),
    "loop": ("/loop-a", "html", "redirect_loop"),
    "chain": ("/chain-0", "html", "too_many_redirects"),
    "badloc": ("/bad-location", "html", "bad_redirect"),
    "no-headlines": ("/no-headlines", "html", "no_headlines"),
}


def _registry(tmp_path: Path, server: BadServer):
    blocks = []
    for sid, (path, parser, _) in CASES.items():
        kind = "rss" if parser == "feed" else "homepage"
        blocks.append(f'[[site.surface]]\nkind = "{kind}"\nid = "{sid}"\nurl = "{server.url(path)}"\nparser = "{parser}"\n'
                      + ("link_pattern = 'people\\.com\\.cn/n1/'\n" if parser == "html" else ""))
    toml = '[defaults]\ninterval_s = 60\nmin_title_chars = 8\nmax_items = 300\n\n[[site]]\nid = "badhost"\nname = "测试"\n' \
           'no_hotlist = "test site"\n' + "\n".join(blocks)
    (tmp_path / "sites.toml").write_text(toml, encoding="utf-8")
    return load_registry(tmp_path / "sites.toml")


def test_each_bad_response_is_counted_with_its_reason_and_polling_goes_on(tmp_path, bad_server):
    registry = _registry(tmp_path, bad_server)
    policy = FetchPolicy(politeness_delay_s=0.0, connect_timeout_s=1.0, read_timeout_s=0.6, deadline_s=0.8,
                         retries=1, backoff_s=0.01, max_bytes=1024 * 1024, max_redirects=4)
    poller = Poller(registry, Fetcher(policy))

    async def cycles():
        try:
            return await poller.run_cycle(), await poller.run_cycle()
        finally:
            await poller.aclose()

    first, second = asyncio.run(cycles())
    by_id = {o.surface.id: o for o in first}
    for sid, (_, _, reason) in CASES.items():
        assert by_id[sid].error == reason, (sid, by_id[sid].health.last_error)
        h = poller.health.by_key[f"badhost/{sid}"]
        if reason:
            assert h.consecutive_failures == 2 and h.last_error.startswith(reason), (sid, h.last_error)
            assert h.failures_by_reason == {reason: 2}
        else:
            assert h.consecutive_failures == 0 and h.items_parsed == 40
    # the good surfaces: 40 headlines appeared once; the second cycle announces nothing again
    assert len(by_id["ok"].observations) == 40 and {o.change for o in by_id["ok"].observations} == {"appeared"}
    assert by_id["wrong-charset"].observations[0].title == "第1条新闻标题足够长的一条"
    assert all(not o.observations for o in second)
    # transient failures were retried (once), permanent ones were not
    assert bad_server.hits["/500"] == 4 and bad_server.hits["/404"] == 2


def test_failures_do_not_lose_what_was_collected(tmp_path, bad_server):
    """A surface that fails after a success keeps its state: no 'left' flood, no re-announcement."""
    registry = _registry(tmp_path, bad_server)
    poller = Poller(registry, Fetcher(FetchPolicy(politeness_delay_s=0, retries=0, deadline_s=2)))
    ok = registry.surface("badhost/ok")

    async def run():
        try:
            first = await poller.poll(ok)
            # the same surface now answers 404 (the site moved it) ...
            broken = type(ok)(**{**ok.__dict__, "url": bad_server.url("/404")})
            failed = await poller.poll(broken)
            # ... and then is back
            again = await poller.poll(ok)
            return first, failed, again
        finally:
            await poller.aclose()

    first, failed, again = asyncio.run(run())
    assert len(first.observations) == 40
    assert failed.error == "http_404" and failed.observations == []
    assert again.error is None and again.observations == []
    assert poller.health.by_key["badhost/ok"].consecutive_failures == 0


def test_retry_then_success_and_conditional_get_with_mock_transport():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503)
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, stream=httpx.ByteStream(GOOD_HTML), headers={"ETag": '"v1"', "Content-Type": "text/html"})

    registry = load_registry()
    people = registry.surface("people/homepage")
    poller = Poller(registry, Fetcher(FetchPolicy(politeness_delay_s=0, backoff_s=0.01), transport=httpx.MockTransport(handler)))

    async def run():
        try:
            return await poller.poll(people), await poller.poll(people)
        finally:
            await poller.aclose()

    first, second = asyncio.run(run())
    assert first.error is None and len(first.observations) == 40
    assert second.not_modified and second.observations == []
    assert [c.headers.get("if-none-match") for c in calls] == [None, None, '"v1"']


def test_politeness_one_request_per_host_with_delay():
    times: list[float] = []
    in_flight = 0
    overlaps = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, overlaps
        in_flight += 1
        overlaps += in_flight > 1
        times.append(asyncio.get_running_loop().time())
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, stream=httpx.ByteStream(GOOD_HTML), headers={"Content-Type": "text/html"})

    fetcher = Fetcher(FetchPolicy(politeness_delay_s=0.1), transport=httpx.MockTransport(handler))

    async def run():
        try:
            await asyncio.gather(*(fetcher.fetch(f"http://www.people.com.cn/{i}", "www.people.com.cn") for i in range(4)))
        finally:
            await fetcher.aclose()

    asyncio.run(run())
    assert overlaps == 0
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 3 and min(gaps) >= 0.1


def _redirecting(location_of: dict[str, str], seen: list[httpx.Request]):
    """A MockTransport handler: a 302 to ``location_of[path]``, else a good page; every request kept."""
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path in location_of:
            return httpx.Response(302, headers={"Location": location_of[request.url.path]})
        return httpx.Response(200, stream=httpx.ByteStream(GOOD_HTML), headers={"Content-Type": "text/html"})
    return handler


DNS = {"cdn.people.example": ["93.184.216.34"], "intranet.example": ["93.184.216.34", "10.0.0.5"],
       "sixtofour.example": ["2002:7f00:1::"]}


def _fetch(location: str, seen: list[httpx.Request], resolve=None):
    fetcher = Fetcher(FetchPolicy(politeness_delay_s=0, retries=0),
                      transport=httpx.MockTransport(_redirecting({"/start": location}, seen)),
                      resolve=resolve or (lambda host, port: DNS.get(host) or [host]))

    async def run():
        try:
            return await fetcher.fetch("http://www.people.com.cn/start", "www.people.com.cn")
        finally:
            await fetcher.aclose()
    return asyncio.run(run())


@pytest.mark.parametrize("location,words", [
    ("http://127.0.0.1:9092/", "127.0.0.1, a private/loopback/link-local address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a private"),
    ("http://[::1]:8080/", "::1, a private"),
    ("http://intranet.example/admin", "10.0.0.5, a private"),              # one of its addresses is internal
    ("http://sixtofour.example/", "6to4, carries 127.0.0.1"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64, carries 169.254.169.254"),
])
def test_a_redirect_into_the_local_network_is_refused(location, words):
    seen: list[httpx.Request] = []
    with pytest.raises(FetchError) as err:
        _fetch(location, seen)
    assert err.value.reason == "redirect_refused" and not err.value.retryable
    assert words in err.value.message and "refused" in err.value.message
    assert [str(r.url) for r in seen] == ["http://www.people.com.cn/start"]  # the internal hop never went out


def test_a_redirect_to_another_public_host_goes_to_the_address_checked():
    seen: list[httpx.Request] = []
    result = _fetch("https://cdn.people.example/feed?x=1", seen)
    assert result.status == 200 and result.url == "https://cdn.people.example/feed?x=1"
    hop = seen[1]
    # pinned: no second lookup of the name by the client (DNS rebinding); name in Host and SNI
    assert str(hop.url) == "https://93.184.216.34/feed?x=1" and hop.headers["Host"] == "cdn.people.example"
    assert hop.extensions["sni_hostname"] == "cdn.people.example"


def test_a_redirect_on_the_starting_host_is_not_looked_up():
    # the registry chose the host (the recorded-sites server lives on 127.0.0.1); its own
    # redirects are followed as before
    def resolve(host, port):
        raise AssertionError(f"looked up {host}")
    seen: list[httpx.Request] = []
    result = _fetch("/moved", seen, resolve)
    assert result.url == "http://www.people.com.cn/moved" and len(seen) == 2


def test_a_redirect_to_another_scheme_is_a_bad_redirect():
    seen: list[httpx.Request] = []
    with pytest.raises(FetchError) as err:
        _fetch("file:///etc/passwd", seen)
    assert err.value.reason == "bad_redirect" and "only http(s)" in err.value.message
