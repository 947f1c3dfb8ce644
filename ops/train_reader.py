"""Train the reader model shipped in citycredit/data/reader_model.json.gz.

    python ops/train_reader.py [--labels FILE ...] [--hold-out FILE] [--out PATH] [--check]

Training data: the hand labels of tests/data/labels/ (headlines.tsv, blind/*.tsv and the
targeted draws of a rare class, targeted/*.tsv; see
docs/labelling.md), whose text is read from ../shared/data at training time, so no headline
text enters the repository. Features: citycredit.understanding.model.features (character
n-grams with place names masked, the lexicon's decisions, the event frame). Learner:
scikit-learn's multinomial logistic regression (lbfgs), one per decision (polarity, aspect,
subfield, domain); same labels and same code give the same file, byte for byte.

``--hold-out FILE`` leaves one label file out of training and prints the figures of
bench/eval_understanding.py on it: the honest figure for a blind batch. ``--check``
retrains and fails if the shipped file differs (is the shipped model the one the labels
give?). Needs the ``train`` extra (pip install -e '.[train]').
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_understanding import SHARED, Labelled, _Lines, evaluate_headlines, headline_label_files, load_headlines  # noqa: E402

from citycredit.understanding import Understanding  # noqa: E402
from citycredit.understanding.frames import EventType  # noqa: E402
from citycredit.understanding.model import HEADS, MODEL_PATH, NONE, read_model_text  # noqa: E402
from citycredit.understanding.text import normalize  # noqa: E402

C = 4.0              # inverse regularisation: chosen by 5-fold cross-validation on the dev labels
MIN_DF = 2           # an n-gram seen in one title only is a name, not a pattern
PRUNE = 0.02         # weights smaller than this change no decision: left out of the file
BALANCED = ("domain", "subfield", "polarity", "aspect")  # rare classes (judicial, tax, trustworthy) would otherwise never be chosen
# Feature values in training, per kind: the L2 penalty on a weight is 1/scale² of a bigram's. The
# weights are stored times the scale, so serving reads binary features and scores alike.
UNIGRAM_SCALE = 0.5   # single characters: chosen by 17-fold leave-one-batch-out (docs/reading.md, seventh round)
CONTEXT_SCALE = 1.0   # the lexicon's, frame's and place's features: 2 and 3 measured, no better (same page)


def is_context(feature: str) -> bool:
    """A feature beyond the wording (model.context_features: the lexicon's, the frame's, the place's)."""
    return ":" in feature or feature == "qty"


def feature_scale(feature: str, unigram: float | None = None, context: float | None = None) -> float:
    """A feature's value in training (the module's scales unless given)."""
    if is_context(feature):
        return CONTEXT_SCALE if context is None else context
    if len(feature) == 1:
        return UNIGRAM_SCALE if unigram is None else unigram
    return 1.0


def label_files(hold_out: Path | None) -> list[Path]:
    return [f for f in headline_label_files() if hold_out is None or f.resolve() != hold_out.resolve()]


def targets(x: Labelled) -> dict[str, str]:
    relevant = x.relevant
    return {
        "polarity": x.polarity if relevant else "neutral",
        "aspect": (x.aspect or NONE) if relevant else NONE,
        "subfield": (x.subfield or NONE) if relevant else NONE,
        "domain": (x.domain or NONE) if relevant else NONE,
    }


def featurize(u: Understanding, data: list[Labelled]) -> list[list[str]]:
    out = []
    for x in data:
        text = normalize(x.title)
        place = u.gazetteer.attribute(text)
        lexicon = u.classifier.classify(text, place.spans, has_city=place.city is not None)
        out.append(u.features(text, place, lexicon, u.frames.read(text)))
    return out


def train(feats: list[list[str]], data: list[Labelled]) -> dict:
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    df: dict[str, int] = {}
    for fs in feats:
        for f in fs:
            df[f] = df.get(f, 0) + 1
    kept = [[f for f in fs if df[f] >= MIN_DF or is_context(f)] for fs in feats]
    vec = DictVectorizer(sparse=True, sort=True)
    X = vec.fit_transform([{f: feature_scale(f) for f in fs} for fs in kept])
    names = vec.get_feature_names_out()
    scale = [feature_scale(str(name)) for name in names]
    heads = {}
    for head in HEADS:
        y = [targets(x)[head] for x in data]
        clf = LogisticRegression(C=C, max_iter=5000, solver="lbfgs", class_weight=("balanced" if head in BALANCED else None))
        clf.fit(X, y)
        heads[head] = stored_head(clf, names, scale)
    return heads


def stored_head(clf, names: Sequence[str], scale: Sequence[float]) -> dict:
    """A fitted head as the model file stores it: classes, intercepts and, per feature, its
    weights times its training value (``scale``) that are large enough to matter. A binary
    head's one coefficient row is split into two opposite halves, one per class."""
    classes = [str(c) for c in clf.classes_]
    coef = clf.coef_ if len(classes) > 2 else [-clf.coef_[0] / 2, clf.coef_[0] / 2]
    intercept = list(clf.intercept_) if len(classes) > 2 else [-clf.intercept_[0] / 2, clf.intercept_[0] / 2]
    weights = {}
    for j, name in enumerate(names):
        # sparse: {class index: weight} of the weights large enough to matter
        row = {str(k): round(float(coef[k][j] * scale[j]), 3) for k in range(len(classes))
               if abs(coef[k][j] * scale[j]) >= PRUNE}
        if row:
            weights[str(name)] = row
    return {"classes": classes, "intercept": [round(float(b), 3) for b in intercept], "weights": weights}


def event_type_support(types: Iterable[EventType | None]) -> dict[str, int]:
    """How many training titles of each event type the reader saw (the model file keeps it): below
    the taxonomy's reader_min_support the type's own polarity decides (Understanding._decide)."""
    return dict(sorted(Counter(etype.id for etype in types if etype is not None).items()))


def build(hold_out: Path | None) -> tuple[dict, list[Path]]:
    files = label_files(hold_out)
    lines = _Lines()
    data = [x for f in files for x in load_headlines(lines, f)]
    if hold_out is not None:
        # a hot list repeats a wording on other lines: none of the held-out wordings may be trained on
        held = {normalize(x.title) for x in load_headlines(lines, hold_out)}
        data = [x for x in data if normalize(x.title) not in held]
    u = Understanding(story_state={}, model=False)
    heads = train(featurize(u, data), data)
    payload = json.dumps(heads, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    support = event_type_support(u.frames.read(normalize(x.title)).type for x in data)
    model = {
        "about": "citycredit reader model: built by ops/train_reader.py; see citycredit/understanding/model.py",
        "trained_on": {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files},
        "examples": len(data),
        "settings": {"C": C, "min_df": MIN_DF, "prune": PRUNE, "unigram_scale": UNIGRAM_SCALE, "context_scale": CONTEXT_SCALE},
        "weights_sha256": hashlib.sha256(payload.encode()).hexdigest(),
        "heads": heads,
        "event_type_support": support,
    }
    return model, files


def dump(model: dict) -> bytes:
    text = json.dumps(model, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
    return gzip.compress(text.encode("utf-8"), mtime=0)  # no timestamp: same labels, same bytes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hold-out", type=Path, default=None, help="a label file left out of training and scored")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--check", action="store_true", help="fail if the shipped model is not what the labels give")
    ap.add_argument("--errors", action="store_true", help="with --hold-out: print every disagreement")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"train_reader: the labelled headlines' text is read from {SHARED}, which is missing", file=sys.stderr)
        return 2
    model, files = build(args.hold_out)
    data = dump(model)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == data
        print("shipped model matches the labels" if same else f"{args.out} differs from a retrain: run ops/train_reader.py")
        return 0 if same else 1
    if args.hold_out is not None:
        u = Understanding(story_state={}, model=read_model_text(gzip.decompress(data).decode("utf-8")))
        res = evaluate_headlines(u, load_headlines(_Lines(), args.hold_out), args.errors)
        print(f"== held out: {args.hold_out} (trained on {model['examples']} labels of {len(files)} files)")
        for k, v in res.items():
            print(f"  {k:32s} {v:.3f}" if isinstance(v, float) else f"  {k:32s} {v}")
        return 0
    args.out.write_bytes(data)
    print(f"wrote {args.out}: {model['examples']} labels, {sum(len(h['weights']) for h in model['heads'].values())} "
          f"weight rows, {len(data) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
