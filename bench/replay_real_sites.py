"""Replay three real weeks of the sites' lists and read what the monitor makes of them.

    python bench/replay_real_sites.py [--start 2026-01-26] [--days 21] [--sample 100 --seed 1 --out FILE]

Input: ../shared/data/realsites/lists/hotlists_all.tsv in the window, as sightings: the
first time a site shows a title (feeds are re-polled; a repeat is no new sighting), with
its surface (homepage picks -> homepage, sina's daily top 20 -> hotlist with its rank,
feed snapshots -> rss). Replayed in event-time order through citycredit.replay.Replay
(classification, clustering, detection), exactly what `citycredit replay` does.

Prints the counts, every alert with its city, trigger, sites and title (read them and
give each a verdict), and the stories the reader called credit-relevant. ``--sample N``
writes a blind sample for relevance judging to ``--out``: N/2 sightings the reader called
relevant and N/2 it did not, drawn with ``--seed`` from lines not in any label file, as
``file<TAB>line<TAB>title`` (the reader's decision is kept from the labeller;
label them by hand per docs/labelling.md (tests/data/labels/replay/), then ``--score FILE``
prints precision and recall, the recall weighted by the strata's sizes).
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_understanding import LABELS, SHARED, SITE_IDS  # noqa: E402

from citycredit.detection import load_config  # noqa: E402
from citycredit.replay import LineError, Replay, TimelineEntry  # noqa: E402
from citycredit.settings import get_settings  # noqa: E402
from schemas import Observation  # noqa: E402

PATH = "realsites/lists/hotlists_all.tsv"


def surface_of(list_kind: str) -> str:
    if list_kind.startswith("rss"):
        return "rss"
    if list_kind.startswith("homepage"):
        return "homepage"
    return "hotlist"  # sina_hot_daily_top20


def sightings(start: str, days: int) -> list[tuple[int, Observation]]:
    from datetime import date, timedelta

    end = (date.fromisoformat(start) + timedelta(days=days)).isoformat()
    seen: set[tuple[str, str]] = set()
    out = []
    lines = (SHARED / PATH).read_text(encoding="utf-8").split("\n")
    for n, line in enumerate(lines[1:], start=2):
        cols = line.split("\t")
        if len(cols) < 6 or not (start <= cols[0] < end):
            continue
        ts, site, rank, title, url, kind = cols[:6]
        site = SITE_IDS.get(site)
        if site is None or not title.strip() or (site, title) in seen:
            continue
        seen.add((site, title))
        surface = surface_of(kind)
        try:
            obs = Observation.parse({"ts": ts, "site": site, "surface": surface, "title": title[:300],
                                     "url": url or f"https://{site}.example/{n}",
                                     "rank": int(rank) if surface == "hotlist" and rank.isdigit() else None})
        except Exception:  # noqa: BLE001 - a malformed archive row is skipped, as a poller would
            continue
        out.append((n, obs))
    out.sort(key=lambda no: (no[1].event_time, no[1].site, no[0]))
    return out


class Collect:
    """Every item with the sighting it came from. Replay.run pulls the next entry only after it
    has finished the last one, so the item told to ``on_item`` belongs to the sighting ``entries``
    handed out last; that pairing is then checked on the item's own fields. Never pair by position:
    a sighting that yields no item (the reader rejects it) would hand every later line the next
    sighting's item."""

    def __init__(self) -> None:
        self.items: list = []
        self.pairs: list[tuple[int, Observation, object]] = []
        self._current: tuple[int, Observation] | None = None

    def entries(self, rows: list[tuple[int, Observation]]):
        for n, o in rows:
            self._current = (n, o)
            yield TimelineEntry(lineno=n, epoch=o.event_time.timestamp(), kind="observation", value=o)
        self._current = None

    def on_item(self, item) -> None:
        if self._current is None:
            raise RuntimeError(f"an item with no sighting being replayed: {item.title[:60]!r}")
        n, o = self._current
        if (item.site, item.ts, item.url, item.title) != (o.site, o.ts, o.url, o.title):
            raise RuntimeError(f"line {n}: the item is not this sighting's: {o.title[:60]!r} -> {item.title[:60]!r}")
        if self.pairs and self.pairs[-1][0] == n:
            raise RuntimeError(f"line {n}: a second item for one sighting")
        self.items.append(item)
        self.pairs.append((n, o, item))


def replay(rows: list[tuple[int, Observation]], config=None):
    """Replay the sightings; return (alerts, [(line, observation, item)], [(line, observation, why)]):
    each item with its own sighting, and the sightings that yielded no item with the reason."""
    sink = Collect()
    errors: list[LineError] = []
    rp = Replay(config if config is not None else load_config(get_settings().detection_config), sinks=[sink])
    alerts = list(rp.run(sink.entries(rows), errors))
    got = {n for n, _, _ in sink.pairs}
    why: dict[int, list[str]] = {}
    for e in errors:
        why.setdefault(e.lineno, []).append(e.message)
    dropped = [(n, o, "; ".join(why.get(n, ["no item and no error reported"]))) for n, o in rows if n not in got]
    return alerts, sink.pairs, dropped


def labelled_lines() -> set[int]:
    out = set()
    for f in [LABELS / "headlines.tsv", *LABELS.glob("blind/*.tsv"), *LABELS.glob("replay/*.tsv")]:
        for line in f.read_text(encoding="utf-8").splitlines():
            cols = line.split("\t")
            if len(cols) > 1 and cols[0] == PATH and cols[1].isdigit():
                out.add(int(cols[1]))
    return out


def relevant(item) -> bool:
    return item.polarity != "neutral" or item.aspect is not None


def score(path: Path, decided: dict[int, bool], strata: Counter) -> None:
    """Relevance of the hand-labelled sightings (a label file of docs/labelling.md) against the
    reader's decision in this replay: precision on what it called relevant, recall weighted by
    how many sightings each of its two strata holds in the whole replay (the sample is stratified)."""
    rows = [ln.split("\t") for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    got = Counter()
    undecided = []
    for r in rows[1:]:
        n = int(r[1])
        if n in decided:
            got[("relevant" if decided[n] else "not", r[8].strip() == "1")] += 1
        else:
            undecided.append(n)
    if undecided:
        print(f"{len(undecided)} labelled lines have no item in this replay (not scored): {undecided}")
    n_rel, n_not = got[("relevant", True)] + got[("relevant", False)], got[("not", True)] + got[("not", False)]
    precision = got[("relevant", True)] / n_rel if n_rel else 0.0
    found = strata["relevant"] * precision
    missed = strata["not"] * (got[("not", True)] / n_not if n_not else 0.0)
    recall = found / (found + missed) if found + missed else 0.0
    print(f"relevance on {n_rel + n_not} hand-labelled sightings ({path.name}): precision {precision:.2f} "
          f"({got[('relevant', True)]}/{n_rel} the reader called relevant are), recall {recall:.2f} "
          f"(estimated {found:.0f} of {found + missed:.0f}: {got[('not', True)]}/{n_not} of those it passed over are relevant)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", default="2026-01-26")
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--score", type=Path, default=None, help="a hand-labelled sample (tests/data/labels/replay/*.tsv)")
    args = ap.parse_args()
    rows = sightings(args.start, args.days)
    alerts, pairs, dropped = replay(rows)
    items = [it for _, _, it in pairs]
    rel = [it for it in items if relevant(it)]
    print(f"{len(rows)} sightings {args.start} + {args.days} days -> {len(items)} items, "
          f"{len({it.story_id for it in items})} stories; {len(rel)} relevant sightings in "
          f"{len({it.story_id for it in rel})} stories; {len(alerts)} alerts")
    print(f"{len(dropped)} sightings yielded no item (left out of the figures and the sample):")
    for n, o, why in dropped:
        print(f"  line {n} {o.site} {o.ts} {o.title[:50]!r}: {why}")
    print(f"sites: {dict(Counter(o.site for _, o in rows))}; surfaces: {dict(Counter(o.surface for _, o in rows))}")
    for a in alerts:
        print(f"ALERT {a.type:18s} {a.city or '-':8s} {a.trigger:10s} {','.join(a.sites):30s} {a.title[:60]}")
    by_story: dict[str, list] = {}
    for it in rel:
        by_story.setdefault(it.story_id, []).append(it)
    print(f"relevant stories (first sighting; sites):")
    for sid, its in sorted(by_story.items(), key=lambda kv: kv[1][0].ts):
        it = its[0]
        print(f"  {it.ts[:16]} {it.city or '-':8s} {it.polarity:11s} {it.aspect or '-':19s} {it.subfield or '-':22s} "
              f"{','.join(sorted({x.site for x in its})):24s} {it.title[:50]}")
    strata = Counter("relevant" if relevant(it) else "not" for it in items)
    if args.score:
        score(args.score, {n: relevant(it) for n, _, it in pairs}, strata)
    if args.sample and args.out:
        done = labelled_lines()
        pool = {"relevant": [], "not": []}
        for n, _, it in pairs:
            if n not in done:
                pool["relevant" if relevant(it) else "not"].append((n, it.title))
        rng = random.Random(args.seed)
        half = args.sample // 2
        picked = [(n, "relevant", t) for n, t in rng.sample(pool["relevant"], min(half, len(pool["relevant"])))]
        picked += [(n, "not", t) for n, t in rng.sample(pool["not"], args.sample - len(picked))]
        rng.shuffle(picked)
        args.out.write_text("".join(f"{PATH}\t{n}\t{t}\n" for n, _, t in picked), encoding="utf-8")
        print(f"wrote {len(picked)} sightings to judge to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
