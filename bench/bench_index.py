"""City index benchmark: update throughput and state size for 670 cities x 12 months x 8 aspects.

    .venv/bin/python bench/bench_index.py [--cities 670] [--months 12] [--per-aspect 1] [--busy 6000] [--json PATH]

Feeds every city, every month, every aspect (news items for credit events, policies,
disclosure and blacklists; major dishonesty and trustworthy alerts; a response per major
event; blacklist rows, task completions and website checks as records) through
``CityScorer`` exactly as the agent does — each update followed by ``changed_entries``
(what the agent emits to city-index). Reported against a baseline measured in the same
run: a bare aggregator adding points into a dict per (city, month, aspect), the least
work any index must do. Also: JSON state size (= changelog bytes of the table rows),
process memory, and the time to rank all cities. Then one busy city: ``--busy`` credit
stories in one month of one city (a city in a national scandal), the update rate of the
first and the last thousand and the changelog bytes per update at the end, to show how an
update's cost grows with the city's month. Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from citycredit.scoring import CityScorer, load_registry  # noqa: E402
from citycredit.scoring.filings import blacklist_record, disclosure_record, policy_record, task_record  # noqa: E402
from figures import add_json_option, figure, write_json  # noqa: E402
from schemas import Alert, Item, Response  # noqa: E402


def month_ts(year: int, month: int, day: int, hour: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00+08:00"


def build_inputs(cities: list[str], months: int, per_aspect: int, seed: int = 7) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    out: list[tuple[str, object]] = []
    tasks = ["work_organisation", "credit_regulations", "four_domains", "information_sharing", "joint_rewards_punishments",
             "credit_service_market", "integrity_publicity", "disclosure_catalogue", "major_event_mechanism"]
    for m in range(months):
        year, month = 2025 + (m + 11) // 12 - (1 if m + 11 < 12 else 0), (m + 11) % 12 + 1  # 2025-12 .. 2026-11
        year = 2025 if month == 12 else 2026
        for city in cities:
            for n in range(per_aspect):
                day = 1 + rng.randrange(25)
                ts = month_ts(year, month, day, 8)
                sid = f"{city}-{year}{month:02d}-{n}"

                def item(story: str, aspect: str, polarity: str, hour: int = 8) -> Item:
                    return Item(ts=month_ts(year, month, day, hour), site=rng.choice(["people", "xinhua", "sina"]),
                                surface="homepage", title=f"{story} 标题", url=f"http://x.example/{story}", rank=None,
                                summary=None, change="appeared", city=None, city_adcode=city, county=None,
                                county_adcode=None, province=None, domain="business", subfield=None, polarity=polarity,
                                aspect=aspect, story_id=story, evidence={})

                out.append(("item", item(sid + "-d", "credit_event", "dishonest")))
                out.append(("item", item(sid + "-t", "credit_event", "trustworthy")))
                out.append(("item", item(sid + "-p", "credit_policy", "neutral")))
                out.append(("item", item(sid + "-i", "info_disclosure", "neutral")))
                out.append(("item", item(sid + "-b", "blacklist", "dishonest")))
                out.append(("alert", Alert(type="major_dishonesty", story_id=sid + "-d", city=None, city_adcode=city,
                                           domain="business", trigger="homepages", sites=["people", "xinhua", "sina"],
                                           first_seen=ts, triggered_at=month_ts(year, month, day, 10), title="t", urls=["http://x"])))
                out.append(("alert", Alert(type="major_trustworthy", story_id=sid + "-t", city=None, city_adcode=city,
                                           domain="business", trigger="hotlist", sites=["sina"], first_seen=ts,
                                           triggered_at=month_ts(year, month, day, 11), title="t", urls=["http://x"])))
                out.append(("response", Response(response_id=f"r-{sid}", ts=month_ts(year, month, day, 20), city_adcode=city,
                                                 story_id=sid + "-d", kind="rectification", source="api", title="整改", url="")))
                out.append(("item", item(sid + "-g", "government_response", "neutral", hour=21)))
                out.append(("record", blacklist_record({"city_adcode": city, "name": f"企业{sid}", "date": ts}, check_future=False)))
                out.append(("record", task_record(city, tasks[m % len(tasks)], ts, check_future=False)))
                out.append(("record", disclosure_record(city, month_ts(year, month, day, 9), "https://credit.example/",
                                                        {"shuang_gongshi": True, "red_black_list": m % 2 == 0})))
                out.append(("record", policy_record(city, f"办法{sid}", ts, domain="government", check_future=False)))
    out.sort(key=lambda kv: (kv[1].triggered_at if kv[0] == "alert" else kv[1].ts))
    return out


class ChangelogDict(dict):
    """A dict that serialises every write as a Faust table would for its changelog, and
    counts the bytes: the table's real per-update cost is in the timing and the total."""

    written = 0

    def __setitem__(self, key, value):
        ChangelogDict.written += len(json.dumps(value, ensure_ascii=False).encode())
        super().__setitem__(key, value)


def run_scorer(inputs: list[tuple[str, object]]) -> tuple[CityScorer, float, int]:
    scorer = CityScorer(state=ChangelogDict(), emitted=ChangelogDict())
    emitted = 0
    start = time.perf_counter()
    for kind, rec in inputs:
        if kind == "item":
            months = scorer.on_item(rec)
            adcode = rec.city_adcode
        elif kind == "alert":
            months = scorer.on_alert(rec)
            adcode = rec.city_adcode
        elif kind == "response":
            months = scorer.on_response(rec)
            adcode = rec.city_adcode
        else:
            months = scorer.on_record(rec)
            adcode = rec.city_adcode
        emitted += len(scorer.changed_entries(adcode, months))
    return scorer, time.perf_counter() - start, emitted


def run_baseline(inputs: list[tuple[str, object]]) -> float:
    """Running totals only: no facts, no explanations, no periods, no emission."""
    totals: dict[tuple[str, str, str], float] = {}
    start = time.perf_counter()
    for kind, rec in inputs:
        key = (rec.city_adcode, rec.ts[:7] if hasattr(rec, "ts") else rec.triggered_at[:7], getattr(rec, "aspect", None) or kind)
        totals[key] = totals.get(key, 0.0) + 1.0
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cities", type=int, default=670)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--per-aspect", type=int, default=1, help="inputs per city, month and aspect")
    ap.add_argument("--busy", type=int, default=6000, help="stories of the busy-city run (0: skip it)")
    add_json_option(ap)
    args = ap.parse_args()

    registry = load_registry()
    cities = sorted(registry.by_code)[: args.cities]
    t0 = time.perf_counter()
    inputs = build_inputs(cities, args.months, args.per_aspect)
    print(f"inputs: {len(inputs):,} for {len(cities)} cities x {args.months} months x 8 aspects "
          f"(built in {time.perf_counter() - t0:.1f}s)")

    base_s = run_baseline(inputs)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scorer, score_s, emitted = run_scorer(inputs)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Memory of the rows alone: a deep copy of the state measured with tracemalloc (tracing
    # the timed run itself would slow it several times).
    tracemalloc.start()
    state_copy = copy.deepcopy(dict(scorer.state))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del state_copy

    print(f"baseline (dict of running totals): {len(inputs) / base_s:,.0f} updates/s")
    print(f"city index (facts + changed entries): {len(inputs) / score_s:,.0f} updates/s "
          f"({score_s:.1f}s; {base_s / score_s * 100:.2f}% of baseline speed, {score_s / base_s:,.0f}x the work); "
          f"{emitted:,} city-index entries emitted")

    sizes = sorted(len(json.dumps(row, ensure_ascii=False).encode()) for key, row in scorer.state.items() if "|" in key)  # fact rows
    meta = sum(len(json.dumps(scorer.state[c], ensure_ascii=False).encode()) for c in scorer.cities())
    total = sum(sizes) + meta
    print(f"changelog: {ChangelogDict.written / 1e9:.2f} GB written for {len(inputs):,} updates "
          f"({ChangelogDict.written / len(inputs) / 1024:.1f} kB per update)")
    print(f"state: {len(scorer.cities())} cities, {len(sizes):,} fact rows (city, month, shard), {total / 1e6:.1f} MB as JSON; "
          f"row mean {sum(sizes) / len(sizes) / 1024:.1f} kB, max {sizes[-1] / 1024:.1f} kB; meta rows {meta / 1e3:.0f} kB")
    print(f"memory: state rows {current / 1e6:.1f} MB as Python objects; "
          f"process max RSS {rss_after / 1024:.0f} MB (before scoring {rss_before / 1024:.0f} MB)")
    for workers in (1, 2, 4):
        print(f"  per worker with {workers} worker(s) over 4 partitions: ~{current / 1e6 / workers:.1f} MB of rows "
              f"(+ ~{rss_before / 1024:.0f} MB process baseline)")

    period = scorer.period(None)
    t0 = time.perf_counter()
    ranking = scorer.ranking(period.label)
    rank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scorer.explain(cities[0], period.label)
    explain_s = time.perf_counter() - t0
    print(f"ranking {period.label} of {len(ranking)} cities: {rank_s * 1000:.0f} ms; explain one city: {explain_s * 1000:.1f} ms")
    scale = f"{len(inputs):,} inputs, {len(cities)} cities x {args.months} months x 8 aspects"
    rows = [
        figure("city index updates (facts + changed entries)", len(inputs) / score_s, "updates/s", baseline=len(inputs) / base_s,
               note=f"baseline: a dict of running totals per (city, month, aspect); {scale}"),
        figure("city index changelog per update", ChangelogDict.written / len(inputs) / 1024, "kB", note=f"no same-run baseline; {scale}"),
        figure("city index state as JSON", total / 1e6, "MB", note=f"no same-run baseline; {len(sizes):,} fact rows"),
        figure("city index ranking of every city", rank_s * 1000, "ms", note=f"no same-run baseline; {len(ranking)} cities"),
        figure("city index explain one city", explain_s * 1000, "ms"),
    ]
    if args.busy:
        rows += busy_city(cities[0], args.busy)
    write_json(args.json, rows)
    return 0


def busy_city(city: str, stories: int) -> list[dict]:
    """``stories`` dishonest stories of one city within one month, each update followed by
    ``changed_entries`` as in the agent."""
    ChangelogDict.written = 0
    scorer = CityScorer(state=ChangelogDict(), emitted=ChangelogDict())
    rates, written_before = [], 0
    t_block = time.perf_counter()
    for i in range(stories):
        minute = i * 40000 // stories  # spread over the month's first 28 days
        ts = f"2026-03-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:{minute % 60:02d}:00+08:00"
        months = scorer.on_item(Item(ts=ts, site="people", surface="homepage", title=f"busy {i}", url=f"http://x.example/b{i}",
                                     rank=None, summary=None, change="appeared", city=None, city_adcode=city, county=None,
                                     county_adcode=None, province=None, domain="business", subfield=None,
                                     polarity="dishonest", aspect="credit_event", story_id=f"busy-{i}", evidence={}))
        scorer.changed_entries(city, months)
        if (i + 1) % 1000 == 0:
            now = time.perf_counter()
            rates.append(1000 / (now - t_block))
            per_update = (ChangelogDict.written - written_before) / 1000
            written_before, t_block = ChangelogDict.written, now
    print(f"one busy city, {stories:,} stories in one month: first 1,000 at {rates[0]:,.0f} updates/s, "
          f"last 1,000 at {rates[-1]:,.0f} updates/s ({rates[-1] / rates[0]:.2f}x the first); "
          f"changelog {per_update / 1024:.1f} kB per update at the end")
    busy = f"{stories:,} stories of one city in one month"
    return [figure("busy city, last 1,000 updates", rates[-1], "updates/s", baseline=rates[0],
                   note=f"baseline: the first 1,000 updates of the same run; {busy}"),
            figure("busy city, changelog per update at the end", per_update / 1024, "kB", note=f"no same-run baseline; {busy}")]


if __name__ == "__main__":
    sys.exit(main())
