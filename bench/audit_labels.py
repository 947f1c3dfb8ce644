"""Find likely labelling slips: labels the reader, trained without them, confidently contradicts.

    python bench/audit_labels.py [--folds 5] [--below 0.1] [--exclude realnews_30.tsv] [--out FILE]

Confident learning (Northcutt et al., 2021) in its simplest form: every hand label of
ops/train_reader.py's files is read by a reader trained on the other folds (the folds split by
the normalised wording, so every copy of a wording is held out together), and a label is listed
when that reader gives the labelled relevance (credit item or not) a probability below
``--below``, most confident first. The list is for a person to read against docs/labelling.md:
a row is changed only where the guide gives the other answer (then every copy of the wording
alike), never because the reader says so. Leave out (``--exclude``) any blind batch not yet
scored: this prints the reader's reading of every title it audits.

Writes ``file:line<TAB>P(labelled relevance)<TAB>gold<TAB>read<TAB>title`` (titles: keep FILE
outside the repository, as the headline text stays in ../shared).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import loo_reader as lr  # noqa: E402  (its rows, training and decision code: one copy of each)

from citycredit.understanding import Understanding  # noqa: E402


def fold_of(key: str, folds: int) -> int:
    """A wording's fold: every copy of one normalised title lands in the same fold."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % folds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--below", type=float, default=0.1, help="list labels given less than this probability")
    ap.add_argument("--exclude", action="append", default=[], help="a label file (name) left out: an unscored blind batch")
    ap.add_argument("--out", type=Path, default=Path("/tmp/label_audit.tsv"))
    args = ap.parse_args()
    u = Understanding(story_state={}, model=False)
    t0 = time.time()
    rows = lr.load_rows(u, tuple(args.exclude))
    print(f"{len(rows)} labels featurised in {time.time() - t0:.0f}s", flush=True)
    found = []
    for k in range(args.folds):
        train = [r for r in rows if fold_of(r.key, args.folds) != k]
        test = [r for r in rows if fold_of(r.key, args.folds) == k]
        t0 = time.time()
        model = lr.model_of(lr.tr.train([r.feats for r in train], [r.x for r in train]))
        for r in test:
            p = model.score(r.feats).relevance()
            p_gold = p if r.x.relevant else 1.0 - p
            if p_gold < args.below:
                dom, pol, asp, sub = lr.decide_flat(u, model, r)
                gold = f"{r.x.domain or '-'}/{r.x.subfield or '-'}/{r.x.polarity}/{r.x.aspect or '-'}"
                read = f"{dom or '-'}/{sub or '-'}/{pol}/{asp or '-'}"
                found.append((p_gold, f"{r.file}:{r.x.line}", gold, read, r.x.title))
        print(f"fold {k}: {len(test)} read in {time.time() - t0:.0f}s, {len(found)} listed so far", flush=True)
    found.sort()
    with args.out.open("w", encoding="utf-8") as fh:
        for p, where, gold, read, title in found:
            fh.write(f"{where}\t{p:.3f}\t{gold}\t{read}\t{title}\n")
    relevant = sum(1 for _, _, g, _, _ in found if not g.startswith("-/"))
    print(f"{len(found)} of {len(rows)} labels below {args.below} ({relevant} labelled relevant, "
          f"{len(found) - relevant} not): {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
