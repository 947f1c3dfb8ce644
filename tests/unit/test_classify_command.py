"""citycredit classify: JSONL in, items out, bad lines reported and skipped, exit 1."""
from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from citycredit.commands.classify import classify_lines

GOOD = {"ts": "2026-02-03T08:00:00+08:00", "site": "people", "surface": "homepage", "rank": None,
        "title": "苏州一食品企业使用过期原料被立案调查", "url": "http://society.people.com.cn/n1/1.html", "summary": None}
PARAPHRASE = dict(GOOD, ts="2026-02-03T09:30:00+08:00", site="sina", surface="hotlist", rank=4,
                  title="蘇州一食品企業使用過期原料被立案調查", url="https://s.weibo.com/1")
BAD_LINES = [
    "{not json",
    json.dumps(dict(GOOD, title="   ")),                                  # empty title
    json.dumps(dict(GOOD, title="苏" * 10000)),                            # 10,000 characters
    json.dumps(dict(GOOD, title="😀🔥 &amp; <b></b>")),                   # nothing left but symbols
    json.dumps(dict(GOOD, ts="2026-02-03 08:00")),                         # no offset
    json.dumps([1, 2, 3]),                                                 # not an object
]


def _run(lines: list[str]) -> tuple[list[dict], list[str], int]:
    out, err = io.StringIO(), io.StringIO()
    bad = classify_lines(lines, out, err)
    return [json.loads(x) for x in out.getvalue().splitlines()], err.getvalue().splitlines(), bad


def test_items_carry_the_design_fields_and_evidence():
    items, errors, bad = _run([json.dumps(GOOD, ensure_ascii=False), json.dumps(PARAPHRASE, ensure_ascii=False)])
    assert bad == 0 and errors == []
    first, second = items
    for field in ("ts", "site", "surface", "rank", "title", "url", "summary"):
        assert first[field] == GOOD[field]
    assert (first["city"], first["city_adcode"], first["province"]) == ("苏州市", "320500", "江苏省")
    assert first["polarity"] == "dishonest" and first["domain"] == "business"
    assert first["evidence"]["city"] == ["苏州"]
    assert second["story_id"] == first["story_id"]  # traditional-script paraphrase on another site


def test_bad_lines_are_reported_and_skipped():
    lines = [json.dumps(GOOD, ensure_ascii=False)] + BAD_LINES + [json.dumps(PARAPHRASE, ensure_ascii=False)]
    items, errors, bad = _run(lines)
    assert bad == len(BAD_LINES)
    assert len(items) == 2
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in range(2, 2 + len(BAD_LINES))]
    assert "not JSON" in errors[0] and "title: empty" in errors[1] and "10000 characters" in errors[2]


@pytest.mark.slow
def test_cli_exit_code_and_byte_identical_output(tmp_path):
    path = tmp_path / "obs.jsonl"
    path.write_text("\n".join([json.dumps(GOOD, ensure_ascii=False), "oops", json.dumps(PARAPHRASE)]) + "\n",
                    encoding="utf-8")
    runs = [subprocess.run([sys.executable, "-m", "citycredit.cli", "classify", str(path)],
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [1, 1]
    assert runs[0].stdout == runs[1].stdout and len(runs[0].stdout.splitlines()) == 2
    assert "line 2: not JSON" in runs[0].stderr
    piped = subprocess.run([sys.executable, "-m", "citycredit.cli", "classify"], input=path.read_text(encoding="utf-8"),
                           capture_output=True, text=True, timeout=120)
    assert piped.stdout == runs[0].stdout and piped.returncode == 1


def test_a_no_city_sighting_a_city_story_claims_is_printed_again_as_the_city_s():
    """山西一煤矿… names no city; the 吕梁 wording seen after it claims it, and the command
    prints it again with the city's story, as the worker sends it to items again."""
    first = dict(GOOD, ts="2026-02-03T07:00:00+08:00", site="netease", title="山西一煤矿透水致5人被困 当地成立事故调查组",
                 url="https://news.163.com/1")
    second = dict(GOOD, ts="2026-02-03T08:00:00+08:00", site="xinhua", title="山西吕梁一煤矿发生透水事故 5人被困",
                  url="http://www.news.cn/1")
    items, errors, bad = _run([json.dumps(first, ensure_ascii=False), json.dumps(second, ensure_ascii=False)])
    assert bad == 0 and len(items) == 3
    unplaced, placed, again = items
    assert again["url"] == unplaced["url"] and again["story_id"] == placed["story_id"] != unplaced["story_id"]
    assert again["evidence"]["story"][0].startswith("joined later")
