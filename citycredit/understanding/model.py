"""The trained reader: a linear model over a title's character n-grams, the lexicon's
decisions and the event frame, deciding polarity, aspect, subfield and domain.

Word lists fit the headlines they were written for; a model trained on ~3,000 hand-labelled
real headlines (tests/data/labels/, see docs/labelling.md) generalises to wording no list
anticipated, while the lexicon (config/credit.toml) and the event taxonomy
(config/event_types.toml) stay its strongest, desk-tunable features: a term a desk adds
changes the lexicon feature and so the decision. Place names are masked (◎) before n-grams
are taken, so the model learns what happened, not where.

The weights file ``citycredit/data/reader_model.json.gz`` is written by ``ops/train_reader.py``
(scikit-learn logistic regression, deterministic) and read here with no dependency beyond
numpy: a decision is a sum of weights, and the few largest terms of that
sum are its explanation. The file names the sha256 of the labels it was trained on and a
checksum of its own weights; a missing or corrupt file stops the worker at start.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import zlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Iterable

import ahocorasick
import numpy

from citycredit.exceptions import ConfigError

from .classify import Classification
from .cluster import story_text
from .frames import Frame
from .text import frequent_first

MODEL_FILE = "reader_model.json.gz"  # gzip (written with mtime 0: same labels, same bytes)
MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / MODEL_FILE
HEADS = ("polarity", "aspect", "subfield", "domain")
NONE = "-"             # the class "no aspect / no subfield / no domain"
_MASK = "◎"
_DROP = re.compile(f"[^\\u4e00-\\u9fffA-Za-z0-9{_MASK}]+")  # what masked_text leaves out
_FIX = "python ops/train_reader.py (or reinstall the package)"
NGRAMS = (1, 2, 3)
_MAX_TERMS = 200_000  # explanation terms memoised by ReaderModel.term (about 40 MB at most)
_MAX_CONTEXTS = 10_000  # context feature lists memoised by ReaderModel._context_ids


def masked_text(text: str, place_spans: Iterable[tuple[int, int]]) -> str:
    """The story part of a title (its column label and page prefix dropped: 新华视点丨 heads
    credit stories and consumer features alike, so a model learning it learns the column),
    as ideographs, letters and digits (lower-case), each place name one ◎."""
    said = story_text(text)
    start = text.find(said) if said != text else 0
    if place_spans:
        chars = list(text)
        for a, b in place_spans:
            for i in range(a, min(b, len(chars))):
                chars[i] = _MASK if i == a else ""
        text = "".join(chars[start:start + len(said)])
    else:
        text = said
    return _DROP.sub("", text).lower()


def ngrams(masked: str) -> set[str]:
    """Character 1-3-grams (they hold no ":", unlike the other features)."""
    return {masked[i:i + n] for n in NGRAMS for i in range(len(masked) - n + 1)}


def context_features(lexicon: Classification, frame: Frame, has_city: bool, has_county: bool) -> list[str]:
    """Features beyond the wording: the lexicon's decisions, the event frame, the place found."""
    # the lexicon's polarity with the taxonomy as its fallback, "neutral" only when neither found a
    # credit word: 宁波一企业提前发放农民工工资 is typed wages_paid_early and has no lexicon term, and
    # lex:pol:neutral, learnt as the mark of an ordinary title, outweighed the type (docs/reading.md,
    # sixth round: 15 folds, polarity better in 8 and worse in 4)
    polarity = frame.type.polarity if lexicon.polarity == "neutral" and frame.type is not None else lexicon.polarity
    out = [f"lex:pol:{polarity}", f"lex:asp:{lexicon.aspect or NONE}", f"lex:sub:{lexicon.subfield or NONE}",
           f"lex:dom:{lexicon.domain or NONE}", "place:city" if has_city else "place:none"]
    out += [f"lex:{key}" for key in ("neutralised", "context") if key in lexicon.evidence]
    if frame.type is not None:
        out += [f"ev:{frame.type.id}", f"ev:pol:{frame.type.polarity}"]
    if frame.subject is not None:
        out.append(f"subj:{frame.subject}")
    if frame.quantities:
        out.append("qty")
    if has_county:
        out.append("place:county")
    return out


# Characters of the standard transcription of foreign names (外国人名汉字译写: 博洛尼亚, 贝卢斯科尼,
# 巴赫穆特): three or more in a row, outside the Chinese place names already masked, are almost
# always a foreign name. Of 10,633 labelled titles 600 have such a run and 29 of them are credit
# items (5 %, against 33 % of the rest); a name never seen in training has no n-gram weight, but
# the run generalises to it (日立, 梅西 are too short: the n-grams must know them).
_FOREIGN_RUN = re.compile(
    "[阿埃艾爱安奥巴拜班邦贝本比彼波伯博布达戴丹道德登迪蒂丁杜多厄恩尔法菲费芬弗伏福富盖甘戈格古圭哈汉豪赫亨胡霍"
    "基吉加贾杰卡凯坎康柯科克肯库夸奎拉莱赖兰朗劳勒雷蕾里利莉林琳卢鲁伦罗洛马玛迈麦曼梅门蒙米莫默姆穆纳娜奈内尼涅"
    "纽努诺欧帕潘佩皮普齐奇恰乔切琴丘萨塞赛桑瑟森沙莎舍什施斯松苏索塔泰坦汤特提图托瓦威韦维温沃乌西希锡谢辛休雅亚"
    "扬耶伊尤约泽扎詹]{3,}")


def name_features(masked: str) -> list[str]:
    """``name:foreign`` when the masked story text holds a run of foreign-name characters."""
    return ["name:foreign"] if _FOREIGN_RUN.search(masked) else []


def reader_input(text: str, place_spans: Iterable[tuple[int, int]], lexicon: Classification, frame: Frame,
                 has_city: bool, has_county: bool) -> tuple[str, list[str]]:
    """What the reader reads of one normalised title: its masked story text (for the n-grams) and
    every feature beyond them. Training (``features``) and serving (``ReaderModel.score_title``)
    both start here, so a feature added is added to both."""
    masked = masked_text(text, place_spans)
    return masked, context_features(lexicon, frame, has_city, has_county) + name_features(masked)


def features(text: str, place_spans: Iterable[tuple[int, int]], lexicon: Classification, frame: Frame,
             has_city: bool, has_county: bool) -> list[str]:
    """All features of one normalised title (what ops/train_reader.py trains on). Serving finds
    the same ones among the model's vocabulary in one automaton pass (ReaderModel.score_title)."""
    masked, context = reader_input(text, place_spans, lexicon, frame, has_city, has_county)
    return sorted(ngrams(masked)) + context


def _ascending(found: set[int]) -> numpy.ndarray:
    """A set of feature indices as an ascending index array (the order rows are summed in):
    sorted by numpy, without a sorted Python list converted element by element."""
    idx = numpy.fromiter(found, dtype=numpy.intp, count=len(found))
    idx.sort()
    return idx


@dataclass(frozen=True)
class Decision:
    label: str | None       # None for NONE
    probability: float
    because: tuple[str, ...]  # the largest contributions, "feature +w"


class Scores:
    """One title's scores under every head: the sum of its features' weight rows."""

    def __init__(self, model: "ReaderModel", idx: numpy.ndarray) -> None:
        """``idx``: the present features' indices, ascending (the order the rows are summed in)."""
        self.model = model
        # take() with an index array: the same rows as weights[idx], without numpy's slower path
        # for indexing by a Python list
        self._idx = idx
        # Every title is decided on polarity and aspect, and most (neutral) on nothing else: their
        # scores come from those heads' columns alone, a quarter of the rows' bytes. numpy sums
        # axis 0 row after row, column by column, so each column's sum is the same double as in
        # the full matrix; the other heads' rows and scores are taken when first asked for.
        # The same take brings the polarity margins (ReaderModel.front): every title's polarity is
        # explained from them. (add.reduce is what ndarray.sum calls, without its Python wrapper;
        # the intercepts are added to the doubles as numpy would add them.)
        self._front_rows = model.front.take(idx, axis=0)
        sums = numpy.add.reduce(self._front_rows, axis=0).tolist()
        self._front = list(map(float.__add__, sums, model.front_intercept))
        self._rows: numpy.ndarray | None = None
        self._scores: numpy.ndarray | None = None

    @property
    def names(self) -> list[int]:
        """The feature index of each row."""
        return self._idx.tolist()

    @property
    def rows(self) -> numpy.ndarray:
        """(present features, all classes): the title's weight rows."""
        if self._rows is None:
            self._rows = self.model.weights.take(self._idx, axis=0)
        return self._rows

    @property
    def scores(self) -> numpy.ndarray:
        """Every class's score, all heads: the sum of the rows plus the intercepts."""
        if self._scores is None:
            self._scores = self.rows.sum(axis=0) + self.model.intercept
        return self._scores

    @scores.setter
    def scores(self, value: numpy.ndarray) -> None:
        self._scores = value  # an experiment's adjusted scores (bench/experiment_e5.py): they win over _front

    def _head(self, head: str) -> tuple[list[str], int, list[float]]:
        """A head's classes, column offset and scores (as floats)."""
        classes, off = self.model.classes[head], self.model.offset[head]
        end = off + len(classes)
        if self._scores is None and end <= len(self._front):
            return classes, off, self._front[off:end]
        return classes, off, self.scores[off:end].tolist()

    def log_probs(self, head: str) -> dict[str, float]:
        """Log-probability of every class of a head (NONE included)."""
        classes, _, sc = self._head(head)
        top = max(sc)
        log_z = top + math.log(sum(math.exp(v - top) for v in sc))
        return {c: v - log_z for c, v in zip(classes, sc)}

    def relevance(self) -> float:
        """P(credit item) as Understanding._decide reads it: not (polarity neutral and aspect none
        or credit_event), the two heads taken as independent. For tools that rank titles by the
        reader's certainty (bench/audit_labels.py, sample_blind_headlines.py --uncertain)."""
        aspect = self.log_probs("aspect")
        ordinary = sum(math.exp(aspect[c]) for c in (NONE, "credit_event") if c in aspect)
        return 1.0 - math.exp(self.log_probs("polarity")["neutral"]) * ordinary

    def label(self, head: str) -> str | None:
        """The class ``decide(head)`` chooses (None for NONE), without its probability or explanation."""
        classes, _, sc = self._head(head)
        # the first of the highest scores: what decide's max over ascending indices keeps
        label = classes[sc.index(max(sc))]
        return None if label == NONE else label

    def decide(self, head: str, allowed: Iterable[str] | None = None, explain: bool = True) -> Decision:
        classes, off, sc = self._head(head)
        # the highest score, ties to the lowest index: max() keeps the first of equal keys and idx
        # ascends (over every class, list.index finds that first highest in C)
        if allowed is None:
            idx: range | list[int] = range(len(classes))
            best = sc.index(max(sc))
        else:
            idx = [i for i, c in enumerate(classes) if c in allowed]
            best = max(idx, key=sc.__getitem__)
        top = sc[best]
        # the same sum in the same order as over a generator, with no Python frame per class
        z = sum(map(math.exp, map(float.__sub__, sc if allowed is None else [sc[i] for i in idx], repeat(top))))
        label = classes[best]
        if not explain:
            return Decision(None if label == NONE else label, 1.0 / z, ())
        # explanation: the features that pushed the winner furthest above the runner-up
        rest = [i for i in idx if i != best]
        winner = off + best
        runner = off + max(rest, key=sc.__getitem__) if rest else -1
        margin = self.model.margin_column(winner, runner)
        if margin is not None:
            # the same values as the negated column difference below, taken with the scores' rows
            top4 = self._front_rows[:, margin].argsort(kind="stable")[:4]
        else:
            column = self.rows[:, winner]
            if rest:
                column = column - self.rows[:, runner]
            top4 = numpy.argsort(-column, kind="stable")[:4]
        # the four rows' feature indices as Python ints (dictionary keys of term's memo)
        because = self.model.terms(self._idx.take(top4).tolist(), winner, runner)
        return Decision(None if label == NONE else label, 1.0 / z, because)


class ReaderModel:
    def __init__(self, raw: dict) -> None:
        try:
            payload = json.dumps(raw["heads"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            if hashlib.sha256(payload.encode()).hexdigest() != raw["weights_sha256"]:
                raise ConfigError(f"{MODEL_FILE}: weights do not match their checksum (corrupt file); rebuild: {_FIX}")
            heads = raw["heads"]
            self.classes: dict[str, list[str]] = {h: list(heads[h]["classes"]) for h in HEADS}
            self.offset: dict[str, int] = {}
            total = 0
            for h in HEADS:
                self.offset[h] = total
                total += len(self.classes[h])
            self.intercept = numpy.array([float(b) for h in HEADS for b in heads[h]["intercept"]])
            if len(self.intercept) != total:
                raise ConfigError(f"{MODEL_FILE}: intercepts do not match the classes; rebuild: {_FIX}")
            # stored sparse per head ({class index: weight}); used as one dense matrix, a row per
            # feature over all heads' classes, so a title's scores are one sum of rows
            self.index: dict[str, int] = {}
            for h in HEADS:
                for feature in heads[h]["weights"]:
                    self.index.setdefault(feature, len(self.index))
            self.names = sorted(self.index, key=self.index.__getitem__)  # index -> feature
            self.weights = numpy.zeros((len(self.index), total))
            for h in HEADS:
                off, n = self.offset[h], len(self.classes[h])
                for feature, sparse in heads[h]["weights"].items():
                    j = self.index[feature]
                    for k, w in sparse.items():
                        if not 0 <= int(k) < n:
                            raise ConfigError(f"{MODEL_FILE}: head {h}: feature {feature!r} names class {k} of {n}")
                        self.weights[j, off + int(k)] = float(w)
            self.front, self.front_intercept, self._margin_columns = self._front()
            self._contexts: dict[tuple[str, ...], tuple[int, ...]] = {}  # _context_ids' memo
            self.trained_on: dict = raw.get("trained_on", {})
            # training titles per event type (None: a model from before the count; no type decides)
            support = raw.get("event_type_support")
            self.type_support: dict[str, int] | None = None if support is None else {str(k): int(v) for k, v in support.items()}
            self._terms: dict[tuple[int, int, int], str | None] = {}  # term()'s explanations, made once
            # every n-gram of the vocabulary in one automaton: a title's n-gram features are found
            # in one C-level pass instead of slicing and looking up every 1-3-gram
            self._grams = ahocorasick.Automaton()
            # common characters first: pyahocorasick searches a node's children in the order they
            # were added, so the scan is faster; the matches are the same (text.frequent_first)
            for feature in frequent_first(f for f in self.index if ":" not in f):
                self._grams.add_word(feature, self.index[feature])
            if len(self._grams):
                self._grams.make_automaton()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{MODEL_FILE}: not a reader model ({exc!r}); rebuild: {_FIX}") from exc

    def term(self, feature: int, winner: int, runner: int) -> str | None:
        """"feature +w": how far a feature pushes class column ``winner`` above ``runner`` (-1:
        none), or None when it does not (w <= 0). A function of the fixed weights, so each is
        formatted once: float formatting and a scattered name were a tenth of a title's time.
        Bounded by the features and class pairs that ever explain a decision."""
        key = (feature, winner, runner)
        try:
            return self._terms[key]
        except KeyError:
            pass
        row = self.weights[feature]
        # the subtraction numpy does over the column, here on one element: the same double
        w = float(row[winner]) - float(row[runner]) if runner >= 0 else float(row[winner])
        if len(self._terms) >= _MAX_TERMS:
            self._terms.clear()  # a worker runs for months: the memo stays a cache, not a leak
        text = self._terms[key] = f"{self.names[feature]} {w:+.2f}" if w > 0 else None
        return text

    def terms(self, features: list[int], winner: int, runner: int) -> tuple[str, ...]:
        """The ``term`` of each feature, in order, those that push the winner up: the memo read
        in one loop (a call per feature was a fifth of an explanation's time)."""
        memo, out = self._terms, []
        for feature in features:
            key = (feature, winner, runner)
            text = memo[key] if key in memo else self.term(feature, winner, runner)
            if text is not None:
                out.append(text)
        return tuple(out)

    def _front(self) -> tuple[numpy.ndarray, list[float], dict[tuple[int, int], int]]:
        """The matrix every title is scored and explained with: the polarity and aspect columns
        (the heads every title is decided on), then per ordered pair of polarity classes
        ``-(weights[:, winner] - weights[:, runner])`` (runner -1: ``-weights[:, winner]``),
        the negated margins its explanation orders. Also the front columns' intercepts, and
        where each pair's margin column is."""
        front = self.offset[HEADS[2]]
        n = len(self.classes[HEADS[0]])
        columns = [self.weights[:, :front]]
        where: dict[tuple[int, int], int] = {}
        for winner in range(n):
            for runner in [-1, *range(n)]:
                if runner != winner:
                    column = self.weights[:, winner]
                    if runner >= 0:
                        column = column - self.weights[:, runner]
                    where[(winner, runner)] = front + len(where)
                    columns.append((-column)[:, None])
        return numpy.ascontiguousarray(numpy.hstack(columns)), self.intercept[:front].tolist(), where

    def margin_column(self, winner: int, runner: int) -> int | None:
        """The column of ``front`` holding the negated margin of two polarity classes (runner -1:
        none); None for other heads, explained from the title's own rows (a few titles in a hundred)."""
        return self._margin_columns.get((winner, runner))

    def score(self, feats: Iterable[str]) -> Scores:
        """Scores of a feature list (as ``features`` makes it)."""
        index = self.index
        return Scores(self, _ascending({index[f] for f in feats if f in index}))

    def score_title(self, masked: str, context: Iterable[str]) -> Scores:
        """Scores of a masked title and its context features: the same as ``score(features(...))``."""
        found = {j for _, j in self._grams.iter(masked)} if masked and len(self._grams) else set()
        found.update(self._context_ids(tuple(context)))
        return Scores(self, _ascending(found))

    def _context_ids(self, context: tuple[str, ...]) -> tuple[int, ...]:
        """The vocabulary indices of a title's context features. Few lists recur (they are made
        of the lexicon's and the frame's few decisions), so each is looked up once."""
        try:
            return self._contexts[context]
        except KeyError:
            pass
        if len(self._contexts) >= _MAX_CONTEXTS:
            self._contexts.clear()  # a bound, should a desk's lexicon ever make them many
        index = self.index
        ids = self._contexts[context] = tuple(index[f] for f in context if f in index)
        return ids

    @property
    def heads(self) -> dict[str, list[str]]:
        return self.classes


def read_model_text(text: str) -> ReaderModel:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{MODEL_FILE}: not valid JSON ({exc}); rebuild: {_FIX}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{MODEL_FILE}: not a reader model; rebuild: {_FIX}")
    return ReaderModel(raw)


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_PATH) -> ReaderModel:
    try:
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise ConfigError(f"{MODEL_FILE}: not a gzip-compressed model ({exc}); rebuild: {_FIX}") from exc
    except OSError as exc:
        raise ConfigError(f"{MODEL_FILE} missing from citycredit/data: build it with {_FIX}") from exc
    return read_model_text(text)
