"""docker-compose.yml is the production deployment; no Docker engine runs here, so this
checks it against the code: same broker settings, real settings names, same ports."""
from __future__ import annotations

import re

import yaml

from citycredit.settings import PROJECT_ROOT, Settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SETTING_NAMES = {name for name, _, _ in Settings.documented()}


def _env(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def test_services_of_the_design_card_are_there():
    assert {"kafka", "topics", "worker", "pollers", "prometheus", "grafana"} <= set(SERVICES)


def test_kafka_image_is_the_version_the_ops_scripts_fetch():
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{Settings().kafka_version}"


def test_broker_settings_equal_the_local_template():
    """Every key of the local server.properties has the same value in compose (KAFKA_ env form),
    except the host-specific listener addresses and paths."""
    env = _env("kafka")
    template = (PROJECT_ROOT / "ops" / "kafka" / "server.properties.template").read_text()
    host_specific = {"controller.quorum.voters", "listeners", "advertised.listeners", "log.dirs"}
    checked = 0
    for line in template.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.split("=", 1)
        env_key = "KAFKA_" + key.upper().replace(".", "_")
        assert env_key in env, f"{key} is set locally but not in docker-compose.yml"
        if key not in host_specific:
            assert env[env_key] == value, f"{key}: local {value!r} != compose {env[env_key]!r}"
        checked += 1
    assert checked >= 15
    heap = Settings().kafka_heap
    assert env["KAFKA_HEAP_OPTS"] == f"-Xmx{heap} -Xms{heap}"


def test_every_citycredit_variable_is_a_real_setting():
    seen = set()
    for name, service in SERVICES.items():
        for key in (service.get("environment") or {}):
            if key.startswith("CITYCREDIT_"):
                assert key in SETTING_NAMES, f"{name}: {key} is not a setting in citycredit/settings.py"
                seen.add(key)
    assert "CITYCREDIT_KAFKA_BOOTSTRAP" in seen


def test_services_reach_the_broker_on_its_advertised_listener():
    advertised = _env("kafka")["KAFKA_ADVERTISED_LISTENERS"]
    host_port = re.match(r"PLAINTEXT://([^,]+)", advertised).group(1)
    for name in ("topics", "worker", "pollers"):
        assert _env(name)["CITYCREDIT_KAFKA_BOOTSTRAP"] == host_port


def test_worker_publishes_its_web_port():
    env = _env("worker")
    port = env["CITYCREDIT_WEB_PORT"]
    assert f"{port}:{port}" in SERVICES["worker"]["ports"]
    assert int(port) == Settings().web_port
def test_mounted_ops_files_exist():
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), f"{source} is mounted but missing"


def test_prometheus_scrapes_the_worker_service_on_its_port():
    prom = yaml.safe_load((PROJECT_ROOT / "ops" / "prometheus.yml").read_text())
    targets = [t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert f"worker:{_env('worker')['CITYCREDIT_WEB_PORT']}" in targets
