"""Event frames: the type, subject and quantities of a title, and when two frames are two events."""
from __future__ import annotations

import pytest

from citycredit.understanding import Understanding
from citycredit.understanding.cluster import StoryClusterer
from citycredit.understanding.frames import frames_conflict, load_frame_reader
from citycredit.understanding.text import normalize

H = 3600.0
T0 = 1_770_000_000.0
NANTONG, HAIAN, RUGAO = "320600", "320621", "320682"
WUXI, JIANGYIN, YIXING = "320200", "320281", "320282"


def read(title: str):
    return load_frame_reader().read(normalize(title))


@pytest.mark.parametrize("title, unit, low, high", [
    ("南通一纺织厂30余名工人午餐后腹痛送医", "名", 30, 39),
    ("某公司偷排被罚款八百万元", "元", 8_000_000, 8_000_000),
    ("查获1.2万件假冒商品", "件", 12_000, 12_000),
    ("数十名学生呕吐", "名", 20, 99),
    ("两千余名工人被欠薪", "名", 2000, 2999),
    ("罚款130万元", "元", 1_300_000, 1_300_000),
    # a word before the number: nearly, about, over
    ("拖欠农民工工资近300万元", "元", 2_000_000, 3_000_000),
    ("涉案金额约300万元", "元", 2_500_000, 3_500_000),
    ("逾30名工人被欠薪", "名", 30, 39),
    ("超过50万元", "元", 500_000, 599_999),
])
def test_quantities_are_read_as_ranges(title, unit, low, high):
    (q,) = read(title).quantities
    assert (q.unit, q.low, q.high) == (unit, low, high)


def test_nearly_a_sum_is_not_vetoed_by_the_sum_another_site_reports():
    # one site's 近300万元 is another's 286万元; read as exactly 300万 it kept the two apart
    near, exact = read("一楼盘项目拖欠农民工工资近300万元"), read("人社局通报欠薪问题：督促结清工资286万元")
    assert frames_conflict(near, exact, frozenset()) is None
    assert frames_conflict(near, read("人社局通报欠薪问题：督促结清工资150万元"), frozenset()) is not None


def test_a_year_in_characters_is_a_year_not_a_quantity():
    # the hand parser this replaced read 二零二五年 as 5年
    frame = read("二零二五年山西一煤矿透水事故致3死")
    assert [q.text for q in frame.quantities] == ["3死"]
    assert StoryClusterer._signature(normalize("二零二五年山西十三人"))[1] == ("13", "2025")


def test_event_type_and_subject_kind():
    frame = read("南通一纺织厂30余名工人午餐后腹痛送医")
    assert frame.type.id == "food_poisoning" and frame.subject == "enterprise"
    assert read("某餐馆火灾 2人受伤").subject == "eatery"
    assert read("苏州市场监管局通报").subject is None  # the reporting agency is not the subject
    # a police officer or a prison is the subject (司法公信), not the official title in the name
    assert read("新疆一公安局副局长私放在押人员").subject == "judicial_staff"
    assert read("辅警违规查询公民信息被处分").subject == "judicial_staff"
    assert read("警方通报一起盗窃案").subject is None  # the police reporting a case are not its subject


def test_conflicts_are_explained():
    rising = load_frame_reader().rising
    assert frames_conflict(read("某公司罚款8万元"), read("某公司罚款80万元"), rising) == "quantity 8万元 ≠ 80万元"
    assert "subject" in frames_conflict(read("一餐馆食物中毒"), read("一学校食物中毒"), rising)
    # a death toll rises between reports of one accident: never a veto
    assert frames_conflict(read("化工厂爆炸已致3死"), read("化工厂爆炸已致8死"), rising) is None


def assign(c, ts, title, city, county=None, subfield=None):
    return c.assign("all", ts, normalize(title), subfield, city, (), county)


def test_one_event_worded_differently_joins_on_its_frame():
    c = StoryClusterer({})
    a = assign(c, T0, "南通一纺织厂30余名工人午餐后腹痛送医", NANTONG)
    b = assign(c, T0 + H, "海安市某企业食堂疑似食物中毒 涉事承包商被查", NANTONG, HAIAN, "food_safety")
    assert b.story_id == a.story_id and b.how == "frame"


def test_frame_vetoes_keep_events_apart_and_say_why():
    c = StoryClusterer({})
    a = assign(c, T0, "无锡江阴一化工厂爆炸", WUXI, JIANGYIN)
    b = assign(c, T0 + H, "宜兴一化工厂发生爆炸 3人受伤", WUXI, YIXING)
    assert b.story_id != a.story_id
    assert b.vetoes == (("无锡江阴一化工厂爆炸", f"county {YIXING} ≠ {JIANGYIN}"),)
    d = assign(c, T0 + 2 * H, "南通一饭店发生食物中毒", NANTONG)
    e = assign(c, T0 + 3 * H, "南通一小学多名学生食物中毒", NANTONG)
    assert d.story_id != e.story_id and "subject" in e.vetoes[0][1]


def test_frame_join_needs_a_prefecture_and_the_frame_window():
    c = StoryClusterer({})
    a = assign(c, T0, "一纺织厂30余名工人午餐后腹痛送医", None)
    assert assign(c, T0 + H, "某企业食堂疑似食物中毒", None).story_id != a.story_id
    b = assign(c, T0, "南通一纺织厂工人午餐后腹痛送医", NANTONG)
    assert assign(c, T0 + 30 * H, "海安某企业食堂疑似食物中毒", NANTONG, HAIAN).story_id != b.story_id


SUZHOU = "320500"


def test_a_response_that_names_no_event_joins_the_story_it_answers():
    c = StoryClusterer({})
    event = c.assign("all", T0, normalize("苏州一食品企业使用过期原料生产糕点被曝光"), "food_safety", SUZHOU)
    other = c.assign("all", T0 + H, normalize("苏州一小区电梯困人"), "work_safety", SUZHOU)
    response = c.assign("all", T0 + 5 * H, normalize("苏州市市场监管局通报：涉事企业被吊销食品生产许可证"),
                        "food_safety", SUZHOU, response=True)
    assert response.story_id == event.story_id and response.how == "response"
    # the same words not marked as a response, or of another subfield, start a story of their own
    assert c.assign("all", T0 + 6 * H, normalize("苏州多家药店被约谈"), "food_safety", SUZHOU).new
    assert c.assign("all", T0 + 7 * H, normalize("苏州市应急管理局通报：责令整改"), "transport", SUZHOU,
                    response=True).new
    assert other.story_id != event.story_id


NANJING = "320100"


def test_an_untyped_credit_item_joins_on_a_shared_specific_quantity():
    """南京通报一起环境违法案件 names no event type: before, it was a story of its own beside the
    typed one it reports (written as a fresh paraphrase probe: 1 of 3 wordings missed)."""
    c = StoryClusterer({})
    a = assign(c, T0, "南京一企业偷排废水被罚款120万元", NANJING, subfield="environment")
    b = assign(c, T0 + 3 * H, "南京通报一起环境违法案件 涉事公司被处120万元罚款", NANJING, subfield="pricing")
    assert b.story_id == a.story_id and b.how == "partial: the same 120万元"


DALI = "532900"


def test_a_penalty_is_compared_with_penalties_not_with_the_event_s_amounts():
    """大理州通报“天价海鲜”事件…罚款20万元 answers 一顿饭被收8000元: the fine is the response's
    amount, not a second bill (probe 11 kept them apart: quantity 20万元 ≠ 8000元). Two fines that
    disagree still mark two cases."""
    q = read("大理州通报天价海鲜事件：涉事餐厅停业整顿 罚款20万元").quantities
    assert [(x.text, x.sanction) for x in q] == [("20万元", True)]
    assert [x.sanction for x in read("涉事公司被处120万元罚款 损失300万元").quantities] == [True, False]
    assert frames_conflict(read("大理一海鲜餐厅天价菜单 游客被收8000元"), read("大理通报天价菜单 餐厅被罚款20万元"),
                           load_frame_reader().rising) is None
    assert frames_conflict(read("大理一餐厅天价菜单被罚款8万元"), read("大理一餐厅天价菜单被罚款20万元"),
                           load_frame_reader().rising).startswith("quantity")
    c = StoryClusterer({})
    a = assign(c, T0, "大理一海鲜餐厅被指“天价菜单” 游客一顿饭被收8000元", DALI, subfield="pricing")
    b = assign(c, T0 + 8 * H, "大理州通报“天价海鲜”事件：涉事餐厅停业整顿 罚款20万元", DALI, subfield="pricing")
    assert b.story_id == a.story_id


def test_a_frame_stored_before_penalties_were_read_still_loads():
    from citycredit.understanding.cluster import _frame_from_state

    frame = _frame_from_state(["price_gouging", None, None, [["元", 8000.0, 8000.0, "8000元"]], None], load_frame_reader())
    assert frame.quantities[0].sanction is False and frame.type.id == "price_gouging"


@pytest.mark.parametrize("title, why", [
    ("南京通报一起环境违法案件 涉事公司被处80万元罚款", "quantities disagree: a veto"),
    ("南京通报一起环境违法案件 涉事公司被处罚款", "no evidence beyond the city"),
])
def test_an_untyped_item_without_evidence_or_with_a_conflict_stays_apart(title, why):
    c = StoryClusterer({})
    a = assign(c, T0, "南京一企业偷排废水被罚款120万元", NANJING, subfield="environment")
    assert assign(c, T0 + 3 * H, title, NANJING, subfield="environment").story_id != a.story_id, why


def test_a_small_or_growing_quantity_is_no_evidence():
    c = StoryClusterer({})
    assign(c, T0, "南京一化工厂爆炸致3人受伤", NANJING, subfield="work_safety")
    b = assign(c, T0 + H, "南京通报一起安全生产事故 3人受伤", NANJING, subfield="work_safety")
    assert b.how != "partial: the same 3人"


YANCHENG, XIANGSHUI, HENGYANG, HENGNAN = "320900", "320922", "430400", "430422"


@pytest.mark.parametrize("first, second, city, county", [
    # a site's 一化工厂 is another's 一化工企业; 一学校 covers 一中学 (config/clustering.toml [subjects] compatible)
    ("江苏盐城一化工企业夜间偷排废水被查", "盐城响水：某化工厂私设暗管排污 负责人被刑拘", YANCHENG, XIANGSHUI),
    ("湖南衡阳一中学数十名学生疑似食物中毒送医", "衡南县通报一学校学生集体腹痛就医", HENGYANG, HENGNAN),
])
def test_two_names_of_one_kind_of_subject_join(first, second, city, county):
    c = StoryClusterer({})
    a = assign(c, T0, first, city)
    b = assign(c, T0 + 2 * H, second, city, county)
    assert b.story_id == a.story_id and b.how == "frame", b.vetoes


@pytest.mark.parametrize("first, second", [
    ("南通一小学多名学生食物中毒", "南通一中学多名学生食物中毒"),  # 学校 covers both; they are still two schools
    ("南通一化工厂偷排废水", "南通一物流企业偷排废水"),  # compatible heads, other trades
])
def test_compatible_heads_do_not_merge_other_subjects(first, second):
    c = StoryClusterer({})
    a = assign(c, T0, first, NANTONG)
    assert assign(c, T0 + H, second, NANTONG).story_id != a.story_id


def test_invoice_fraud_and_tax_evasion_are_two_events():
    # the criminal law's 虚开发票罪 and 逃税罪: one city's invoice ring and a firm's evaded tax, one day
    assert read("深圳一公司虚开发票1800万元被查").type.id == "invoice_fraud"
    assert read("深圳一电商企业偷逃税款被追缴").type.id == "tax_evasion"
    c = StoryClusterer({})
    a = assign(c, T0, "深圳一公司虚开发票1800万元被查", "440300")
    assert assign(c, T0 + H, "深圳一电商企业偷逃税款被追缴", "440300").story_id != a.story_id


@pytest.mark.parametrize("title, type_id", [
    ("拒执罪！成都男子隐匿财产逃避执行获刑一年", "judgment_refusal"),
    ("衡南县通报一学校学生集体就医：系食源性疾病", "food_poisoning"),
    ("河北邢台：钢铁企业干扰自动监测设施 罚款120万元", "illegal_discharge"),  # before statistics' 数据造假
    ("西安曲江新区一楼盘延期交房两年", "housing_delivery"),
    ("黄冈一县政府拖欠民营企业工程款被通报", "government_default"),
    ("四川宜宾环卫工拾得3万元现金交还失主", "lost_property_returned"),
    # cues in two parts ([[type.pairs]]): a word, then another within a few characters
    ("青岛的哥捡到乘客遗落5万元现金 连夜送还", "lost_property_returned"),
    ("青岛一出租车司机归还乘客遗失的5万元", "lost_property_returned"),
    ("武汉一高校教授被曝论文数据造假", "academic_fraud"),  # the pair starts before statistics' 数据造假
    ("北京朝阳区一教培机构“跑路” 涉及学费逾千万元", "prepaid_default"),
    # probe 07: whose wages between the words, falsified emissions data, a driving school, abuse
    ("贵阳一环卫公司拖欠工人工资半年", "wage_arrears"),
    ("河北唐山：钢企烟气排放数据造假 被罚款300万元", "illegal_discharge"),
    ("赣州一驾校突然停业 数百名学员学费无法退还", "prepaid_default"),
    ("西宁一养老院被曝虐待老人 监控视频曝光", "care_abuse"),
    ("湖南岳阳一幼儿园虐童视频曝光", "care_abuse"),
    # probe 10: the workers' number between the words; forced shopping worded with 强迫
    ("洛阳一工地拖欠60余名农民工工资近200万元", "wage_arrears"),
    ("丽江一旅行团导游强迫游客购物 不消费不许下车", "tourism_violation"),
    # tenth round, cues mined from the labels (bench/mine_type_cues.py): a mine, then what happened
    # there; a jump into water to save someone; a listed firm's fraud; a forced demolition; a foreign
    # object eaten; a rigged scale; a worker gassed; surrogacy; an official expelled
    ("贵州六盘水一煤矿发生事故 4人被困", "mine_accident"),
    ("宁波一男子跳江救人后悄然离开", "heroic_act"),
    ("某上市公司连续三年财务造假被证监会处罚", "securities_fraud"),
    ("长沙一村民房屋夜间遭强拆", "illegal_demolition"),
    ("学生在食堂饭菜中吃出钢丝球", "unsafe_food"),
    ("菜市场摊贩用鬼秤坑顾客", "price_gouging"),
    ("一污水处理厂工人清淤时气体中毒", "poisoning_leak"),
    ("一医院涉嫌非法代孕被查", "illegal_medical"),
    ("某县原副县长被开除公职", "official_misconduct"),
    ("某镇政府欠款不还被企业起诉", "government_default"),  # a government body, then what it owes
])
def test_event_types_read_the_words_sites_use(title, type_id):
    """Wordings of the probes (tests/data/probes) that named no type, or the wrong one."""
    assert read(title).type.id == type_id


@pytest.mark.parametrize("title", [
    "东莞一电子厂老板欠薪跑路",  # 欠薪, a cue of its own, comes first
    "商场关门后 北京一培训机构照常上课",  # the second word before the first
    "北京一培训机构推出暑期课程 家长反映周边商铺纷纷关门",  # more than `within` characters apart
])
def test_a_pair_needs_its_words_in_order_and_near(title):
    frame = read(title)
    assert frame.type is None or frame.type.id != "prepaid_default", frame.cue


SHIJIAZHUANG, GAOCHENG = "130100", "130109"


def test_two_credit_items_of_a_city_sharing_a_rare_word_join_without_an_event_type():
    """No event type names a batching plant's dust; the sites name the plant (搅拌站)."""
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("石家庄一搅拌站扬尘污染严重 周边居民苦不堪言"), None, SHIJIAZHUANG, ("石家庄",),
                 credit=True)
    b = c.assign("b", T0 + 5 * H, normalize("石家庄藁城一混凝土搅拌站被责令停产整治"), "administration", SHIJIAZHUANG,
                 ("石家庄", "藁城"), county=GAOCHENG, credit=True)  # the city's name is a place, not a rare word
    assert b.story_id == a.story_id and b.how == "rare word: 搅拌站"


@pytest.mark.parametrize("second, credit, later", [
    ("石家庄藁城一混凝土搅拌站被责令停产整治", False, 5),   # neither is a credit item
    ("石家庄藁城一混凝土搅拌站被责令停产整治", True, 30),   # outside the frame window (24 h)
    ("石家庄一水泥厂粉尘超标被责令停产", True, 5),          # no rare word in common
])
def test_a_rare_word_join_needs_a_credit_item_the_window_and_the_word(second, credit, later):
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("石家庄一搅拌站扬尘污染严重 周边居民苦不堪言"), None, SHIJIAZHUANG, ("石家庄",),
                 credit=credit)
    b = c.assign("b", T0 + later * H, normalize(second), None, SHIJIAZHUANG, ("石家庄",), credit=credit)
    assert b.story_id != a.story_id


FOSHAN = "440600"


@pytest.mark.parametrize("neutral_first", [False, True])
def test_a_wording_the_reader_missed_joins_its_city_s_credit_story_on_a_rare_word(neutral_first):
    """One wording of an event read neutral (佛山一小区电梯突然下坠, no credit word) and another read
    as a credit item: within one prefecture a rare word in common (小区电梯) makes them one story,
    in either order, so the event's homepages are counted together (probe 04: two alerts missed)."""
    c = StoryClusterer({})
    first, second = "佛山一小区电梯突然下坠 3名居民受伤", "广东佛山：小区电梯坠落事故 物业公司被立案调查"
    a = c.assign("b", T0, normalize(first if neutral_first else second), None if neutral_first else "work_safety",
                 FOSHAN, ("佛山",), credit=not neutral_first)
    b = c.assign("b", T0 + 3 * H, normalize(second if neutral_first else first), "work_safety" if neutral_first else None,
                 FOSHAN, ("佛山",), credit=neutral_first)
    assert b.story_id == a.story_id and b.how == "rare word: 小区电梯"


def test_a_restarted_worker_still_finds_the_credit_story_a_neutral_wording_joins():
    """The open credit stories a wording read neutral may join are an index derived from state:
    a worker restarted on the same table rebuilds it."""
    state: dict = {}
    a = StoryClusterer(state).assign("b", T0, normalize("广东佛山：小区电梯坠落事故 物业公司被立案调查"), "work_safety",
                                     FOSHAN, ("佛山",), credit=True)
    b = StoryClusterer(state).assign("b", T0 + H, normalize("佛山一小区电梯突然下坠 3名居民受伤"), None, FOSHAN, ("佛山",))
    assert b.story_id == a.story_id and b.how == "rare word: 小区电梯"


ZHANJIANG, NANNING = "440800", "450100"


GANZHOU = "360700"


def test_two_wage_arrears_of_one_city_owed_to_two_trades_are_two_cases():
    """Probe 13: 赣州一家政公司拖欠保洁员工资 joined the 楼盘项目's arrears to 农民工, on the frame (same
    type, no subject named by both) and, once kept apart there, on 拖欠+工资 as two rare bigrams in
    common: the type's own words. Whom the wages are owed is the arrears' object; the cue is compared
    as a type, not as a rare word."""
    c = StoryClusterer({})
    a = c.assign("all", T0, normalize("赣州一楼盘项目拖欠百余名农民工工资近300万元"), "wages_social_insurance", GANZHOU,
                 ("赣州",), credit=True)
    same = c.assign("all", T0 + H, normalize("江西于都：农民工年底讨薪 开发商称资金链断裂"), "wages_social_insurance",
                    GANZHOU, ("于都",), "360731", credit=True)
    other = c.assign("all", T0 + 2 * H, normalize("赣州一家政公司拖欠保洁员工资被投诉"), "wages_social_insurance",
                     GANZHOU, ("赣州",), credit=True)
    assert same.story_id == a.story_id and other.story_id != a.story_id


def test_two_rare_words_apart_join_within_a_prefecture_not_across_the_country():
    """甲醛鱿鱼 and 用甲醛浸泡鱿鱼 share no rare run of three characters but two rare bigrams
    (甲醛, 鱿鱼): within one prefecture and a day that is the same event (probe 09). Naming no city,
    two gangs' sentences sharing 犯罪 and 集团 are not (stories.tsv: 明家 / 徐发启)."""
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("湛江一水产加工厂用甲醛浸泡鱿鱼被查"), "food_safety", ZHANJIANG, ("湛江",), credit=True)
    b = c.assign("b", T0 + 4 * H, normalize("湛江通报“甲醛鱿鱼”事件：3人被刑事拘留"), None, ZHANJIANG, ("湛江",),
                 response=True, credit=True)
    assert b.story_id == a.story_id and b.how == "rare word: 甲醛+鱿鱼"
    # one rare bigram in common is not enough
    d = c.assign("b", T0 + 5 * H, normalize("湛江一超市销售过期鱿鱼丝被罚款"), "food_safety", ZHANJIANG, ("湛江",),
                 credit=True)
    assert d.story_id != a.story_id
    c = StoryClusterer({})
    a = c.assign("none", T0, normalize("明家犯罪集团案11名罪犯被执行死刑"), "financial_fraud", None, credit=True)
    assert c.assign("none", T0 + 3 * H, normalize("徐发启犯罪集团案一审宣判"), "financial_fraud", None,
                    credit=True).story_id != a.story_id
    # nor does a wording read neutral on two bigrams (小区, 物业): a rare word of its own is needed
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("南宁一物业公司挪用小区维修基金200万元"), "financial_fraud", NANNING, ("南宁",),
                 credit=True)
    assert c.assign("b", T0 + 3 * H, normalize("南宁一小区物业费上涨引业主不满"), None, NANNING, ("南宁",)).story_id != a.story_id


YICHANG, LIJIANG = "420500", "530700"


def test_a_travel_agency_or_an_inn_is_a_subject_of_its_own():
    """Two wordings of one agency's flight with the money, neither typed, join as the same subject
    with a rare word in common (probe 09: 宜昌); an inn's price gouging is not a restaurant's."""
    assert read("宜昌一旅行社收款后失联 百余名游客行程被取消").subject == "travel_agency"
    assert read("丽江一客栈哄抬房价被罚款5万元").subject == "lodging"
    assert frames_conflict(read("丽江一客栈哄抬房价被罚款"), read("丽江一餐厅哄抬菜价被罚款"),
                           load_frame_reader().rising).startswith("subject")
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("宜昌一旅行社收款后失联 百余名游客行程被取消"), "tourism", YICHANG, ("宜昌",),
                 credit=True)
    b = c.assign("b", T0 + 4 * H, normalize("湖北宜昌：旅行社老板卷款跑路 游客损失超50万元"), "tourism", YICHANG,
                 ("湖北", "宜昌"), credit=True)
    assert b.story_id == a.story_id and b.how.startswith("partial: the same subject (travel_agency)")


def test_a_response_answers_a_story_of_another_subfield_on_the_same_kind_of_subject():
    """The reader guesses a subfield per wording: an inn's broken bookings read tourism, the fine
    for them pricing (probe 14: 大理). The response answers the story naming the same kind of
    subject, and says so; a restaurant's fine does not answer the inn's story."""
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("丽江古城：游客预订的客栈被单方取消 加价才能入住"), "tourism", LIJIANG, ("丽江",),
                 credit=True)
    b = c.assign("b", T0 + 3 * H, normalize("丽江市场监管局通报客栈毁约涨价：罚款2万元"), "pricing", LIJIANG,
                 ("丽江",), response=True, credit=True)
    assert b.story_id == a.story_id and b.how == "response: tourism"
    d = c.assign("b", T0 + 4 * H, normalize("丽江市场监管局通报餐馆菜价虚高：罚款2万元"), "pricing", LIJIANG,
                 ("丽江",), response=True, credit=True)
    assert d.story_id != a.story_id


XINGTAI = "130500"


def test_the_thing_faked_or_failed_is_evidence_and_a_veto():
    """[objects] names goods and vehicles too. Two cases of one city sharing only 查获+名牌 are
    kept apart when they name two things (化妆品 / 运动鞋); a wording read neutral joins the credit
    story naming the same thing (超员校车 / 校车超载), where two characters are no rare word; and a
    response naming the thing answers the story that names it before one of its own subfield."""
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("邢台一工厂生产假冒名牌运动鞋 查获成品2万双"), "intellectual_property", XINGTAI,
                 ("邢台",), credit=True)
    b = c.assign("b", T0 + H, normalize("邢台查获一批假冒名牌化妆品"), "intellectual_property", XINGTAI, ("邢台",),
                 credit=True)
    assert b.story_id != a.story_id and any("object 化妆品 ≠ 运动鞋" in r for _, r in b.vetoes), b
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("邢台一校车严重超载 核载19人实载40人"), "transport", XINGTAI, ("邢台",), credit=True)
    b = c.assign("b", T0 + H, normalize("河北南宫：交警拦下一辆超员校车"), None, XINGTAI, ("河北", "南宫"))
    assert b.story_id == a.story_id and b.how == "rare word: 校车", b
    c = StoryClusterer({})
    a = c.assign("b", T0, normalize("邢台一农资店销售假化肥 数百亩小麦减产"), "intellectual_property", XINGTAI, ("邢台",),
                 credit=True)
    d = c.assign("b", T0 + H, normalize("邢台一超市销售过期饮料被罚款"), "food_safety", XINGTAI, ("邢台",), credit=True)
    r = c.assign("b", T0 + 3 * H, normalize("邢台通报“假化肥坑农”事件：立案调查 责令赔偿"), "food_safety", XINGTAI, ("邢台",),
                 response=True, credit=True)
    assert r.story_id == a.story_id != d.story_id and r.how == "response: intellectual_property", r


def test_an_ambiguous_district_joins_the_one_city_story_of_its_frame():
    """白云区 names 广州 or 贵阳, so the item is read with no city (probe 01); the echo of 广州's
    counterfeit-shoe story is the only story of its event type among them, and claims it. With a
    like story open in 贵阳 too, the name cannot say which, and it joins neither."""
    from schemas import Observation

    def items(*titles):
        u = Understanding(story_state={})
        out = []
        for n, t in enumerate(titles):
            obs = Observation.parse({"ts": f"2026-02-01T{8 + 2 * n:02d}:00:00+08:00", "site": "sina",
                                     "surface": "homepage", "title": t, "url": ""})
            out += u.classify_all(obs)
        return out

    a, b = items("广州白云区查获假冒名牌运动鞋1.2万双", "白云区一仓库藏匿万余双假冒运动鞋被端")
    assert b.city is None and b.story_id == a.story_id
    assert "广州市 440100, 贵阳市 520100" in b.evidence["story"][1]
    a, c, b = items("广州白云区查获假冒名牌运动鞋1.2万双", "贵阳警方查获假冒名牌运动鞋5000双",
                    "白云区一仓库藏匿万余双假冒运动鞋被端")
    assert b.story_id not in (a.story_id, c.story_id)


def test_an_ambiguous_district_seen_first_is_claimed_by_the_one_city_story_of_its_frame():
    """The other order: 白云区's sighting first, then 广州's story, whose echo claims it (its
    sighting comes back as the 广州 story's); with 贵阳's like story open as well, neither does."""
    from schemas import Observation

    u = Understanding(story_state={})

    def see(n, title):
        return u.classify_all(Observation.parse({"ts": f"2026-02-01T{8 + 2 * n:02d}:00:00+08:00", "site": "sina",
                                                 "surface": "homepage", "title": title, "url": f"u{n}"}))

    [b] = see(0, "白云区一仓库藏匿万余双假冒运动鞋被端")
    a, claimed = see(1, "广州白云区查获假冒名牌运动鞋1.2万双")
    assert b.city is None and claimed.title == b.title and claimed.story_id == a.story_id != b.story_id
    u = Understanding(story_state={})
    see(0, "广州白云区查获假冒名牌运动鞋1.2万双")
    see(1, "贵阳警方查获假冒名牌运动鞋5000双")
    [b] = see(2, "白云区一仓库藏匿万余双假冒运动鞋被端")  # two cities' stories fit: it joins neither
    assert see(3, "广州警方捣毁一制售假鞋窝点 涉案金额超千万元")[1:] == []  # and 广州's next wording claims nothing


TAIZHOU, WENLING = "331000", "331081"


def test_two_objects_of_one_event_type_are_two_events_and_a_story_learns_its_object():
    """Joined on the frame alone (no wording in common), a tower crane's fall is not a
    scaffold's collapse; a story first worded without the object learns it from a member."""
    c = StoryClusterer({})
    a = assign(c, T0, "台州温岭一工地发生坍塌事故 3名工人遇难", TAIZHOU, WENLING)
    b = assign(c, T0 + H, "台州一在建工地脚手架坍塌 致3人死亡", TAIZHOU)
    assert b.story_id == a.story_id and b.how == "frame"
    d = assign(c, T0 + 2 * H, "台州一工地塔吊倒塌 1人受伤", TAIZHOU)
    assert d.story_id != a.story_id and ("台州温岭一工地发生坍塌事故 3名工人遇难", "object 塔吊 ≠ 脚手架") in d.vetoes
    assert read("某工地塔机倒塌").object == "塔机"
    assert frames_conflict(read("一工地塔吊倒塌"), read("一工地塔机倒塌"), load_frame_reader().rising) is None  # one thing


YIBIN, GONGXIAN, TAIAN, JIUJIANG = "511500", "511526", "370900", "360400"


def test_a_typed_item_joins_the_untyped_story_of_its_event():
    """The mirror of the partial join: the event was first seen with no type (险情), then typed
    (煤矿事故). Before, the typed wording only looked for typed stories and started its own (probe 08)."""
    c = StoryClusterer({})
    a = c.assign("all", T0, normalize("宜宾一煤矿井下发生险情 5人被困"), "work_safety", YIBIN, credit=True)
    b = c.assign("all", T0 + 2 * H, normalize("宜宾珙县煤矿事故已致4人死亡"), "work_safety", YIBIN, (), GONGXIAN,
                 credit=True)
    assert b.story_id == a.story_id and b.how.startswith("partial: the same subject")
    # a story that is not a credit one is not joined on so little (one rare bigram, 煤矿; the place
    # names passed as the pipeline passes them, so 宜宾 is no second one)
    c = StoryClusterer({})
    a = c.assign("all", T0, normalize("宜宾一煤矿井下发生险情 5人被困"), "work_safety", YIBIN, ("宜宾",))
    assert c.assign("all", T0 + 2 * H, normalize("宜宾珙县煤矿事故已致4人死亡"), "work_safety", YIBIN, ("宜宾", "珙县"),
                    GONGXIAN, credit=True).story_id != a.story_id


def test_a_response_joins_the_story_whose_wording_it_shares_not_the_latest():
    """泰安通报企业食堂集体就医事件 names no event type: it answered the supermarket's fine seen an hour
    before rather than the canteen's poisoning whose words (企业, 食堂, 就医) it repeats."""
    c = StoryClusterer({})
    event = c.assign("all", T0, normalize("山东肥城：某公司食堂疑似食物中毒 47人就医"), "food_safety", TAIAN)
    c.assign("all", T0 + 4 * H, normalize("泰安一超市销售过期牛奶被罚款"), "food_safety", TAIAN)
    response = c.assign("all", T0 + 5 * H, normalize("泰安通报企业食堂集体就医事件：承包方被立案调查"), "food_safety",
                        TAIAN, response=True)
    assert response.story_id == event.story_id and response.how == "response"


LIUZHOU = "450200"


def test_a_response_the_reader_gave_no_subfield_answers_the_city_s_only_open_credit_story():
    """Probe 12: 广西柳州：江面现大片污水带 环保部门溯源查处 was read a response with no subfield, and
    a response joined only a story of its own subfield, so the paper mill's discharge stayed on
    two homepages. With no subfield it answers the city's one open credit story; with two open,
    neither."""
    c = StoryClusterer({})
    event = c.assign("all", T0, normalize("柳州一造纸厂向柳江偷排黑水"), "environment", LIUZHOU, credit=True)
    response = c.assign("all", T0 + 3 * H, normalize("广西柳州：江面现大片污水带 环保部门溯源查处"), None, LIUZHOU,
                        response=True, credit=True)
    assert response.story_id == event.story_id and response.how == "response"
    # probe 13: a response that introduces a subject of its own after its place name (一加油站, no
    # [subjects] head) reports its own case, not the one open story's answer
    own = c.assign("all", T0 + 4 * H, normalize("柳州一加油站加油机作弊被查处"), None, LIUZHOU, ("柳州",),
                   response=True, credit=True)
    assert own.story_id != event.story_id
    c = StoryClusterer({})
    c.assign("all", T0, normalize("柳州一造纸厂向柳江偷排黑水"), "environment", LIUZHOU, credit=True)
    c.assign("all", T0 + H, normalize("柳州一超市销售过期面包被罚款"), "food_safety", LIUZHOU, credit=True)
    assert c.assign("all", T0 + 3 * H, normalize("广西柳州：江面现大片污水带 环保部门溯源查处"), None, LIUZHOU,
                    response=True, credit=True).new
    # a story read neutral is no credit story to answer
    c = StoryClusterer({})
    c.assign("all", T0, normalize("柳州一公园举办菊花展"), None, LIUZHOU)
    assert c.assign("all", T0 + 3 * H, normalize("广西柳州：江面现大片污水带 环保部门溯源查处"), None, LIUZHOU,
                    response=True, credit=True).new


def test_a_farm_is_not_the_factory_of_the_same_kind_of_event():
    c = StoryClusterer({})
    a = assign(c, T0, "九江一化工企业向长江偷排废水被查", JIUJIANG, subfield="environment")
    b = assign(c, T0 + H, "九江一养殖场粪污直排被处罚", JIUJIANG, subfield="environment")
    assert b.story_id != a.story_id and any("subject" in why for _, why in b.vetoes)


def test_credit_items_naming_no_city_join_on_a_rare_word_in_common():
    """The rare-word join worked only inside a prefecture; national and foreign credit stories
    (a gang's sentence worded by two sites) name no city and stayed split."""
    c = StoryClusterer({})
    a = c.assign("none", T0, normalize("明家犯罪集团案11名罪犯被执行死刑"), "financial_fraud", None, credit=True)
    b = c.assign("none", T0 + 3 * H, normalize("官方背景自媒体：缅北明家犯罪集团满门抄斩"), None, None, credit=True)
    assert b.story_id == a.story_id and b.how.startswith("rare word: ")
    # not a credit item: the wording alone decides, and it shares too little
    c = StoryClusterer({})
    a = c.assign("none", T0, normalize("明家犯罪集团案11名罪犯被执行死刑"), "financial_fraud", None, credit=True)
    assert c.assign("none", T0 + 3 * H, normalize("官方背景自媒体：缅北明家犯罪集团满门抄斩"), None, None).new


TANGSHAN, LINYI = "130200", "371300"


@pytest.mark.parametrize("city, story, response", [
    (TANGSHAN, "唐山一钢铁企业超标排放被曝光", "唐山一水泥厂扬尘污染被罚"),
    (LINYI, "山东兰陵：农户买到劣质化肥致麦苗枯黄 涉事商户被查", "临沂一超市销售过期饮料被罚款"),
])
def test_a_response_that_introduces_its_own_subject_is_a_case_of_its_own(city, story, response):
    """一水泥厂…被罚 / 一超市…被罚款 name no event type, and were read as the answer to the open story
    of the subfield (probes 07 and 09: decoys joined and counted as a third homepage). An
    indefinite subject (一/某 + head) introduces a case; a response refers back (涉事企业)."""
    c = StoryClusterer({})
    first = c.assign("all", T0, normalize(story), "environment", city, credit=True)
    other = c.assign("all", T0 + 4 * H, normalize(response), "environment", city, response=True, credit=True)
    assert other.story_id != first.story_id and other.new
    back = c.assign("all", T0 + 5 * H, normalize("当地通报：涉事企业被立案调查 责令整改"), "environment", city,
                    response=True, credit=True)
    assert not back.new


NANYANG = "411300"


def test_a_typed_response_answers_an_untyped_story_of_its_subject_kind():
    """卫健委介入调查…医院乱收费 is typed (乱收费: price_gouging) and found no story of its type: the
    event it answers was worded with no cue (南阳一医院被曝重复收费). It answers the open story of its
    subfield when both name the same kind of subject (probe 09), and not a story of another kind.
    (The place names are passed as the pipeline passes them: 南阳 is no rare word in common.)"""
    def sight(c, ts, title, response=False):
        return c.assign("all", ts, normalize(title), "health", NANYANG, ("南阳",), response=response, credit=True)

    worded = "河南南阳：患者家属质疑医院乱收费 卫健委介入调查"
    assert read(worded).type.id == "price_gouging"
    c = StoryClusterer({})
    event = sight(c, T0, "南阳一医院被曝重复收费 住院10天多收3000余元")
    response = sight(c, T0 + 3 * H, worded, response=True)
    assert response.story_id == event.story_id and response.how == "response"
    # a kindergarten's case is not the hospital's, and a story naming no subject gives no evidence
    for story in ("南阳一幼儿园被曝违规收取体检费", "南阳多名患者反映住院费用过高"):
        c = StoryClusterer({})
        other = sight(c, T0, story)
        assert sight(c, T0 + 3 * H, worded, response=True).story_id != other.story_id, story


@pytest.mark.parametrize("title, type_id, subject", [
    # 被查 is an official's investigation; a factory's 被查 is an inspection ([[type]] cue_subjects)
    ("湛江一水产加工厂用甲醛浸泡鱿鱼被查", None, "enterprise"),
    ("某市原副市长张某被查", "official_misconduct", "official"),
    ("易炼红被查", "official_misconduct", None),
    # 被查封 holds 被查 and is no investigation ([cue_traps])
    ("江西南昌：涉事医美机构被查封", None, None),
    # the enforcer before its verb is not the subject ([subjects] agent_verbs)
    ("湖北十堰：交警查获超员校车 幼儿园被责令整改", None, "school"),
])
def test_a_cue_or_a_subject_word_in_the_wrong_role_does_not_count(title, type_id, subject):
    frame = read(title)
    assert (frame.type.id if frame.type else None, frame.subject) == (type_id, subject)


@pytest.mark.parametrize("cue_subjects, message", [
    ({"被约": ["official"]}, "not one of its cues"),
    ({"被查": ["officail"]}, "no subject kind"),
])
def test_a_cue_subjects_typo_is_a_clear_config_error(cue_subjects, message):
    from citycredit.exceptions import ConfigError
    from citycredit.understanding.frames import FrameReader

    config = {"type": [{"id": "official_misconduct", "polarity": "dishonest", "cues": ["被查"],
                        "cue_subjects": cue_subjects}],
              "subjects": {"official": ["局长"]}}
    with pytest.raises(ConfigError, match=message):
        FrameReader(config)
