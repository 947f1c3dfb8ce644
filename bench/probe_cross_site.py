"""Score a hand-written cross-site probe: the alerts it must raise, the stories it must keep whole.

    python bench/probe_cross_site.py [tests/data/probes/cross_site_01.tsv] [--verbose]

A probe (tests/data/probes/, format in its header) is a day of homepage and hot-list
sightings: events worded differently on three sites, decoys of the same city and kind, a
government response. It is replayed through ``citycredit.replay.Replay`` (what
``citycredit replay`` runs: classification, clustering, detection) and scored:

- alerts: each group's expected alert (type and city) fired or not, and how many fired from
  a story holding no other group's sighting (an alert reached only through a decoy joined as
  the third homepage is no hit to be proud of); any alert of a decoy or any unexpected alert
  is a false alert;
- stories: a group is *whole* when all its wordings got one story id; a *false join* is a
  story id shared by two groups (a response joining the story it answers is expected);
- every line's reading (city, polarity, subfield, story, what it joined and why) with ``--verbose``.

Write a probe before running any code on it, commit it, then score it: that figure is the
blind one; after any fix made while looking at it, the probe is dev data.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.detection import load_config  # noqa: E402
from citycredit.replay import Replay, TimelineEntry  # noqa: E402
from citycredit.settings import get_settings  # noqa: E402
from schemas import Observation, parse_ts  # noqa: E402

DEFAULT = ROOT / "tests/data/probes/cross_site_01.tsv"


def read_probe(path: Path, day: str = "2026-11-20") -> list[tuple[str, str, Observation]]:
    """(group, expect, observation) per data line, in file order."""
    rows = []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    for n, line in enumerate(lines[1:], start=1):
        row = dict(zip(header, line.split("\t")))
        obs = Observation(ts=f"{day}T{row['time']}:00+08:00", site=row["site"], surface=row["surface"],
                          rank=int(row["rank"]) if row["rank"] else None, title=row["title"],
                          url=f"https://probe.invalid/{path.stem}/{n}", summary=None)
        rows.append((row["group"], row["expect"], obs))
    return rows


def score(path: Path, verbose: bool = False) -> dict[str, int]:
    rows = read_probe(path)
    entries = [TimelineEntry(n, parse_ts(obs.ts).timestamp(), "observation", obs) for n, (_, _, obs) in enumerate(rows)]
    entries.sort(key=lambda e: (e.epoch, e.lineno))
    by_url: dict[str, object] = {}

    class Sink:
        def on_item(self, item):  # noqa: ANN001 - the replay's item record
            by_url[item.url] = item  # a no-city sighting a placed story claims later: its last story counts

    replay = Replay(load_config(get_settings().detection_config), sinks=[Sink()])
    alerts = list(replay.run(entries))
    item_of = {n: by_url[obs.url] for n, (_, _, obs) in enumerate(rows)}
    story_groups: dict[str, set[str]] = defaultdict(set)
    group_stories: dict[str, set[str]] = defaultdict(set)
    for n, (group, _, _) in enumerate(rows):
        story_groups[item_of[n].story_id].add(group)
        group_stories[group].add(item_of[n].story_id)
    expected = {g: e for g, e, _ in rows if e.startswith("major_")}
    fired: dict[str, list] = defaultdict(list)
    for alert in alerts:
        for group in sorted(story_groups.get(alert.story_id, ())):
            fired[group].append(alert)
    responses = {g: e.split()[1] for g, e, _ in rows if e.startswith("response")}
    hits, clean, wrong_city, false_alerts = [], [], [], []
    for group, expect in sorted(expected.items()):
        kind, adcode = expect.split()
        got = [a for a in fired.get(group, []) if a.type == kind and a.city_adcode == adcode]
        if got:
            hits.append(group)
            # an alert whose story holds another group's sighting (a decoy joined as the third
            # homepage) may have fired only through it: counted apart, so it cannot flatter a figure
            own = {group} | {g for g, target in responses.items() if target == group}
            if any(story_groups[a.story_id] <= own for a in got):
                clean.append(group)
        elif any(a.type == kind for a in fired.get(group, [])):
            wrong_city.append(group)
    for alert in alerts:
        groups = story_groups.get(alert.story_id, set())
        if not any(expected.get(g, "").split()[:1] == [alert.type] for g in groups):
            false_alerts.append(alert)
    events = sorted(expected)
    whole = [g for g in events if len(group_stories[g]) == 1]
    false_joins = [(sid, sorted(gs)) for sid, gs in story_groups.items()
                   if len(gs) > 1 and not (len(gs) == 2 and any(responses.get(g) in gs for g in gs))]
    answered = [g for g, target in responses.items() if group_stories[g] <= group_stories[target]]
    if verbose:
        for n, (group, expect, obs) in enumerate(rows):
            it = item_of[n]
            story = (it.evidence or {}).get("story", [""])
            print(f"{group}\t{obs.site}\t{it.city or '-'}\t{it.polarity}\t{it.subfield or '-'}\t{it.aspect or '-'}\t"
                  f"{it.story_id[-6:]}\t{obs.title}\t{story[0][:40]}" + (f"\t({story[1]})" if len(story) > 1 else ""))
        for alert in alerts:
            print(f"ALERT {alert.type} {alert.city} {alert.trigger} {alert.title}")
    print(f"{path.name}: expected alerts {len(hits)} of {len(expected)} "
          f"({len(clean)} with no other group's sighting in their story; wrong city {len(wrong_city)}), "
          f"false alerts {len(false_alerts)}; "
          f"events whole {len(whole)} of {len(events)}; false joins {len(false_joins)}; "
          f"responses joined {len(answered)} of {len(responses)}")
    missed = sorted(set(expected) - set(hits))
    if missed:
        print("missed:", " ".join(missed))
    for sid, gs in false_joins:
        print("false join:", sid, " ".join(gs))
    for alert in false_alerts:
        print("false alert:", alert.type, alert.city, alert.title)
    return {"hits": len(hits), "clean_hits": len(clean), "expected": len(expected), "false_alerts": len(false_alerts),
            "whole": len(whole), "events": len(events), "false_joins": len(false_joins)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--verbose", action="store_true", help="print every line's reading and every alert")
    args = parser.parse_args()
    score(args.probe, args.verbose)


if __name__ == "__main__":
    main()
