"""Build the compact gazetteer shipped inside the package (citycredit/data/gazetteer/).

    python ops/build_gazetteer.py [--shared ../shared/data/gazetteer]

The product must work from a clone alone, so the division tables it reads at run time live
in the package; this script derives them from the public sources in ../shared/data and is
the only place they are made. Sources and licences (see citycredit/data/gazetteer/SOURCES.md):

- divisions: Ministry of Civil Affairs county-level-and-above codes, 2024 (areacodes/2024.txt,
  yescallop/areacodes, CC0 1.0), written in the provinces/cities/areas.csv layout the loader
  reads, with the municipalities' 市辖区/县 groups and the province-governed county-level
  cities' 省直辖县级行政区划 groups that the MCA list implies by code, plus the NBS 2023 statistical
  list's development zones and county-level repeats (modood/Administrative-divisions-of-China);
- history: the same repository's result.csv (every code since 1980, CC0 1.0), trimmed to the
  five columns the loader uses;
- Hong Kong, Macao and Taiwan district names (HK-MO-TW.json): a list of place names, used only
  as traps (a SAR district is no mainland city); names of places are facts, kept as a sorted list.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.understanding.gazetteer import names_in  # noqa: E402  (the loader's own reading of the tree)
OUT = ROOT / "citycredit" / "data" / "gazetteer"
MUNICIPALITIES = {"11", "12", "31", "50"}
NOT_MAINLAND = {"71", "81", "82"}


def build(src: Path, out: Path) -> None:
    rows = []
    for line in (src / "areacodes" / "2024.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            code, name = line.split(maxsplit=1)
            rows.append((code, name.strip()))
    codes = {c for c, _ in rows}
    provinces = [(c[:2], n) for c, n in rows if c.endswith("0000") and c[:2] not in NOT_MAINLAND]
    cities: dict[str, tuple[str, str]] = {}
    areas = []
    for code, name in rows:
        p, c4 = code[:2], code[:4]
        if code.endswith("0000") or p in NOT_MAINLAND:
            continue
        if code.endswith("00"):
            cities[c4] = (name, p)
            continue
        if c4 + "00" not in codes and c4 not in cities:
            if p in MUNICIPALITIES:
                cities[c4] = ("县" if c4 == "5002" else "市辖区", p)
            else:
                cities[c4] = ("自治区直辖县级行政区划" if p in ("65", "54", "45", "15", "64") else "省直辖县级行政区划", p)
        areas.append((code, name, c4, p))
    # NBS 2023 statistical list (modood/Administrative-divisions-of-China): the development zones
    # and management areas (兰州新区, 白沟新城, 加格达奇区) news names as places though the MCA list
    # has no code for them, and the prefecture cities without counties (东莞市) that the NBS list
    # repeats at county level; rows the MCA list already has keep the MCA name.
    with (src / "areas.csv").open(encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["code"] not in codes and r["cityCode"] in cities:
                areas.append((r["code"], r["name"], r["cityCode"], r["provinceCode"]))
    areas.sort()
    out.mkdir(parents=True, exist_ok=True)
    (out / "areacodes").mkdir(exist_ok=True)

    def write(path: Path, header: list[str], data) -> None:
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(data)

    write(out / "provinces.csv", ["code", "name"], provinces)
    write(out / "cities.csv", ["code", "name", "provinceCode"], [(c4, n, p) for c4, (n, p) in sorted(cities.items())])
    write(out / "areas.csv", ["code", "name", "cityCode", "provinceCode"], areas)
    keep = ["代码", "名称", "级别", "状态", "新代码"]
    with (src / "areacodes" / "result.csv").open(encoding="utf-8-sig", newline="") as fh:
        hist = [[r[k] for k in keep] for r in csv.DictReader(fh) if r["级别"] in ("地级", "县级")]
    write(out / "areacodes" / "result.csv", keep, hist)
    names = names_in(json.loads((src / "HK-MO-TW.json").read_text(encoding="utf-8")))
    (out / "HK-MO-TW.json").write_text(json.dumps(sorted(set(names)), ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    print(f"{out}: {len(provinces)} provinces, {len(cities)} prefecture groups, {len(areas)} county-level, "
          f"{len(hist)} history rows, {len(set(names))} SAR/Taiwan names")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "gazetteer")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    build(args.shared, args.out)


if __name__ == "__main__":
    main()
