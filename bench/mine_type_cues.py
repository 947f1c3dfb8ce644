"""Where the event-type taxonomy (config/event_types.toml) is thin: cue candidates mined from the labels.

    python bench/mine_type_cues.py [--exclude FILE ...] [--min-count 4] [--min-precision 0.7] [--top 25]

A credit item whose title names an event type joins its story on the event frame (same prefecture,
same type, no conflicting county, subject or quantity) however differently two sites word it; an
untyped one joins only on wording. This prints, first, how many labelled credit events and
responses the shipped taxonomy types, per subfield; then, per subfield, the character 2-4-grams of
its *untyped* labelled items ranked by how many they would type, keeping those that are precise:
of all distinct labelled titles holding the n-gram, at least ``--min-precision`` are relevant
items of that subfield with that polarity. The list is for a person extending the taxonomy by
hand (a cue names an event: 劣质化肥 yes, 记者 no); nothing here edits the file.

Pass the blind batch still to be scored as ``--exclude`` so its titles choose no cue. Titles are
read from ../shared at run time; none is written anywhere.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from citycredit.exceptions import InputError  # noqa: E402
from citycredit.understanding import Understanding  # noqa: E402
from citycredit.understanding.model import masked_text  # noqa: E402
from citycredit.understanding.text import normalize  # noqa: E402
from eval_understanding import _Lines, headline_label_files, load_headlines  # noqa: E402


def grams(masked: str) -> set[str]:
    return {masked[i:i + n] for n in (2, 3, 4) for i in range(len(masked) - n + 1) if "◎" not in masked[i:i + n]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exclude", action="append", default=[], help="a label file name to leave out (repeatable)")
    ap.add_argument("--min-count", type=int, default=4)
    ap.add_argument("--min-precision", type=float, default=0.7)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    u = Understanding()
    lines = _Lines()
    seen: set[str] = set()
    rows = []  # (grams, (subfield, polarity) if a credit event or response else None, typed)
    for path in headline_label_files():
        if path.name in args.exclude:
            continue
        for x in load_headlines(lines, path):
            text = normalize(x.title)
            if text in seen:
                continue
            seen.add(text)
            try:
                a = u.analyse_text(x.title)
            except InputError:
                continue
            cls = (x.subfield, x.polarity) if x.relevant and x.aspect in ("credit_event", "government_response") else None
            rows.append((grams(masked_text(text, a.place.spans)), cls, a.frame.type is not None))
    typed, untyped = Counter(), Counter()
    for _, cls, is_typed in rows:
        if cls is not None:
            (typed if is_typed else untyped)[cls[0] or "-"] += 1
    print(f"{len(rows)} distinct labelled titles; credit events and responses typed / untyped per subfield:")
    for sub in sorted(set(typed) | set(untyped)):
        print(f"  {sub:24} {typed[sub]:5} {untyped[sub]:5}")
    holders: dict[str, list[int]] = defaultdict(list)
    for n, (gs, _, _) in enumerate(rows):
        for g in gs:
            holders[g].append(n)
    for cls in sorted({c for _, c, t in rows if c is not None and not t}, key=lambda c: (c[0] or "", c[1])):
        found = []
        for g, ns in holders.items():
            if len(ns) < args.min_count:
                continue
            same = sum(1 for n in ns if rows[n][1] == cls)
            gain = sum(1 for n in ns if rows[n][1] == cls and not rows[n][2])
            if gain >= args.min_count and same / len(ns) >= args.min_precision:
                found.append((gain, same / len(ns), g))
        # a longer n-gram that types the same titles as a shorter one it contains says nothing new
        found.sort(key=lambda f: (-f[0], -f[1], len(f[2]), f[2]))
        kept: list[tuple[int, float, str]] = []
        for f in found:
            if not any(k[2] in f[2] and k[0] == f[0] for k in kept):
                kept.append(f)
        if kept:
            print(f"\n{cls[0] or '-'} / {cls[1]}:")
            print("  " + "  ".join(f"{g} {gain} ({p:.2f})" for gain, p, g in kept[:args.top]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
