"""The city index agent on the real broker: items and alerts keyed by story, a response and
records keyed by city, a worker process, and the index read back from ``city-index``.
Bad records land on the dead-letter topic with the reason."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

pytestmark = pytest.mark.broker


async def _produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume_until(bootstrap: str, topic: str, done, timeout: float = 90.0) -> list[tuple[str, dict]]:
    """Read ``topic`` from the start until ``done(records)`` holds or the timeout passes."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    seen: list[tuple[str, dict]] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not done(seen):
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                seen += [((m.key or b"").decode(), json.loads(m.value)) for m in messages]
    finally:
        await consumer.stop()
    return seen


def _j(d: dict) -> bytes:
    return json.dumps(d, ensure_ascii=False).encode()


def test_major_event_response_and_records_reach_city_index(kafka, worker_factory):
    story = "s-int-suzhou-1"
    item = {"ts": "2026-03-05T10:00:00+08:00", "site": "people", "surface": "homepage", "rank": None,
            "title": "苏州一食品企业使用过期原料被立案调查", "url": "http://society.people.com.cn/n1/int1.html", "summary": None,
            "change": "appeared", "city": "苏州市", "city_adcode": "320500", "county": None, "county_adcode": None,
            "province": "江苏省", "domain": "business", "subfield": "food_safety", "polarity": "dishonest",
            "aspect": "credit_event", "story_id": story, "evidence": {}}
    alert = {"type": "major_dishonesty", "story_id": story, "city": "苏州市", "city_adcode": "320500", "domain": "business",
             "trigger": "homepages", "sites": ["people", "xinhua", "sina"], "first_seen": "2026-03-05T10:00:00+08:00",
             "triggered_at": "2026-03-05T12:00:00+08:00", "title": item["title"], "urls": [item["url"]]}
    response = {"response_id": "r-int-1", "ts": "2026-03-06T09:00:00+08:00", "city_adcode": "320500",
                "story_id": story, "kind": "rectification", "source": "cli", "title": "苏州市市场监管局通报整改",
                "url": "https://www.suzhou.gov.cn/int1.html", "note": ""}
    blacklist = {"record_id": "bl-int-1", "kind": "blacklist", "ts": "2026-03-02T00:00:00+08:00", "city_adcode": "320500",
                 "payload": {"name": "苏州某食品有限公司", "list": "black", "credit_code": None, "reason": "食品安全", "authority": ""}}
    bad_city = dict(blacklist, record_id="bl-int-2", city_adcode="999999")
    asyncio.run(_produce(kafka.kafka_bootstrap, [
        ("items", story.encode(), _j(item)),
        ("alerts", story.encode(), _j(alert)),
        ("responses", b"320500", _j(response)),
        ("records", b"320500", _j(blacklist)),
        ("records", b"999999", _j(bad_city)),
        ("responses", b"320500", b"{not json"),
    ]))
    worker = worker_factory().start()
    worker.wait_ready()

    # Entries are emitted on every change; wait for the one that has everything in it.
    def complete(key: str, entry: dict) -> bool:
        return (key == "320500/2026-03" and entry["offset"] > 0 and entry["components"]["blacklist"] < 15
                and entry["components"]["credit_event"] < 20)

    seen = asyncio.run(_consume_until(kafka.kafka_bootstrap, "city-index", lambda got: any(complete(*kv) for kv in got)))
    final = next((entry for key, entry in seen if complete(key, entry)), None)
    assert final is not None, worker.log()[-4000:]
    assert final["penalty"] == -5.0 and final["offset"] == 1.25  # 5 points x rectification share 0.25
    assert final["components"]["credit_event"] == 19.0 and final["components"]["blacklist"] == 14.5
    assert round(sum(final["components"].values()) + final["penalty"] + final["offset"], 2) == final["score"]
    assert "__faust" not in final

    # Other tests of the session dead-letter records too: look for these two reasons.
    def ours(got):
        return [r for _, r in got if r["stage"] == "score_city_index"
                and ("'999999'" in r["reason"] or r["payload"] == "{not json")]

    ours = ours(asyncio.run(_consume_until(kafka.kafka_bootstrap, "deadletter", lambda got: len(ours(got)) >= 2, 60)))
    assert any("unknown city code '999999'" in r["reason"] and r["topic"] == "records" for r in ours), ours
    assert any(r["reason"].startswith("response: not JSON") and r["payload"] == "{not json" for r in ours), ours


def test_cli_filings_land_on_topics_and_explain_reads_them_back(kafka, tmp_path):
    import subprocess
    import sys

    from tests.conftest import settings_env

    env = settings_env(kafka)
    story = "s-int-cli-wuxi"
    alert = {"type": "major_dishonesty", "story_id": story, "city": "无锡市", "city_adcode": "320200", "domain": "social",
             "trigger": "hotlist", "sites": ["sina"], "first_seen": "2026-04-01T08:00:00+08:00",
             "triggered_at": "2026-04-01T09:00:00+08:00", "title": "无锡某校食堂食品安全问题", "urls": ["https://news.sina.com.cn/x"]}
    asyncio.run(_produce(kafka.kafka_bootstrap, [("alerts", story.encode(), _j(alert))]))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "citycredit.cli", *args], env=env, capture_output=True, text=True, timeout=120)

    ok = cli("respond", "--city", "无锡", "--story", story, "--kind", "investigation", "--ts", "2026-04-02T10:00:00+08:00")
    assert ok.returncode == 0, ok.stderr
    wrong_city = cli("respond", "--city", "苏州", "--story", story, "--kind", "statement", "--ts", "2026-04-02T10:00:00+08:00")
    assert wrong_city.returncode == 2 and "belongs to city 320200" in wrong_city.stderr

    path = tmp_path / "bl.csv"
    path.write_text("city_adcode,name,date,list\n320200,无锡某公司,2026-04-03,black\n320299,坏行,2026-04-03,black\n", encoding="utf-8")
    imported = cli("import", "blacklist", str(path))
    assert imported.returncode == 1 and "row 3:" in imported.stderr and "imported 1 rows" in imported.stdout

    explained = cli("explain", "320200", "--period", "2026-04")
    assert explained.returncode == 0, explained.stderr
    ex = json.loads(explained.stdout)
    assert ex["penalty"] == -5.0 and ex["offset"] == 1.0  # investigation: 0.20 of 5 points
    assert [c["title"] for c in ex["aspects"]["blacklist"]["contributions"]] == ["无锡某公司"]
    assert round(sum(a["points"] for a in ex["aspects"].values()), 2) == ex["score"]
