"""Experiment (issue #12, fifth round): distributional clusters of character bigrams as
features of the reader. Measured, not shipped: docs/reading.md, "Word clusters".

    python bench/experiment_word_clusters.py [--levels 600] [--out /tmp/word_clusters.tsv.gz]
    python bench/loo_reader.py --clusters /tmp/word_clusters.tsv.gz --methods base flat_clusters flat_clusters_count

Why it was tried: the reader is a linear model over a title's character n-grams, trained on
~9,500 labelled titles. A title that says 欠薪 where the labels said 拖欠工资 shares no n-gram
with them. Clusters learnt from ~170,000 unlabelled headlines and 38,000 news summaries group
bigrams that occur between the same neighbours (诈骗 / 造假 / 虚假 / 受贿 …); a title then also
carries "a bigram of cluster 533", whose weight the labels of the whole cluster train (Brown
clusters as features: Koo et al. 2008, Turian et al. 2010; here the clusters come from a
PPMI + SVD embedding, Levy & Goldberg 2014, cut by k-means).

Method, deterministic on one machine (the table records the sources' sha256):
1. Text: ../shared/data/realnews headlines_all.tsv (headline) and cctv_xwlb_items.tsv (title and
   summary, split into sentences), normalised as the product normalises titles; runs of
   ideographs only.
2. Units: character bigrams seen at least MIN_COUNT times.
3. Context: the bigrams 2, 3 and 4 characters before and after (not 1: it overlaps the unit).
4. Positive PMI with context smoothing 0.75, truncated SVD to DIM dimensions (U·√S), rows
   normalised to unit length.
5. k-means at each of --levels (numbers of clusters); a line gives a bigram's cluster at each.

Needs scikit-learn and scipy (the ``train`` extra) and ../shared/data; the table stays outside
the repository (it is derived from the corpus, and the product does not use it).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.understanding.text import normalize  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "realnews"
SOURCES = ("headlines_all.tsv", "cctv_xwlb_items.tsv")
MIN_COUNT = 20     # rarer bigrams are names or typos: their neighbours say little
OFFSETS = (2, 3, 4)
DIM = 128
SEED = 20261207
_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_SENTENCE = re.compile(r"[。！？；]")


def texts() -> list[str]:
    csv.field_size_limit(10**8)
    out: list[str] = []
    with (SHARED / "headlines_all.tsv").open(encoding="utf-8") as fh:
        out += [row["headline"] for row in csv.DictReader(fh, delimiter="\t") if row.get("headline")]
    with (SHARED / "cctv_xwlb_items.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.append(row.get("title") or "")
            out += _SENTENCE.split(row.get("summary") or "")
    return [t for t in out if t]


def build(levels: tuple[int, ...]) -> tuple[list[str], list[tuple[int, ...]], dict]:
    import numpy as np
    from scipy import sparse
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD

    runs = [r for t in texts() for r in _RUN.findall(normalize(t))]
    counts: dict[str, int] = {}
    for r in runs:
        for i in range(len(r) - 1):
            g = r[i:i + 2]
            counts[g] = counts.get(g, 0) + 1
    vocab = sorted(g for g, c in counts.items() if c >= MIN_COUNT)
    index = {g: i for i, g in enumerate(vocab)}
    # all runs as one id stream with OFFSETS[-1] gaps (-1) between them: no context crosses a run
    pad = [-1] * OFFSETS[-1]
    ids: list[int] = []
    for r in runs:
        ids += [index.get(r[i:i + 2], -1) for i in range(len(r) - 1)]
        ids += pad
    stream = np.array(ids, dtype=np.int64)
    rows, cols = [], []
    for d in OFFSETS:
        a, b = stream[:-d], stream[d:]
        ok = (a >= 0) & (b >= 0)
        rows += [a[ok], b[ok]]
        cols += [b[ok], a[ok]]
    n = len(vocab)
    co = sparse.coo_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(n, n)).tocsr()
    co.sum_duplicates()
    total = co.sum()
    row_sum = np.asarray(co.sum(axis=1)).ravel()
    ctx = np.asarray(co.sum(axis=0)).ravel() ** 0.75
    ctx /= ctx.sum()
    coo = co.tocoo()
    pmi = np.log((coo.data / total) / ((row_sum[coo.row] / total) * ctx[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n, n))
    svd = TruncatedSVD(n_components=DIM, algorithm="randomized", n_iter=7, random_state=SEED)
    u = svd.fit_transform(ppmi)                       # U·S
    vec = u / np.sqrt(svd.singular_values_)           # U·√S
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    by_freq = sorted(vocab, key=lambda g: (-counts[g], g))
    labels: list[tuple[int, ...]] = [() for _ in range(n)]
    for k in levels:
        km = KMeans(n_clusters=k, n_init=3, random_state=SEED).fit(vec)
        # cluster ids renumbered by each cluster's most frequent member, so the file reads in a stable order
        first: dict[int, str] = {}
        for g in by_freq:
            first.setdefault(int(km.labels_[index[g]]), g)
        order = {c: i for i, c in enumerate(sorted(first, key=lambda c: (-counts[first[c]], first[c])))}
        labels = [ls + (order[int(km.labels_[i])],) for i, ls in enumerate(labels)]
    sources = {name: hashlib.sha256((SHARED / name).read_bytes()).hexdigest() for name in SOURCES}
    # most frequent first: a cluster's first lines in the file are its best-known members, which
    # the reader's explanations show ("≈诈骗/造假/虚假")
    return by_freq, [labels[index[g]] for g in by_freq], {"units": n, "pairs": int(total), "sources": sources}


def dump(vocab: list[str], labels: list[tuple[int, ...]], about: dict, levels: tuple[int, ...]) -> bytes:
    head = [
        "# Character-bigram clusters (an experiment of issue #12), built by",
        "# bench/experiment_word_clusters.py from ../shared/data/realnews (headlines_all.tsv: CCTV 新闻联播 items,",
        "# NLPCC2017, Toutiao, THUCNews and CLUE TNEWS titles, DuEE and CEC sentences, public feed snapshots;",
        "# cctv_xwlb_items.tsv: yuekcc/cctv_news). Only the bigrams and their cluster numbers are kept here,",
        "# no text; a line is a bigram and its cluster at each level, most frequent bigrams first.",
        f"# settings: min_count {MIN_COUNT}, offsets {OFFSETS}, dim {DIM}, levels {levels}, seed {SEED}; units {about['units']}, pairs {about['pairs']}",
        *(f"# source {name} sha256 {digest}" for name, digest in about["sources"].items()),
    ]
    body = [f"# levels {' '.join(map(str, levels))}"] + [g + "".join(f"\t{c}" for c in cs) for g, cs in zip(vocab, labels)]
    return gzip.compress(("\n".join(head + body) + "\n").encode("utf-8"), mtime=0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/word_clusters.tsv.gz"))
    ap.add_argument("--levels", type=int, nargs="+", default=[600], help="numbers of clusters, coarse to fine")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"experiment_word_clusters: the corpus is read from {SHARED}, which is missing", file=sys.stderr)
        return 2
    levels = tuple(args.levels)
    data = dump(*build(levels), levels)
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {len(data) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
