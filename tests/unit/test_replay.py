"""``citycredit replay``: the live logic over a recorded timeline, in event time, without a broker."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from citycredit.detection import DetectionConfig
from citycredit.replay import Replay, parse_line, read_timeline
from citycredit.understanding import Understanding
from schemas import Observation

SITES = ("people", "xinhua", "cctv", "gmw", "sina", "sohu")


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "citycredit.cli", "replay", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def real_timeline(shared_data: Path, rows: int = 300) -> list[dict]:
    """Real feed headlines as homepage sightings, each shown by three sites hours apart."""
    path = shared_data / "realnews" / "rss_jsonfeed_items.tsv"
    with path.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        items = [r for _, r in zip(range(rows), reader)]
    lines = []
    for n, row in enumerate(items):
        for k in range(3):
            day = 1 + (n % 27)
            lines.append({"ts": f"2026-01-{day:02d}T{8 + 3 * k:02d}:{n % 60:02d}:00+08:00", "site": SITES[(n + k) % 6],
                          "surface": "homepage", "rank": None, "title": row["title"][:200], "url": row["url"],
                          "summary": None})
    return lines


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


RESPONSE = {"type": "response", "response_id": "r-1", "ts": "2026-01-05T10:00:00+08:00", "city_adcode": "320500",
            "story_id": "s-1", "kind": "investigation", "source": "cli", "title": "苏州市市场监管局立案调查"}
RECORD = {"type": "record", "record_id": "b-1", "kind": "blacklist", "ts": "2026-01-03T09:00:00+08:00",
          "city_adcode": "320500", "payload": {"name": "某食品公司"}}


def test_bad_lines_are_reported_by_number_and_the_rest_still_runs(tmp_path: Path, shared_data: Path) -> None:
    rows = real_timeline(shared_data, 20)
    rows[3:3] = ["{not json", {"ts": "yesterday", "site": "people", "surface": "homepage", "title": "x", "url": ""},
                 {"type": "respons", "ts": "2026-01-01T00:00:00+08:00"},
                 dict(RESPONSE, kind="apology"), dict(RECORD, city_adcode="3205")]
    path = write_jsonl(tmp_path / "timeline.jsonl", rows + [RESPONSE, RECORD])
    result = run_cli(str(path))
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert errors[0].startswith(f"{path}:4: not JSON")
    assert errors[1] == f"{path}:5: ts: not ISO-8601: 'yesterday'"
    assert errors[2].startswith(f"{path}:6: type: 'respons' is not one of response, record")
    assert errors[3].startswith(f"{path}:7: kind: 'apology'")
    assert errors[4] == f"{path}:8: record: city_adcode: not 6 digits: '3205'"
    assert errors[5] == "citycredit replay: 5 line(s) rejected, 62 applied"


def test_replay_twice_gives_identical_bytes(tmp_path: Path, shared_data: Path) -> None:
    path = write_jsonl(tmp_path / "timeline.jsonl", real_timeline(shared_data) + [RESPONSE, RECORD])
    first, second = run_cli(str(path)), run_cli(str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    for line in first.stdout.splitlines():
        assert json.loads(line)["type"] in ("major_dishonesty", "major_trustworthy", "early_warning")


def test_file_order_does_not_matter_only_event_time(tmp_path: Path, shared_data: Path) -> None:
    rows = real_timeline(shared_data, 100)
    forward = run_cli(str(write_jsonl(tmp_path / "a.jsonl", rows)))
    backward = run_cli(str(write_jsonl(tmp_path / "b.jsonl", rows[::-1])))
    assert forward.returncode == backward.returncode == 0
    assert forward.stdout == backward.stdout


def test_a_dishonest_story_on_three_homepages_alerts_once(tmp_path: Path) -> None:
    title = "苏州一食品企业使用过期原料生产月饼被立案查处"
    obs = [{"ts": f"2026-02-03T{h:02d}:00:00+08:00", "site": site, "surface": "homepage", "rank": None,
            "title": title, "url": f"http://{site}.example.cn/a.html", "summary": None}
           for h, site in ((8, "people"), (9, "xinhua"), (11, "cctv"), (12, "sohu"))]
    item = Understanding().classify(Observation.parse(obs[0]))
    if item.polarity != "dishonest" or not item.city_adcode:
        pytest.skip("the understanding subsystem in this checkout does not classify this headline yet")
    result = run_cli(str(write_jsonl(tmp_path / "t.jsonl", obs)))
    alerts = [json.loads(line) for line in result.stdout.splitlines()]
    majors = [a for a in alerts if a["type"] == "major_dishonesty"]
    assert len(majors) == 1 and majors[0]["triggered_at"] == obs[2]["ts"] and majors[0]["city_adcode"] == "320500"


def test_sinks_see_everything_in_event_time_order(shared_data: Path) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        def on_item(self, item) -> None:
            self.calls.append(("item", item.ts))

        def on_response(self, resp) -> None:
            self.calls.append(("response", resp.ts))

        def on_record(self, rec) -> None:
            self.calls.append(("record", rec.ts))

    lines = [json.dumps(r, ensure_ascii=False) for r in real_timeline(shared_data, 10) + [RESPONSE, RECORD]]
    entries, errors = read_timeline(lines[::-1])
    recorder = Recorder()
    list(Replay(DetectionConfig(), sinks=[recorder]).run(entries, errors))
    assert errors == []
    assert len(recorder.calls) == 32
    from schemas import parse_ts
    assert [parse_ts(ts) for _, ts in recorder.calls] == sorted(parse_ts(ts) for _, ts in recorder.calls)
    assert ("response", RESPONSE["ts"]) in recorder.calls and ("record", RECORD["ts"]) in recorder.calls


def test_parse_line_kinds() -> None:
    assert parse_line(json.dumps(RESPONSE))[0] == "response"
    assert parse_line(json.dumps(RECORD))[0] == "record"
    kind, obs = parse_line('{"ts": "2026-02-03T08:00:00+08:00", "site": "people", "surface": "rss", "title": "t", "url": "u"}')
    assert kind == "observation" and obs.rank is None


def test_ranking_is_written(tmp_path: Path, shared_data: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", real_timeline(shared_data, 10))
    out = tmp_path / "ranking.json"
    result = run_cli(str(path), "--ranking", str(out))
    assert result.returncode == 0, result.stderr
    assert isinstance(json.loads(out.read_text(encoding="utf-8")), list)


def test_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and result.stderr.startswith("citycredit: cannot read")


@pytest.mark.parametrize("kind", ["[]", "{}", "[\"response\"]", "1", "null"])
def test_a_type_that_is_not_a_string_is_a_line_error(kind):
    """Regression (fuzz): {"type": []} raised TypeError (unhashable) out of read_timeline."""
    line = '{"ts": "2026-03-05T09:00:00+08:00", "type": ' + kind + '}'
    entries, errors = read_timeline([line])
    assert not entries and len(errors) == 1 and errors[0].lineno == 1 and "type" in errors[0].message


def _homepage(ts: str, site: str, title: str) -> Observation:
    return Observation.parse({"ts": ts, "site": site, "surface": "homepage", "rank": None, "title": title,
                              "url": f"http://{site}.example.cn/{abs(hash(title)) % 10**8}.html", "summary": None})


def _replay(log: list[Observation]) -> tuple[list, list]:
    """(alerts, items) of a replay of these observations, in the order the replay made them."""
    entries, errors = read_timeline([json.dumps(o.asdict(), ensure_ascii=False) for o in log])
    assert not errors
    items: list = []

    class Sink:
        def on_item(self, item) -> None:
            items.append(item)

    return list(Replay(DetectionConfig(), sinks=[Sink()]).run(entries)), items


def test_one_event_worded_three_ways_on_three_homepages_is_one_major_event() -> None:
    """The policy's heart: three homepages within a day make a major event, though each site
    words it its own way and they share no rare wording; an event of the same kind in another
    county of the same city the same day is another story and raises nothing."""
    log = [
        _homepage("2026-02-03T08:00:00+08:00", "people", "南通一纺织厂30余名工人午餐后腹痛送医 当地已成立调查组"),
        _homepage("2026-02-03T09:30:00+08:00", "xinhua", "海安市某企业食堂疑似食物中毒 涉事承包商被查"),
        _homepage("2026-02-03T10:00:00+08:00", "sina", "如皋一饭店多名食客食物中毒送医"),      # decoy: other county
        _homepage("2026-02-03T11:00:00+08:00", "cctv", "江苏海安：30余名职工食物中毒 食堂承包商被立案调查"),
    ]
    alerts, recorder_items = _replay(log)
    majors = [a for a in alerts if a.type == "major_dishonesty"]
    assert len(majors) == 1, [(a.type, a.title) for a in alerts]
    assert majors[0].city_adcode == "320600" and sorted(majors[0].sites) == ["cctv", "people", "xinhua"]
    by_site = {it.site: it for it in recorder_items}
    assert by_site["xinhua"].story_id == by_site["people"].story_id == by_site["cctv"].story_id
    assert by_site["sina"].story_id != by_site["people"].story_id
    # the decisions say why: joined on the frame, kept apart by county
    assert any("same event frame" in line for line in by_site["xinhua"].evidence["story"])
    assert any("如皋市" in line for line in by_site["sina"].evidence["story"] if line.startswith("kept apart"))


@pytest.mark.parametrize("order", ["placed first", "no city first"])
def test_a_wording_naming_only_the_province_counts_for_the_citys_story(order: str) -> None:
    """One mine accident on three homepages, one of which writes 山西一煤矿 (no city): one
    story of 吕梁 and one major event, whichever wording came first. The no-city wording
    joins the city's story through its echo, or, seen first, is claimed by it and counted
    again as the city's; a decoy of the same kind in another province is no part of it."""
    placed = [("08:00", "xinhua", "山西吕梁一煤矿发生透水事故 5人被困"),
              ("09:00", "cnr", "孝义一煤矿透水事故救援进展：被困5名矿工仍在搜救")]
    unplaced = [("07:00" if order == "no city first" else "10:00", "netease", "山西一煤矿透水致5人被困 当地成立事故调查组")]
    decoy = [("06:30", "sohu", "陕西一煤矿透水致3人被困")]
    log = [_homepage(f"2026-02-03T{t}:00+08:00", site, title) for t, site, title in placed + unplaced + decoy]
    alerts, items = _replay(log)
    majors = [a for a in alerts if a.type == "major_dishonesty"]
    assert [(a.city_adcode, sorted(a.sites)) for a in majors] == [("141100", ["cnr", "netease", "xinhua"])]
    final = {it.url: it for it in items}  # a claimed sighting: its last item
    story = {it.site: it.story_id for it in final.values()}
    assert story["netease"] == story["xinhua"] == story["cnr"] != story["sohu"]
    why = " ".join(final[log[2].url].evidence["story"])
    assert "吕梁市" in why and ("joined later" in why) == (order == "no city first"), why


def test_two_open_stories_of_the_kind_in_the_province_claim_no_city_wording() -> None:
    """Two mine accidents in 山西 the same day: 山西一煤矿透水 could be either, so it joins neither."""
    log = [_homepage("2026-02-03T08:00:00+08:00", "xinhua", "山西吕梁一煤矿发生透水事故"),
           _homepage("2026-02-03T08:30:00+08:00", "cnr", "山西大同一煤矿发生透水事故"),
           _homepage("2026-02-03T10:00:00+08:00", "netease", "山西一煤矿透水 当地成立事故调查组")]
    entries, _ = read_timeline([json.dumps(o.asdict(), ensure_ascii=False) for o in log])
    u = Understanding()
    items = [it for e in entries for it in u.classify_all(e.value)]
    assert len({it.story_id for it in items}) == 3 and items[2].evidence["story"] == ["new story"]


def test_a_non_credit_story_sends_no_echo() -> None:
    u = Understanding()
    item = u.classify(_homepage("2026-02-03T08:00:00+08:00", "xinhua", "南京举办国际马拉松赛"))
    assert item.city_adcode and item.polarity == "neutral" and not u.echoes(item)
    assert not [k for k in u.story_state if k.startswith("s:~")]


def test_an_echo_of_an_item_that_sends_none_is_refused() -> None:
    """An echo record on ``classified`` that cluster_stories did not send (no city, no story id,
    or read neutral) is an InputError, so the agent dead-letters it with the reason."""
    from citycredit.exceptions import InputError

    u = Understanding()
    item = u.classify(_homepage("2026-02-03T08:00:00+08:00", "xinhua", "山西一煤矿透水致5人被困"))
    assert item.city_adcode is None
    with pytest.raises(InputError, match="echo"):
        u.echo(item)
