"""scan.TitleScan: one automaton pass must find, for each of the gazetteer, the lexicon and the
frame reader, exactly the matches (same values, same order) its own automaton finds."""
from __future__ import annotations

import ahocorasick
import pytest

from citycredit.settings import get_settings
from citycredit.understanding.classify import load_classifier
from citycredit.understanding.frames import load_frame_reader
from citycredit.understanding.gazetteer import load_gazetteer
from citycredit.understanding.scan import TitleScan, load_scan
from citycredit.understanding.text import normalize

TITLES = [
    "南通一纺织厂30余名工人午餐后疑似食物中毒 涉事食堂被查",
    "江苏省市场监管局通报：某公司虚假宣传被罚款20万元（附名单）",
    "温州出租车司机拾金不昧 归还乘客遗失的10万元现金",
    "培训机构突然跑路 家长维权难",
    "Breaking: 🚀 火箭发射成功 ©新华社",                # characters that are in no word of any list
    "公安部：长安汽车重大安全隐患排查",                  # traps that swallow place names
    "美国马里兰州发生枪击案",
    "",
]


@pytest.fixture(scope="module")
def parts():
    return load_gazetteer(str(get_settings().gazetteer_dir)), load_classifier(), load_frame_reader()


@pytest.mark.parametrize("title", TITLES)
def test_one_pass_finds_what_each_automaton_finds(parts, title):
    gazetteer, classifier, frames = parts
    text = normalize(title)
    places, terms, words = load_scan(*parts).scan(text)
    assert places == list(gazetteer.automaton.iter(gazetteer._foreign.sub("\x00", text)))
    assert terms == list(classifier.automaton.iter(text))
    assert words == list(frames.automaton.iter(text))


def test_a_word_in_two_lists_keeps_both_values_and_a_foreign_character_matches_nothing():
    first, second = ahocorasick.Automaton(), ahocorasick.Automaton()
    for word, value in (("食物中毒", "a1"), ("中毒", "a2")):
        first.add_word(word, value)
    for word, value in (("中毒", "b1"), ("毒", "b2")):
        second.add_word(word, value)
    first.make_automaton()
    second.make_automaton()
    text = "食物中毒x食物\x00中毒"
    found = TitleScan(first, second).scan(text)
    assert found == (list(first.iter(text)), list(second.iter(text)))
    assert found[1] == [(3, "b1"), (3, "b2"), (9, "b1"), (9, "b2")]


def test_analysis_reads_the_same_with_the_shared_pass(parts):
    from citycredit.understanding import Understanding

    u = Understanding(story_state={})
    gazetteer, classifier, frames = parts
    for title in TITLES[:-1]:
        text = normalize(title)
        place = gazetteer.attribute(text)
        assert u.analyse_text(title).place == place
        assert u.analyse_text(title).frame == frames.read(text)
        assert u.analyse_text(title).credit.evidence.keys() >= classifier.classify(
            text, place.spans, has_city=place.city is not None).evidence.keys() - {"model"}
