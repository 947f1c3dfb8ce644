"""End to end without a broker: a recorded timeline through ``citycredit ranking --input`` and
``citycredit explain`` as subprocesses. City A (苏州) and city B (无锡) each have the same
kind of major dishonesty event; A files a rectification the next day, B never responds.
A must end above B, with A's offset exactly the configured share of the deduction."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from citycredit.scoring import load_scoring_config

TITLE = "{city}一食品企业使用过期原料被立案调查"


def _timeline() -> list[dict]:
    rows: list[dict] = []
    for city, adcode, story in (("苏州市", "320500", "s-e2e-a"), ("无锡市", "320200", "s-e2e-b")):
        title = TITLE.format(city=city)
        for hour, site in ((8, "people"), (9, "xinhua"), (10, "sina")):
            rows.append({"ts": f"2026-05-04T{hour:02d}:00:00+08:00", "site": site, "surface": "homepage", "rank": None,
                         "title": title, "url": f"http://{site}.example/{story}", "summary": None, "change": "appeared",
                         "city": city, "city_adcode": adcode, "county": None, "county_adcode": None, "province": "江苏省",
                         "domain": "business", "subfield": "food_safety", "polarity": "dishonest", "aspect": "credit_event",
                         "story_id": story, "evidence": {}})
        rows.append({"type": "major_dishonesty", "story_id": story, "city": city, "city_adcode": adcode, "domain": "business",
                     "trigger": "homepages", "sites": ["people", "xinhua", "sina"], "first_seen": "2026-05-04T08:00:00+08:00",
                     "triggered_at": "2026-05-04T10:00:00+08:00", "title": title, "urls": [f"http://people.example/{story}"]})
    rows.append({"response_id": "r-e2e-a", "ts": "2026-05-05T09:00:00+08:00", "city_adcode": "320500", "story_id": "s-e2e-a",
                 "kind": "rectification", "source": "api", "title": "苏州市市场监管局：涉事企业停业整改",
                 "url": "https://www.suzhou.gov.cn/e2e.html", "note": ""})
    return rows


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "citycredit.cli", *args], capture_output=True, text=True, timeout=120)


def test_responding_city_ranks_above_silent_city(tmp_path: Path):
    log = tmp_path / "timeline.jsonl"
    log.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _timeline()), encoding="utf-8")
    outs = []
    for n in range(2):
        out = tmp_path / f"ranking{n}.json"
        done = _cli("ranking", "--input", str(log), "--period", "12m:2026-05", "--out", str(out))
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]  # the same log twice: byte-identical

    ranking = json.loads(outs[0])
    # every city in scope has a row; of the two with a major event, the one that responded ranks higher
    by_city = {r["city_adcode"]: r for r in ranking}
    a, b = by_city["320500"], by_city["320200"]
    assert a["peers"] == b["peers"] == "prefecture" and a["rank"] < b["rank"] and len(ranking) > 700
    cfg = load_scoring_config()
    deduction = cfg.deduction / 100
    assert a["penalty"] == b["penalty"] == -deduction
    assert a["offset"] == deduction * cfg.shares_bp["rectification"] / 10000 and b["offset"] == 0
    assert a["score"] - b["score"] == a["offset"]
    for r in ranking:
        assert round(sum(r["components"].values()) + r["penalty"] + r["offset"], 2) == r["score"]

    explained = _cli("explain", "苏州", "--input", str(log), "--period", "12m:2026-05")
    assert explained.returncode == 0, explained.stderr
    ex = json.loads(explained.stdout)
    response = ex["aspects"]["government_response"]["contributions"]
    assert [(c["id"], c["event"], c["points"]) for c in response] == [("r-e2e-a", "s-e2e-a", a["offset"])]
    event = ex["aspects"]["major_dishonesty"]["contributions"][0]
    assert event["id"] == "s-e2e-a" and event["title"] == TITLE.format(city="苏州市") and event["points"] == -deduction
    story = ex["aspects"]["credit_event"]["contributions"][0]
    assert story["sites"] == ["people", "sina", "xinhua"] and len(story["urls"]) == 3
