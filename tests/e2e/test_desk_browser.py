"""The monitoring desk in headless Chromium against a real worker and broker.

Index entries, alerts, items and source health are produced to their topics as the
other parts publish them (design.md contracts); the officer opens the desk, reads the
ranking, opens a city with a major dishonesty event (whose headline carries markup
that must stay text), files a response through the form, and sees it accepted and the
event marked as responded, then waits for the offset of a response filed through the API
to reach the city page.
"""
from __future__ import annotations

import pytest

from tests.conftest import free_port
from tests.integration.desk_helpers import call, ensure_system_tools, produce, wait_for

pytestmark = pytest.mark.broker
TOKEN = "desk-officer-token-0123456789"
PERIOD = "2026-02"
XSS_TITLE = '<img src=x onerror="window.__xss=1">苏州某食品企业使用过期原料被立案调查<script>window.__xss=2</script>'


def index_entry(adcode: str, city: str, province: str, period: str, score: float, penalty: float = 0.0) -> dict:
    comps = {"credit_event": round(score - 55.0 + penalty, 2), "credit_policy": 15.0, "info_disclosure": 15.0,
             "task_implementation": 15.0, "blacklist": 10.0, "major_dishonesty": -penalty,
             "government_response": 0.0, "major_trustworthy": 0.0}
    return {"city_adcode": adcode, "city": city, "province": province, "period": period, "score": score,
            "components": comps, "penalty": penalty, "offset": 0.0, "updated_at": "2026-02-28T23:00:00+08:00"}


CITIES = [("320100", "南京市", "江苏省", 91.0, 0.0), ("320200", "无锡市", "江苏省", 88.5, 0.0),
          ("320500", "苏州市", "江苏省", 84.0, 6.0), ("320600", "南通市", "江苏省", 86.0, 0.0),
          ("330100", "杭州市", "浙江省", 90.0, 0.0)]
MAJOR = {"type": "major_dishonesty", "story_id": "s-e2e-suzhou-food", "city": "苏州市", "city_adcode": "320500",
         "domain": "business", "trigger": "homepages", "sites": ["people", "xinhua", "cctv"],
         "first_seen": "2026-02-03T08:00:00+08:00", "triggered_at": "2026-02-03T10:30:00+08:00", "title": XSS_TITLE,
         "urls": ["javascript:window.__xss=3"], "province": "江苏省", "subfield": "food_safety"}


def item(n: int, title: str, site: str) -> dict:
    return {"ts": f"2026-02-03T{8 + n:02d}:00:00+08:00", "site": site, "surface": "homepage", "rank": None, "title": title,
            "url": f"http://example.com/{n}", "summary": None, "change": "appeared", "city": "苏州市",
            "city_adcode": "320500", "county": None, "county_adcode": None, "province": "江苏省", "domain": "business",
            "subfield": "food_safety", "polarity": "dishonest", "aspect": "credit_event", "story_id": MAJOR["story_id"],
            "evidence": {}}


def expected_suzhou_score() -> str:
    """What the index computes from the same alert and items: the worker's real entry
    replaces the hand-made one produced to city-index."""
    from citycredit.scoring import CityScorer
    from schemas import Alert, Item

    scorer = CityScorer()
    scorer.on_alert(Alert(**{k: v for k, v in MAJOR.items()}))
    for n, site in enumerate(["people", "xinhua", "cctv"]):
        scorer.on_item(Item(**item(n, XSS_TITLE, site)))
    return f"{next(r for r in scorer.ranking(PERIOD) if r['city_adcode'] == '320500')['score']:.2f}"


def test_officer_reads_ranking_opens_city_files_response(kafka, worker_factory):
    ensure_system_tools("/usr/bin/chromium", "/usr/bin/chromedriver")
    from tests.e2e.webdriver import Browser

    records = []
    for adcode, city, province, score, penalty in CITIES:
        for period in (PERIOD, f"12m:{PERIOD}"):
            records.append((f"{adcode}/{period}", index_entry(adcode, city, province, period, score, penalty)))
    # 南京's January, so the board has a month-over-month change to show
    records.append(("320100/2026-01", index_entry("320100", "南京市", "江苏省", "2026-01", 80.0)))
    produce(kafka.kafka_bootstrap, "city-index", records)
    produce(kafka.kafka_bootstrap, "alerts", [(MAJOR["story_id"], MAJOR)])
    produce(kafka.kafka_bootstrap, "items", [(MAJOR["story_id"], item(n, XSS_TITLE, s)) for n, s in
                                             enumerate(["people", "xinhua", "cctv"])])
    produce(kafka.kafka_bootstrap, "source-health", [("people/homepage", {
        "site": "people", "surface": "homepage", "url": "http://www.people.com.cn/", "last_success": "2026-02-03T10:00:00+08:00",
        "last_error": None, "items_parsed": 182, "consecutive_failures": 0, "yield_drop": False})])

    worker = worker_factory(CITYCREDIT_API_TOKEN=TOKEN).start()
    worker.wait_ready()
    port = worker.web_port
    wait_for(lambda: call(port, "GET", "/api/cities/320500")[1].get("events"), 60, "the desk to read the topics", worker.log)

    browser = Browser(free_port())
    try:
        # The ranking board: national, every city in scope, each peer group ranked on its own.
        browser.get(f"http://127.0.0.1:{port}/desk/")
        browser.wait("table tbody tr a.city-link", text="南京市")
        cities = [browser.text(e) for e in browser.find_all("a.city-link")]
        assert cities[:2] == ["南京市", "杭州市"] and len(cities) > 600  # core group first, then the others
        assert browser.text(browser.find_all("span.change")[0]) == "= (+11.00)"  # still first, 11 points up
        # The peer-group picker narrows the board to one group; coverage is a column of it.
        browser.click(browser.wait("#group option[value='prefecture']"))
        browser.wait("h2", text="其他地级城市")
        assert [browser.text(e) for e in browser.find_all("a.city-link")][:2] == ["无锡市", "南通市"]
        assert browser.script("return [...document.querySelectorAll('#view th')].some(th => th.textContent === '已监测占比')")
        assert browser.script("return [...document.querySelectorAll('#view td')].some(td => td.textContent.includes('信用信息公开程度'))")
        # One province: its prefecture-level cities (capital included) and its county-level cities.
        browser.get(f"http://127.0.0.1:{port}/desk/#/ranking?period={PERIOD}&province=%E6%B1%9F%E8%8B%8F%E7%9C%81"
                    "&group=prefecture_level")
        browser.wait("h2", text="江苏省")
        jiangsu = [browser.text(e) for e in browser.find_all("a.city-link")]
        assert jiangsu[:3] == ["南京市", "无锡市", "南通市"] and len(jiangsu) == 13

        # The city page: score, ranks as the board has them, the major event -- its markup shown as text, never run.
        _, national = call(port, "GET", f"/api/ranking?period={PERIOD}&group=prefecture")
        _, provincial = call(port, "GET", f"/api/ranking?period={PERIOD}&province=%E6%B1%9F%E8%8B%8F%E7%9C%81&group=prefecture_level")
        browser.click(browser.wait("a.city-link", text="苏州市"))
        browser.wait("#city-score", text=expected_suzhou_score())
        assert browser.text(browser.wait("#rank-national")) == str(next(r["rank"] for r in national["rows"] if r["city"] == "苏州市"))
        assert browser.text(browser.wait("#rank-province")) == str(next(r["rank"] for r in provincial["rows"] if r["city"] == "苏州市"))
        # The aspect table and the header agree: 重大失信事件 is the header's deduction, not "—".
        penalty = browser.text(browser.wait("#city-penalty"))
        assert browser.script("return [...document.querySelectorAll('#view tr')].find(tr => tr.firstChild.textContent"
                              " === '重大失信事件').children[1].textContent") == penalty
        event_cell = browser.wait("td", text="苏州某食品企业")
        assert '<img src=x onerror="window.__xss=1">' in browser.text(event_cell)
        assert browser.script("return window.__xss === undefined && document.querySelectorAll('#view img, #view script').length === 0")
        assert browser.script("return [...document.querySelectorAll('#view a')].every(a => !a.href.startsWith('javascript:'))")
        browser.wait("span.badge.open", text="未回应")

        # File a response through the form.
        browser.click(browser.wait("#kind option[value='investigation']"))
        browser.type(browser.wait("#title"), "苏州市市场监管局对涉事企业立案调查并通报")
        browser.type(browser.wait("#url"), "http://www.suzhou.gov.cn/notice/1")
        browser.type(browser.wait("#note"), "已责令涉事企业停产")
        browser.type(browser.wait("#token"), "not-the-token")
        browser.click(browser.wait("#submit-response"))
        browser.wait("#response-msg.err", text="wrong token")
        browser.type(browser.wait("#token"), TOKEN)
        browser.click(browser.wait("#submit-response"))
        browser.wait("#response-msg.ok", text="已受理")
        # The response went through the responses topic and back into the desk.
        browser.wait("span.badge.responded", timeout=30, text="已回应")
        browser.wait("td", text="立案调查：苏州市市场监管局")
        # under the event: its note and its link, not only its title
        browser.wait("div.response-note", text="已责令涉事企业停产")
        browser.wait("div.response-line a[href='http://www.suzhou.gov.cn/notice/1']")
        # A timely response offsets part of the deduction.
        # The form's filing is dated now, months after this February event: too late to
        # offset anything (scoring.toml [[response.lateness]]). One filed through the API
        # the day after the event offsets the configured share.
        from citycredit.scoring import load_scoring_config

        cfg = load_scoring_config()
        status, _ = call(port, "POST", "/api/responses", {
            "city_adcode": "320500", "story_id": MAJOR["story_id"], "kind": "rectification",
            "title": "苏州市市场监管局：涉事企业停业整改", "ts": "2026-02-04T09:00:00+08:00"}, token=TOKEN)
        assert status == 202
        share = f"{cfg.deduction * cfg.shares_bp['rectification'] / 10000 / 100:.2f}"

        def offset_shown() -> bool:
            browser.get(f"http://127.0.0.1:{port}/desk/#/city/320500?period={PERIOD}")
            browser.script("location.reload()")
            return browser.text(browser.wait("#city-offset")) == share
        wait_for(offset_shown, 60, "the response's offset on the city page", worker.log)

        # The live alerts feed: a new alert appears without reloading.
        browser.get(f"http://127.0.0.1:{port}/desk/#/alerts")
        browser.wait("#stream-state", text="已连接")
        fresh = {**MAJOR, "story_id": "s-e2e-wuxi-wages", "city": "无锡市", "city_adcode": "320200", "type": "early_warning",
                 "trigger": "trend", "title": "无锡多家企业拖欠农民工工资", "triggered_at": "2026-02-04T09:00:00+08:00",
                 "urls": ["http://example.com/w"]}
        produce(kafka.kafka_bootstrap, "alerts", [(fresh["story_id"], fresh)])
        browser.wait("#alerts-body tr td", timeout=30, text="无锡多家企业拖欠农民工工资")

        # Search and source health.
        browser.get(f"http://127.0.0.1:{port}/desk/#/search")
        browser.type(browser.wait("#search-q"), "过期原料")
        browser.click(browser.wait("#search-form button"))
        browser.wait("td", text="苏州某食品企业")
        browser.get(f"http://127.0.0.1:{port}/desk/#/sources")
        browser.wait("td", text="人民网")
        assert browser.script("return document.querySelectorAll('#view tbody tr').length") >= 15
    finally:
        browser.quit()
