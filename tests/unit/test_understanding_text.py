"""Title normalisation: the canonical form every matcher sees."""
from __future__ import annotations

import pytest

from citycredit.understanding.text import content_chars, normalize


@pytest.mark.parametrize("raw, expected", [
    ("苏州一工厂爆炸", "苏州一工厂爆炸"),
    ("蘇州一工廠爆炸 拖欠工資", "苏州一工厂爆炸 拖欠工资"),            # traditional -> simplified
    ("<b>南京</b>&amp;无锡&nbsp;食品", "南京 &无锡 食品"),            # tags dropped, entities decoded
    ("ＡＢＣ１２３，全角标点！", "ABC123,全角标点!"),                  # full-width -> ASCII (NFKC)
    ("😀苏州\u200b欠薪\x07事件🔥", "苏州 欠薪 事件"),                  # emoji, zero-width, control chars
    ("  多个   空格\t\n换行 ", "多个 空格 换行"),
    ("著名的乾隆", "著名的乾隆"),                                    # traditional forms that are also simplified stay
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_content_chars_keeps_only_words():
    assert content_chars("《苏州》ABC-12：欠薪！") == "苏州abc12欠薪"
    assert content_chars("😀 <> ！！") == ""


def test_normalize_long_mixed_script_title_is_linear():
    title = ("苏州 Suzhou シ 한국 " * 700)[:10000]
    out = normalize(title)
    assert out.startswith("苏州 Suzhou シ 한국")


@pytest.mark.parametrize("text", [
    "江苏：某企业（南通）违法排污！　罚款２０万元",     # full-width punctuation, digits, ideographic space
    "Ａ\u0301ＢＣ 组合字符",                            # a combining mark after a full-width letter composes
    "ｶﾀｶﾅ ㈱ ① ﬁ ㎏ ½",                                  # other compatibility forms: NFKC proper
    "Ｔｅｓｔ\u3000ｆｕｌｌ－ｗｉｄｔｈ～",
    "已是规范形式的标题",
])
def test_nfkc_is_unicodedata_s(text):
    """text.nfkc takes a shortcut for full-width ASCII: the result must be NFKC's own."""
    import unicodedata

    from citycredit.understanding.text import nfkc

    assert nfkc(text) == unicodedata.normalize("NFKC", text)
