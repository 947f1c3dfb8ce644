"""Fixed ids from design.md, declared once and imported everywhere."""
from __future__ import annotations

# The 15 monitored sites (policy document, 二(一)); order as in the document.
SITES: dict[str, str] = {
    "people": "人民网",
    "xinhua": "新华网",
    "chinacom": "中国网",
    "cctv": "央视网",
    "qstheory": "求是网",
    "chinadaily": "中国日报网",
    "cnr": "央广网",
    "cri": "国际在线",
    "cyol": "中青在线",
    "gmw": "光明网",
    "ce": "中国经济网",
    "sina": "新浪网",
    "netease": "网易网",
    "sohu": "搜狐网",
    "tencent": "腾讯网",
}

SURFACES = ("homepage", "hotlist", "rss")

# What a poller saw change on a surface (an extra field of an observation).
CHANGES = ("appeared", "rank_changed", "left")

DOMAINS: dict[str, str] = {
    "government": "政务诚信",
    "business": "商务诚信",
    "social": "社会诚信",
    "judicial": "司法公信",
}

ASPECTS: dict[str, str] = {
    "credit_event": "信用事件发生情况",
    "credit_policy": "信用制度完善程度",
    "info_disclosure": "信用信息公开程度",
    "task_implementation": "信用建设任务落实情况",
    "blacklist": "黑名单记录情况",
    "major_dishonesty": "重大失信事件",
    "government_response": "政府反馈",
    "major_trustworthy": "重要守信事件",
}

POLARITIES = ("dishonest", "trustworthy", "neutral")

ALERT_TYPES = ("major_dishonesty", "major_trustworthy", "early_warning")
ALERT_TRIGGERS = ("homepages", "hotlist", "trend")

RESPONSE_KINDS = ("statement", "investigation", "rectification", "accountability", "rule_improvement")

# The words officers read for them, in the robots' messages and the monthly report (the
# desk's desk.js uses the same).
TRIGGER_NAMES: dict[str, str] = {"homepages": "多站首页", "hotlist": "排行榜", "trend": "上升趋势"}
RESPONSE_KIND_NAMES: dict[str, str] = {"statement": "情况说明", "investigation": "立案调查", "rectification": "整改",
                                       "accountability": "问责", "rule_improvement": "完善制度"}

# Municipalities are prefecture-level in their own right (design.md §3).
MUNICIPALITY_ADCODES = ("110000", "120000", "310000", "500000")

# Credit subfields (policy document 三(三) and 三(九)); the first five are the
# high-incidence areas that get an early-warning rule.
EARLY_WARNING_SUBFIELDS = ("food_safety", "work_safety", "financial_fraud", "environment", "wages_social_insurance")
SUBFIELDS: dict[str, str] = {
    "food_safety": "食品药品安全",
    "work_safety": "安全生产",
    "financial_fraud": "金融诈骗",
    "environment": "生态环境",
    "wages_social_insurance": "工资社保",
    "e_commerce": "电子商务",
    "tax": "税务",
    "pricing": "价格",
    "construction": "工程建设",
    "transport": "交通运输",
    "tourism": "旅游",
    "advertising": "广告",
    "statistics": "统计",
    "intermediary": "中介会展",
    "education": "教育科研",
    "health": "医药卫生",
    "social_security": "社会保障",
    "culture_sports": "文化体育",
    "intellectual_property": "知识产权",
    "energy": "能源节约",
    "administration": "依法行政",
    "government_integrity": "政府守信践诺",
    "courts": "法院",
    "procuratorate": "检察院",
    "public_security": "公共安全",
}
