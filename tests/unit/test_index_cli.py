"""The index commands without a broker (--dry-run, --alerts, --input) and the disclosure check
with httpx.MockTransport."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime

import httpx

from citycredit.cli import main
from citycredit.scoring.periods import CST
from streams.disclosure import SiteCheck, check_all, load_sites
from streams.fetch import FetchPolicy
from citycredit.settings import get_settings
from citycredit.scoring.filings import blacklist_record
from tests.unit.index_factories import CITY_A, CITY_B, alert, item, response


def _alerts_file(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(json.dumps(a.asdict(), ensure_ascii=False) for a in
                              (alert("s1", city=CITY_A), alert("s2", city=CITY_B))) + "\n", encoding="utf-8")
    return path


def test_respond_validates_against_known_events(tmp_path, capsys):
    alerts = _alerts_file(tmp_path)
    args = ["respond", "--alerts", str(alerts), "--dry-run", "--kind", "rectification", "--ts", "2026-03-06T09:00:00+08:00"]
    assert main(args + ["--city", "苏州", "--story", "s1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["city_adcode"] == CITY_A and out["source"] == "cli" and out["response_id"].startswith("r-")
    assert main(args + ["--city", "苏州", "--story", "s2"]) == 2
    assert "belongs to city 320200, not 320500" in capsys.readouterr().err
    assert main(args + ["--city", "苏州", "--story", "nope"]) == 2
    assert "no major dishonesty event 'nope'" in capsys.readouterr().err
    assert main(args + ["--city", "999999", "--story", "s1"]) == 2
    assert "unknown city code" in capsys.readouterr().err


def test_import_blacklist_reports_rows_and_exit_code(tmp_path, capsys):
    path = tmp_path / "bl.csv"
    path.write_text("city,name,date\n苏州市,甲公司,2026-03-01\n火星,乙公司,2026-03-01\n无锡,丙公司,2026-99-01\n", encoding="utf-8")
    assert main(["import", "blacklist", str(path), "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "validated 1 rows, rejected 2" in captured.out
    assert "row 3: city: unknown city '火星'" in captured.err and "row 4:" in captured.err


def test_file_task_unknown_task_is_an_error(capsys):
    assert main(["file", "task", "--city", "苏州", "--task", "nope", "--dry-run"]) == 2
    assert "not on the checklist" in capsys.readouterr().err
    assert main(["file", "task", "--city", "苏州", "--task", "credit_service_market", "--ts", "2026-03-01", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "task_completion"


def test_explain_and_ranking_from_a_log_are_byte_identical(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    records = [item("s1"), alert("s1"), response("s1", "statement"), item("s2", city=CITY_B), alert("s2", city=CITY_B)]
    log.write_text("\n".join(json.dumps(r.asdict(), ensure_ascii=False) for r in records) + "\n{bad\n", encoding="utf-8")
    outs = []
    for n in range(2):
        out = tmp_path / f"r{n}.json"
        assert main(["ranking", "--input", str(log), "--period", "2026-03", "--out", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    rows = json.loads(outs[0])
    with_news = [r for r in rows if r["penalty"]]
    assert [r["city_adcode"] for r in with_news] == [CITY_A, CITY_B] and with_news[0]["offset"] == 0.5
    assert with_news[0]["rank"] < with_news[1]["rank"] and len(rows) > 700  # every city in scope has a row
    assert rows[0]["coverage"]["aspects"]["blacklist"] == {"measured": False, "by": "blacklist_import", "at": None,
                                                           "records": 0, "status": "未监测"}
    assert "line 6: not JSON" in capsys.readouterr().err
    assert main(["explain", "苏州市", "--input", str(log), "--period", "2026-03"]) == 0
    ex = json.loads(capsys.readouterr().out)
    assert ex["aspects"]["government_response"]["contributions"][0]["id"] == "r-s1-statement"
    assert ex["aspects"]["major_dishonesty"]["contributions"][0]["urls"] == ["http://people.example/s1"]


PAGES = {
    "https://ok.example/": ("<html><body><a>双公示</a><a>红黑名单</a><script>var x='信用承诺'</script></body></html>", "utf-8"),
    "https://gbk.example/": ("<html><head><meta charset='utf-8'></head><body>行政处罚 信用承诺书</body></html>", "gb18030"),
}


def _handler(request: httpx.Request) -> httpx.Response:
    url = str(request.url)
    if url in PAGES:
        text, enc = PAGES[url]
        return httpx.Response(200, stream=httpx.ByteStream(text.encode(enc)), headers={"content-type": "text/html"})
    if url == "https://down.example/":
        raise httpx.ConnectError("connection refused", request=request)
    return httpx.Response(404)


def test_disclosure_check_finds_columns_and_records_failures():
    markers = load_sites(get_settings().disclosure_config)[0].markers
    sites = [SiteCheck(CITY_A, "苏州市", "https://ok.example/", markers),
             SiteCheck(CITY_B, "无锡市", "https://gbk.example/", markers),
             SiteCheck("320100", "南京市", "https://down.example/", markers),
             SiteCheck("320200", "无锡市", "https://missing.example/", markers)]
    now = datetime(2026, 3, 1, 9, tzinfo=CST)
    policy = FetchPolicy(politeness_delay_s=0, retries=0)
    recs = asyncio.run(check_all(sites, policy, transport=httpx.MockTransport(_handler), now=now))
    by = {r.payload["url"]: r.payload for r in recs}
    # script text is not page text: 信用承诺 inside <script> does not count
    assert by["https://ok.example/"]["columns"] == {"shuang_gongshi": True, "red_black_list": True, "credit_commitment": False}
    assert by["https://gbk.example/"]["columns"] == {"shuang_gongshi": True, "red_black_list": False, "credit_commitment": True}
    assert by["https://down.example/"]["ok"] is False and by["https://down.example/"]["error"].startswith("connect")
    assert "404" in by["https://missing.example/"]["error"]
    assert all(r.ts == "2026-03-01T09:00:00+08:00" and r.kind == "disclosure_check" for r in recs)


def test_configured_disclosure_sites_are_known_cities():
    from citycredit.scoring import load_registry

    reg = load_registry()
    sites = load_sites(get_settings().disclosure_config)
    assert len(sites) == 13  # Jiangsu's 13 prefecture-level cities
    assert all(reg.get(s.adcode).province == "江苏省" and reg.get(s.adcode).name == s.name for s in sites)


def test_ranking_table_and_explain_show_coverage(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    rows = [item("s1"), alert("s1"), blacklist_record({"city_adcode": CITY_B, "name": "甲公司", "date": "2026-03-02", "list": "red"},
                                                        check_future=False)]
    log.write_text("\n".join(json.dumps(r.asdict(), ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert main(["ranking", "--input", str(log), "--period", "2026-03", "--province", "江苏", "--group", "prefecture_level",
                 "--table"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "# 2026-03 prefecture_level (13 cities)" and len(out) == 2 + 13
    wuxi = next(line for line in out if "\t320200\t" in line).split("\t")
    suzhou = next(line for line in out if "\t320500\t" in line).split("\t")
    assert wuxi[0] == "1/13" and wuxi[-1] == "信用信息公开程度、信用建设任务落实情况 (0.00)"  # a red-list row: 15 points, measured: first
    assert suzhou[0] == "13/13" and suzhou[-1].endswith("黑名单记录情况 (15.00)")
    assert main(["ranking", "--input", str(log), "--period", "2026-03", "--group", "capital"]) == 2
    assert "not a peer group" in capsys.readouterr().err
    assert main(["explain", "苏州市", "--input", str(log), "--period", "2026-03"]) == 0
    ex = json.loads(capsys.readouterr().out)
    assert ex["group"] == "prefecture" and ex["coverage"]["unmeasured_points"] == 15.0
    assert ex["aspects"]["blacklist"]["coverage"]["status"] == "未监测"
