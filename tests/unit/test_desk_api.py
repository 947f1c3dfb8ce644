"""The desk's HTTP API on a real aiohttp server: auth, validation, size limits, SSRF guard,
and read answers from a read model fed with contract records. Writes that pass every
check need the broker and are covered in tests/integration/test_delivery_webhooks.py
and tests/e2e/test_desk_browser.py; here the publisher refuses to be called, so any
request that should have been rejected but was not fails the test."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from citycredit.metrics import build_metrics
from citycredit.settings import Settings
from citycredit.web.desk import DeskView
from citycredit.web.server import DeskContext, add_routes

TOKEN = "s3cret-token-for-tests"


def entry(adcode, city, province, period, score, penalty=0.0, offset=0.0):
    comps = {"credit_event": score - 60, "credit_policy": 20.0, "info_disclosure": 20.0, "task_implementation": 10.0,
             "blacklist": 10.0, "major_dishonesty": -penalty, "government_response": offset, "major_trustworthy": 0.0}
    return {"city_adcode": adcode, "city": city, "province": province, "period": period, "score": score,
            "components": comps, "penalty": penalty, "offset": offset, "updated_at": "2026-02-10T00:00:00+00:00"}


ALERT = {"type": "major_dishonesty", "story_id": "s-1", "city": "苏州市", "city_adcode": "320500", "domain": "business",
         "trigger": "homepages", "sites": ["people", "xinhua", "cctv"], "first_seen": "2026-02-03T08:00:00+08:00",
         "triggered_at": "2026-02-03T09:00:00+08:00", "title": "<script>alert(1)</script>苏州食品企业用过期原料",
         "urls": ["http://example.com/a"], "province": "江苏省", "subfield": "food_safety"}


def fed_desk(metrics=None) -> DeskView:
    desk = DeskView(metrics=metrics)
    desk.apply("city-index", "320500/2026-02", entry("320500", "苏州市", "江苏省", "2026-02", 80.0, penalty=5.0))
    desk.apply("city-index", "320100/2026-02", entry("320100", "南京市", "江苏省", "2026-02", 85.0))
    desk.apply("city-index", "330100/2026-02", entry("330100", "杭州市", "浙江省", "2026-02", 90.0))
    desk.apply("alerts", "s-1", ALERT)
    desk.apply("items", "s-1", {"ts": "2026-02-03T08:00:00+08:00", "site": "people", "surface": "homepage", "rank": None,
                                "title": "=HYPERLINK(\"x\") 苏州食品企业用过期原料", "url": "http://example.com/a",
                                "city": "苏州市", "city_adcode": "320500", "province": "江苏省", "domain": "business",
                                "subfield": "food_safety", "polarity": "dishonest", "aspect": "credit_event",
                                "story_id": "s-1", "change": "appeared"})
    return desk


async def _refuse(topic, key, value):
    raise AssertionError(f"publish must not be called for a rejected request ({topic})")


def run(coro_fn, desk=None, publish=_refuse, **settings):
    async def main():
        app = web.Application()
        ctx = DeskContext(desk=desk or fed_desk(), settings=Settings(api_token=TOKEN, **settings), publish=publish,
                          resolve=lambda host, port: ["93.184.216.34"] if host == "public.example" else ["10.0.0.5"])
        add_routes(app.router, ctx)
        async with TestClient(TestServer(app)) as client:
            return await coro_fn(client)
    return asyncio.run(main())


GOOD = {"city_adcode": "320500", "story_id": "s-1", "kind": "statement", "title": "市政府通报"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("headers,status,words", [
    ({}, 401, "missing token"),
    ({"Authorization": "Bearer wrong"}, 403, "wrong token"),
    ({"Authorization": f"Basic {TOKEN}"}, 403, "wrong token"),
    ({"Authorization": f"Bearer {TOKEN}x"}, 403, "wrong token"),
])
def test_writes_need_the_right_token(headers, status, words):
    async def go(client):
        for path, body in (("/api/responses", GOOD), ("/api/subscriptions", {"url": "https://public.example/h"})):
            r = await client.post(path, json=body, headers=headers)
            assert r.status == status, await r.text()
            assert words in (await r.json())["error"]
        r = await client.get("/api/subscriptions", headers=headers)
        assert r.status == status
    run(go)


def test_writes_disabled_without_a_configured_token():
    async def go(client):
        r = await client.post("/api/responses", json=GOOD, headers={"Authorization": "Bearer "})
        assert r.status == 503 and "CITYCREDIT_API_TOKEN" in (await r.json())["error"]

    async def main():
        app = web.Application()
        add_routes(app.router, DeskContext(desk=fed_desk(), settings=Settings(api_token=""), publish=_refuse))
        async with TestClient(TestServer(app)) as client:
            await go(client)
    asyncio.run(main())


@pytest.mark.parametrize("body,ctype,status,words", [
    (b"x" * 70000, "application/json", 413, "larger than the limit"),
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"", "application/json", 400, "empty body"),
    (json.dumps(GOOD).encode(), "text/plain", 415, "application/json"),
    (b"[1, 2]", "application/json", 400, "expected a JSON object"),
    (json.dumps({**GOOD, "kind": "apology"}).encode(), "application/json", 400, "kind"),
    (json.dumps({**GOOD, "city_adcode": "3205"}).encode(), "application/json", 400, "city_adcode"),
    (json.dumps({**GOOD, "story_id": "s-unknown"}).encode(), "application/json", 422, "no major dishonesty event"),
    (json.dumps({**GOOD, "city_adcode": "320100"}).encode(), "application/json", 422, "no major dishonesty event"),
    (json.dumps({**GOOD, "title": "", "note": ""}).encode(), "application/json", 400, "title"),
    (json.dumps({**GOOD, "url": "javascript:alert(1)"}).encode(), "application/json", 400, "url"),
    (json.dumps({**GOOD, "ts": "2026-02-01T00:00:00+08:00"}).encode(), "application/json", 400, "before the event"),
    (json.dumps({**GOOD, "extra": 1}).encode(), "application/json", 400, "unknown field"),
    (json.dumps({**GOOD, "title": "x" * 501}).encode(), "application/json", 400, "more than 500"),
])
def test_bad_responses_get_a_clear_4xx(body, ctype, status, words):
    async def go(client):
        r = await client.post("/api/responses", data=body, headers={**AUTH, "Content-Type": ctype})
        assert r.status == status, await r.text()
        assert words in (await r.json())["error"]
    run(go)


def test_chunked_oversize_body_is_refused_without_content_length():
    async def go(client):
        async def chunks():
            for _ in range(20):
                yield b"x" * 4096
        r = await client.post("/api/responses", data=chunks(), headers={**AUTH, "Content-Type": "application/json"})
        assert r.status == 413
    run(go, web_max_body_bytes=16384)


async def _post_in_pieces(client, head: str, pieces: list[bytes], pause: float = 0.2) -> tuple[int, str]:
    """POST over a raw socket, one write and a pause per piece (each its own TCP segment);
    the server may answer, and close, before the last piece: what it answered is returned."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(head.encode())
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(pause)
    except ConnectionError:
        pass
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    status_line, _, rest = answer.decode().partition("\r\n")
    return int(status_line.split()[1]), rest.partition("\r\n\r\n")[2]


def _head(**headers: str) -> str:
    lines = {"Host": "desk", "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json",
             "Connection": "close", **headers}
    return "POST /api/responses HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in lines.items()) + "\r\n"


def test_a_body_split_across_two_writes_is_read_whole():
    published = []

    async def publish(topic, key, value):
        published.append((topic, key))

    body = json.dumps(GOOD).encode()

    async def go(client):
        return await _post_in_pieces(client, _head(**{"Content-Length": str(len(body))}), [body[:10], body[10:]])

    status, text = run(go, publish=publish)
    assert status == 202, text
    assert published == [("responses", "320500")]


def test_a_slow_chunked_body_over_the_limit_is_413():
    chunk = b"x" * 4096
    pieces = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(6)] + [b"0\r\n\r\n"]

    async def go(client):
        return await _post_in_pieces(client, _head(**{"Transfer-Encoding": "chunked"}), pieces, pause=0.1)

    status, text = run(go, web_max_body_bytes=16384)
    assert status == 413 and "larger than the limit of 16384 bytes" in text, text


@pytest.mark.parametrize("body,status,words", [
    ({"url": "http://127.0.0.1:9/hook"}, 422, "private/loopback/link-local"),
    ({"url": "http://[::1]/hook"}, 422, "private/loopback/link-local"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, 422, "private/loopback/link-local"),
    ({"url": "http://10.1.2.3/hook"}, 422, "private/loopback/link-local"),
    ({"url": "http://internal.example/hook"}, 422, "private/loopback/link-local"),  # a name that resolves inside
    ({"url": "ftp://public.example/hook"}, 400, "only http"),
    ({"url": "http://user:pw@public.example/hook"}, 400, "credentials"),
    ({"url": "https://public.example/h", "filters": {"types": ["everything"]}}, 400, "filters.types"),
    ({"url": "https://public.example/h", "filters": {"colour": ["red"]}}, 400, "unknown field"),
    ({"url": "https://public.example/h", "secret": "short"}, 400, "secret"),
])
def test_bad_subscriptions_are_refused(body, status, words):
    async def go(client):
        r = await client.post("/api/subscriptions", json=body, headers=AUTH)
        assert r.status == status, await r.text()
        assert words in (await r.json())["error"]
    run(go)


def test_reads_answer_from_the_read_model():
    async def go(client):
        meta = await (await client.get("/api/meta")).json()
        # every province of the scope has a board, news or not
        assert meta["default_period"] == "2026-02" and {"江苏省", "浙江省", "上海市"} <= set(meta["provinces"])
        assert meta["groups"]["core"] == "直辖市、省会及副省级城市" and "county_city" in meta["province_sets"]
        rows = (await (await client.get("/api/ranking?period=2026-02&group=core")).json())["rows"]
        assert [(r["rank"], r["of"], r["city"]) for r in rows[:2]] == [(1, 36, "杭州市"), (2, 36, "南京市")]
        rows = (await (await client.get("/api/ranking", params={"period": "2026-02", "province": "江苏省",
                                                                  "group": "prefecture_level"})).json())["rows"]
        assert [(r["rank"], r["of"], r["city"]) for r in rows[:2]] == [(1, 13, "南京市"), (2, 13, "苏州市")]
        assert rows[1]["components"]["major_dishonesty"] == -5.0 and rows[1]["penalty"] == 5.0
        city = await (await client.get("/api/cities/320500")).json()
        assert city["ranks"] == {"national": 1, "national_of": 301, "group": "其他地级城市",
                                 "province": 2, "province_of": 13, "province_group": "地级及以上城市",
                                 "change": None}  # no January entries read: no change to show
        assert (await client.get("/api/ranking?period=2026-02&group=everything")).status == 400
        assert (await client.get("/api/ranking?period=2026-02&province=火星省")).status == 400
        assert city["events"][0]["status"] == "open" and city["events"][0]["title"] == ALERT["title"]
        assert (await client.get("/api/cities/999999")).status == 404
        assert (await client.get("/api/cities/abc")).status == 400
        assert (await client.get("/api/ranking?period=bad")).status == 400
        found = (await (await client.get("/api/events", params={"q": "过期"})).json())["rows"]
        assert len(found) == 1 and found[0]["city_adcode"] == "320500"
        text = (await (await client.get("/api/events.csv", params={"q": "过期"})).read()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["title"].startswith("'=HYPERLINK")  # no formula injection into spreadsheets
        text = (await (await client.get("/api/ranking.csv?period=2026-02")).read()).decode("utf-8-sig")
        table = list(csv.DictReader(io.StringIO(text)))
        assert [r["city"] for r in table[:2]] == ["杭州市", "南京市"] and len(table) == 734  # every city in scope
        sources = (await (await client.get("/api/sources")).json())["rows"]
        assert len(sources) == 15
        page = await client.get("/desk/")
        assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert (await client.get("/desk/static/desk.js")).status == 200
    run(go)


def test_sse_stream_replays_after_last_event_id_then_goes_live():
    desk = fed_desk()
    later = {**ALERT, "story_id": "s-2", "triggered_at": "2026-02-04T09:00:00+08:00", "title": "第二条"}
    other = {**ALERT, "story_id": "s-3", "city_adcode": "330100", "city": "杭州市", "province": "浙江省",
             "triggered_at": "2026-02-05T09:00:00+08:00", "title": "第三条"}

    async def go(client):
        r = await client.get("/api/alerts/stream", params={"last_event_id": "", "provinces": "江苏省"})
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        got = []

        async def read():
            buf = b""
            while len(got) < 2:
                buf += await r.content.readany()
                while b"\n\n" in buf:
                    block, buf = buf.split(b"\n\n", 1)
                    lines = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
                    if "data" in lines:
                        got.append((lines["id"], json.loads(lines["data"])["title"]))
        reader = asyncio.ensure_future(read())
        await asyncio.sleep(0.2)
        desk.apply("alerts", "s-3", other)   # another province: filtered out
        desk.apply("alerts", "s-2", later)
        await asyncio.wait_for(reader, 5)
        assert got == [("major_dishonesty:s-1", ALERT["title"]), ("major_dishonesty:s-2", "第二条")]
        r.close()
    run(go, desk=desk)


def _events(raw: bytes) -> list[str]:
    """The ids of the complete alert events in an SSE byte stream."""
    return [line[4:] for block in raw.decode().split("\n\n") if "\ndata: " in block
            for line in block.splitlines() if line.startswith("id: ")]


def test_a_stream_client_that_falls_behind_is_cut_off_and_resumes_from_last_event_id(monkeypatch):
    """A client that stops reading while alerts keep coming fills its queue (1000 alerts): the
    desk drops that listener, never its own memory or another client; the server sends what was
    queued and ends the stream at its next keepalive; the client, reconnecting with
    Last-Event-ID as EventSource does, gets every alert it missed, once, in order."""
    from datetime import datetime, timedelta

    import citycredit.web.server as server

    monkeypatch.setattr(server, "SSE_KEEPALIVE_SECONDS", 0.1)  # the overflow is noticed at a keepalive
    desk = fed_desk()
    start = datetime.fromisoformat("2026-03-01T00:00:00+08:00")
    alerts = [{**ALERT, "story_id": f"s-o{i:04d}", "triggered_at": (start + timedelta(minutes=i)).isoformat()}
              for i in range(1100)]
    ids = [f"major_dishonesty:{a['story_id']}" for a in alerts]

    async def go(client):
        slow = await client.get("/api/alerts/stream")
        assert (await slow.content.readany()).startswith(b"retry:")  # listening (it listens before it answers)
        other = desk.listen(maxsize=len(alerts) + 1)  # a client that keeps up
        for a in alerts:  # no await between them: the slow stream's handler cannot drain its queue meanwhile
            desk.apply("alerts", a["story_id"], a)
        assert desk._listeners == {other}  # the slow one was dropped, the other kept
        assert other.qsize() == len(alerts)
        # what was queued before the overflow, then the end of the stream
        raw = await asyncio.wait_for(slow.content.read(), 10)
        got = _events(raw)
        assert got == ids[:1000]
        resumed = await client.get("/api/alerts/stream", headers={"Last-Event-ID": got[-1]})
        raw = b""
        while len(_events(raw)) < len(alerts) - len(got):
            raw += await asyncio.wait_for(resumed.content.readany(), 10)
        assert _events(raw) == ids[len(got):]
        resumed.close()
    run(go, desk=desk)


def test_records_that_do_not_fit_are_skipped_not_served():
    desk = fed_desk()
    desk.apply("items", "s-9", {"ts": "2026-02-03T010:00:00+08:00", "title": "坏时间", "city_adcode": "320500"})
    desk.apply("alerts", "s-9", {"type": "major_dishonesty", "story_id": "s-9"})
    desk.apply("city-index", "x", {"city": "无码市"})
    assert desk.rejected == 3
    assert [i["title"] for i in desk.city("320500", None)["timeline"]] == [desk.items_by_city["320500"][0]["title"]]


def test_metrics_follow_the_latest_period():
    registry = CollectorRegistry()
    metrics = build_metrics(registry)
    desk = fed_desk(metrics)
    value = registry.get_sample_value
    labels = {"city_adcode": "320500", "city": "苏州市", "province": "江苏省", "period_kind": "month"}
    assert value("citycredit_city_index_score_points", labels) == 80.0
    assert value("citycredit_city_rank", labels) == 1  # first of the prefecture-level group, as on the board
    assert value("citycredit_city_component_points", {**labels, "aspect": "major_dishonesty"}) == -5.0
    assert value("citycredit_alerts_recorded", {"type": "major_dishonesty"}) == 1
    assert value("citycredit_desk_items_read_total", {"domain": "business", "polarity": "dishonest"}) == 1
    desk.apply("city-index", "320500/2026-03", entry("320500", "苏州市", "江苏省", "2026-03", 70.0))
    assert value("citycredit_city_index_score_points", labels) == 70.0
    # the February series of the other cities are gone: one period per kind is exported
    assert value("citycredit_city_index_score_points", {**labels, "city_adcode": "330100", "city": "杭州市", "province": "浙江省"}) is None


@pytest.mark.parametrize("topic", ["subscriptions", "responses", "city-index", "source-health", "alerts", "items"])
@pytest.mark.parametrize("value", [[], "text", 3, [{"id": "x"}]])
def test_json_of_the_wrong_shape_is_skipped_on_every_desk_topic(topic, value):
    """Regression (fault test): a JSON list on ``subscriptions`` raised AttributeError out of
    apply(); the feed then re-read every topic from the start every 5 s and never caught up."""
    desk = fed_desk()
    before = desk.rejected
    desk.apply(topic, "poison", value)
    assert desk.rejected == before + 1


@pytest.mark.parametrize("province", ["江苏省", "x\r\nSet-Cookie: a=b", 'a"; filename="evil.exe', "\x00\x7f"])
def test_csv_download_name_from_the_query_cannot_break_the_header(province):
    """Regression (fuzz): a CR/LF in ?province= made aiohttp refuse the Content-Disposition
    header (500), and a quote could end the filename early. A name that is no province of
    the scope is now refused before any header is built (as `citycredit ranking` refuses it)."""
    async def go(client):
        r = await client.get("/api/ranking.csv", params={"province": province})
        assert "Set-Cookie" not in r.headers
        if province != "江苏省":
            assert r.status == 400 and "matches no province" in (await r.json())["error"]
            return
        assert r.status == 200
        disposition = r.headers["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition and "Set-Cookie" not in r.headers
        plain = disposition.split('filename="', 1)[1].split('"', 1)[0]
        assert re.fullmatch(r"[A-Za-z0-9._-]+\.csv", plain)
    run(go)


def test_the_api_answers_a_secret_once_and_the_topic_never_holds_it():
    """Security review: a subscription's secret is shown in the creation answer only; the record
    published to ``subscriptions`` holds it sealed, and no read (list, stream) shows it again."""
    from citycredit.secretbox import SecretBox

    desk = fed_desk()
    published = []

    async def publish(topic, key, value):
        published.append((topic, key, value))
        desk.apply(topic, key, value)  # what the desk feed does with the record

    secret = "the-receivers-own-secret-0123"

    async def go(client):
        r = await client.post("/api/subscriptions", json={"url": "https://public.example/h", "secret": secret},
                              headers=AUTH)
        assert r.status == 201, await r.text()
        created = await r.json()
        assert created["secret"] == secret
        generated = await (await client.post("/api/subscriptions", json={}, headers=AUTH)).json()
        listing = await (await client.get("/api/subscriptions", headers=AUTH)).text()
        meta = await (await client.get("/api/meta")).text()
        return created, generated, listing, meta

    created, generated, listing, meta = run(go, desk=desk, publish=publish)
    (_, key, record), (_, _, record2) = published
    assert key == created["id"]
    for clear in (secret, generated["secret"]):
        assert clear not in json.dumps(record, ensure_ascii=False) + json.dumps(record2, ensure_ascii=False)
        assert clear not in listing and clear not in meta
    for sealed in (record["sealed_secret"], record2["sealed_secret"]):
        assert sealed not in listing
    assert {row["id"] for row in json.loads(listing)["rows"]} == {created["id"], generated["id"]}
    assert "secret" not in listing  # neither clear nor sealed, not even the field name
    box = SecretBox.from_settings(Settings())  # the tests' process-wide development key
    assert desk.subscriptions[created["id"]].secret(box) == secret


def test_alert_streams_beyond_the_cap_get_503_with_retry_after(monkeypatch):
    import citycredit.web.server as server

    monkeypatch.setattr(server, "SSE_KEEPALIVE_SECONDS", 0.1)  # a closed stream is noticed at its next keepalive

    async def go(client):
        first = await client.get("/api/alerts/stream")
        assert first.status == 200 and (await first.content.readany()).startswith(b"retry:")
        second = await client.get("/api/alerts/stream")
        assert second.status == 503 and int(second.headers["Retry-After"]) >= 1
        assert "too many open alert streams (at most 1" in (await second.json())["error"]
        first.close()
        for _ in range(50):  # the slot frees once the server sees the client gone
            again = await client.get("/api/alerts/stream")
            if again.status == 200:
                again.close()
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the slot of a closed stream was never given back")
    run(go, sse_max_streams=1)


def test_the_board_ranks_as_the_index_ranks():
    """The desk's board is CityScorer.ranking over the entries it read: every city in scope,
    the same peer sets, ranks, ties and coverage, through the same functions."""
    from citycredit.scoring.scorer import CityScorer
    from tests.unit.index_factories import alert, item, response

    scorer = CityScorer()
    # 苏州 and 无锡 one dishonest story each (a tie on score), 南京 a major event answered
    scorer.on_item(item("s-a", "320500"))
    scorer.on_item(item("s-b", "320200"))
    scorer.on_alert(alert("s-c", "320100"))
    scorer.on_response(response("s-c", city="320100"))
    desk = DeskView()
    for adcode in scorer.cities():
        for e in scorer.changed_entries(adcode, [scorer.latest_month()]):
            desk.apply("city-index", f"{e.city_adcode}/{e.period}", json.loads(e.dumps()))
    period = scorer.period(None).label
    keep = ("rank", "of", "peers", "group", "city", "city_adcode", "province", "score", "penalty", "offset")
    for province in (None, "江苏省"):
        index = scorer.ranking(period, province)
        board = desk.ranking(period, province)
        assert [{k: r[k] for k in keep} for r in board] == [{k: r[k] for k in keep} for r in index]
        assert [r["coverage"]["unmeasured"] for r in board] == [r["coverage"]["unmeasured"] for r in index]
        assert [r["coverage"]["measured_share"] for r in board] == [r["coverage"]["measured_share"] for r in index]


def test_city_page_aspects_agree_with_the_header_and_explain():
    """Regression (issue 13): 重大失信事件 and 政府反馈 are the entry's penalty and offset, not
    components; the aspect table showed "—" beside a header of -5.00."""
    from citycredit.web.desk import aspect_points

    e = {"components": {"credit_event": 30.0, "blacklist": 15.0}, "penalty": -5.0, "offset": 1.0}
    points = aspect_points(e)
    assert points["major_dishonesty"] == -5.0 and points["government_response"] == 1.0 and points["credit_event"] == 30.0
    desk = fed_desk()
    city = desk.city("320500", "2026-02")
    assert set(city["aspect_points"]) == set(city["aspects"])


def test_ranking_csv_carries_the_board_columns():
    async def go(client):
        r = await client.get("/api/ranking.csv", params={"period": "2026-02", "province": "江苏省"})
        rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        assert {"rank", "of", "peers", "measured_share", "unmeasured", "major_dishonesty", "government_response"} <= set(rows[0])
        suzhou = next(r for r in rows if r["city"] == "苏州市")
        assert (suzhou["rank"], suzhou["of"], suzhou["peers"]) == ("2", "13", "prefecture_level")
    run(go)


def test_month_over_month_change_of_score_and_rank():
    """Issue 13 item 5: each row carries its change since the month before (rank > 0 is up),
    in the JSON and the CSV; the city page names the aspects that moved most."""
    desk = fed_desk()
    desk.apply("city-index", "320500/2026-01", entry("320500", "苏州市", "江苏省", "2026-01", 86.0))
    desk.apply("city-index", "320100/2026-01", entry("320100", "南京市", "江苏省", "2026-01", 84.0))
    rows = {r["city"]: r for r in desk.ranking("2026-02", "江苏省", "prefecture_level")}
    assert rows["苏州市"]["change"] == {"previous_period": "2026-01", "previous_score": 86.0, "previous_rank": 1,
                                      "score": -6.0, "rank": -1}
    assert rows["南京市"]["change"]["rank"] == 1 and rows["南京市"]["change"]["score"] == 1.0
    assert rows["无锡市"]["change"]["score"] == 0.0  # at its baseline both months
    assert desk.ranking("2026-01", "江苏省")[0]["change"] is None  # December was never scored
    city = desk.city("320500", "2026-02")
    assert city["ranks"]["change"]["previous_period"] == "2026-01"
    assert city["ranks"]["top_changes"][0] == {"aspect": "credit_event", "label": "信用事件发生情况", "points": -6.0}
    assert [c["aspect"] for c in city["ranks"]["top_changes"]] == ["credit_event", "major_dishonesty"]

    async def go(client):
        r = await client.get("/api/ranking.csv", params={"period": "2026-02", "province": "江苏省"})
        table = {r["city"]: r for r in csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig")))}
        assert (table["苏州市"]["score_change"], table["苏州市"]["rank_change"]) == ("-6.0", "-1")
    run(go, desk=desk)


def test_a_response_filed_without_a_time_is_stamped_in_beijing_time():
    """Issue 13: API filings were stamped in UTC while everything else is +08:00."""
    from datetime import datetime, timezone

    from citycredit.web.filings import validate_filing

    known = fed_desk().major_events("320500")
    r = validate_filing(GOOD, known, now=datetime(2026, 2, 3, 17, 30, tzinfo=timezone.utc))
    assert r.ts == "2026-02-04T01:30:00+08:00"  # the next day in Beijing, as explain and the city page read it
