"""City attribution against the real national division lists (../shared/data/gazetteer)."""
from __future__ import annotations

import csv

import pytest

from citycredit.understanding.gazetteer import load_gazetteer
from citycredit.understanding.text import normalize


@pytest.fixture(scope="module")
def gaz(shared_data):
    return load_gazetteer(str(shared_data / "gazetteer"))


# (title, city, county): None means "leave it unresolved", never a guess.
CASES = [
    ("江苏苏州昆山一工厂爆炸", "苏州市", "昆山市"),
    ("苏州市一工地拖欠工资", "苏州市", None),
    ("南京鼓楼区一餐馆食物中毒", "南京市", "鼓楼区"),
    ("鼓楼区一餐馆食物中毒", None, None),                  # 鼓楼区 is in 南京, 徐州, 福州, 开封
    # two names side by side sharing one prefecture confirm each other, each weak or ambiguous alone
    ("怒江兰坪发生一起交通事故", "怒江傈僳族自治州", "兰坪白族普米族自治县"),
    ("四平铁东区一店铺发生火灾", "四平市", "铁东区"),
    ("西安长安区20余人滞留缅北", "西安市", "长安区"),
    ("北京朝阳一小区火灾", "北京市", "朝阳区"),
    ("辽宁朝阳一煤矿透水", "朝阳市", None),
    ("朝阳产业迎来新机遇", None, None),                    # 朝阳 alone is ambiguous and a word
    ("公安部通报重大安全事故", None, None),                # not 公安县, not 大安市
    ("长安汽车召回部分车辆", None, None),                  # not 长安区
    ("美国马里兰州一桥梁坍塌", None, None),                # 兰州 inside 马里兰州
    ("奥巴马医改难改商业医保主导地位", None, None),        # 巴马 (瑶族自治县) inside a foreign name
    ("也门红海城市荷台达发生爆炸", None, None),            # 海城市 inside 红海城市
    ("当年那么牛的陈天桥为什么不行了", None, None),        # a person, not 天桥区
    ("四川省交通运输厅原副厅长宁坚被双开", None, None),    # 长宁 after a title is a name
    ("香港继续为受大埔火灾影响居民提供医疗支援", None, None),  # Hong Kong's 大埔, not 梅州's
    ("延边州一企业偷排污水", "延边朝鲜族自治州", None),
    ("恩施土家族苗族自治州通报", "恩施土家族苗族自治州", None),
    ("上海浦东新区一商场起火", "上海市", "浦东新区"),
    ("湖北襄樊一所学校22名学生食物中毒", "襄阳市", None),  # renamed 2010
    ("吴江市一企业欠薪", "苏州市", "吴江区"),              # county-level city became a district
    ("仙桃市通报一起食品安全事件", "仙桃市", None),        # governed by the province directly
    ("甘肃合作市一景区宰客", "甘南藏族自治州", "合作市"),
    ("加强国际合作", None, None),                          # 合作 is a word unless confirmed
    ("河南严肃查处安阳特别重大火灾事故相关责任人员", "安阳市", None),  # the city, not its 安阳县
    ("安阳县一企业偷排", "安阳市", "安阳县"),              # the county when named in full
    ("兰州火灾事故", "兰州市", None),                      # not 兰州新区
    ("符合条件的养老机构内设医疗机构纳入医保定点", None, None),  # 保定 inside 医保定点
    ("第134届广交会即将开幕", "广州市", None),
    ("北京至上海高铁加开列车", None, None),                # two cities: no single city
    ("南京路步行街人流如织", None, None),                  # a street, not the city
    ("警方通报南京街头发生路怒打斗", "南京市", None),      # 街头 is the city's streets, not 南京街
    ("网传郑州花费34亿给河道干挂大理石砖", "郑州市", None),  # marble is no second city
    ("国资委原副部长级干部骆玉林被开除党籍", None, None),  # title + surname + 玉林: a given name
    ("长江常熟段一船舶起火", "苏州市", "常熟市"),          # 长 of 长江 is no title: 常熟 stays
    ("四川广元一企业排污致嘉陵江鱼类死亡", "广元市", None),  # 嘉陵江 is a river, not 南充's 嘉陵区
    ("宁波江北警方通报", "宁波市", "江北区"),              # a city's name before 江 stays
    ("江西丰城河堤溃口", "宜春市", "丰城市"),              # 河堤 is a levee, not a river's name
    ("武汉大学生消费调查报告", "武汉市", None),
    ("中欧班列（西安）新春班列开行", "西安市", None),      # 西安市, not 辽源's 西安区
]


@pytest.mark.parametrize("title, city, county", CASES)
def test_attribution(gaz, title, city, county):
    got = gaz.attribute(normalize(title))
    assert (got.city, got.county) == (city, county), got


def test_province_only_when_no_city(gaz):
    got = gaz.attribute("江苏一化工厂爆炸")
    assert got.city is None and got.province == "江苏省"
    assert gaz.attribute("吉林").province == "吉林省" and gaz.attribute("吉林").city is None
    assert gaz.attribute("吉林市").city == "吉林市"


@pytest.mark.parametrize("title, province", [
    ("渝北一物业公司欠薪百余名员工", "重庆市"),      # a district's short name, standing alone: its province
    ("大熊猫“晓晓”“蕾蕾”平安回国", None),          # an ordinary word (平安区 is 青海's)
    ("外交部：中方从来没有也不会干预", None),        # 中方县 is 湖南's
    ("面临安全挑战", None),                            # a district's name inside a word (临安)
    ("羊曲水电站机组吊装完成", None),                # a county's name inside a word (曲水)
])
def test_a_weak_name_names_a_province_only_as_a_district_standing_alone(gaz, title, province):
    got = gaz.attribute(normalize(title))
    assert got.city is None and got.province == province, got


def test_an_ambiguous_name_lists_the_cities_it_may_mean_and_names_none(gaz):
    """白云区 is a district of 广州 and of 贵阳: no city is read, but the two are kept as candidates
    (a story of one of them may claim the title); a province named, or a name too many share, keeps none."""
    got = gaz.attribute(normalize("白云区一仓库藏匿万余双假冒运动鞋被端"))
    assert got.city is None and got.candidates == (("440100", "广州市"), ("520100", "贵阳市"))
    assert gaz.attribute(normalize("贵州白云区一仓库起火")).city == "贵阳市"
    assert gaz.attribute(normalize("江苏一化工厂爆炸")).candidates == ()


def test_every_prefecture_resolves_by_full_name(gaz, shared_data):
    """All 333 prefecture-level units of the NBS list, by full name, resolve to themselves."""
    rows = list(csv.DictReader((shared_data / "gazetteer" / "cities.csv").open(encoding="utf-8")))
    checked = 0
    for row in rows:
        if row["name"] in ("市辖区", "县") or "直辖" in row["name"]:
            continue
        got = gaz.attribute(row["name"] + "发生一起事故")
        assert got.city_adcode == row["code"] + "00", (row, got)
        checked += 1
    assert checked >= 330


def test_every_unique_county_resolves_to_its_prefecture(gaz, shared_data):
    """Each county-level full name that exists once nationwide maps to its own prefecture
    (except the few listed as weak in places.toml, e.g. 东区 and 西区 of 攀枝花)."""
    rows = list(csv.DictReader((shared_data / "gazetteer" / "areas.csv").open(encoding="utf-8")))
    names = {}
    for row in rows:
        names.setdefault(row["name"], []).append(row)
    checked = 0
    for name, same in names.items():
        if len(same) != 1 or name in ("城区", "郊区", "矿区") or name in gaz.weak_names:
            continue
        row = same[0]
        place = gaz.places[row["code"]]
        got = gaz.attribute(name)
        assert got.city_adcode == place.prefecture, (name, got)
        checked += 1
    assert checked > 2500


def test_adcodes_are_prefecture_level(gaz):
    for title in ("北京朝阳区", "重庆万州区", "天津滨海新区", "上海浦东新区"):
        got = gaz.attribute(title)
        assert got.city_adcode in ("110000", "500000", "120000", "310000"), got
