"""How fast the desk's read model takes in topic records and answers the pages, at national scale.

Run: .venv/bin/python bench/desk_readmodel.py [--items 200000] [--alerts 5000] [--json PATH]
Baseline, measured in the same run: json.loads of the same records (the least any
consumer must do with them). Figures: records/s into the read model and its ratio to the
baseline; milliseconds per ranking, city page and search over every city of the ranking
scope (citycredit/data/peer_groups.csv, 734 cities), 24 periods.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, not whichever one is installed

from citycredit.ids import ASPECTS, DOMAINS  # noqa: E402
from citycredit.scoring.scope import load_scope  # noqa: E402
from citycredit.web.desk import DeskView  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402

N_MONTHS = 12
# The ranking scope's own cities: the desk ranks the scope, so made-up adcodes and provinces
# would leave every ranked row at its baseline and a province view would match nothing.
CITIES = [(m.adcode, m.name, m.province) for m in load_scope().members.values()]
PROVINCE, CITY = "江苏省", "320500"  # a province of 13 cities; 苏州市


def records(n_items: int = 200_000, n_alerts: int = 5_000) -> list[tuple[str, bytes]]:
    rnd = random.Random(7)
    out = []
    for adcode, city, prov in CITIES:
        for m in range(1, N_MONTHS + 1):
            for period in (f"2026-{m:02d}", f"12m:2026-{m:02d}"):
                comps = {a: round(rnd.uniform(0, 15), 2) for a in ASPECTS}
                out.append(("city-index", json.dumps({"city_adcode": adcode, "city": city, "province": prov, "period": period,
                            "score": round(sum(comps.values()), 2), "components": comps, "penalty": 0.0, "offset": 0.0,
                            "updated_at": "2026-12-01T00:00:00+08:00"}, ensure_ascii=False).encode()))
    for i in range(n_items):
        adcode, city, prov = rnd.choice(CITIES)
        out.append(("items", json.dumps({"ts": f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T08:00:00+08:00",
                    "site": "people", "surface": "homepage", "title": f"{city}某企业失信事件{i}", "url": f"http://x/{i}",
                    "city": city, "city_adcode": adcode, "province": prov, "domain": rnd.choice(list(DOMAINS)),
                    "polarity": "dishonest", "story_id": f"s-{i}"}, ensure_ascii=False).encode()))
    for i in range(n_alerts):
        adcode, city, _ = rnd.choice(CITIES)
        out.append(("alerts", json.dumps({"type": "major_dishonesty", "story_id": f"s-{i}", "city": city,
                    "city_adcode": adcode, "domain": "business", "trigger": "homepages", "sites": ["people"],
                    "first_seen": "2026-05-01T08:00:00+08:00", "triggered_at": f"2026-05-{rnd.randint(1, 28):02d}T09:00:00+08:00",
                    "title": f"重大失信{i}", "urls": []}, ensure_ascii=False).encode()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=200_000, help="classified items fed to the read model")
    ap.add_argument("--alerts", type=int, default=5_000)
    add_json_option(ap)
    args = ap.parse_args()
    recs = records(args.items, args.alerts)
    t0 = time.perf_counter()
    for _, raw in recs:
        json.loads(raw)
    baseline = time.perf_counter() - t0
    desk = DeskView()
    t0 = time.perf_counter()
    for topic, raw in recs:
        desk.apply(topic, None, json.loads(raw))
    took = time.perf_counter() - t0
    print(f"records: {len(recs)}  baseline json.loads: {len(recs) / baseline:,.0f}/s  "
          f"read model: {len(recs) / took:,.0f}/s  ratio: {took / baseline:.1f}x baseline time")
    rows = [figure("desk read model intake", len(recs) / took, "records/s", baseline=len(recs) / baseline,
                   note=f"baseline: json.loads of the same {len(recs):,} topic records")]

    def per_call(fn, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1000

    pages = (("national ranking", f"{len(CITIES)} cities", lambda: desk.ranking("2026-12"), 50),
             ("province ranking", PROVINCE, lambda: desk.ranking("2026-12", PROVINCE), 50),
             ("city page", CITY, lambda: desk.city(CITY, "2026-12"), 20),
             ("search", "'失信事件19' in all items", lambda: desk.search("失信事件19"), 10))
    for name, detail, page, n in pages:
        ms = per_call(page, n)
        print(f"{f'{name} ({detail}):':40s}{ms:.2f} ms")
        rows.append(figure(f"desk {name}", ms, "ms", note=f"no same-run baseline; {detail}"))
    write_json(args.json, rows)


if __name__ == "__main__":
    main()
