"""Draw a fresh blind sample of real headlines to label by hand before running the classifier.

    python bench/sample_blind_headlines.py [--seed 20261128] [--broad 110] [--random 50] [--strong 50]

Prints ``file<TAB>line<TAB>title`` for headlines of ../shared/data/realnews/ that are not
yet in tests/data/labels/headlines.tsv, in three strata (each drawn with a fixed seed):
``broad`` - titles with a broad wrongdoing/credit word chosen by hand, independent of
config/credit.toml; ``random`` - any other title (false-positive traps); ``strong`` -
titles with a strong wrongdoing word, to probe the dishonesty lexicon subfield by
subfield. Entertainment, games, sports and stories of the toutiao corpus are left out.
Label the lines (same columns as headlines.tsv), score them with
``python bench/eval_understanding.py --headlines FILE`` BEFORE changing anything, then
fix and merge them into the dev set.

``--uncertain N`` draws a targeted batch instead (tests/data/labels/targeted/): the N titles of
the pool the shipped reader is least sure are credit items or not (relevance probability nearest
0.5; uncertainty sampling, the simplest active learning), each wording once. Those labels teach
the reader most per title; they are training data only, never a blind figure, since the
reader chose them.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from eval_understanding import LABELS, SHARED, TITLE_COLUMN  # noqa: E402

BROAD = re.compile("查处|立案|罚款|处罚|欺诈|诈骗|拖欠|欠薪|污染|排污|偷排|偷税|逃税|虚开|集资|假冒|伪劣|过期|失信|老赖|"
                   "黑名单|被执行人|事故|违规|违法|造假|虚假|哄抬|价格|工程质量|豆腐渣|医保|骗保|问责|通报|约谈|整改|"
                   "下架|召回|守信|诚信|见义勇为|退赔|维权|投诉|套路贷|传销|食品|药品")
STRONG = re.compile("查处|立案|欺诈|拖欠|欠薪|偷排|偷税|逃税|虚开|非法集资|假冒|伪劣|过期|失信|老赖|被执行人|哄抬|"
                    "豆腐渣|骗保|套路贷|传销|造假|虚假宣传|虚假广告|被罚|罚款")
SKIP_LABELS = ("news_entertainment", "news_game", "news_sports", "news_story")


_FILES: dict[str, list[str]] = {}


def _title_at(f: str, n: int) -> str:
    if f not in _FILES:
        _FILES[f] = (SHARED / f).read_text(encoding="utf-8").split("\n")
    return _FILES[f][n - 1].split("\t")[TITLE_COLUMN[f]].strip()


def least_sure(pool: list[tuple[str, int, str]], n: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """The n titles whose relevance the shipped reader is least sure of, one per wording."""
    sys.path.insert(0, str(ROOT))
    from citycredit.understanding import Understanding
    from citycredit.understanding.text import normalize

    u = Understanding(story_state={})
    scored, seen = [], set()
    for f, i, title in pool:
        text = normalize(title)
        if text in seen:
            continue
        seen.add(text)
        scored.append((abs(u.scores(title).relevance() - 0.5), rng.random(), (f, i, title)))
    scored.sort()
    return [x for _, _, x in scored[:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--broad", type=int, default=110)
    ap.add_argument("--random", type=int, default=50)
    ap.add_argument("--strong", type=int, default=50)
    ap.add_argument("--source", choices=("realnews", "hotlists"), default="realnews",
                    help="hotlists: distinct titles of the 15 sites' hot lists (realsites/lists/hotlists_all.tsv)")
    ap.add_argument("--labelled", type=Path, action="append", default=[],
                    help="another label file whose lines are not drawn again (repeatable)")
    ap.add_argument("--pattern", help="draw only titles matching this regex (all into the random stratum): "
                    "a targeted batch for a class random draws rarely hold (tests/data/labels/targeted/); "
                    "training data, never a blind figure")
    ap.add_argument("--uncertain", type=int, default=0,
                    help="draw the N titles of the pool the shipped reader is least sure about (a targeted batch)")
    args = ap.parse_args()
    only = re.compile(args.pattern) if args.pattern else None
    labelled, seen_titles = set(), set()
    for path in [LABELS / "headlines.tsv", *sorted(LABELS.glob("blind/*.tsv")), *sorted(LABELS.glob("replay/*.tsv")),
                 *sorted(LABELS.glob("targeted/*.tsv")), *args.labelled]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith(("#", "file\t")):
                f, n = line.split("\t")[:2]
                labelled.add((f, int(n)))
                if "/" in f:  # a hot list repeats a wording on other lines: never draw a labelled wording again
                    seen_titles.add(_title_at(f, int(n)))
    broad, other = [], []
    files = ({"realsites/lists/hotlists_all.tsv": 3} if args.source == "hotlists"
             else {f: c for f, c in TITLE_COLUMN.items() if "/" not in f})
    for f, column in files.items():
        lines = (SHARED / (f if "/" in f else f"realnews/{f}")).read_text(encoding="utf-8").split("\n")
        for i, line in enumerate(lines[1:], start=2):
            cols = line.split("\t")
            if len(cols) <= column or (f, i) in labelled:
                continue
            title = cols[column].strip()
            if "/" in f:  # a hot list repeats a title on every poll: draw each wording once
                if title in seen_titles:
                    continue
                seen_titles.add(title)
            if not title or len(title) > 80 or (f == "headlines_all.tsv" and cols[1] in SKIP_LABELS):
                continue
            if only is not None:
                if only.search(title):
                    other.append((f, i, title))
                continue
            (broad if BROAD.search(title) else other).append((f, i, title))
    rng = random.Random(args.seed)
    if args.uncertain:
        for f, i, title in least_sure(broad + other, args.uncertain, rng):
            print(f"{f}\t{i}\t{title}")
        return 0
    sample = rng.sample(broad, args.broad) + rng.sample(other, args.random)
    rng.shuffle(sample)
    chosen = {(f, i) for f, i, _ in sample}
    strong = [x for x in broad if STRONG.search(x[2]) and (x[0], x[1]) not in chosen]
    sample += random.Random(7).sample(strong, args.strong)
    for f, i, title in sample:
        print(f"{f}\t{i}\t{title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
