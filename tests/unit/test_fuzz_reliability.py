"""Fuzz (hypothesis) what the other fuzz suites do not reach: the classifier on arbitrary
unicode titles, the JSONL readers (`citycredit classify`, the replay timeline) and the HTTP
API's write payloads through the real aiohttp routes. The answer is a value or an
InputError naming the problem (a 4xx on the API), never another exception or a 500.

``pytest -s`` prints how many examples each test ran (docs/reliability.md).
"""
from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.commands.classify import classify_lines
from citycredit.exceptions import InputError
from citycredit.ids import ASPECTS, DOMAINS, POLARITIES
from citycredit.replay import read_timeline
from citycredit.understanding import Understanding
from schemas import Observation

from tests.unit.test_desk_api import AUTH, fed_desk

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RAN: Counter = Counter()
UNDERSTANDING = Understanding(story_state={})
ADCODE = re.compile(r"^\d{6}$")

# Titles: any unicode, plus pieces that steer into the gazetteer and lexicons (city names,
# credit words, markup, emoji, full-width forms, control characters, surrogates-free).
PIECES = st.sampled_from(["苏州", "苏州市", "南京", "吴江区", "失信", "被执行人", "诚信", "表彰", "立案调查", "过期",
                          "<b>", "</b>", "&amp;", "🔥", "　", "\u200b", "\x00", "【", "】", "ＡＢＣ", "市", "省", "县"])
TITLES = st.one_of(st.text(max_size=120), st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=25).map("".join))


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    print("\nFUZZ examples run: " + ", ".join(f"{k} {v}" for k, v in sorted(RAN.items())))


def _obs(title: str) -> Observation:
    return Observation(ts="2026-03-05T09:00:00+08:00", site="people", surface="homepage", title=title,
                       url="http://society.people.com.cn/n1/2026/0305/c1008-1.html", rank=None, summary=None, change="appeared")


@FUZZ
@given(TITLES)
def test_classifier_on_arbitrary_titles(title):
    RAN["classifier titles"] += 1
    try:
        item = UNDERSTANDING.classify(_obs(title))
    except InputError:
        return
    assert item.polarity in POLARITIES
    assert item.domain is None or item.domain in DOMAINS
    assert item.aspect is None or item.aspect in ASPECTS
    assert item.city_adcode is None or ADCODE.match(item.city_adcode)
    assert item.story_id
    json.dumps(item.asdict(), ensure_ascii=False)  # what goes on the topic


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                           max_leaves=6)
OBS_KEYS = st.sampled_from(["ts", "site", "surface", "title", "url", "rank", "summary", "change", "type", "city",
                            "city_adcode", "story_id", "kind"])
GOOD_OBS = json.dumps(_obs("苏州一食品企业使用过期原料被立案调查").asdict(), ensure_ascii=False)
LINES = st.one_of(
    st.text(max_size=80),
    st.dictionaries(OBS_KEYS, json_values, max_size=9).map(lambda d: json.dumps(d, ensure_ascii=False)),
    # a valid observation with one field replaced: the reader must name the field
    st.tuples(OBS_KEYS, json_values).map(lambda kv: json.dumps({**json.loads(GOOD_OBS), kv[0]: kv[1]}, ensure_ascii=False)),
    st.just(GOOD_OBS),
)


@FUZZ
@given(st.lists(LINES, max_size=8))
def test_classify_command_reads_any_jsonl(lines):
    RAN["classify JSONL files"] += 1
    out, err = io.StringIO(), io.StringIO()
    bad = classify_lines(lines, out, err)
    written = [json.loads(x) for x in out.getvalue().splitlines()]
    nonblank = sum(1 for x in lines if x.strip())
    assert len(written) + bad == nonblank  # every line is either an item or an error: none vanishes
    assert len(err.getvalue().splitlines()) >= bad


@FUZZ
@given(st.lists(LINES, max_size=8))
def test_replay_timeline_reads_any_jsonl(lines):
    RAN["replay timelines"] += 1
    entries, errors = read_timeline(lines)
    nonblank = [i for i, x in enumerate(lines, start=1) if x.strip()]
    assert sorted([e.lineno for e in entries] + [e.lineno for e in errors]) == nonblank
    assert [e.epoch for e in entries] == sorted(e.epoch for e in entries)


# ---- the HTTP API: bodies of any shape to every write route, through aiohttp ----------------
API_KEYS = st.sampled_from(["city", "city_adcode", "story_id", "kind", "ts", "title", "url", "note", "source",
                            "filters", "cities", "provinces", "domains", "types", "id", "secret", "since"])
BODIES = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=64).map(lambda t: t.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(API_KEYS, json_values, max_size=8).map(lambda d: json.dumps(d, ensure_ascii=False).encode()),
)
WRITES = st.sampled_from([("POST", "/api/responses"), ("POST", "/api/subscriptions"), ("DELETE", "/api/subscriptions/x1")])
READ_QUERIES = st.dictionaries(st.sampled_from(["period", "province", "q", "city", "domain", "polarity", "limit",
                                                "subscription", "cities", "types"]), st.text(max_size=20), max_size=4)


async def _published(topic, key, value):
    """Accepted writes are published; the fuzz checks only that nothing crashes on the way."""


def _api(coro_fn):
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from citycredit.settings import Settings
    from citycredit.web.server import DeskContext, add_routes

    async def main():
        app = web.Application()
        add_routes(app.router, DeskContext(desk=fed_desk(), settings=Settings(api_token=AUTH["Authorization"][7:],
                                                                              api_rate_limit=0),
                                           publish=_published, resolve=lambda host, port: ["10.0.0.5"]))
        async with TestClient(TestServer(app)) as client:
            return await coro_fn(client)
    return asyncio.run(main())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(WRITES, BODIES, st.sampled_from(["application/json", "text/plain", ""])), min_size=1, max_size=15),
       st.lists(st.tuples(st.sampled_from(["/api/ranking", "/api/events", "/api/cities/320500", "/api/alerts",
                                           "/api/ranking.csv", "/api/events.csv"]), READ_QUERIES), max_size=5))
def test_api_answers_any_body_and_query_with_a_4xx_or_success(writes, reads):
    async def go(client):
        for (method, path), body, ctype in writes:
            RAN["API requests"] += 1
            headers = {**AUTH, **({"Content-Type": ctype} if ctype else {})}
            r = await client.request(method, path, data=body, headers=headers)
            assert r.status < 500, (method, path, body, r.status, await r.text())
            if r.status >= 400:
                assert (await r.json())["error"]
        for path, query in reads:
            RAN["API requests"] += 1
            r = await client.get(path, params=query)
            assert r.status < 500, (path, query, r.status, await r.text())
    _api(go)
