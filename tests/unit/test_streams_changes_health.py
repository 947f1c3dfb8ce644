"""Change detection, source health (yield drop), the registry file, snapshots and reparse."""
from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from citycredit.metrics import METRICS
from citycredit.settings import Settings
from streams.changes import SurfaceStates, diff, snapshot_of
from streams.exceptions import RegistryError
from streams.fetch import Fetcher, FetchPolicy
from streams.health import HealthTracker, YieldRule
from streams.parsers import Headline
from streams.poller import Poller
from streams.registry import load_registry, rewrite_url
from streams.runner import reparse
from streams.snapshots import SnapshotStore

REG = load_registry()
HOT = REG.surface("sina/hotlist")
HOME = REG.surface("people/homepage")
TS = "2026-11-27T08:00:00+08:00"


def H(url: str, rank: int | None = None, title: str | None = None) -> Headline:
    return Headline(title or f"标题{url}很长很长很长", f"http://x/{url}", rank)


# previous -> current                          expected (change, url, rank)
DIFF_CASES = [
    # first poll: everything appears
    (HOT, None, [H("a", 1), H("b", 2)], [("appeared", "a", 1), ("appeared", "b", 2)]),
    # a new story enters at 1 and pushes a and b down; c leaves
    #   before: a1 b2 c3     after: n1 a2 b3
    (HOT, [H("a", 1), H("b", 2), H("c", 3)], [H("n", 1), H("a", 2), H("b", 3)],
     [("appeared", "n", 1), ("rank_changed", "a", 2), ("rank_changed", "b", 3), ("left", "c", None)]),
    # nothing changed: nothing published
    (HOT, [H("a", 1)], [H("a", 1)], []),
    # homepages are not ranked: order changes are not news
    (HOME, [H("a"), H("b")], [H("b"), H("a")], []),
    (HOME, [H("a"), H("b")], [H("b")], [("left", "a", None)]),
]


@pytest.mark.parametrize("surface, before, after, expected", DIFF_CASES)
def test_diff(surface, before, after, expected):
    prev = snapshot_of(before) if before is not None else None
    got = diff(surface, prev, after, TS)
    assert [(o.change, o.url.rsplit("/", 1)[1], o.rank) for o in got] == expected
    assert all(o.ts == TS and o.site == surface.site and o.surface == surface.kind for o in got)


def test_diff_without_left_when_yield_is_broken():
    prev = snapshot_of([H(str(i)) for i in range(50)])
    got = diff(HOME, prev, [H("0"), H("new")], TS, allow_left=False)
    assert [(o.change, o.url) for o in got] == [("appeared", "http://x/new")]


def test_yield_drop_is_flagged_and_does_not_move_the_baseline():
    tracker = HealthTracker(YieldRule(ratio=0.2, warmup=3))
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    for _ in range(4):
        assert not tracker.success(HOME, 200, now, 0.1).yield_drop
    h = tracker.success(HOME, 3, now, 0.1)
    assert h.yield_drop and h.last_error.startswith("yield_drop") and round(h.baseline) == 200
    assert METRICS.poll_yield_drop.labels("people", "homepage")._value.get() == 1
    assert not tracker.success(HOME, 190, now, 0.1).yield_drop  # the parser is fixed
    assert METRICS.poll_yield_drop.labels("people", "homepage")._value.get() == 0


def test_surface_states_survive_a_restart(tmp_path):
    states = SurfaceStates(tmp_path / "state.json")
    states.states["sina/hotlist"] = snapshot_of([H("a", 1)])
    states.validators["sina/hotlist"] = {"etag": '"x"', "last_modified": None}
    states.save()
    again = SurfaceStates(tmp_path / "state.json")
    assert again.states == states.states and again.validators == states.validators


@pytest.mark.parametrize("toml, message", [
    ('[[site]]\nid = "x"\nname = "x"\nno_hotlist = "n"\n[[site.surface]]\nkind = "front"\nurl = "http://a/"\nparser = "html"\n', "kind"),
    ('[[site]]\nid = "x"\nname = "x"\nno_hotlist = "n"\n[[site.surface]]\nkind = "homepage"\nurl = "http://a/"\nparser = "html"\n', "link_pattern"),
    ('[[site]]\nid = "x"\nname = "x"\nno_hotlist = "n"\n[[site.surface]]\nkind = "homepage"\nurl = "http://a/"\nparser = "html"\nlink_pattern = "("\n', "regex"),
    ('[[site]]\nid = "x"\nname = "x"\n[[site.surface]]\nkind = "rss"\nurl = "http://a/"\nparser = "feed"\n', "no_hotlist"),
    ('[[site]]\nid = "X Y"\nname = "x"\n', "id"),
    ('[[site]]\nid = "x"\nname = "x"\nno_hotlist = "n"\n[[site.surface]]\nkind = "hotlist"\nurl = "http://a/"\nparser = "json"\nitems_path = "a"\ntitle_path = "t"\n', "url_path"),
    ("this is = = not toml", "TOML"),
])
def test_registry_errors_name_the_problem(tmp_path, toml, message):
    p = tmp_path / "sites.toml"
    p.write_text('[defaults]\ninterval_s = 60\nmin_title_chars = 8\nmax_items = 100\n' + toml, encoding="utf-8")
    with pytest.raises(RegistryError, match=message):
        load_registry(p)


def test_a_provincial_site_is_a_data_change(tmp_path):
    text = REG.path.read_text(encoding="utf-8") + (
        '\n[[site]]\nid = "js-xhby"\nname = "新华报业网"\nno_hotlist = "provincial site without a ranking"\n'
        '  [[site.surface]]\n  kind = "homepage"\n  url = "https://www.xhby.net/"\n  parser = "html"\n'
        "  link_pattern = 'xhby\\.net/.*/\\d{6}/t\\d+_\\d+\\.shtml'\n")
    p = tmp_path / "sites.toml"
    p.write_text(text, encoding="utf-8")
    reg = load_registry(p)
    assert len(reg.sites) == 16 and reg.surface("js-xhby/homepage").host == "www.xhby.net"


def test_rewrite_url_keeps_host_and_query():
    assert rewrite_url("https://top.news.sina.com.cn/ws/x.php?a=1", "http://127.0.0.1:8800/") == \
        "http://127.0.0.1:8800/top.news.sina.com.cn/ws/x.php?a=1"
    assert HOT.url_for(datetime(2026, 11, 27), "").count("top_time=20261127") == 1


def test_snapshots_are_kept_compressed_and_reparsed_with_todays_parser(tmp_path):
    """Polls store raw snapshots; after a 'redesign' breaks the parser, reparse with the fixed registry recovers."""
    pages = iter([
        '<a href="http://society.people.com.cn/n1/2026/1127/c1008-1.html">苏州一食品企业被立案调查了</a>',
        '<a href="http://society.people.com.cn/n1/2026/1127/c1008-1.html">苏州一食品企业被立案调查了</a>'
        '<a href="http://society.people.com.cn/n1/2026/1127/c1008-2.html">南京获评信用建设示范城市了</a>',
    ])

    def handler(request):
        return httpx.Response(200, stream=httpx.ByteStream(next(pages).encode()), headers={"Content-Type": "text/html"})

    settings = Settings().replace(data_dir=tmp_path)
    clock = iter([datetime(2026, 11, 27, 8, tzinfo=timezone.utc), datetime(2026, 11, 27, 9, tzinfo=timezone.utc)])
    poller = Poller.from_settings(settings, clock=lambda: next(clock))
    poller.fetcher = Fetcher(FetchPolicy(politeness_delay_s=0), transport=httpx.MockTransport(handler))

    async def run():
        try:
            return [await poller.poll(HOME), await poller.poll(HOME)]
        finally:
            await poller.aclose()

    outcomes = asyncio.run(run())
    assert [len(o.observations) for o in outcomes] == [1, 1]
    files = sorted((tmp_path / "streams" / "snapshots" / "people" / "homepage").glob("*/*.gz"))
    assert len(files) == 2 and b"c1008-2" in gzip.decompress(files[1].read_bytes())
    rows = list(reparse(settings, site="people"))
    assert [(r.headlines, r.error) for r, _ in rows] == [(1, None), (2, None)]
    assert [[o.title for o in obs] for _, obs in rows] == [["苏州一食品企业被立案调查了"], ["南京获评信用建设示范城市了"]]
    assert [obs[0].ts for _, obs in rows] == ["2026-11-27T08:00:00+00:00", "2026-11-27T09:00:00+00:00"]


def test_snapshot_retention_by_age_and_size(tmp_path):
    store = SnapshotStore(tmp_path, retention_days=2, max_bytes=10_000)
    now = datetime(2026, 11, 27, tzinfo=timezone.utc)
    for days_ago in range(5):
        store.put("sina", "hotlist", now - timedelta(days=days_ago), "u", {}, bytes(range(256)) * 40)
    assert store.prune(now) == 4  # 2 days too old (gz + json each)
    assert len(list(store.iter())) == 3
    small = SnapshotStore(tmp_path, retention_days=30, max_bytes=1)
    small.prune(now)
    assert len(list(small.iter())) == 0


def test_a_redesign_that_breaks_the_parser_is_flagged_and_announces_no_mass_exit():
    """40 headlines for a while, then a redesign leaves 3 matching links: a yield drop in health,
    the 3 are not re-announced, nobody 'left'; when the registry is fixed nothing is re-announced."""
    def page(n: int) -> bytes:
        return "".join(f'<a href="http://society.people.com.cn/n1/2026/1127/c1008-{i}.html">人民网第{i}条新闻的标题文字</a>'
                       for i in range(n)).encode()

    sizes = iter([40, 40, 40, 40, 3, 40])

    def handler(request):
        return httpx.Response(200, stream=httpx.ByteStream(page(next(sizes))), headers={"Content-Type": "text/html"})

    poller = Poller(REG, Fetcher(FetchPolicy(politeness_delay_s=0), transport=httpx.MockTransport(handler)))

    async def run():
        try:
            return [await poller.poll(HOME) for _ in range(6)]
        finally:
            await poller.aclose()

    outcomes = asyncio.run(run())
    assert [len(o.observations) for o in outcomes] == [40, 0, 0, 0, 0, 0]
    assert [o.health.yield_drop for o in outcomes] == [False] * 4 + [True, False]
    assert outcomes[4].health.last_error.startswith("yield_drop: 3 headlines, usually 40")
