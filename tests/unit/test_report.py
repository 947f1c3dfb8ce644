"""The monthly report (citycredit/reporting): its content from a replayed month, the same
bytes for the same data, an empty month, bad input, and each output format.

The month: 苏州 and 无锡 each have a story on three homepages within hours (two major
dishonesty events, 2026-05-04); 苏州's government files a rectification the next day,
无锡 stays silent; a 南京 story in April makes the month before differ; an early warning
for 江苏 food safety is fed as the trend rule would emit it.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from citycredit.detection import load_config
from citycredit.exceptions import InputError
from citycredit.replay import Replay, TimelineEntry
from citycredit.reporting import ReportInputs, build_report, render
from citycredit.reporting.render import html, province_grid, xlsx
from citycredit.scoring import load_scoring_config
from citycredit.scoring.scope import load_scope
from citycredit.settings import get_settings
from schemas import Alert, Observation, Response, parse_ts

TITLE = "{city}多家餐馆被曝使用地沟油"
MONTH = "2026-05"


def _timeline() -> list[dict]:
    rows = []
    for n, city in enumerate(("苏州", "无锡")):
        for hour, site in ((8, "people"), (9, "xinhua"), (11, "cctv")):
            rows.append({"ts": f"2026-05-04T{hour + n:02d}:00:00+08:00", "site": site, "surface": "homepage",
                         "rank": None, "title": TITLE.format(city=city), "url": f"http://{site}.example.cn/{n}.html",
                         "summary": None})
    rows.append({"ts": "2026-04-10T10:00:00+08:00", "site": "people", "surface": "homepage", "rank": None,
                 "title": "南京一企业拖欠农民工工资被查", "url": "http://people.example.cn/nj.html", "summary": None})
    return rows


def _inputs(extra_title: str | None = None) -> ReportInputs:
    inputs = ReportInputs()
    rows = _timeline()
    if extra_title:
        rows.append(dict(rows[0], title=extra_title, ts="2026-05-20T08:00:00+08:00", url="http://people.example.cn/x.html"))
    entries = sorted((TimelineEntry(n, parse_ts(r["ts"]).timestamp(), "observation", Observation.parse(r))
                      for n, r in enumerate(rows, 1)), key=lambda e: (e.epoch, e.lineno))
    replay = Replay(load_config(get_settings().detection_config), sinks=[inputs])
    alerts = list(replay.run(entries))
    suzhou = next(a for a in alerts if a.city_adcode == "320500" and a.type == "major_dishonesty")
    inputs.on_response(Response(response_id="r-sz", ts="2026-05-05T09:00:00+08:00", city_adcode="320500",
                                story_id=suzhou.story_id, kind="rectification", source="api",
                                title="苏州市市场监管局：涉事餐馆停业整改", url="https://www.suzhou.gov.cn/r.html"))
    inputs.on_alert(Alert(type="early_warning", story_id="s-warn", city="苏州市", city_adcode="320500", domain="business",
                          trigger="trend", sites=["people"], first_seen="2026-05-10T08:00:00+08:00",
                          triggered_at="2026-05-12T08:00:00+08:00", title="苏州食品安全报道短期高发", urls=[],
                          province="江苏省", subfield="food_safety",
                          evidence={"rule": "trend", "count": 4, "expected": 0.5, "p_value": 0.0018}))
    return inputs


@pytest.fixture(scope="module")
def month() -> ReportInputs:
    return _inputs()


def test_every_city_of_the_scope_is_ranked_with_its_changes(month):
    national = build_report(month, MONTH)
    rows = [r for g in national["groups"] for r in g["rows"]]
    assert len(rows) == len(load_scope()) == national["totals"]["cities"]
    jiangsu = build_report(month, MONTH, "江苏")
    js_rows = {r["city_adcode"]: r for g in jiangsu["groups"] for r in g["rows"]}
    assert len(js_rows) == sum(1 for m in load_scope().members.values() if m.province == "江苏省")
    assert [g["peers"] for g in jiangsu["groups"]] == ["prefecture_level", "county_city"]
    sz, wx = js_rows["320500"], js_rows["320200"]
    assert sz["rank"] < wx["rank"] and sz["score"] > wx["score"]
    # the month before had nothing for either: each lost its story's point and the deduction
    assert wx["score_change"] == round(wx["score"] - wx["prev_score"], 2) < 0
    assert wx["rank_change"] == wx["prev_rank"] - wx["rank"] < 0
    assert wx in jiangsu["movers"]["down"] and sz in jiangsu["movers"]["down"]
    assert all(r["score_change"] > 0 for r in jiangsu["movers"]["up"])


def test_major_events_carry_their_trigger_responses_and_offsets(month):
    report = build_report(month, MONTH, "江苏省")
    events = {e["city_adcode"]: e for e in report["events"]["major_dishonesty"]}
    assert set(events) == {"320500", "320200"}
    cfg = load_scoring_config()
    deduction = cfg.deduction / 100
    sz, wx = events["320500"], events["320200"]
    assert sz["deduction"] == wx["deduction"] == -deduction
    assert sz["trigger"] == "homepages" and "人民网" in sz["trigger_text"] and sz["trigger_text"].startswith("3 家")
    assert [r["kind"] for r in sz["responses"]] == ["rectification"]
    assert sz["offset"] == deduction * cfg.shares_bp["rectification"] / 10000
    assert sz["net"] == round(-deduction + sz["offset"], 2)
    assert wx["responses"] == [] and wx["offset"] == 0 and wx["net"] == -deduction
    assert report["totals"]["responses"] == 1


def test_warnings_and_incidence_by_province(month):
    report = build_report(month, MONTH)
    jiangsu = next(w for w in report["warnings"] if w["province"] == "江苏省")
    assert [x["title"] for x in jiangsu["early_warnings"]] == ["苏州食品安全报道短期高发"]
    # two dishonest food-safety stories (one per city, however many sites carried each)
    assert jiangsu["incidence"]["food_safety"] == 2 and jiangsu["total"] == 2
    assert build_report(month, "2026-06")["warnings"] == []  # a warning belongs to its month only


def test_coverage_and_methods_come_from_the_data_and_the_configuration(month):
    report = build_report(month, MONTH, "江苏")
    cov = {c["aspect"]: c for c in report["coverage"]}
    assert all(c["of"] == report["totals"]["cities"] for c in cov.values())
    m = report["methods"]
    cfg = load_scoring_config()
    assert m["deduction"] == cfg.deduction / 100 and m["source"] == "scoring.toml"
    assert {a["id"] for a in m["aspects"]} == set(cfg.aspects)
    # the reasons written beside the values in scoring.toml are the methods page's text
    assert "one story = one event" in next(a for a in m["aspects"] if a["id"] == "credit_event")["note"]
    assert any(t["name"] == "食物中毒" for t in m["event_types"])


def test_same_data_same_bytes(monkeypatch):
    import time

    a, b = _inputs(), _inputs()
    ra, rb = build_report(a, MONTH, "江苏"), build_report(b, MONTH, "江苏")
    assert html(ra) == html(rb)
    first = xlsx(ra)
    later = time.time() + 86400 * 3  # a run on another day (zip and document times must not follow the clock)
    monkeypatch.setattr(time, "time", lambda: later)
    assert xlsx(rb) == first


def test_a_month_without_data_is_an_empty_but_valid_report(month):
    report = build_report(month, "2025-01", "江苏")
    assert report["data_through"] is not None  # the index holds later data: the month itself is empty
    assert report["events"] == {"major_dishonesty": [], "major_trustworthy": []}
    assert all(r["score_change"] == 0 for g in report["groups"] for r in g["rows"])
    empty = build_report(ReportInputs(), "2026-11")
    assert empty["data_through"] is None and empty["totals"]["cities"] == len(load_scope())
    assert "本期无监测数据" in html(empty)
    with zipfile.ZipFile(io.BytesIO(xlsx(empty))) as z:
        assert "xl/workbook.xml" in z.namelist()


@pytest.mark.parametrize("period", ["2026-13", "2026/05", "12m:2026-05", ""])
def test_a_bad_period_is_an_input_error(month, period):
    with pytest.raises(InputError, match="period"):
        build_report(month, period)


def test_an_unknown_scope_is_an_input_error(month):
    with pytest.raises(InputError, match="火星"):
        build_report(month, MONTH, "火星省")


def test_headlines_stay_text_in_html_and_xlsx():
    from openpyxl import load_workbook

    hostile = '=HYPERLINK("http://evil.example/","苏州")<script>alert(1)</script>苏州餐馆使用地沟油'
    inputs = _inputs(extra_title=None)
    report = build_report(inputs, MONTH, "江苏")
    report["events"]["major_dishonesty"][0]["title"] = hostile
    page = html(report)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    book = load_workbook(io.BytesIO(xlsx(report)))
    cell = next(c for row in book["重大失信事件"].iter_rows() for c in row if c.value == hostile)
    assert cell.data_type == "s"  # text, not a formula a spreadsheet would run


def test_province_grid_colours_every_city_on_the_scopes_scale(month):
    report = build_report(month, MONTH, "江苏")
    grid = province_grid(report)
    tiles = [t for p in grid for t in p["cities"]]
    assert len(tiles) == report["totals"]["cities"]
    worst = min(tiles, key=lambda t: t["score"])
    best = max(tiles, key=lambda t: t["score"])
    assert worst["background"] != best["background"]


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="pdffonts (poppler-utils) not installed: ops/install-test-deps.sh")
def test_pdf_embeds_a_chinese_font(month, tmp_path):
    data = render(build_report(month, MONTH, "江苏"), "pdf")
    assert data.startswith(b"%PDF")
    path = tmp_path / "r.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts, fonts  # Noto Sans CJK: the Chinese is drawn, not boxes
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "重大失信事件及政府反馈" in text and "苏州市" in text


def test_command_writes_each_format_and_refuses_bad_input(tmp_path):
    timeline = tmp_path / "t.jsonl"
    timeline.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in _timeline()), encoding="utf-8")
    cmd = [sys.executable, "-m", "citycredit.cli", "report", "--period", MONTH, "--timeline", str(timeline)]
    done = subprocess.run(cmd + ["--scope", "江苏", "--out", str(tmp_path / "r.xlsx")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert zipfile.is_zipfile(tmp_path / "r.xlsx") and "2 major dishonesty events" in done.stderr
    bad = subprocess.run(cmd + ["--scope", "火星"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "火星" in bad.stderr
    binary = subprocess.run(cmd + ["--format", "pdf"], capture_output=True, text=True, timeout=120)
    assert binary.returncode == 2 and "--out" in binary.stderr


def test_desk_download_serves_each_format_and_refuses_bad_queries():
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from openpyxl import load_workbook

    from citycredit.settings import Settings
    from citycredit.web.desk import DeskView
    from citycredit.web.server import DeskContext, add_routes

    class Recorder:  # the records the topics would hold after this month
        def __init__(self) -> None:
            self.records: list = []

        def on_item(self, item) -> None:
            self.records.append(item)

        on_alert = on_item

    rec = Recorder()
    entries = sorted((TimelineEntry(n, parse_ts(r["ts"]).timestamp(), "observation", Observation.parse(r))
                      for n, r in enumerate(_timeline(), 1)), key=lambda e: (e.epoch, e.lineno))
    list(Replay(load_config(get_settings().detection_config), sinks=[rec]).run(entries))

    async def records():
        return list(rec.records), 0

    async def refuse(topic, key, value):
        raise AssertionError("a report publishes nothing")

    async def main():
        app = web.Application()
        add_routes(app.router, DeskContext(desk=DeskView(), settings=Settings(api_token=""), publish=refuse,
                                           report_records=records))
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/api/report", params={"period": MONTH, "scope": "江苏", "format": "xlsx"})
            assert r.status == 200, await r.text()
            assert r.headers["Content-Type"].startswith("application/vnd.openxmlformats")
            assert "attachment" in r.headers["Content-Disposition"]
            book = load_workbook(io.BytesIO(await r.read()))
            assert {row[1] for row in book["重大失信事件"].iter_rows(min_row=2, values_only=True)} == {"苏州市", "无锡市"}
            r = await client.get("/api/report", params={"period": MONTH})
            assert r.status == 200 and "全国城市信用状况监测报告" in await r.text()
            for params, words in (({"period": "12m:2026-05"}, "calendar month"), ({"period": MONTH, "format": "doc"}, "format"),
                                  ({"period": MONTH, "scope": "火星"}, "火星")):
                r = await client.get("/api/report", params=params)
                assert r.status == 400 and words in (await r.json())["error"]
    asyncio.run(main())


def test_the_command_offers_exactly_the_formats_the_report_renders():
    from citycredit import reporting
    from citycredit.commands import report as command

    assert command.FORMATS == reporting.FORMATS
