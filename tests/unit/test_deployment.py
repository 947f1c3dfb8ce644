"""docker-compose.yml is the production deployment; no Docker engine runs here, so this
checks it against the code: same broker settings, real settings names, same ports."""
from __future__ import annotations

import re
import shlex

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
    # the listeners differ on purpose: PLAINTEXT on 127.0.0.1 locally, SASL_SSL only in compose
    host_specific = {"controller.quorum.voters", "listeners", "advertised.listeners", "log.dirs",
                     "inter.broker.listener.name", "listener.security.protocol.map"}
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
    host_port = re.fullmatch(r"SASL_SSL://([^,]+)", advertised).group(1)
    for name in ("topics", "worker", "pollers"):
        assert _env(name)["CITYCREDIT_KAFKA_BOOTSTRAP"] == host_port


def test_kafka_speaks_only_sasl_ssl_and_is_published_nowhere():
    """Issue 14: Kafka was PLAINTEXT with no login, 9092 published on the host."""
    env = _env("kafka")
    assert "ports" not in SERVICES["kafka"]
    protocols = dict(pair.split(":") for pair in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    listeners = dict(re.fullmatch(r"([A-Z_]+)://(.+)", item).groups() for item in env["KAFKA_LISTENERS"].split(","))
    for name, address in listeners.items():
        # the only non-SASL_SSL listener is the controller's, on the container's loopback
        assert protocols[name] == "SASL_SSL" or (name == "CONTROLLER" and address.startswith("localhost:")), name
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "SASL_SSL"
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == env["KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL"] == "SCRAM-SHA-512"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false" and "StandardAuthorizer" in env["KAFKA_AUTHORIZER_CLASS_NAME"]
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert not str(port).endswith(("9092", "9093", "9094")), f"{name} publishes a Kafka port: {port}"


def test_every_client_logs_in_as_its_own_principal_with_a_secret():
    principals = set(_env("kafka")["KAFKA_PRINCIPALS"].split())
    seen = {}
    for name in ("topics", "worker", "pollers"):
        env = _env(name)
        assert env["CITYCREDIT_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["CITYCREDIT_KAFKA_SASL_MECHANISM"] == Settings().kafka_sasl_mechanism
        assert "CITYCREDIT_KAFKA_PASSWORD" not in env, f"{name}: the password belongs in a secret, not the environment"
        user = env["CITYCREDIT_KAFKA_USERNAME"]
        assert user in principals
        secret = env["CITYCREDIT_KAFKA_PASSWORD_FILE"].removeprefix("/run/secrets/")
        assert secret == f"kafka_{user}_password" and secret in SERVICES[name]["secrets"]
        assert env["CITYCREDIT_KAFKA_CA_FILE"] == "/run/secrets/kafka_ca" and "kafka_ca" in SERVICES[name]["secrets"]
        seen[name] = user
    assert seen["worker"] != seen["pollers"] and len(set(seen.values())) == 3
    for principal in principals:
        assert f"kafka_{principal}_password" in SERVICES["kafka"]["secrets"]
    assert set(COMPOSE["secrets"]) >= {f"kafka_{p}_password" for p in principals} | {"kafka_ca", "kafka_keystore"}


def _acls() -> dict[str, dict[str, set[str]]]:
    """principal -> operation -> literal topics, from the allow lines of ops/kafka/compose-acls.sh."""
    script = (PROJECT_ROOT / "ops" / "kafka" / "compose-acls.sh").read_text()
    acls: dict[str, dict[str, set[str]]] = {}
    for line in script.splitlines():
        if not line.startswith("allow "):
            continue
        words = shlex.split(line)
        if "--resource-pattern-type" in words or "--topic" not in words:
            continue
        topics = {words[i + 1] for i, w in enumerate(words) if w == "--topic"}
        for op in words[2].split(","):
            acls.setdefault(words[1], {}).setdefault(op, set()).update(topics)
    return acls


def test_acls_let_pollers_write_only_their_topics_and_only_the_worker_write_responses_and_records():
    from citycredit.topics import ALL, RECORDS, RESPONSES, SIGHTINGS, SOURCE_HEALTH

    acls = _acls()
    assert acls["pollers"]["Write"] == {SIGHTINGS.name, SOURCE_HEALTH.name}
    assert set(acls["pollers"]) == {"Write", "Describe"}  # no Read of subscriptions (webhook secrets) or any other topic
    writers = {p for p, ops in acls.items() for t in ops.get("Write", ()) if t in (RESPONSES.name, RECORDS.name)}
    assert writers == {"worker"}  # the API runs in the worker; admin is the super user
    # the worker reads every topic and writes every one the pollers do not
    assert acls["worker"]["Read"] == {t.name for t in ALL}
    assert acls["worker"]["Write"] == {t.name for t in ALL} - {SIGHTINGS.name, SOURCE_HEALTH.name}
    assert set(acls) <= set(_env("kafka")["KAFKA_PRINCIPALS"].split())


def test_only_the_tls_proxy_is_open_beyond_this_host():
    env = _env("worker")
    port = env["CITYCREDIT_WEB_PORT"]
    assert int(port) == Settings().web_port
    assert "ports" not in SERVICES["worker"]  # desk and API only through the proxy
    caddyfile = (PROJECT_ROOT / "ops" / "caddy" / "Caddyfile").read_text()
    assert f"reverse_proxy worker:{port}" in caddyfile
    for name, service in SERVICES.items():
        for mapping in service.get("ports", []):
            if name != "proxy":
                assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} beyond this host"
    assert set(SERVICES["proxy"]["ports"]) == {"443:443", "80:80"}


def test_grafana_admin_password_comes_from_a_secret():
    env = _env("grafana")
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert "grafana_admin_password" in SERVICES["grafana"]["secrets"]
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
