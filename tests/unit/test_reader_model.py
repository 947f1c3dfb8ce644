"""The trained reader: the shipped weights load and explain; a missing or corrupt file is a
clear start-up error naming the fix; training is deterministic."""
from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from citycredit.exceptions import ConfigError
from citycredit.understanding import Understanding
from citycredit.understanding.model import MODEL_PATH, load_model, masked_text, read_model_text
from citycredit.understanding.text import normalize
from schemas import Observation

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_model_names_its_training_labels_and_loads():
    raw = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    assert raw["examples"] >= 3000
    # every label file it was trained on is in the repository, with the hash it had: a label
    # corrected without retraining (python ops/train_reader.py) leaves a stale model, and fails here
    assert "tests/data/labels/headlines.tsv" in raw["trained_on"]
    stale = [path for path, digest in raw["trained_on"].items()
             if not (ROOT / path).exists() or hashlib.sha256((ROOT / path).read_bytes()).hexdigest() != digest]
    assert not stale, f"the shipped reader was trained on other versions of {stale}: run python ops/train_reader.py"
    assert set(load_model().heads) == {"polarity", "aspect", "subfield", "domain"}


def test_a_decision_is_explained_by_its_largest_weights():
    u = Understanding(story_state={})
    obs = Observation.parse({"ts": "2026-02-01T12:00:00+08:00", "site": "sina", "surface": "homepage",
                             "title": "南通一纺织厂30余名工人午餐后疑似食物中毒 涉事食堂被查", "url": ""})
    item = u.analyse(obs)
    assert item.polarity == "dishonest" and item.subfield == "food_safety" and item.city == "南通市"
    model_lines = item.evidence["model"]
    assert model_lines[0].startswith("polarity dishonest p=") and "+" in model_lines[0]


def test_a_corrupt_or_missing_model_is_one_clear_error(tmp_path):
    raw = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    raw["heads"]["polarity"]["intercept"][0] += 1.0   # a flipped weight: the checksum no longer holds
    with pytest.raises(ConfigError, match="checksum.*ops/train_reader.py"):
        read_model_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="not valid JSON.*ops/train_reader.py"):
        read_model_text('{"heads": ')
    with pytest.raises(ConfigError, match="missing.*ops/train_reader.py"):
        load_model.__wrapped__(tmp_path / "reader_model.json.gz")
    (tmp_path / "truncated.gz").write_bytes(MODEL_PATH.read_bytes()[:1000])
    with pytest.raises(ConfigError, match="ops/train_reader.py"):
        load_model.__wrapped__(tmp_path / "truncated.gz")


def test_the_worker_refuses_to_start_without_its_model(tmp_path):
    """A clone whose model file is gone: the CLI prints one line naming the fix, exit 2."""
    code = ("import citycredit.understanding.model as m, pathlib, sys;"
            f"m.MODEL_PATH = pathlib.Path({str(tmp_path / 'gone.json')!r});"
            "m.load_model.__wrapped__.__defaults__ = (m.MODEL_PATH,);"
            "from citycredit.cli import main; sys.exit(main(['worker']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "ops/train_reader.py" in lines[0], proc.stderr


@pytest.mark.parametrize("title, never", [
    ("温州出租车司机拾金不昧 归还乘客遗失的10万元现金", "dishonest"),   # was read dishonest (出租车, 乘客)
    ("南通一纺织厂30余名工人午餐后疑似食物中毒", "trustworthy"),
])
def test_the_event_type_s_polarity_bounds_the_reader_s(title, never):
    """The taxonomy's event type fixes the side: the reader picks it or neutral, never the opposite."""
    item = Understanding(story_state={}).analyse(Observation.parse(
        {"ts": "2026-02-01T12:00:00+08:00", "site": "sina", "surface": "homepage", "title": title, "url": ""}))
    assert item.evidence["event"][0].startswith("event type") and item.polarity != never


def test_a_type_the_reader_was_trained_on_too_few_titles_of_decides_its_polarity(monkeypatch):
    """提前发放工资 had no labelled title: the reader, never having seen one, reads the wording
    neutral; the taxonomy's trustworthy type decides instead, for a title placed in China."""
    u = Understanding(story_state={})
    title = "宁波一企业春节前提前发放农民工工资1000万元"
    monkeypatch.setattr(u.model, "type_support", {"wages_paid_early": 0})
    got = u.analyse_text(title).credit
    assert (got.polarity, got.aspect, got.polarity_p) == ("trustworthy", "credit_event", None)
    assert got.evidence["model"][0] == ("polarity trustworthy: event type wages_paid_early decides, "
                                        "the reader was trained on 0 titles of it (fewer than 5)")
    assert u.analyse_text("某企业春节前提前发放农民工工资").credit.polarity == "neutral"  # placed nowhere
    u._analysed.cache_clear()
    monkeypatch.setattr(u.model, "type_support", {"wages_paid_early": 5})  # enough: the reader weighs it
    assert u.analyse_text(title).credit.polarity == "neutral"
    u._analysed.cache_clear()
    monkeypatch.setattr(u.model, "type_support", None)  # a model from before the count
    assert u.analyse_text(title).credit.polarity == "neutral"


def test_the_shipped_model_counts_its_training_titles_per_event_type():
    raw = json.loads(gzip.decompress(MODEL_PATH.read_bytes()))
    support = raw["event_type_support"]
    assert support["official_misconduct"] > 100 and "wages_paid_early" not in support
    assert load_model().type_support == support


def test_a_run_of_foreign_name_characters_is_a_feature():
    """博洛尼亚, 巴赫穆特: a name the labels never held still says "abroad"; Chinese wording and
    the place names the gazetteer masked do not."""
    from citycredit.understanding.model import name_features

    u = Understanding(story_state={})
    for title, want in (("博洛尼亚拖欠税款遭扣分处罚 动荡球队距降级区仅1分", ["name:foreign"]),
                        ("苏州一化工厂偷排废水被查", []),
                        ("加沙地带发生爆炸", []),   # 加沙 is two characters: the n-grams know it
                        ):
        text = normalize(title)
        place = u.gazetteer.attribute(text)
        assert name_features(masked_text(text, place.spans)) == want, title
        lexicon = u.classifier.classify(text, place.spans, has_city=place.city is not None)
        assert ("name:foreign" in u.features(text, place, lexicon, u.frames.read(text))) == bool(want)


_TITLES = ("南通一纺织厂30余名工人午餐后疑似食物中毒 涉事食堂被查", "温州出租车司机拾金不昧 归还乘客遗失的10万元现金",
           "国务院常务会议研究部署社会信用体系建设", "今日天气晴", "某公司因虚假宣传被罚款20万元")


@pytest.mark.parametrize("title", _TITLES)
def test_polarity_and_aspect_scores_from_their_own_columns_are_the_full_sums(title):
    """Scores sums only the polarity and aspect columns for the decisions every title needs: the
    doubles must be the ones of the full rows' sum (a different summation order would move the
    last bit, and so a tie or a printed probability)."""
    scores = Understanding(story_state={}).scores(title)
    front = {h: scores._head(h)[2] for h in ("polarity", "aspect")}
    full = (scores.rows.sum(axis=0) + scores.model.intercept).tolist()
    for head, values in front.items():
        off = scores.model.offset[head]
        assert values == full[off:off + len(values)]


@pytest.mark.parametrize("title", _TITLES)
def test_the_polarity_explanation_from_stored_margins_is_the_one_from_the_rows(title):
    """margin_column serves the polarity explanation from a vector per class pair: the features
    it names, in order, must be those the title's own rows give."""
    import numpy

    scores = Understanding(story_state={}).scores(title)
    model = scores.model
    for allowed in (None, ["neutral", "dishonest"], ["neutral"]):
        decision = scores.decide("polarity", allowed=allowed)
        classes = model.classes["polarity"]
        sc = scores._head("polarity")[2]
        idx = [i for i, c in enumerate(classes) if allowed is None or c in allowed]
        best = max(idx, key=sc.__getitem__)
        rest = [i for i in idx if i != best]
        runner = max(rest, key=sc.__getitem__) if rest else -1
        column = scores.rows[:, best] - (scores.rows[:, runner] if rest else 0.0)
        top4 = numpy.argsort(-column, kind="stable")[:4].tolist()
        expected = tuple(t for t in (model.term(scores.names[j], best, runner) for j in top4) if t is not None)
        assert decision.because == expected
    assert model.margin_column(model.offset["aspect"], -1) is None  # other heads: the rows, not a stored column


def test_feature_indices_are_summed_in_ascending_order():
    """_ascending gives the row order of the sum (a different order could change a score's last bit)."""
    import numpy

    from citycredit.understanding.model import _ascending

    idx = _ascending({40001, 7, 512, 3, 99999})
    assert idx.dtype == numpy.intp and idx.tolist() == [3, 7, 512, 40001, 99999]
    assert _ascending(set()).tolist() == []


@pytest.mark.parametrize("title", _TITLES)
def test_label_is_the_class_decide_chooses(title):
    scores = Understanding(story_state={}).scores(title)
    for head in ("polarity", "aspect", "subfield", "domain"):
        assert scores.label(head) == scores.decide(head, explain=False).label


def test_context_ids_are_the_vocabulary_indices_and_their_memo_is_bounded(monkeypatch):
    import citycredit.understanding.model as model_module

    model = load_model()
    context = ("lex:pol:neutral", "lex:asp:-", "place:city", "no such feature")
    assert model._context_ids(context) == tuple(model.index[f] for f in context if f in model.index)
    monkeypatch.setattr(model_module, "_MAX_CONTEXTS", len(model._contexts))
    model._context_ids(("place:none",))
    assert len(model._contexts) == 1  # full: cleared before the new list went in


def test_terms_are_each_feature_s_term_in_order_without_the_ones_that_do_not_push_up():
    model = load_model()
    features = [model.index[f] for f in ("食物中毒", "lex:pol:neutral", "place:city", "中毒") if f in model.index]
    for winner, runner in ((0, 1), (1, 0), (2, -1)):
        expected = tuple(t for t in (model.term(f, winner, runner) for f in features) if t is not None)
        assert model.terms(features, winner, runner) == expected
        model._terms.clear()  # from an empty memo too: terms() must format what it has not seen
        assert model.terms(features, winner, runner) == expected


def test_the_front_matrix_holds_the_polarity_and_aspect_weights_and_the_negated_margins():
    import numpy

    model = load_model()
    width = model.offset["subfield"]
    assert numpy.array_equal(model.front[:, :width], model.weights[:, :width])
    for (winner, runner), col in model._margin_columns.items():
        expected = -(model.weights[:, winner] - (model.weights[:, runner] if runner >= 0 else 0.0))
        assert numpy.array_equal(model.front[:, col], expected)


def test_the_lexicons_polarity_feature_falls_back_on_the_event_type():
    """lex:pol:neutral means "no credit word found": a title the taxonomy types (提前发放农民工工资:
    wages_paid_early) but the lexicon does not carries the type's polarity, not neutral."""
    from citycredit.understanding.model import context_features

    u = Understanding()
    text = normalize("宁波一企业春节前提前发放农民工工资1000万元")
    lexicon = u.classifier.classify(text, ())
    frame = u.frames.read(text)
    assert lexicon.polarity == "neutral" and frame.type is not None and frame.type.polarity == "trustworthy"
    feats = context_features(lexicon, frame, True, False)
    assert "lex:pol:trustworthy" in feats and "lex:pol:neutral" not in feats
    untyped = normalize("今日天气晴")
    assert "lex:pol:neutral" in context_features(u.classifier.classify(untyped, ()), u.frames.read(untyped), False, False)


def test_a_scaled_feature_s_stored_weight_scores_binary_features_as_training_did(monkeypatch):
    """ops/train_reader.py trains single characters at a smaller value than longer n-grams (a
    stronger L2 penalty on them) and stores each weight times its value: serving, which reads
    binary features, then gives the scores of the trained model itself."""
    import numpy
    from sklearn.linear_model import LogisticRegression

    monkeypatch.syspath_prepend(str(ROOT / "ops"))
    import train_reader as tr

    monkeypatch.setattr(tr, "UNIGRAM_SCALE", 0.5)
    monkeypatch.setattr(tr, "CONTEXT_SCALE", 2.0)

    class X:  # a labelled title as train() reads it
        def __init__(self, relevant: bool) -> None:
            self.relevant, self.polarity, self.aspect = relevant, "dishonest" if relevant else "neutral", "credit_event"
            self.subfield, self.domain = "food_safety", "business"

    feats = [["毒", "中毒", "lex:pol:dishonest"], ["毒", "中毒"], ["毒", "天气"], ["中毒", "lex:pol:dishonest"],
             ["天", "天气"], ["天", "天气", "lex:pol:neutral"], ["毒", "lex:pol:neutral"], ["天", "中毒"]] * 3
    data = [X(r) for r in [True, True, False, True, False, False, False, True] * 3]
    heads = tr.train(feats, data)
    polarity = heads["polarity"]
    names = sorted({f for fs in feats for f in fs})
    design = numpy.array([[tr.feature_scale(n) if n in fs else 0.0 for n in names] for fs in feats])
    clf = LogisticRegression(C=tr.C, max_iter=5000, solver="lbfgs", class_weight="balanced")
    clf.fit(design, [x.polarity for x in data])
    assert [str(c) for c in clf.classes_] == polarity["classes"] == ["dishonest", "neutral"]
    for fs, expected in zip(feats, clf.decision_function(design)):
        served = [polarity["intercept"][k] + sum(polarity["weights"].get(f, {}).get(str(k), 0.0) for f in fs)
                  for k in range(2)]
        assert served[1] - served[0] == pytest.approx(expected, abs=0.02), fs


def test_relevance_is_the_probability_the_decision_reads_a_credit_item():
    """Scores.relevance (what the label audit and the uncertainty sampler rank by): high for a
    credit event, low for the weather, and the complement of neutral-and-ordinary-aspect."""
    import math

    u = Understanding(story_state={})
    assert u.scores("南京一化工企业偷排废水被罚款120万元").relevance() > 0.9
    weather = u.scores("明天多云转晴 气温回升")
    assert weather.relevance() < 0.1
    asp = weather.log_probs("aspect")
    ordinary = math.exp(asp["-"]) + math.exp(asp["credit_event"])
    assert math.isclose(weather.relevance(), 1 - math.exp(weather.log_probs("polarity")["neutral"]) * ordinary)
