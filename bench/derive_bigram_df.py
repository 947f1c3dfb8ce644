"""Character-bigram document frequencies for story clustering (config/bigram_df.txt).

Story similarity weighs each shared bigram by its rarity (IDF): two headlines that
share 接受纪律审查 share a template, two that share 晓晓 and 蕾蕾 share a story. The
frequencies come from the real headline corpus in ../shared/data/realnews (about
168,000 titles); only bigrams seen at least MIN_DF times are kept, rarer ones get
the maximum weight at run time.

    python bench/derive_bigram_df.py          # writes citycredit/config/bigram_df.txt
"""
from __future__ import annotations

import collections
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.understanding.text import content_chars, normalize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "realnews"
MIN_DF = 10


def titles() -> list[str]:
    csv.field_size_limit(10**8)
    out = []
    for name, col in (("headlines_all.tsv", "headline"), ("cctv_xwlb_items.tsv", "title")):
        with (SHARED / name).open(encoding="utf-8") as fh:
            out.extend(row[col] for row in csv.DictReader(fh, delimiter="\t") if row.get(col))
    return out


def main() -> int:
    docs = titles()
    df: collections.Counter[str] = collections.Counter()
    for t in docs:
        c = content_chars(normalize(t))
        df.update({c[i:i + 2] for i in range(len(c) - 1)})
    path = ROOT / "citycredit" / "config" / "bigram_df.txt"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("# Character-bigram document frequencies, derived by bench/derive_bigram_df.py from the\n")
        fh.write("# real headline corpus (../shared/data/realnews: headlines_all.tsv, cctv_xwlb_items.tsv).\n")
        fh.write(f"documents\t{len(docs)}\n")
        for gram, n in sorted(df.items(), key=lambda kv: (-kv[1], kv[0])):
            if n >= MIN_DF:
                fh.write(f"{gram}\t{n}\n")
    print(f"{len(docs)} titles, {sum(1 for n in df.values() if n >= MIN_DF)} bigrams kept -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
