"""A real Prometheus server (Debian's ``prometheus`` package) scrapes the running worker
with ops/prometheus.yml, and every PromQL expression in the provisioned Grafana boards
(panel targets and variable queries) returns data from it."""
from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port
from tests.e2e.test_desk_browser import CITIES, MAJOR, expected_suzhou_score, index_entry, item
from tests.integration.desk_helpers import ensure_system_tools, produce, wait_for

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = "/usr/bin/prometheus"
# Grafana fills these in; the test picks values the produced data has.
PUBLISHED_PER_SURFACE = 430  # as the pollers' source-health records say (1,290 in all)
VARIABLES = {"$period_kind": "month", "$city": "苏州市", "$province": "江苏省", "$__rate_interval": "1m", "$__interval": "15s"}


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(board, panel or variable, PromQL) for every query of every provisioned board."""
    out = []
    for path in sorted((ROOT / "ops" / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((path.name, panel["title"], target["expr"]))
        for var in board.get("templating", {}).get("list", []):
            if var["type"] == "query":
                m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", var["query"]["query"])
                assert m, f"{path.name}: variable {var['name']} is not label_values(...)"
                out.append((path.name, f"variable {var['name']}", m.group(1)))
    return out


def substitute(expr: str) -> str:
    for k in sorted(VARIABLES, key=len, reverse=True):
        expr = expr.replace(k, VARIABLES[k])
    return expr


def query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_every_dashboard_query_returns_data_from_a_real_prometheus(kafka, worker_factory, tmp_path):
    ensure_system_tools(PROMETHEUS)
    records = [(f"{a}/{p}", index_entry(a, c, prov, p, s, pen)) for a, c, prov, s, pen in CITIES
               for p in ("2026-02", "12m:2026-02")]
    produce(kafka.kafka_bootstrap, "city-index", records)
    produce(kafka.kafka_bootstrap, "alerts", [(MAJOR["story_id"], MAJOR)])
    produce(kafka.kafka_bootstrap, "items", [(MAJOR["story_id"], item(n, "苏州食品企业使用过期原料", "people")) for n in range(3)])
    produce(kafka.kafka_bootstrap, "source-health", [(f"{site}/homepage", {
        "site": site, "surface": "homepage", "url": f"http://{site}.example/", "last_success": "2026-02-03T10:00:00+08:00",
        "last_error": None if site != "sina" else "HTTP 503", "items_parsed": 120, "consecutive_failures": int(site == "sina"),
        "yield_drop": False, "observations_published": PUBLISHED_PER_SURFACE}) for site in ("people", "xinhua", "sina")])
    # work for the classifier: one neutral sighting (no city, so no index moves) and one that is not JSON
    produce(kafka.kafka_bootstrap, "sightings", [
        ("http://people.example/weather", {"ts": "2026-02-03T09:00:00+08:00", "site": "people", "surface": "homepage",
                                           "title": "今日天气晴朗", "url": "http://people.example/weather", "rank": 3}),
        ("http://people.example/broken", b"not json")])
    worker = worker_factory().start()
    worker.wait_ready()
    metrics_url = f"http://127.0.0.1:{worker.web_port}/metrics"
    wait_for(lambda: "citycredit_city_index_score_points{" in urllib.request.urlopen(metrics_url).read().decode(),
             60, "index gauges on /metrics", worker.log)
    # appended after the desk read the history: its processing delay is what the lag shows
    produce(kafka.kafka_bootstrap, "items", [(MAJOR["story_id"], item(3, "苏州食品企业使用过期原料", "people"))])

    config = yaml.safe_load((ROOT / "ops" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "citycredit")
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{worker.web_port}"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        prom_log = lambda: (tmp_path / "prometheus.log").read_text(errors="replace")  # noqa: E731
        wait_for(lambda: query(port, 'up{job="citycredit"} == 1'), 60, "Prometheus to scrape the worker", prom_log)
        queries = dashboard_queries()
        assert len(queries) >= 20
        empty: list[tuple[str, str, str]] = []
        deadline = time.monotonic() + 45  # rate() needs a few scrapes
        while True:
            empty = [(b, p, e) for b, p, e in queries if not query(port, substitute(e))]
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert not empty, f"queries without data: {empty}"
        # And the numbers are the ones the index published.
        # (once the city index part is merged its entry for 苏州市 replaces the hand-made one)
        expected = float(expected_suzhou_score())

        def suzhou_score() -> bool:
            score = query(port, 'citycredit_city_index_score_points{city="苏州市", period_kind="month"}')
            return bool(score) and float(score[0]["value"][1]) == expected
        wait_for(suzhou_score, 30, f"苏州市's score {expected} in Prometheus", prom_log)
        # the rank the desk's board gives 苏州 among its national peers (every city in scope ranks)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}/api/ranking?period=12m:2026-02") as r:
            board = json.loads(r.read())
        suzhou = [row for row in board["rows"] if row["city"] == "苏州市"]
        assert len(suzhou) == 1 and suzhou[0]["of"] > len(CITIES)  # the whole peer group, not the 5 with entries
        rank = query(port, 'citycredit_city_rank{city="苏州市", period_kind="12m"}')
        assert float(rank[0]["value"][1]) == float(suzhou[0]["rank"])
        failing = query(port, "max by (site) (citycredit_poll_consecutive_failures) > 0")
        assert [r["metric"]["site"] for r in failing] == ["sina"]

        # The metrics of issue 14 item 8 show the work done, not 0 or event-time age.
        def value(expr: str) -> float | None:
            result = query(port, expr)
            return float(result[0]["value"][1]) if result else None
        wait_for(lambda: value("sum(citycredit_poll_observations_published_total)") == 3 * PUBLISHED_PER_SURFACE, 30,
                 "the pollers' acknowledged observations from source-health", prom_log)
        wait_for(lambda: (value('citycredit_deadletter_total{stage="classify_sightings", reason="invalid"}') or 0) >= 1, 60,
                 "the dead-lettered sighting counted", prom_log)
        wait_for(lambda: (value('sum(citycredit_sightings_total{site="people"})') or 0) >= 1, 60,
                 "the classified sighting counted", prom_log)
        for topic in ("sightings", "items"):
            wait_for(lambda: value(f'citycredit_pipeline_lag_seconds{{topic="{topic}"}}') is not None, 30,
                     f"pipeline lag of {topic}", prom_log)
            # the records' event times are of 2026-02-03: wall time minus event time would be months
            lag = value(f'citycredit_pipeline_lag_seconds{{topic="{topic}"}}')
            assert 0 <= lag < 300, (topic, lag)
    finally:
        prom.terminate()
        prom.wait(30)
        log.close()
