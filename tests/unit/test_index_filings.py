"""Filings into responses and records: every bad input is a clear error, nothing written."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from citycredit.exceptions import ConfigError, InputError
from citycredit.scoring import CityScorer, ScoringConfig, load_registry, validate_record, validate_response
from citycredit.scoring.filings import (blacklist_record, known_events_from_alerts, policy_record, read_blacklist_file,
                                        task_record)
from citycredit.scoring.periods import CST
from tests.unit.index_factories import CITY_A, CITY_B, alert

NOW = datetime(2026, 3, 20, tzinfo=CST)
EVENTS = known_events_from_alerts([alert("s1", city=CITY_A, ts="2026-03-05T12:00:00+08:00",
                                         first_seen="2026-03-05T08:00:00+08:00"),
                                   alert("t1", city=CITY_A, type="major_trustworthy")])


def payload(**over):
    base = {"city": "苏州市", "story_id": "s1", "kind": "statement", "ts": "2026-03-06T09:00:00+08:00",
            "title": "苏州市市场监管局通报", "url": "https://www.suzhou.gov.cn/x.html"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_valid_response_gets_a_stable_id():
    a = validate_response(payload(), EVENTS, now=NOW)
    b = validate_response(payload(city=None, city_adcode=CITY_A), EVENTS, now=NOW)
    assert a.city_adcode == CITY_A and a.kind == "statement" and a.source == "api"
    assert a.response_id == b.response_id  # filed twice: same id, counts once


@pytest.mark.parametrize("over, message", [
    ({"story_id": "nope"}, "no major dishonesty event 'nope'"),
    ({"story_id": "t1"}, "no major dishonesty event"),  # a trustworthy event has nothing to offset
    ({"city": "无锡市"}, "belongs to city 320500, not 320200"),
    ({"city": "不存在市"}, "unknown city"),
    ({"city": None, "city_adcode": "999999"}, "unknown city code"),
    ({"kind": "apology"}, "kind: 'apology' is not one of"),
    ({"ts": "2026-03-05T07:00:00+08:00"}, "before the event was first seen"),
    ({"ts": "2026-04-06T09:00:00+08:00"}, "in the future"),
    ({"ts": "1999-01-01T00:00:00+08:00"}, "outside 2000..2099"),
    ({"ts": "yesterday"}, "not ISO-8601"),
    ({"ts": "2026-03-06T09:00:00"}, "no UTC offset"),
    ({"title": "x" * 501}, "more than 500"),
    ({"url": "javascript:alert(1)"}, "not an http"),
    ({"source": "rumour"}, "source"),
    ({"response_id": "../../etc"}, "response_id"),
    ({"story_id": 42}, "expected text"),
])
def test_bad_responses_are_clear_errors(over, message):
    with pytest.raises(InputError, match=message):
        validate_response(payload(**over), EVENTS, now=NOW)


def test_response_payload_must_be_an_object():
    with pytest.raises(InputError, match="JSON object"):
        validate_response(["s1"], EVENTS)  # type: ignore[arg-type]


def test_blacklist_csv_valid_rows_land_bad_rows_reported_with_line_numbers(tmp_path):
    path = tmp_path / "bl.csv"
    path.write_text(
        "city,name,credit_code,list,date,reason,amount\n"
        "苏州市,苏州某食品有限公司,12345,black,2026-03-02,食品安全,50000\n"                # line 2: bad credit code
        "苏州市,苏州某建材公司,,black,2026-03-03,拖欠工资,\n"                             # line 3: ok
        "火星市,某公司,,black,2026-03-03,,\n"                                              # line 4: unknown city
        "无锡市,无锡某公司,,purple,2026-03-03,,\n"                                          # line 5: bad list
        "无锡市,无锡某公司,,black,2026-02-30,,\n"                                           # line 6: bad date
        "无锡市,无锡某公司,,black,2026-03-04,,-5\n"                                         # line 7: negative amount
        "无锡市,无锡某公司,,black,2026-03-04,,1e15\n"                                       # line 8: absurd amount
        "无锡市,,,black,2026-03-04,,\n"                                                     # line 9: no name
        "无锡市,只有三列\n"                                                                 # line 10: wrong cell count
        "\n"
        "无锡市,无锡某诚信公司,,red,2026-03-05,守信激励,\n",                                # line 12: ok
        encoding="utf-8")
    valid, rejected = read_blacklist_file(path, now=NOW)
    assert [n for n, _ in valid] == [3, 12]
    reasons = dict(rejected)
    assert sorted(reasons) == [2, 4, 5, 6, 7, 8, 9, 10]
    assert "credit_code" in reasons[2] and "unknown city" in reasons[4] and "list" in reasons[5]
    assert "not a date" in reasons[6] or "not ISO" in reasons[6]
    assert "negative or absurd" in reasons[7] and "negative or absurd" in reasons[8]
    assert "name: missing" in reasons[9] and "cells" in reasons[10]
    # valid rows score; the same file imported twice counts each row once
    s = CityScorer()
    for _ in range(2):
        for _, rec in valid:
            s.on_record(rec)
    rows = {r["city_adcode"]: r for r in s.ranking("2026-03")}
    # 苏州: 15 - 0.5 -> 14.5; 无锡: 15 + 0.2 -> 15 (max); both measured by the import, the rest not
    assert {c: r["components"]["blacklist"] for c, r in rows.items() if r["components"]["blacklist"] != 15.0} == {CITY_A: 14.5}
    assert {c for c, r in rows.items() if r["coverage"]["aspects"]["blacklist"]["measured"]} == {CITY_A, CITY_B}


def test_blacklist_json_array_and_lines(tmp_path):
    rows = [{"city_adcode": CITY_A, "name": "甲公司", "date": "2026-03-01"}, {"city": "苏州", "name": ""}, "oops"]
    (tmp_path / "a.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    valid, rejected = read_blacklist_file(tmp_path / "a.json", now=NOW)
    assert [n for n, _ in valid] == [1] and [n for n, _ in rejected] == [2, 3]
    (tmp_path / "b.jsonl").write_text('{"city": "苏州", "name": "乙公司", "date": "2026-03-01"}\n{not json}\n', encoding="utf-8")
    valid, rejected = read_blacklist_file(tmp_path / "b.jsonl", now=NOW)
    assert [n for n, _ in valid] == [1] and rejected[0][0] == 2 and "not JSON" in rejected[0][1]


@pytest.mark.parametrize("text, message", [("", "empty"), ("foo,bar\n1,2\n", "header")])
def test_unusable_blacklist_files_are_errors(tmp_path, text, message):
    path = tmp_path / "x.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_blacklist_file(path)
    with pytest.raises(InputError, match="cannot read"):
        read_blacklist_file(tmp_path / "missing.csv")


def test_tasks_and_policies():
    rec = task_record("南京", "credit_regulations", "2026-03-01T00:00:00+08:00", now=NOW)
    assert rec.city_adcode == "320100" and rec.kind == "task_completion"
    with pytest.raises(InputError, match="not on the checklist"):
        task_record("南京", "build_a_rocket", "2026-03-01T00:00:00+08:00", now=NOW)
    with pytest.raises(InputError, match="domain"):
        policy_record("苏州", "办法", "2026-03-01T00:00:00+08:00", domain="space", now=NOW)
    with pytest.raises(InputError, match="in the future"):
        policy_record("苏州", "办法", "2027-03-01T00:00:00+08:00", now=NOW)


@pytest.mark.parametrize("data, message", [
    (b"not json", "not JSON"),
    (b"[1]", "JSON object"),
    ({"record_id": "x1", "kind": "gossip", "ts": "2026-03-01T00:00:00+08:00", "city_adcode": CITY_A, "payload": {}}, "kind"),
    ({"record_id": "x1", "kind": "blacklist", "ts": "2026-03-01T00:00:00+08:00", "city_adcode": "123456", "payload": {"name": "a"}}, "unknown city"),
    ({"record_id": "x 1", "kind": "blacklist", "ts": "2026-03-01T00:00:00+08:00", "city_adcode": CITY_A, "payload": {"name": "a"}}, "record_id"),
    ({"record_id": "x1", "kind": "blacklist", "ts": "2026-03-01T00:00:00+08:00", "city_adcode": CITY_A, "payload": []}, "payload"),
    ({"record_id": "x1", "kind": "disclosure_check", "ts": "2026-03-01T00:00:00+08:00", "city_adcode": CITY_A,
      "payload": {"columns": {"shuang_gongshi": "yes"}}}, "columns"),
])
def test_bad_records_are_rejected(data, message):
    with pytest.raises(InputError, match=message):
        validate_record(data)
    s = CityScorer()
    with pytest.raises(InputError):
        s.on_record(data)
    assert s.state == {}


def test_registry_covers_municipalities_prefectures_and_county_cities():
    reg = load_registry()
    assert reg.get("310000").name == "上海市" and reg.get("500000").level == "municipality"
    assert reg.get("320500").province == "江苏省"
    assert reg.get("320581").name == "常熟市" and reg.get("320581").level == "county_city"
    assert reg.get("419001").name == "济源市"  # a county-level city directly under the province
    assert reg.resolve("苏州").adcode == "320500"
    with pytest.raises(InputError, match="unknown city code '320599'"):
        reg.get("320599")


def test_absurd_configuration_is_a_config_error():
    import tomllib

    from citycredit.settings import get_settings

    data = tomllib.loads(get_settings().scoring_config.read_text(encoding="utf-8"))
    data["response"]["max_share"] = 1.5
    with pytest.raises(ConfigError, match="max_share"):
        ScoringConfig.from_dict(data)
    data["response"]["max_share"] = 0.8
    data["major_dishonesty"]["deduction_points"] = 5000
    with pytest.raises(ConfigError, match="absurd"):
        ScoringConfig.from_dict(data)
