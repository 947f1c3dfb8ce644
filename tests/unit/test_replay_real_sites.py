"""bench/replay_real_sites.py pairs each item with its own sighting, never by position.

A sighting the reader rejects yields no item; pairing by position (``zip(rows, items)``)
then gave every later line the next sighting's title and decision, and a hand-judged
sample drawn from that pairing was labelled for the wrong lines. No ../shared needed."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import replay_real_sites as rrs  # noqa: E402

from schemas import Observation  # noqa: E402


def _obs(minute: int, title: str, site: str = "xinhua") -> Observation:
    return Observation.parse({"ts": f"2026-01-31T14:{minute:02d}:00Z", "site": site, "surface": "rss",
                              "title": title, "url": f"https://{site}.example/{minute}"})


def test_a_sighting_with_no_item_is_reported_and_shifts_nothing():
    rows = [(10, _obs(30, "某市通报食品安全抽检结果")),
            (11, _obs(35, "★★★ 🎉🎉")),  # no words left (as line 141199 "Русский язык"): classify rejects it
            (12, _obs(40, "某县法院公布失信被执行人名单")),
            (13, _obs(45, "某地暴雨致道路积水", site="people"))]
    alerts, pairs, dropped = rrs.replay(rows)
    assert [(n, why.startswith("classify:")) for n, _, why in dropped] == [(11, True)]
    assert [n for n, _, _ in pairs] == [10, 12, 13]
    for n, obs, item in pairs:
        assert (item.site, item.ts, item.url, item.title) == (obs.site, obs.ts, obs.url, obs.title), n
