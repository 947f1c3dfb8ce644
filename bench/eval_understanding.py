"""Accuracy of city attribution, credit classification and story clustering on the labelled sets.

Labels are in tests/data/labels/ (keyed by file and line of ../shared/data; the text is
read from there now). Prints per-field accuracy / F1, the false-attribution rate and
clustering pairwise precision / recall / F1.

    python bench/eval_understanding.py             # figures only
    python bench/eval_understanding.py --errors    # also every disagreement
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.ids import DOMAINS  # noqa: E402
from citycredit.understanding import Understanding  # noqa: E402
from schemas import Observation  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
LABELS = ROOT / "tests" / "data" / "labels"


def headline_label_files() -> list[Path]:
    """The hand-labelled headline files the reader is trained on: the dev set, the blind batches
    and the targeted draws (not the replay samples, not the story groups)."""
    return [LABELS / "headlines.tsv", *sorted((LABELS / "blind").glob("*.tsv")), *sorted((LABELS / "targeted").glob("*.tsv"))]


# Column of the headline in each realnews file.
TITLE_COLUMN = {"headlines_all.tsv": 3, "cec_emergency_news.tsv": 2, "daily_news_reigadegr_2026-02.tsv": 4,
                "rss_jsonfeed_items.tsv": 3, "cctv_xwlb_items.tsv": 1,
                # a label's file with a folder is a path under ../shared/data (the real sites' hot lists)
                "realsites/lists/hotlists_all.tsv": 3}
SITE_IDS = {"news.cn": "xinhua", "www.news.cn": "xinhua", "people.com.cn": "people", "163.com": "netease",
            "www.163.com": "netease", "sina.com.cn": "sina", "gmw.cn": "gmw", "cctv.com": "cctv", "qq.com": "tencent",
            "www.thepaper.cn": "thepaper"}


@dataclass(frozen=True)
class Labelled:
    file: str
    line: int
    title: str
    city: str | None
    county: str | None
    domain: str | None
    subfield: str | None
    polarity: str
    aspect: str | None
    relevant: bool


class _Lines:
    """Physical lines of shared data files, read once."""

    def __init__(self) -> None:
        self._files: dict[str, list[str]] = {}

    def get(self, path: str, line: int) -> list[str]:
        if path not in self._files:
            self._files[path] = (SHARED / path).read_text(encoding="utf-8").split("\n")
        return self._files[path][line - 1].split("\t")


def _rows(path: Path) -> list[list[str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    return [ln.split("\t") for ln in lines[1:]]


def load_headlines(lines: _Lines | None = None, path: Path | None = None) -> list[Labelled]:
    lines = lines or _Lines()
    out = []
    rows = _rows(path) if path is not None else _rows(LABELS / "headlines.tsv")
    for f, n, city, county, domain, sub, pol, aspect, rel in rows:
        title = lines.get(f if "/" in f else f"realnews/{f}", int(n))[TITLE_COLUMN[f]]
        out.append(Labelled(f, int(n), title, city or None, county or None, domain or None, sub or None, pol,
                            aspect or None, rel == "1"))
    return out


def load_stories(lines: _Lines | None = None, path: Path | None = None) -> list[tuple[str, Observation]]:
    """(group, observation) in event-time order."""
    lines = lines or _Lines()
    out = []
    for group, source in _rows(path or LABELS / "stories.tsv"):
        path, _, n = source.rpartition(":")
        row = lines.get(path, int(n))
        if path.endswith("hotlists_all.tsv"):
            ts, site, title, url = row[0], SITE_IDS.get(row[1], "other"), row[3], row[4]
        elif path.endswith("daily_news_reigadegr_2026-02.tsv"):
            ts, site, title, url = row[0] + "T12:00:00+08:00", SITE_IDS.get(row[2], "other"), row[4], row[3]
        else:  # rss_jsonfeed_items.tsv: feed, date_from_url, url, title
            ts, site, title, url = row[1] + "T12:00:00+08:00", row[0].split("-")[0][:30], row[3], row[2]
        obs = Observation.parse({"ts": ts, "site": site, "surface": "homepage", "title": title, "url": url})
        out.append((group, obs))
    out.sort(key=lambda go: (go[1].event_time, go[1].site, go[1].title))
    return out


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def macro_f1(counts: dict[str, tuple[int, int, int]]) -> tuple[float, float]:
    """Macro-averaged F1 of per-class (tp, fp, fn): over the classes that occur in the labels or in
    the predictions (scikit-learn's f1_score(average="macro") convention), and over all classes.
    A 200-headline batch often holds no judicial headline at all: counting that class as F1 0
    when the reader also named none caps the four-domain average at 0.75 whatever the reading."""
    f1s = {k: _f1(*v)[2] for k, v in counts.items()}
    seen = [f for k, f in f1s.items() if sum(counts[k])]
    return (sum(seen) / len(seen) if seen else 0.0), sum(f1s.values()) / len(f1s)


def evaluate_headlines(u: Understanding, data: list[Labelled], show_errors: bool = False) -> dict[str, float]:
    n = len(data)
    c = Counter()
    dom_counts = {d: Counter() for d in DOMAINS}
    errors: list[str] = []
    for x in data:
        obs = Observation.parse({"ts": "2026-02-01T12:00:00+08:00", "site": "people", "surface": "rss",
                                 "title": x.title, "url": ""})
        it = u.analyse(obs)
        c["city_ok"] += it.city == x.city
        c["false_attr"] += it.city is not None and it.city != x.city
        c["city_out"] += it.city is not None
        c["city_labelled"] += x.city is not None
        c["city_found"] += x.city is not None and it.city == x.city
        c["county_ok"] += it.county == x.county
        c["pol_ok"] += it.polarity == x.polarity
        rel = it.polarity != "neutral" or it.aspect is not None
        c["rel_tp"] += rel and x.relevant
        c["rel_fp"] += rel and not x.relevant
        c["rel_fn"] += (not rel) and x.relevant
        c["aspect_ok"] += it.aspect == x.aspect
        if x.relevant:
            c["relevant"] += 1
            c["sub_ok"] += it.subfield == x.subfield
            c["dom_ok_rel"] += it.domain == x.domain
        for d in DOMAINS:
            dom_counts[d]["tp"] += it.domain == d and x.domain == d
            dom_counts[d]["fp"] += it.domain == d and x.domain != d
            dom_counts[d]["fn"] += it.domain != d and x.domain == d
        if show_errors:
            diffs = []
            for name, got, want in (("city", it.city, x.city), ("county", it.county, x.county),
                                    ("domain", it.domain, x.domain), ("polarity", it.polarity, x.polarity),
                                    ("aspect", it.aspect, x.aspect), ("subfield", it.subfield, x.subfield if x.relevant else it.subfield)):
                if got != want:
                    diffs.append(f"{name}: got {got} want {want}")
            if diffs:
                errors.append(f"{x.file}:{x.line} {x.title[:50]}\n    " + "; ".join(diffs) + f"\n    evidence {it.evidence}")
    per = {d: (dom_counts[d]["tp"], dom_counts[d]["fp"], dom_counts[d]["fn"]) for d in DOMAINS}
    macro, macro_all = macro_f1(per)
    rp, rr, rf = _f1(c["rel_tp"], c["rel_fp"], c["rel_fn"])
    res = {
        "headlines": n,
        "city_accuracy": c["city_ok"] / n,
        "false_attribution_rate": c["false_attr"] / n,
        "city_precision": (c["city_out"] - c["false_attr"]) / c["city_out"] if c["city_out"] else 0.0,
        "city_recall": c["city_found"] / c["city_labelled"] if c["city_labelled"] else 0.0,
        "county_accuracy": c["county_ok"] / n,
        "domain_macro_f1": macro,
        "domain_macro_f1_all4": macro_all,
        **{f"domain_f1_{d}": _f1(*per[d])[2] for d in DOMAINS},
        **{f"domain_labelled_{d}": per[d][0] + per[d][2] for d in DOMAINS},
        "polarity_accuracy": c["pol_ok"] / n,
        "aspect_accuracy": c["aspect_ok"] / n,
        "relevance_precision": rp, "relevance_recall": rr, "relevance_f1": rf,
        "subfield_accuracy_on_relevant": c["sub_ok"] / c["relevant"] if c["relevant"] else 0.0,
        "domain_accuracy_on_relevant": c["dom_ok_rel"] / c["relevant"] if c["relevant"] else 0.0,
    }
    if show_errors:
        print("\n".join(errors))
    return res


def evaluate_stories(u: Understanding, data: list[tuple[str, Observation]], show_errors: bool = False) -> dict[str, float]:
    predicted = []
    index: dict[tuple, int] = {}  # a sighting -> its row: a no-city sighting a placed story claims later moves
    for group, obs in data:
        first, *claimed = u.classify_all(obs)
        index[(first.ts, first.site, first.url, first.title)] = len(predicted)
        predicted.append((group, first.story_id, obs.title))
        for it in claimed:
            row = index[(it.ts, it.site, it.url, it.title)]
            predicted[row] = (predicted[row][0], it.story_id, predicted[row][2])
    tp = fp = fn = 0
    for (g1, s1, t1), (g2, s2, t2) in itertools.combinations(predicted, 2):
        same_gold, same_pred = g1 == g2, s1 == s2
        tp += same_gold and same_pred
        fp += same_pred and not same_gold
        fn += same_gold and not same_pred
        if show_errors and same_gold != same_pred:
            kind = "split" if same_gold else "merged"
            print(f"{kind}: {t1[:40]} | {t2[:40]}")
    p, r, f = _f1(tp, fp, fn)
    groups = len({g for g, _, _ in predicted})
    # a hard negative (a group of one) is read right when no other sighting got its story id
    gold_size = Counter(g for g, _, _ in predicted)
    pred_size = Counter(s for _, s, _ in predicted)
    negatives = [s for g, s, _ in predicted if gold_size[g] == 1]
    hard = sum(pred_size[s] == 1 for s in negatives) / len(negatives) if negatives else 0.0
    return {"story_items": len(predicted), "story_groups": groups, "pairwise_precision": p,
            "pairwise_recall": r, "pairwise_f1": f, "hard_negatives": len(negatives), "hard_negative_accuracy": hard}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--errors", action="store_true", help="print every disagreement with the labels")
    ap.add_argument("--headlines", type=Path, default=None,
                    help="another headline label file in the same format (e.g. a blind batch); stories skipped")
    ap.add_argument("--stories", type=Path, action="append", default=None,
                    help="a story-group label file (repeatable; default tests/data/labels/stories.tsv)")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"shared data not found at {SHARED}", file=sys.stderr)
        return 2
    lines = _Lines()
    headline_res = evaluate_headlines(Understanding(story_state={}), load_headlines(lines, args.headlines), args.errors)
    print(f"== headlines ({args.headlines or 'tests/data/labels/headlines.tsv'})")
    for k, v in headline_res.items():
        print(f"  {k:32s} {v:.3f}" if isinstance(v, float) else f"  {k:32s} {v}")
    if args.headlines is not None:
        return 0
    for path in args.stories or [LABELS / "stories.tsv"]:
        story_res = evaluate_stories(Understanding(story_state={}), load_stories(lines, path), args.errors)
        print(f"== stories ({path})")
        for k, v in story_res.items():
            print(f"  {k:32s} {v:.3f}" if isinstance(v, float) else f"  {k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
