"""``citycredit replay FILE --ranking OUT.json`` end to end: real observations through
understanding, detection and the city index. City A (苏州) and city B (无锡) each have the
same story on three homepages within hours (a major dishonesty event); A's government
files a rectification the next day, B stays silent. A ends above B, A's offset is exactly
the configured share of the deduction, and the ranking file is byte-identical across runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from citycredit.scoring import load_scoring_config
from citycredit.understanding import Understanding
from schemas import Observation

CITIES = (("苏州", "320500"), ("无锡", "320200"))
TITLE = "{city}多家餐馆被曝使用地沟油"


def _observations() -> list[dict]:
    out = []
    for n, (city, _) in enumerate(CITIES):
        for hour, site in ((8, "people"), (9, "xinhua"), (11, "cctv")):
            out.append({"ts": f"2026-05-04T{hour + n:02d}:00:00+08:00", "site": site, "surface": "homepage", "rank": None,
                        "title": TITLE.format(city=city), "url": f"http://{site}.example.cn/{n}.html", "summary": None})
    return out


def _replay(timeline: Path, ranking: Path | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "citycredit.cli", "replay", str(timeline)] + (["--ranking", str(ranking)] if ranking else [])
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_replayed_city_with_a_response_ranks_above_the_silent_one(tmp_path: Path):
    obs = _observations()
    for o in (obs[0], obs[3]):
        item = Understanding().classify(Observation.parse(o))
        # a reader regression must fail here, not skip: the ranking below is built on these two
        assert item.polarity == "dishonest" and item.city_adcode is not None, (o["title"], item.evidence)

    first = _replay(_write(tmp_path / "events.jsonl", obs))
    assert first.returncode == 0, first.stderr
    majors = {a["city_adcode"]: a for a in map(json.loads, first.stdout.splitlines()) if a["type"] == "major_dishonesty"}
    assert set(majors) == {"320500", "320200"}, first.stdout

    response = {"type": "response", "response_id": "r-replay-a", "ts": "2026-05-05T09:00:00+08:00", "city_adcode": "320500",
                "story_id": majors["320500"]["story_id"], "kind": "rectification", "source": "api",
                "title": "苏州市市场监管局：涉事餐馆停业整改", "url": "https://www.suzhou.gov.cn/r.html", "note": ""}
    timeline = _write(tmp_path / "timeline.jsonl", obs + [response])
    outs = []
    for n in range(2):
        done = _replay(timeline, tmp_path / f"ranking{n}.json")
        assert done.returncode == 0, done.stderr
        outs.append((tmp_path / f"ranking{n}.json").read_bytes())
    assert outs[0] == outs[1]

    ranking = json.loads(outs[0])
    by_city = {r["city_adcode"]: r for r in ranking}
    a, b = by_city["320500"], by_city["320200"]
    assert a["rank"] < b["rank"] and a["score"] > b["score"]
    cfg = load_scoring_config()
    deduction = cfg.deduction / 100
    assert a["penalty"] == b["penalty"] == -deduction
    assert a["offset"] == deduction * cfg.shares_bp["rectification"] / 10000
    assert b["offset"] == 0.0
    for r in ranking:
        assert round(sum(r["components"].values()) + r["penalty"] + r["offset"], 2) == r["score"]


def test_replay_reports_what_the_index_rejects(tmp_path: Path):
    bad = {"type": "record", "record_id": "bl-x", "kind": "blacklist", "ts": "2026-05-04T00:00:00+08:00",
           "city_adcode": "999999", "payload": {"name": "某公司", "list": "black"}}
    good = dict(bad, record_id="bl-y", city_adcode="320500")
    done = _replay(_write(tmp_path / "t.jsonl", [bad, good]), tmp_path / "r.json")
    assert done.returncode == 1
    assert "dead-letter score_city_index: city_adcode: unknown city code '999999'" in done.stderr
    rows = json.loads((tmp_path / "r.json").read_text())
    # every city in scope has a row; the good record reached 苏州 (its blacklist is measured now), the bad one nobody
    assert "999999" not in {r["city_adcode"] for r in rows} and len(rows) > 700
    assert [r["city_adcode"] for r in rows if r["coverage"]["aspects"]["blacklist"]["measured"]] == ["320500"]
