"""Credit classification rules from config/credit.toml, with the evidence behind them.

These test the lexicon itself (``model=False``): its decisions are the trained reader's
strongest features, and a desk's edit of credit.toml must do what it says here. The trained
reader on top is tested in test_reader_model.py and measured by bench/eval_understanding.py."""
from __future__ import annotations

import tomllib
from importlib import resources

import pytest

from citycredit.exceptions import ConfigError
from citycredit.understanding import Understanding
from citycredit.understanding.classify import CreditClassifier, load_classifier


@pytest.fixture(scope="module")
def u(shared_data):
    from citycredit.settings import Settings

    return Understanding(story_state={}, settings=Settings().replace(gazetteer_dir=shared_data / "gazetteer"),
                         model=False)


# (title, domain, subfield, polarity, aspect)
CASES = [
    ("深圳龙岗区一家工厂数百人食物中毒", "business", "food_safety", "dishonest", "credit_event"),
    ("肇庆一家三口突发重病 食物中毒惹的祸", None, None, "neutral", None),          # a family, not a business
    ("温岭鞋厂火灾16人死亡", "business", "work_safety", "dishonest", "credit_event"),
    ("宜宾城区一大厦11层发生火灾", None, None, "neutral", None),                  # no workplace named
    ("黑心老板拖欠工资还打人", "social", "wages_social_insurance", "dishonest", "credit_event"),
    ("环保公司负责人被控违法倾倒数千吨污泥受审", "social", "environment", "dishonest", "credit_event"),
    ("四川省绵阳市委副书记、市长李云接受纪律审查和监察调查", "government", "government_integrity", "dishonest", "credit_event"),
    ("贵阳警方打掉一传销团伙抓获10名高管", "business", "financial_fraud", "dishonest", "credit_event"),
    ("2025年第二、三季度见义勇为勇士榜发布", "social", None, "trustworthy", "credit_event"),
    ("公安部发布第六期全国公安楷模", "judicial", "public_security", "trustworthy", "credit_event"),
    ("《市场监督管理严重违法失信名单管理办法》今起施行", "business", None, "neutral", "credit_policy"),
    ("濮阳加油站黑名单曝光,这34个加油站点不要再去了", "business", None, "dishonest", "blacklist"),
    ("电商悲情营销洋葱滞销？西昌市政府作出回应", "business", "e_commerce", "dishonest", "government_response"),
    ("沈阳地区32个网点可查个人信用报告", "business", None, "neutral", "info_disclosure"),
    ("我国加快健全社会信用体系", "government", None, "neutral", "task_implementation"),
    # a campaign against market subjects' fraud is a credit task of its subfield (labelling.md);
    # a warning to consumers is not, nor is a campaign against no wrongdoing
    ("公安部部署开展打击保险诈骗犯罪专项行动", "business", "financial_fraud", "neutral", "task_implementation"),
    ("警方提醒：严厉打击的电信诈骗新套路，谨防上当", None, None, "neutral", None),
    ("多地持续开展流浪狗收容整治行动", None, None, "neutral", None),
    # dishonesty vocabulary across the policy's subfields (added after a blind batch)
    ("苏州一食品企业使用过期原料生产月饼被立案查处", "business", "food_safety", "dishonest", "credit_event"),
    ("徐州某企业非法吸收公众存款被立案侦查", "business", "financial_fraud", "dishonest", "credit_event"),
    ("常州一建筑公司偷工减料被查处", "business", "construction", "dishonest", "credit_event"),
    ("男子勾结债主导演虚假诉讼案 骗2千万获刑15年", "judicial", "courts", "dishonest", "credit_event"),
    ("某主播偷逃税被追缴并处罚款", "business", "tax", "dishonest", "credit_event"),
    # event vs response: the first report of a sanction is the event, the authorities' follow-up the response
    ("某上市公司涉嫌信披违规被证监会立案调查", "business", "financial_fraud", "dishonest", "credit_event"),
    ("无锡一化工厂偷排废水被立案调查", "social", "environment", "dishonest", "credit_event"),
    ("无锡市生态环境局回应化工厂偷排：已立案调查", "social", "environment", "dishonest", "government_response"),
    ("南京一工地拖欠农民工工资 官方通报：已责令整改", "social", "wages_social_insurance", "dishonest",
     "government_response"),
    ("河南安阳市凯信达商贸有限公司“11·21”特别重大火灾事故调查报告公布", "business", "work_safety", "dishonest",
     "government_response"),
    # traps
    ("《生产安全事故罚款处罚规定》今年3月1日起施行", None, None, "neutral", None),  # a rule's name, not an event
    ("支付宝常见诈骗汇总，赶紧收藏吧！", None, None, "neutral", None),
    ("农村纯天然无污染的大白菜", None, None, "neutral", None),
    ("柬埔寨集体中毒事件已致10死 疑因杀虫剂污染水源", None, None, "neutral", None),
    ("如何快速办信用卡？好申请吗？", None, None, "neutral", None),
    ("石原里美最新恋情曝光！2人在高级度假酒店连住两晚", None, None, "neutral", None),
    ("谨防电信诈骗 这些套路要警惕", None, None, "neutral", None),
    ("日本旅馆饭菜导致72名观光客集体食物中毒", None, None, "neutral", None),   # abroad
    ("宁波这对夫妻被判坐牢！罚款90万元！", None, None, "neutral", None),         # generic words only
    ("做人，要讲究诚信", None, None, "neutral", None),
]


@pytest.mark.parametrize("title, domain, subfield, polarity, aspect", CASES)
def test_classification(u, title, domain, subfield, polarity, aspect):
    credit = u.analyse_text(title).credit
    assert (credit.domain, credit.subfield, credit.polarity, credit.aspect) == (domain, subfield, polarity, aspect), \
        credit.evidence


def test_evidence_lists_the_terms_for_each_decision(u):
    a = u.analyse_text("江苏苏州一化工厂爆炸致3死")
    ev = a.evidence()
    assert ev["city"] == ["江苏", "苏州"]
    assert "爆炸" in ev["polarity"] and "爆炸" in ev["subfield"]
    assert ev["domain"] == ["subfield:work_safety"]
    assert set(ev["context"]) >= {"化工", "厂"}


def test_place_names_do_not_count_as_credit_terms(u):
    # 公安 inside 公安县 is the county, not the police
    a = u.analyse_text("湖北公安县发生食物中毒6人死亡")
    assert a.place.county == "公安县"
    assert a.credit.domain == "business" and a.credit.subfield == "food_safety"


def _config() -> dict:
    return tomllib.loads(resources.files("citycredit.config").joinpath("credit.toml").read_text(encoding="utf-8"))


def test_unknown_subfield_in_config_is_a_clear_error():
    config = _config()
    config["dishonest"]["新词"] = ["no_such_subfield", 2]
    with pytest.raises(ConfigError, match="no_such_subfield"):
        CreditClassifier(config)


def test_unknown_aspect_in_config_is_a_clear_error():
    config = _config()
    config["aspect"].append({"id": "nonsense", "all_of": [["x"]]})
    with pytest.raises(ConfigError, match="nonsense"):
        CreditClassifier(config)


def test_every_lexicon_subfield_and_domain_is_a_declared_id():
    from citycredit.ids import DOMAINS, SUBFIELDS

    c = load_classifier()
    for table in (c.dishonest, c.trustworthy, c.topics, c.conditional):
        assert all(sub == "" or sub in SUBFIELDS for sub, _ in table.values())
    assert set(c.subfield_domain) == set(SUBFIELDS)
    assert set(c.subfield_domain.values()) <= set(DOMAINS)


@pytest.mark.parametrize("title", ["俄海军舰艇抵达港口", "今日天气晴好", "美丽乡村 春节见闻"])
def test_a_title_with_no_lexicon_term_is_neutral_with_no_evidence(title):
    """classify returns early when no term matched: what the full rules give such a title, even
    one they would call abroad (俄…), must be what the early return gives."""
    clf = load_classifier()
    kept, seen = clf._matches(title, ())
    assert not seen
    got = clf.classify(title)
    assert (got.domain, got.subfield, got.polarity, got.aspect, got.evidence) == (None, None, "neutral", None, {})
