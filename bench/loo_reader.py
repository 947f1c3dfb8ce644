"""Leave-one-batch-out evaluation of the trained reader and of alternative methods (issue #12).

    python bench/loo_reader.py [--folds 12 13 14 15 16] [--methods base hier ...] [--errors DIR]
                               [--exclude hotlists_17.tsv] [--cache DIR] [--json FILE] [--clusters FILE]

The figures in docs/reading.md (2026-12-07) are with ``--exclude hotlists_17.tsv`` (the
training labels as they were before batch 17 was drawn).

For each blind batch k: train on every label file of ops/train_reader.py except
blind/hotlists_k.tsv (or blind/realnews_k.tsv) (and without any of its wordings found elsewhere, as ``--hold-out``
does), score batch k, and report domain macro-F1 (over the domains labelled or predicted in the
batch, an irrelevant item having no domain: bench/eval_understanding.macro_f1) and polarity accuracy, per fold and as
the mean. ``base`` is the shipped method through ops/train_reader.py's own ``train`` and the
shipped decision code (Understanding._decide); the others are alternatives trained the same
way. Nothing is tuned on the fold scored: a method's knob (a bias on "neutral", a relevance
threshold) for fold k is the one with the best mean figure on the other folds' held-out
predictions, so fold k's labels never choose it (the models scoring those folds were trained
with batch k among their labels: a nested run would retrain 20 more times).

Methods (``--methods``): ``base`` (shipped); ``flat_unweighted`` / ``flat_sqrtbal`` (class
weights); ``hier`` / ``hier_cv`` (a binary relevance head, then polarity, aspect, subfield and
domain heads trained on relevant items only; threshold 0.5 / chosen as above); ``hier_nb`` /
``hier_nb_cv`` (the same with the relevance gate learnt as NB-LR, log-count-ratio scaled);
``flat_taxonomy`` (an event type's subfield decides the domain, the model otherwise);
``flat_bias_cv`` (a bias on "neutral" chosen as above); ``flat_uncued_bias_cv`` (the same bias only
on titles where the lexicon found no credit term and the taxonomy no event type);
``lexicon_defer_cv`` (where the reader says neutral with probability below a knob chosen as
above and the lexicon found a dishonest or trustworthy term, the lexicon's polarity); ``flat_words`` (jieba words beside the
character n-grams; needs ``pip install jieba``); ``flat_4grams``; ``flat_hotlists2`` /
``flat_dev_half`` (label files weighted: hot-list batches x2 / dev set and targeted draws x0.5);
``flat_no_lexicon`` / ``flat_no_lexicon_polarity`` (ablations: without the lexicon's
features / its polarity features); ``flat_no_unigrams`` (character
bigrams and trigrams only: single characters (告, 亿, 标) carry much of the weight of the false
alarms on real hot lists); ``flat_tail`` (the bigrams of the clause after the last colon or question mark, as
features of their own); ``flat_clusters`` / ``flat_clusters_count`` (which / how many of the title's bigrams fall in
each distributional cluster of ``--clusters FILE``, built by bench/experiment_word_clusters.py);
``flat_uni_one`` (single characters at value 1, as bigrams: the reader before the seventh round);
``flat_uni_half`` / ``flat_uni_quarter`` (single characters at 0.5 / 0.25: a stronger L2 penalty;
0.5 ships, so ``flat_uni_half`` is ``base`` through train_heads); ``flat_ctx2`` / ``flat_ctx3``
(the lexicon's, frame's and place's features at value 2 / 3: a weaker penalty; single characters
at 1), ``flat_ctx2_uni_half``; ``flat_digits`` / ``flat_uni_half_digits`` (every run of digits
one mark, 被罚1.29亿 = 被罚#.#亿; single characters at 1 / 0.5);
``curve_50`` / ``curve_75`` (a learning-curve point: a fixed half / three quarters of the
training labels); ``oracle_gate`` / ``oracle_domain`` (upper bounds, not methods: the gold
relevance with the reader's domain / the gold domain on items the reader rightly took).
A fit takes 0.5-3 min on a shared core: five folds of one method, 3-15 min.

``--errors DIR`` writes, per method, the confusion matrix and every disagreement of the
pooled folds (with titles: DIR should be outside the repository).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "ops"))

import train_reader as tr  # noqa: E402
from eval_understanding import Labelled, _f1, _Lines, load_headlines, macro_f1  # noqa: E402

from citycredit.ids import DOMAINS  # noqa: E402
from citycredit.understanding import Understanding  # noqa: E402
from citycredit.understanding.classify import Classification  # noqa: E402
from citycredit.understanding.model import NONE, ReaderModel, masked_text, ngrams  # noqa: E402
from citycredit.understanding.text import normalize  # noqa: E402

DOMS = list(DOMAINS)
_DIGITS = re.compile(r"[0-9]+")  # flat_digits: a number is a number, whatever its value


@dataclass
class Row:
    x: Labelled
    file: str
    key: str          # normalised title
    feats: list[str]
    lexicon: Classification
    frame: object
    masked: str = ""
    placed: bool = False  # a city or a province named (an under-trained event type decides only then)


def load_rows(u: Understanding, exclude: tuple[str, ...] = ()) -> list[Row]:
    lines = _Lines()
    rows = []
    for f in tr.label_files(None):
        if f.name in exclude:
            continue
        data = load_headlines(lines, f)
        for x, fs in zip(data, tr.featurize(u, data)):
            text = normalize(x.title)
            place = u.gazetteer.attribute(text)
            lex = u.classifier.classify(text, place.spans, has_city=place.city is not None)
            rows.append(Row(x, f.name if f.parent.name != "targeted" else "targeted/" + f.name, text, fs, lex,
                            u.frames.read(text), masked_text(text, place.spans),
                            place.city is not None or place.province is not None))
    return rows


def model_of(heads: dict, rows: list[Row] | None = None) -> ReaderModel:
    """The serving model of trained heads (any set of heads: the hierarchical one has a "relevant" head),
    with the training rows' titles per event type, as ops/train_reader.py counts them."""
    import citycredit.understanding.model as mm
    payload = json.dumps(heads, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    shipped = mm.HEADS
    mm.HEADS = tuple(heads)
    try:
        support = {} if rows is None else {"event_type_support": tr.event_type_support(r.frame.type for r in rows)}
        return ReaderModel({"heads": heads, "weights_sha256": hashlib.sha256(payload.encode()).hexdigest(), **support})
    finally:
        mm.HEADS = shipped


def train_heads(feats: list[list[str]], ys: dict[str, list[str]], balanced: dict[str, object],
                weights: list[float] | None = None, c: float = tr.C, ctx_scale: float | None = None,
                uni_scale: float | None = None) -> dict:
    """ops/train_reader.py's train(), generalised: any heads, class weights, sample weights, and
    feature scales (tr.feature_scale: a context feature's and a single character's value in
    training, folded into their stored weights)."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    df: Counter = Counter(f for fs in feats for f in fs)
    kept = [[f for f in fs if df[f] >= tr.MIN_DF or tr.is_context(f)] for fs in feats]
    vec = DictVectorizer(sparse=True, sort=True)
    rows = [Counter(fs) for fs in kept]  # a cluster feature counts its distinct bigrams
    rows = [{f: v * tr.feature_scale(f, uni_scale, ctx_scale) for f, v in row.items()} for row in rows]
    X = vec.fit_transform(rows)
    names = vec.get_feature_names_out()
    scale = [tr.feature_scale(str(n), uni_scale, ctx_scale) for n in names]
    heads = {}
    for head, y in ys.items():
        idx = [i for i, v in enumerate(y) if v is not None]   # None: not an example of this head
        clf = LogisticRegression(C=c, max_iter=5000, solver="lbfgs", class_weight=balanced.get(head))
        clf.fit(X[idx], [y[i] for i in idx], sample_weight=None if weights is None else [weights[i] for i in idx])
        heads[head] = tr.stored_head(clf, names, scale)
    return heads


# ---------------------------------------------------------------- decisions

def joint_sub_dom(u: Understanding, lp_sub: dict, lp_dom: dict) -> tuple[str | None, str]:
    sd = u.classifier.subfield_domain
    pairs = [(lp_sub[s] + lp_dom[sd[s]], s, sd[s]) for s in lp_sub if s != NONE and sd[s] in lp_dom]
    pairs += [(lp_sub.get(NONE, -math.inf) + lp_dom[d], None, d) for d in DOMS if d in lp_dom]
    _, s, d = max(pairs, key=lambda p: (p[0], p[1] or "", p[2]))
    return s, d


def decide_flat(u: Understanding, m: ReaderModel, r: Row, bias: float = 0.0, taxonomy: str = "",
                uncued_only: bool = False) -> tuple:
    """The shipped decision (Understanding._decide); bias shifts the neutral polarity score
    (positive: fewer items relevant). taxonomy: "first" = an event type's subfield decides the
    domain when the frame has one. uncued_only: the bias applies only to titles in which the
    lexicon found no credit term and the taxonomy no event type."""
    if uncued_only and (r.lexicon.polarity != "neutral" or r.frame.type is not None):
        bias = 0.0
    if bias == 0.0 and not taxonomy:
        cls = u._decide(r.lexicon, m.score(r.feats), r.frame, r.placed)
        return cls.domain, cls.polarity, cls.aspect, cls.subfield
    sc = m.score(r.feats)
    typed = r.frame.type.polarity if r.frame.type is not None and r.frame.type.polarity != "neutral" else None
    lp = sc.log_probs("polarity")
    lp["neutral"] += bias
    allowed = [typed, "neutral"] if typed else list(lp)
    polarity = max(allowed, key=lambda c: (lp[c], c == "neutral"))
    aspect = sc.decide("aspect", explain=False).label
    if polarity == "neutral" and aspect in (None, "credit_event"):
        return None, "neutral", None, None
    if aspect is None:
        aspect = "credit_event"
    sub, dom = joint_sub_dom(u, sc.log_probs("subfield"), sc.log_probs("domain"))
    if taxonomy == "first" and r.frame.type is not None and r.frame.type.subfield:
        sub = r.frame.type.subfield
        dom = u.classifier.subfield_domain[sub]
    return dom, polarity, aspect, sub


def decide_defer(u: Understanding, m: ReaderModel, r: Row, below: float) -> tuple:
    """The shipped decision, except where the reader calls a title neutral with probability
    below ``below`` and the lexicon found a dishonest or trustworthy term: the lexicon's
    polarity stands (the reader unsure, the desk's word list sure)."""
    dom, pol, asp, sub = decide_flat(u, m, r)
    if pol != "neutral" or r.lexicon.polarity == "neutral":
        return dom, pol, asp, sub
    sc = m.score(r.feats)
    if math.exp(sc.log_probs("polarity")["neutral"]) >= below:
        return dom, pol, asp, sub
    aspect = sc.decide("aspect", explain=False).label or "credit_event"
    sub, dom = joint_sub_dom(u, sc.log_probs("subfield"), sc.log_probs("domain"))
    return dom, r.lexicon.polarity, aspect, sub


def decide_oracle(u: Understanding, m: ReaderModel, r: Row, which: str) -> tuple:
    """Upper bounds, not methods: "gate" = the gold relevance with the reader's domain;
    "domain" = the reader's relevance with the gold domain on items it rightly took."""
    dom, pol, asp, sub = decide_flat(u, m, r)
    if which == "gate":
        if not r.x.relevant:
            return None, "neutral", None, None
        sc = m.score(r.feats)
        sub, dom = joint_sub_dom(u, sc.log_probs("subfield"), sc.log_probs("domain"))
        return dom, pol, asp, sub
    if dom is not None and r.x.relevant:
        return r.x.domain, pol, asp, r.x.subfield
    return dom, pol, asp, sub


def decide_hier(u: Understanding, m: ReaderModel, r: Row, threshold: float = 0.5) -> tuple:
    """Two steps: relevant? (a binary head, threshold), then domain/subfield/polarity/aspect
    among relevant items only (heads trained on relevant items only)."""
    sc = m.score(r.feats)
    p_rel = math.exp(sc.log_probs("relevant")["1"])
    if p_rel < threshold:
        return None, "neutral", None, None
    typed = r.frame.type.polarity if r.frame.type is not None and r.frame.type.polarity != "neutral" else None
    lp = sc.log_probs("polarity")
    allowed = [c for c in lp if c in (typed, "neutral")] if typed else list(lp)
    polarity = max(allowed, key=lambda c: lp[c])
    la = sc.log_probs("aspect")
    aspect = max(la, key=la.get)
    if aspect == NONE:
        aspect = None
    sub, dom = joint_sub_dom(u, sc.log_probs("subfield"), sc.log_probs("domain"))
    return dom, polarity, aspect, sub


# ---------------------------------------------------------------- methods

def flat_targets(rows: list[Row]) -> dict[str, list[str]]:
    ys = {h: [] for h in tr.HEADS}
    for r in rows:
        for h, v in tr.targets(r.x).items():
            ys[h].append(v)
    return ys


def hier_targets(rows: list[Row]) -> dict[str, list]:
    ys = {"relevant": [], "polarity": [], "aspect": [], "subfield": [], "domain": []}
    for r in rows:
        x = r.x
        ys["relevant"].append("1" if x.relevant else "0")
        ys["polarity"].append(x.polarity if x.relevant else None)
        ys["aspect"].append((x.aspect or NONE) if x.relevant else None)
        ys["subfield"].append((x.subfield or NONE) if x.relevant else None)
        ys["domain"].append((x.domain or NONE) if x.relevant else None)
    return ys


BAL = {h: "balanced" for h in tr.BALANCED}


def file_weights(rows: list[Row], scheme: dict[str, float]) -> list[float]:
    def w(r: Row) -> float:
        for prefix, v in scheme.items():
            if r.file.startswith(prefix):
                return v
        return 1.0
    return [w(r) for r in rows]


def sqrt_balanced(ys: list[str]) -> dict[str, float]:
    n, counts = len(ys), Counter(ys)
    return {c: math.sqrt(n / (len(counts) * k)) for c, k in counts.items()}


class Method:
    name = "?"
    inner = False  # chooses a threshold by inner leave-one-batch-out

    def fit(self, rows: list[Row]):
        raise NotImplementedError

    def predict(self, u: Understanding, fitted, r: Row) -> tuple:
        raise NotImplementedError


class Flat(Method):
    def __init__(self, name: str, balanced=None, scheme=None, bias: float = 0.0, taxonomy: str = "",
                 c: float = tr.C, inner_bias: bool = False, extra=None, fit_key: str | None = None, oracle: str = "",
                 share: float = 1.0, uncued_only: bool = False, drop: tuple[str, ...] | None = None,
                 unigrams: bool = True, ctx_scale: float | None = None, uni_scale: float | None = None,
                 digits: bool = True) -> None:
        self.uncued_only = uncued_only
        self.ctx_scale = ctx_scale  # None: ops/train_reader.py's; > 1: context features less regularised
        self.uni_scale = uni_scale  # None: ops/train_reader.py's; < 1: single characters more regularised
        self.digits = digits  # False: every run of digits read as one mark (被罚1.29亿 = 被罚#.#亿)
        self.drop = drop  # feature prefixes left out (an ablation)
        self.unigrams = unigrams  # False: the single characters left out (an ablation)
        self.name, self.balanced, self.scheme, self.bias, self.taxonomy, self.c = name, balanced, scheme, bias, taxonomy, c
        self.share = share  # < 1: a learning-curve point, trained on this share of the training labels
        self.inner, self.extra, self.oracle = inner_bias, extra, oracle
        self.fit_key = fit_key or name

    def feats(self, r: Row) -> list[str]:
        fs = r.feats
        if self.drop is not None:
            fs = [f for f in fs if not f.startswith(self.drop)]
        if not self.digits:
            fs = sorted(ngrams(_DIGITS.sub("#", r.masked))) + [f for f in fs if tr.is_context(f)]
        if not self.unigrams:
            fs = [f for f in fs if len(f) > 1]
        return fs if self.extra is None else fs + self.extra(r)

    def fit(self, rows):
        if self.share < 1.0:  # a fixed subset: the same titles at every fold
            rows = [r for r in rows if int(hashlib.sha256(r.key.encode()).hexdigest()[:8], 16) / 16**8 < self.share]
        feats = [self.feats(r) for r in rows]
        if self.fit_key == "base":
            return tr.train(feats, [r.x for r in rows])  # the shipped code path itself
        ys = flat_targets(rows)
        bal = dict(BAL) if self.balanced is None else self.balanced(ys)
        return train_heads(feats, ys, bal, None if self.scheme is None else file_weights(rows, self.scheme), self.c,
                           self.ctx_scale, self.uni_scale)

    def predict(self, u, model, r, knob=None):
        if self.extra is not None or self.drop is not None or not self.unigrams or not self.digits:
            r = Row(r.x, r.file, r.key, self.feats(r), r.lexicon, r.frame, r.masked)
        if self.oracle:
            return decide_oracle(u, model, r, self.oracle)
        return decide_flat(u, model, r, self.bias if knob is None else knob, self.taxonomy, self.uncued_only)

    knobs = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)


class LexiconDefer(Flat):
    def predict(self, u, model, r, knob=None):
        return decide_defer(u, model, r, 0.5 if knob is None else knob)

    knobs = (0.5, 0.55, 0.6, 0.65, 0.7, 0.8)


class Hier(Method):
    def __init__(self, name: str, rel_balanced: bool = False, threshold: float = 0.5, inner: bool = False,
                 scheme=None, fit_key: str | None = None) -> None:
        self.name, self.rel_balanced, self.threshold, self.inner, self.scheme = name, rel_balanced, threshold, inner, scheme
        self.fit_key = fit_key or name

    def fit(self, rows):
        ys = hier_targets(rows)
        bal = {"polarity": "balanced", "aspect": "balanced", "subfield": "balanced", "domain": "balanced",
               "relevant": "balanced" if self.rel_balanced else None}
        return train_heads([r.feats for r in rows], ys, bal,
                           None if self.scheme is None else file_weights(rows, self.scheme))

    def predict(self, u, model, r, knob=None):
        return decide_hier(u, model, r, self.threshold if knob is None else knob)

    knobs = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def words(r: Row) -> list[str]:
    import jieba
    return sorted({f"w|{w}" for w in jieba.lcut(r.masked) if len(w) >= 2})


def grams4(r: Row) -> list[str]:
    t = r.masked
    return sorted({t[i:i + 4] for i in range(len(t) - 3)})


_CLUSTERS: dict[str, str] = {}   # bigram -> cluster, of --clusters (bench/experiment_word_clusters.py)


def _bigram_clusters(r: Row) -> list[str]:
    """The cluster of each distinct bigram of the title, first level of the --clusters table."""
    if not _CLUSTERS:
        raise SystemExit("loo_reader: the cluster methods need --clusters FILE (bench/experiment_word_clusters.py)")
    t, m = r.masked, _CLUSTERS
    return [f"wc:{m[g]}" for g in sorted({t[i:i + 2] for i in range(len(t) - 1)} & m.keys())]


def tail_clause(r: Row) -> list[str]:
    """The clause after a title's last colon or question mark (网传…，官方通报：属实，已立案 /
    …？回应：虚假信息) as its own bigrams ("t|"), and whether the title asks a question: who
    answered, and what, decides a rumour from a case."""
    import re
    text = r.key
    cut = max(text.rfind(":"), text.rfind("?"))
    if cut < 0:
        return []
    tail = re.sub(r"[^\u4e00-\u9fffA-Za-z0-9]+", "", text[cut + 1:])
    out = {f"t|{tail[i:i + 2]}" for i in range(len(tail) - 1)}
    if "?" in text:
        out.add("t:question")
    return sorted(out)


def clusters(r: Row) -> list[str]:
    """Which clusters the title's bigrams fall in (a binary feature per cluster)."""
    return sorted(set(_bigram_clusters(r)))


def clusters_count(r: Row) -> list[str]:
    """How many distinct bigrams of the title fall in each cluster (a count per cluster)."""
    return _bigram_clusters(r)


def nb_relevance_head(rows: list[Row], c: float = tr.C, alpha: float = 1.0) -> dict:
    """The relevance gate as NB-LR (Wang & Manning 2012): each binary feature scaled by its
    log-count ratio between relevant and other titles, then a logistic regression; the scale
    folds into the weights, so serving is the same sum of weights."""
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    df: Counter = Counter(f for r in rows for f in r.feats)
    vec = DictVectorizer(sparse=True, sort=True)
    X = vec.fit_transform([{f: 1 for f in r.feats if df[f] >= tr.MIN_DF or tr.is_context(f)} for r in rows]).tocsr()
    y = np.array([1 if r.x.relevant else 0 for r in rows])
    p = alpha + np.asarray(X[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(X[y == 0].sum(axis=0)).ravel()
    ratio = np.log((p / p.sum()) / (q / q.sum()))
    clf = LogisticRegression(C=c, max_iter=5000, solver="lbfgs")
    clf.fit(X.multiply(ratio).tocsr(), y)
    return tr.stored_head(clf, vec.get_feature_names_out(), ratio)


class HierNB(Hier):
    """The hierarchical reader with its relevance gate learnt as NB-LR (the other heads: hier's)."""

    def fit(self, rows):
        heads = dict(fit_cached(METHODS["hier"], rows, _TAG))
        heads["relevant"] = nb_relevance_head(rows)
        return heads


METHODS = {
    "base": Flat("base"),
    "flat_unweighted": Flat("flat_unweighted", balanced=lambda ys: {}),
    "flat_sqrtbal": Flat("flat_sqrtbal", balanced=lambda ys: {h: sqrt_balanced(ys[h]) for h in tr.BALANCED}),
    "flat_taxonomy": Flat("flat_taxonomy", taxonomy="first", fit_key="base"),
    "oracle_gate": Flat("oracle_gate", fit_key="base", oracle="gate"),
    "oracle_domain": Flat("oracle_domain", fit_key="base", oracle="domain"),
    "flat_words": Flat("flat_words", extra=words),
    "flat_c1": Flat("flat_c1", c=1.0),
    "flat_c16": Flat("flat_c16", c=16.0),
    "curve_50": Flat("curve_50", share=0.5),
    "curve_75": Flat("curve_75", share=0.75),
    "flat_4grams": Flat("flat_4grams", extra=grams4),
    "flat_tail": Flat("flat_tail", extra=tail_clause),
    "flat_no_lexicon": Flat("flat_no_lexicon", drop=("lex:",)),
    "flat_no_lexicon_polarity": Flat("flat_no_lexicon_polarity", drop=("lex:pol:",)),
    "flat_no_unigrams": Flat("flat_no_unigrams", unigrams=False),
    # feature scales, each pinned as measured (docs/reading.md, seventh round), whatever ships
    "flat_uni_one": Flat("flat_uni_one", uni_scale=1.0, ctx_scale=1.0),
    "flat_uni_half": Flat("flat_uni_half", uni_scale=0.5, ctx_scale=1.0),
    "flat_uni_quarter": Flat("flat_uni_quarter", uni_scale=0.25, ctx_scale=1.0),
    "flat_ctx2": Flat("flat_ctx2", ctx_scale=2.0, uni_scale=1.0),
    "flat_ctx3": Flat("flat_ctx3", ctx_scale=3.0, uni_scale=1.0),
    "flat_ctx2_uni_half": Flat("flat_ctx2_uni_half", ctx_scale=2.0, uni_scale=0.5),
    "flat_digits": Flat("flat_digits", digits=False, uni_scale=1.0, ctx_scale=1.0),
    "flat_uni_half_digits": Flat("flat_uni_half_digits", uni_scale=0.5, ctx_scale=1.0, digits=False),
    "flat_clusters": Flat("flat_clusters", extra=clusters),
    "flat_clusters_count": Flat("flat_clusters_count", extra=clusters_count),
    "flat_bias_cv": Flat("flat_bias_cv", inner_bias=True, fit_key="base"),
    "flat_uncued_bias_cv": Flat("flat_uncued_bias_cv", inner_bias=True, fit_key="base", uncued_only=True),
    "lexicon_defer_cv": LexiconDefer("lexicon_defer_cv", inner_bias=True, fit_key="base"),
    "flat_hotlists2": Flat("flat_hotlists2", scheme={"hotlists": 2.0}),
    "flat_dev_half": Flat("flat_dev_half", scheme={"headlines.tsv": 0.5, "targeted/": 0.5}),
    "hier": Hier("hier"),
    "hier_cv": Hier("hier_cv", inner=True, fit_key="hier"),
    "hier_nb": HierNB("hier_nb"),
    "hier_nb_cv": HierNB("hier_nb_cv", inner=True, fit_key="hier_nb"),
    "hier_relbal_cv": Hier("hier_relbal_cv", rel_balanced=True, inner=True, fit_key="hier_relbal"),
}


# ---------------------------------------------------------------- scoring

def score(pred: list[tuple], gold: list[Labelled]) -> dict:
    c = Counter()
    conf = Counter()
    for (dom, pol, asp, sub), x in zip(pred, gold):
        conf[(x.domain or "-", dom or "-")] += 1
        c["pol_ok"] += pol == x.polarity
        for d in DOMS:
            c[d, "tp"] += dom == d and x.domain == d
            c[d, "fp"] += dom == d and x.domain != d
            c[d, "fn"] += dom != d and x.domain == d
        rel = dom is not None
        c["rtp"] += rel and x.relevant
        c["rfp"] += rel and not x.relevant
        c["rfn"] += (not rel) and x.relevant
    counts = {d: (c[d, "tp"], c[d, "fp"], c[d, "fn"]) for d in DOMS}
    per = {d: _f1(*counts[d])[2] for d in DOMS}
    return {"n": len(gold), "domain_macro_f1": macro_f1(counts)[0], **{f"f1_{d}": v for d, v in per.items()},
            "domain3_macro_f1": sum(per[d] for d in DOMS if d != "judicial") / 3,
            "polarity_accuracy": c["pol_ok"] / len(gold), "relevance_f1": _f1(c["rtp"], c["rfp"], c["rfn"])[2],
            "confusion": conf}


CACHE: Path | None = None  # set by main: one folder per state of the label files
_TAG = ""                  # the split being fitted (a method reusing another's fit finds it by this)


def fit_cached(method, rows: list[Row], tag: str) -> dict:
    """Fits are deterministic: the same method key on the same split of the same labels is fitted once."""
    global _TAG
    _TAG = tag
    path = None if CACHE is None else CACHE / f"{getattr(method, 'fit_key', method.name)}_{tag}.json"
    if path is not None and path.exists():
        return json.loads(path.read_text())
    heads = method.fit(rows)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(heads))
    return heads


def split(rows: list[Row], k: str) -> tuple[list[Row], list[Row]]:
    names = {f"hotlists_{k}.tsv", f"realnews_{k}.tsv"}  # a blind batch of the hot lists or of realnews
    test = [r for r in rows if r.file in names]
    held = {r.key for r in test}
    train = [r for r in rows if r.file not in names and r.key not in held]
    return train, test


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", nargs="+", default=["12", "13", "14", "15", "16"])
    ap.add_argument("--methods", nargs="+", default=["base"])
    ap.add_argument("--errors", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="append each method's figures as a JSON line")
    ap.add_argument("--exclude", action="append", default=[],
                    help="a label file (name) left out of every fold, e.g. a batch labelled after a comparison was run")
    ap.add_argument("--cache", type=Path, default=None,
                    help="keep each fit here (keyed by method, fold, the label files' and the feature sources' sha256) to reuse it")
    ap.add_argument("--clusters", type=Path, default=None,
                    help="a bigram cluster table for flat_clusters / flat_clusters_count (bench/experiment_word_clusters.py)")
    args = ap.parse_args()
    if args.clusters is not None:
        import gzip
        for line in gzip.decompress(args.clusters.read_bytes()).decode("utf-8").splitlines():
            if line and not line.startswith("#"):
                g, c, *_ = line.split("\t")
                _CLUSTERS[g] = c
    global CACHE
    if args.cache is not None:
        digest = hashlib.sha256()
        for f in tr.label_files(None):
            if f.name in args.exclude:
                continue
            digest.update(f.name.encode() + hashlib.sha256(f.read_bytes()).digest())
        # the features come from the lexicon, the taxonomy, the gazetteer and the reading code: a
        # change to any of them is another set of fits (a subject kind added to event_types.toml
        # once reused fits made without it)
        package = ROOT / "citycredit"
        gazetteer = sorted(f for f in (package / "data" / "gazetteer").rglob("*") if f.is_file())
        sources = [*sorted((package / "config").glob("*.toml")), *gazetteer,
                   *sorted((package / "understanding").glob("*.py")), ROOT / "ops" / "train_reader.py"]
        for f in sources:
            digest.update(str(f.relative_to(ROOT)).encode() + hashlib.sha256(f.read_bytes()).digest())
        CACHE = args.cache / digest.hexdigest()[:16]
    u = Understanding(story_state={}, model=False)
    t0 = time.time()
    rows = load_rows(u, tuple(args.exclude))
    print(f"{len(rows)} labels featurised in {time.time() - t0:.0f}s", flush=True)
    models: dict[tuple[str, str], ReaderModel] = {}
    for name in args.methods:
        method = METHODS[name]
        per_fold, preds, golds, titles = {}, [], [], []
        knob_of: dict[str, float | None] = {k: None for k in args.folds}
        if method.inner:
            # the knob of fold k: the best mean (domain macro-F1 + polarity accuracy) on the OTHER
            # folds' held-out predictions; fold k's labels never choose its own knob
            table = {}
            for j in args.folds:
                train_rows, test = split(rows, j)
                m = models.setdefault((method.fit_key, j), model_of(fit_cached(method, train_rows, j), train_rows))
                for knob in method.knobs:
                    s = score([method.predict(u, m, r, knob) for r in test], [r.x for r in test])
                    table[j, knob] = s["domain_macro_f1"] + s["polarity_accuracy"]
            mid = method.knobs[len(method.knobs) // 2]
            for k in args.folds:
                knob_of[k] = max(method.knobs, key=lambda v: (sum(table[j, v] for j in args.folds if j != k), -abs(v - mid)))
        for k in args.folds:
            t0 = time.time()
            train_rows, test = split(rows, k)
            knob = knob_of[k]
            m = models.setdefault((method.fit_key, k), model_of(fit_cached(method, train_rows, k), train_rows))
            pred = [method.predict(u, m, r, knob) for r in test]
            s = score(pred, [r.x for r in test])
            per_fold[k] = s
            preds += pred
            golds += [r.x for r in test]
            titles += [f"{r.file}:{r.x.line}" for r in test]
            print(f"  {name} fold {k}: n={s['n']} train={len(train_rows)} domF1={s['domain_macro_f1']:.3f} "
                  f"pol={s['polarity_accuracy']:.3f} relF1={s['relevance_f1']:.3f} "
                  + " ".join(f"{d[:3]}={s['f1_' + d]:.2f}" for d in DOMS)
                  + (f" knob={knob}" if knob is not None else "") + f" ({time.time() - t0:.0f}s)", flush=True)
        mean_d = sum(s["domain_macro_f1"] for s in per_fold.values()) / len(per_fold)
        mean_p = sum(s["polarity_accuracy"] for s in per_fold.values()) / len(per_fold)
        pooled = score(preds, golds)
        print(f"{name}: mean domain macro-F1 {mean_d:.3f}, mean polarity {mean_p:.3f}; pooled domF1 "
              f"{pooled['domain_macro_f1']:.3f} (3 domains {pooled['domain3_macro_f1']:.3f}) pol {pooled['polarity_accuracy']:.3f} "
              f"relF1 {pooled['relevance_f1']:.3f}", flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps({"method": name, "mean_domain_f1": mean_d, "mean_polarity": mean_p,
                                     "folds": {k: {kk: v for kk, v in s.items() if kk != "confusion"} for k, s in per_fold.items()},
                                     "pooled": {kk: v for kk, v in pooled.items() if kk != "confusion"}}) + "\n")
        if args.errors:
            args.errors.mkdir(parents=True, exist_ok=True)
            conf = pooled["confusion"]
            labels = DOMS + ["-"]
            with (args.errors / f"{name}.txt").open("w") as fh:
                fh.write("gold \\ pred " + " ".join(f"{p[:5]:>6}" for p in labels) + "\n")
                for g in labels:
                    fh.write(f"{g[:11]:11s} " + " ".join(f"{conf[(g, p)]:6d}" for p in labels) + "\n")
                for (dom, pol, asp, sub), x, t in zip(preds, golds, titles):
                    if dom != x.domain or pol != x.polarity:
                        fh.write(f"{t}\t{x.title}\tgold {x.domain or '-'}/{x.subfield or '-'}/{x.polarity}/{x.aspect or '-'}"
                                 f"\tgot {dom or '-'}/{sub or '-'}/{pol}/{asp or '-'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
