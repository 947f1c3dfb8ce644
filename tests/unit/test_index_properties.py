"""Properties of the city index over generated logs (hypothesis).

A log is items, alerts and responses for three cities over two months, fed in event
time order (so nothing is late) unless a property says otherwise.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citycredit.ids import RESPONSE_KINDS
from citycredit.scoring import CityScorer, Period, load_scoring_config
from citycredit.scoring.filings import blacklist_record, disclosure_record, policy_record, task_record
from tests.unit.index_factories import CITY_A, CITY_B, CITY_C, alert, item, response

CFG = load_scoring_config()
CITIES = (CITY_A, CITY_B, CITY_C)
T0 = datetime.fromisoformat("2026-02-01T00:00:00+08:00")
SPAN_HOURS = 24 * 58
PERIODS = [Period.parse(p, CFG.rolling_months) for p in ("2026-02", "2026-03", "12m:2026-03")]
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ts(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


@st.composite
def events(draw, story_prefix: str = "s"):
    kind = draw(st.sampled_from(["item", "item", "alert", "response", "ritem"]))
    city = draw(st.sampled_from(CITIES))
    story = f"{story_prefix}{draw(st.integers(0, 2))}-{city}"
    hour = draw(st.integers(0, SPAN_HOURS))
    domain = draw(st.sampled_from(["business", "social", None]))
    if kind == "item":
        aspect = draw(st.sampled_from(["credit_event", "credit_policy", "info_disclosure", "blacklist"]))
        pol = draw(st.sampled_from(["dishonest", "trustworthy"]))
        return hour, item(story, city=city, ts=ts(hour), aspect=aspect, polarity=pol, domain=domain,
                          site=draw(st.sampled_from(["people", "sina"])))
    if kind == "alert":
        return hour, alert(story, city=city, ts=ts(hour), domain=domain,
                           type=draw(st.sampled_from(["major_dishonesty", "major_dishonesty", "major_trustworthy"])))
    if kind == "ritem":
        return hour, item(f"g{story}", city=city, ts=ts(hour), aspect="government_response", polarity="neutral",
                          domain=domain, title=draw(st.sampled_from(["回应", "立案调查", "整改", "被问责", "出台办法"])))
    return hour, response(story, draw(st.sampled_from(RESPONSE_KINDS)), city=city, ts=ts(hour),
                          rid=f"r{draw(st.integers(0, 3))}-{story}")


@st.composite
def incidents(draw):
    """A major dishonesty event with its sightings and 0-3 responses (filed or in the news) after it."""
    city = draw(st.sampled_from(CITIES))
    story = f"s{draw(st.integers(0, 2))}-{city}"
    hour = draw(st.integers(0, SPAN_HOURS - 24))
    domain = draw(st.sampled_from(["business", "social"]))
    out = [(hour - 2, item(story, city=city, ts=ts(hour - 2), domain=domain)), (hour, alert(story, city=city, ts=ts(hour), domain=domain))]
    for _ in range(draw(st.integers(0, 3))):
        later = hour + draw(st.integers(0, 24 * 40))
        if draw(st.booleans()):
            out.append((later, response(story, draw(st.sampled_from(RESPONSE_KINDS)), city=city, ts=ts(later),
                                        rid=f"r{draw(st.integers(0, 3))}-{story}")))
        else:
            out.append((later, item(f"g{later}", city=city, ts=ts(later), aspect="government_response",
                                    polarity="neutral", domain=domain, title=draw(st.sampled_from(["回应", "立案调查", "整改"])))))
    return out


@st.composite
def bursts(draw):
    """Sightings of one story within two days, which classifiers may label differently."""
    city = draw(st.sampled_from(CITIES))
    story = f"b{draw(st.integers(0, 2))}-{city}"
    hour = draw(st.integers(0, SPAN_HOURS - 48))
    out = []
    for _ in range(draw(st.integers(2, 4))):
        h = hour + draw(st.integers(0, 48))
        out.append((h, item(story, city=city, ts=ts(h), site=draw(st.sampled_from(["people", "sina", "cctv"])),
                            aspect=draw(st.sampled_from(["credit_event", "credit_policy", "blacklist"])),
                            polarity=draw(st.sampled_from(["dishonest", "trustworthy"])))))
    return out


logs = st.builds(lambda singles, groups, more: singles + [e for g in groups + more for e in g],
                 st.lists(events(), max_size=20), st.lists(incidents(), max_size=4), st.lists(bursts(), max_size=3))


def feed(log, scorer: CityScorer | None = None) -> CityScorer:
    s = scorer or CityScorer()
    for _, ev in log:
        dispatch(s, ev)
    return s


def dispatch(s: CityScorer, ev) -> None:
    name = type(ev).__name__
    {"Item": s.on_item, "Alert": s.on_alert, "Response": s.on_response}[name](ev)


def in_order(log):
    return sorted(log, key=lambda e: e[0])


def scores(s: CityScorer) -> dict[tuple[str, str], int]:
    return {(c, p.label): s.city_result(c, p).score for c in CITIES for p in PERIODS}


@PROPS
@given(logs, st.sampled_from(CITIES), st.integers(0, SPAN_HOURS), st.integers(0, 3))
def test_an_extra_major_event_never_raises_a_score(log, city, hour, n_items):
    before = scores(feed(in_order(log)))
    extra = [(hour, alert("extra", city=city, ts=ts(hour)))]
    extra += [(hour, item("extra", city=city, ts=ts(hour), site=site)) for site in ("people", "sina", "cctv")[:n_items]]
    after = scores(feed(in_order(log + extra)))
    for key in before:
        assert after[key] <= before[key], key


@PROPS
@given(logs, st.sampled_from(RESPONSE_KINDS), st.integers(0, 2), st.sampled_from(CITIES), st.integers(0, SPAN_HOURS))
def test_a_response_never_lowers_a_score(log, kind, n, city, hour):
    before = scores(feed(in_order(log)))
    extra = [(hour, response(f"s{n}-{city}", kind, city=city, ts=ts(hour), rid=f"new-{n}"))]
    after = scores(feed(in_order(log + extra)))
    for key in before:
        assert after[key] >= before[key], key


@PROPS
@given(logs)
def test_offsets_never_exceed_deductions(log):
    s = feed(in_order(log))
    for c in CITIES:
        for p in PERIODS:
            res = s.city_result(c, p)
            assert 0 <= res.offset <= -res.penalty
            per_event: dict[str, int] = {}
            for contrib in res.aspects["government_response"].contributions:
                per_event[contrib["event"]] = per_event.get(contrib["event"], 0) + contrib["_cp"]
            deductions = {d["id"]: -d["_cp"] for d in res.aspects["major_dishonesty"].contributions}
            for event, off in per_event.items():
                assert 0 <= off <= deductions[event] * CFG.max_share_bp // 10000


@PROPS
@given(logs)
def test_the_same_log_twice_gives_byte_identical_rankings(log):
    ordered = in_order(log)
    a, b = feed(ordered), feed(ordered)
    for p in ("2026-02", "2026-03", "12m:2026-03"):
        assert json.dumps(a.ranking(p), ensure_ascii=False) == json.dumps(b.ranking(p), ensure_ascii=False)


@PROPS
@given(logs, st.integers(0, 2**32 - 1))
def test_reordering_within_the_lateness_bound_does_not_change_the_result(log, seed):
    # arrival = event time + a delay in [0, bound): whatever arrived before an event is at
    # most `bound` newer than it, so nothing is late, and the result must not change.
    rng = random.Random(seed)
    bound_h = CFG.allowed_lateness_seconds / 3600
    shuffled = sorted(log, key=lambda e: e[0] + rng.uniform(0, bound_h * 0.999))
    a, b = feed(in_order(log)), feed(shuffled)
    for p in ("2026-02", "2026-03", "12m:2026-03"):
        assert json.dumps(a.ranking(p)) == json.dumps(b.ranking(p))
        for c in CITIES:
            assert a.explain(c, p) == b.explain(c, p)


@PROPS
@given(logs)
def test_every_ranking_row_adds_up(log):
    s = feed(in_order(log))
    for row in s.ranking("12m:2026-03"):
        parts = sum(round(v * 100) for v in row["components"].values()) + round(row["penalty"] * 100) + round(row["offset"] * 100)
        assert parts == round(row["score"] * 100)


TASKS = ["work_organisation", "credit_regulations", "four_domains"]


@st.composite
def filed_records(draw):
    """Desk filings: blacklist and red-list rows, policies, task completions, website checks."""
    city = draw(st.sampled_from(CITIES))
    hour = draw(st.integers(0, SPAN_HOURS))
    kind = draw(st.sampled_from(["blacklist", "policy", "task", "check"]))
    n = draw(st.integers(0, 3))
    if kind == "blacklist":
        rec = blacklist_record({"city_adcode": city, "name": f"企业{n}", "date": ts(hour)[:10],
                                "list": draw(st.sampled_from(["black", "red"]))}, check_future=False)
    elif kind == "policy":
        rec = policy_record(city, f"办法{n}", ts(hour), domain=draw(st.sampled_from(["business", "government", None])),
                            check_future=False)
    elif kind == "task":
        rec = task_record(city, draw(st.sampled_from(TASKS)), ts(hour), check_future=False)
    else:
        rec = disclosure_record(city, ts(hour), "https://credit.example/",
                                {"shuang_gongshi": draw(st.booleans()), "red_black_list": draw(st.booleans())})
    return hour, rec


@PROPS
@given(logs, st.lists(filed_records(), max_size=12))
def test_index_entries_from_month_counts_equal_the_detailed_result(log, records):
    # Index entries (detail=False) come from per-month counts kept in step with every fact;
    # explain (detail=True) walks every fact. Both must give the same numbers, and a scorer
    # that rebuilds its view from the state (another worker after a rebalance) the same again.
    s = CityScorer()
    for _, ev in in_order(log + records):
        if type(ev).__name__ == "CreditRecord":
            s.on_record(ev)
        else:
            dispatch(s, ev)
    rebuilt = CityScorer(state=s.state)
    for c in CITIES:
        for p in PERIODS:
            detailed, fast, other = s.city_result(c, p), s.city_result(c, p, detail=False), rebuilt.city_result(c, p, detail=False)
            for res in (fast, other):
                assert (res.components, res.penalty, res.offset, res.facts) == \
                       (detailed.components, detailed.penalty, detailed.offset, detailed.facts), (c, p.label)
                assert (res.coverage(), res.dishonest) == (detailed.coverage(), detailed.dishonest), (c, p.label)
