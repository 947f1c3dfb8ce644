"""How fast the desk's read model takes in topic records and answers the pages, at national scale.

Run: .venv/bin/python bench/desk_readmodel.py
Baseline, measured in the same run: json.loads of the same records (the least any
consumer must do with them). Figures: records/s into the read model and its ratio to the
baseline; milliseconds per ranking, city page and search at ~670 cities, 24 periods.
"""
from __future__ import annotations

import json
import random
import time

from citycredit.ids import ASPECTS, DOMAINS
from citycredit.web.desk import DeskView

N_CITIES, N_MONTHS, N_ITEMS, N_ALERTS = 670, 12, 200_000, 5_000


def records() -> list[tuple[str, bytes]]:
    rnd = random.Random(7)
    out = []
    provinces = [f"省{i:02d}" for i in range(31)]
    for c in range(N_CITIES):
        adcode, city, prov = f"{110000 + c * 100}", f"城市{c}", provinces[c % 31]
        for m in range(1, N_MONTHS + 1):
            for period in (f"2026-{m:02d}", f"12m:2026-{m:02d}"):
                comps = {a: round(rnd.uniform(0, 15), 2) for a in ASPECTS}
                out.append(("city-index", json.dumps({"city_adcode": adcode, "city": city, "province": prov, "period": period,
                            "score": round(sum(comps.values()), 2), "components": comps, "penalty": 0.0, "offset": 0.0,
                            "updated_at": "2026-12-01T00:00:00+08:00"}, ensure_ascii=False).encode()))
    for i in range(N_ITEMS):
        c = rnd.randrange(N_CITIES)
        out.append(("items", json.dumps({"ts": f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T08:00:00+08:00",
                    "site": "people", "surface": "homepage", "title": f"城市{c}某企业失信事件{i}", "url": f"http://x/{i}",
                    "city": f"城市{c}", "city_adcode": f"{110000 + c * 100}", "province": "省", "domain": rnd.choice(list(DOMAINS)),
                    "polarity": "dishonest", "story_id": f"s-{i}"}, ensure_ascii=False).encode()))
    for i in range(N_ALERTS):
        c = rnd.randrange(N_CITIES)
        out.append(("alerts", json.dumps({"type": "major_dishonesty", "story_id": f"s-{i}", "city": f"城市{c}",
                    "city_adcode": f"{110000 + c * 100}", "domain": "business", "trigger": "homepages", "sites": ["people"],
                    "first_seen": "2026-05-01T08:00:00+08:00", "triggered_at": f"2026-05-{rnd.randint(1, 28):02d}T09:00:00+08:00",
                    "title": f"重大失信{i}", "urls": []}, ensure_ascii=False).encode()))
    return out


def main() -> None:
    recs = records()
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

    def per_call(fn, n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1000

    print(f"national ranking (670 cities): {per_call(lambda: desk.ranking('2026-12'), 50):.2f} ms")
    print(f"province ranking:              {per_call(lambda: desk.ranking('2026-12', '省05'), 50):.2f} ms")
    print(f"city page:                     {per_call(lambda: desk.city('110500', '2026-12'), 20):.2f} ms")
    print(f"search '失信事件19' (all):      {per_call(lambda: desk.search('失信事件19'), 10):.2f} ms")


if __name__ == "__main__":
    main()
