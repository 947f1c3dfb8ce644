"""Find short place names that are mostly ordinary words, for places.toml [weak_names] derived.

A short name (合作, 安康, 三明) whose full name (合作市, 安康市, 三明市) is almost never
written in real headlines while the short form is frequent is, in practice, a word
(合作 = cooperation, 新春安康 = a greeting, 三明治 = sandwich). Such names only count as
places when the headline confirms them with their province or city.

    python bench/derive_place_words.py            # print the derived list
    python bench/derive_place_words.py --write    # rewrite the list in citycredit/config/places.toml
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import ahocorasick

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.understanding.gazetteer import load_gazetteer  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
SUFFIXES = ("市", "县", "区", "旗", "州", "盟", "地区", "省")


def corpus_titles() -> list[str]:
    csv.field_size_limit(10**8)
    titles = []
    with (SHARED / "realnews" / "headlines_all.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            titles.append(row["headline"])
    with (SHARED / "realnews" / "cctv_xwlb_items.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            titles.append(row["title"])
    return titles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--min-count", type=int, default=8)
    ap.add_argument("--max-ratio", type=float, default=0.03)
    args = ap.parse_args()
    gaz = load_gazetteer(str(SHARED / "gazetteer"))
    # Prefecture short names are how news names cities (北京, 青岛): their full name is
    # rare in headlines too, so the test below only applies to county-level names.
    short = [n for n in gaz.names if not n.endswith(SUFFIXES)
             and all(gaz.places[c].level == "county" for c in gaz.names[n])
             and n not in gaz.not_weak]
    full_of: dict[str, set[str]] = {}
    for n in short:
        full_of[n] = {gaz.places[c].name for c in gaz.names[n]}
    auto = ahocorasick.Automaton()
    for n in set(short) | {f for fs in full_of.values() for f in fs}:
        auto.add_word(n, n)
    auto.make_automaton()
    counts: dict[str, int] = {}
    for title in corpus_titles():
        seen = {w for _, w in auto.iter(title)}
        for w in seen:
            counts[w] = counts.get(w, 0) + 1
    derived = []
    for n in sorted(short):
        n_short = counts.get(n, 0)
        n_full = sum(counts.get(f, 0) for f in full_of[n])
        if n_short >= args.min_count and n_full <= args.max_ratio * n_short:
            derived.append((n, n_short, n_full))
    for n, a, b in derived:
        print(f"{n}\t{a}\t{b}")
    if args.write:
        path = ROOT / "citycredit" / "config" / "places.toml"
        text = path.read_text(encoding="utf-8")
        body = ", ".join(f'"{n}"' for n, _, _ in derived)
        text = re.sub(r"derived = \[[^\]]*\]", f"derived = [{body}]", text)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
