"""Build the ranking scope: every city the index ranks and the peer group it is ranked in.

    python ops/build_peer_groups.py [--gazetteer citycredit/data/gazetteer] [--out citycredit/data/peer_groups.csv]

The national city credit monitoring ranks cities among their peers, not a county-level city
against a provincial capital (design.md §1): three groups, each ranked on its own.

- ``core``: the 36 municipalities, provincial capitals and sub-provincial cities — the 4
  municipalities, the 27 capitals of the 22 provinces and 5 autonomous regions (Taiwan is
  outside the mainland monitoring), and the 5 separately planned cities (计划单列市). China has
  15 sub-provincial cities; the other 10 (沈阳 长春 哈尔滨 南京 杭州 济南 武汉 广州 成都 西安)
  are provincial capitals already, so they are not counted twice: 4 + 27 + 5 = 36, the
  national monitoring's count. These are listed below by hand because no division table says
  which city is a capital; the script checks every code and name against the gazetteer.
- ``prefecture``: every other prefecture-level unit of the gazetteer (地级市, 自治州, 地区, 盟).
- ``county_city``: every county-level city (县级市), including those governed directly by a
  province (省直辖县级行政区划, e.g. 仙桃市).

Source: the shipped gazetteer (citycredit/data/gazetteer/, built by ops/build_gazetteer.py from
the Ministry of Civil Affairs 2024 county-level-and-above codes, CC0 1.0, see its SOURCES.md).
The national monitoring's member lists are not published. Its "about 261 prefecture-level
cities" is exactly the table's 地级市 outside the core (293 - 32); we also rank the 30 自治州, 7 地区
and 3 盟 (301 in all), which are prefecture-level units with their own credit work. Its "about
360 county-level cities" is an older count: the 2024 table has 397, and we rank every one rather
than guess which the monitoring leaves out. Not cities:
the municipalities' 市辖区 and 县 groups and the 直辖县级行政区划 groups (code groupings), and the
NBS list's county-level repeat of a prefecture city without counties (620201 嘉峪关市 = 620200).

The output is a CSV with a comment header, one row per city, sorted by adcode; the loader
(citycredit/scoring/scope.py) reads it and tests/unit/test_ranking_scope.py checks that the
shipped file is what this script makes. Do not edit the CSV by hand.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAZETTEER = ROOT / "citycredit" / "data" / "gazetteer"
OUT = ROOT / "citycredit" / "data" / "peer_groups.csv"

# The 36 (adcode, name, why). Municipalities: their prefecture-level code is the province's.
CORE = [
    ("110000", "北京市", "直辖市"), ("120000", "天津市", "直辖市"), ("310000", "上海市", "直辖市"), ("500000", "重庆市", "直辖市"),
    # 27 capitals of provinces (省会) and autonomous regions (首府), one per province-level unit
    ("130100", "石家庄市", "省会"), ("140100", "太原市", "省会"), ("150100", "呼和浩特市", "首府"),
    ("210100", "沈阳市", "省会"), ("220100", "长春市", "省会"), ("230100", "哈尔滨市", "省会"),
    ("320100", "南京市", "省会"), ("330100", "杭州市", "省会"), ("340100", "合肥市", "省会"),
    ("350100", "福州市", "省会"), ("360100", "南昌市", "省会"), ("370100", "济南市", "省会"),
    ("410100", "郑州市", "省会"), ("420100", "武汉市", "省会"), ("430100", "长沙市", "省会"),
    ("440100", "广州市", "省会"), ("450100", "南宁市", "首府"), ("460100", "海口市", "省会"),
    ("510100", "成都市", "省会"), ("520100", "贵阳市", "省会"), ("530100", "昆明市", "省会"),
    ("540100", "拉萨市", "首府"), ("610100", "西安市", "省会"), ("620100", "兰州市", "省会"),
    ("630100", "西宁市", "省会"), ("640100", "银川市", "首府"), ("650100", "乌鲁木齐市", "首府"),
    # the 5 sub-provincial cities that are not capitals: the separately planned cities
    ("210200", "大连市", "计划单列市"), ("370200", "青岛市", "计划单列市"), ("330200", "宁波市", "计划单列市"),
    ("350200", "厦门市", "计划单列市"), ("440300", "深圳市", "计划单列市"),
]
MUNICIPALITIES = {"11", "12", "31", "50"}
HEADER = ["adcode", "name", "province", "group", "division"]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _division(name: str) -> str | None:
    for suffix in ("自治州", "地区", "盟", "市"):
        if name.endswith(suffix):
            return "地级市" if suffix == "市" else suffix
    return None


def build(gazetteer: Path) -> str:
    provinces = {r["code"]: r["name"] for r in _rows(gazetteer / "provinces.csv")}
    prefecture: dict[str, tuple[str, str, str]] = {}  # adcode -> (name, province code, division)
    names: dict[str, str] = {}  # 4-digit city code -> name
    for r in _rows(gazetteer / "cities.csv"):
        if r["provinceCode"] in MUNICIPALITIES or "直辖" in r["name"]:
            continue  # 市辖区 / 县 / 直辖县级行政区划: code groupings, not cities
        division = _division(r["name"])
        if division is None:
            raise SystemExit(f"cities.csv: {r['code']} {r['name']} is no prefecture-level unit this script knows")
        prefecture[r["code"] + "00"] = (r["name"], r["provinceCode"], division)
        names[r["code"]] = r["name"]
    for p in MUNICIPALITIES:
        prefecture[p + "0000"] = (provinces[p], p, "直辖市")

    core = {}
    for adcode, name, why in CORE:
        if prefecture.get(adcode, ("",))[0] != name:
            raise SystemExit(f"core city {adcode} {name}: the gazetteer says {prefecture.get(adcode)}")
        core[adcode] = why
    capitals = [a[:2] for a, _, why in CORE if why in ("省会", "首府")]
    if len(core) != 36 or len(capitals) != 27 or sorted(capitals) != sorted(set(provinces) - MUNICIPALITIES):
        raise SystemExit("core cities: need 4 municipalities + one capital for each of the 27 provinces and regions + 5")

    out = []
    for adcode, (name, p, division) in prefecture.items():
        out.append((adcode, name, provinces[p], "core" if adcode in core else "prefecture",
                    core.get(adcode, division)))
    for r in _rows(gazetteer / "areas.csv"):
        if not r["name"].endswith("市"):
            continue
        if names.get(r["cityCode"]) == r["name"]:
            continue  # the NBS repeat of a prefecture city without counties (嘉峪关市 620201)
        out.append((r["code"], r["name"], provinces[r["provinceCode"]], "county_city", "县级市"))
    out.sort()
    if len({a for a, *_ in out}) != len(out):
        raise SystemExit("duplicate adcodes")
    text = io.StringIO()
    counts = {g: sum(1 for row in out if row[3] == g) for g in ("core", "prefecture", "county_city")}
    text.write("# Ranking scope and peer groups, one row per city. Built by ops/build_peer_groups.py from\n"
               "# citycredit/data/gazetteer (MCA 2024 codes, CC0 1.0); do not edit by hand.\n"
               f"# core {counts['core']}: municipalities, provincial capitals, separately planned cities;"
               f" prefecture {counts['prefecture']}: other prefecture-level units; county_city {counts['county_city']}: 县级市\n")
    w = csv.writer(text, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows(out)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gazetteer", type=Path, default=GAZETTEER)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.out.write_text(build(args.gazetteer), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
