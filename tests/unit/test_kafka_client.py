"""Every client takes its connection arguments from citycredit.kafka_client; these check
what it builds from the settings (the SASL_SSL broker itself: tests/integration/test_kafka_sasl.py)."""
from __future__ import annotations

import ssl

import pytest

from citycredit import kafka_client
from citycredit.exceptions import ConfigError
from citycredit.settings import Settings


def test_plaintext_is_the_default_for_the_local_broker():
    s = Settings()
    assert kafka_client.client_args(s) == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert kafka_client.faust_credentials(s) is None


def test_sasl_ssl_gives_a_verifying_tls_context_and_the_scram_login():
    s = Settings(kafka_bootstrap="kafka:9094", kafka_security_protocol="sasl_ssl", kafka_username="worker",
                 kafka_password="pw-789")
    args = kafka_client.client_args(s)
    assert args["security_protocol"] == "SASL_SSL" and args["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (args["sasl_plain_username"], args["sasl_plain_password"]) == ("worker", "pw-789")
    ctx = args["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    creds = kafka_client.faust_credentials(s)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.username == "worker" and "pw-789" not in repr(creds)
    assert "pw-789" not in kafka_client.describe(s)


@pytest.mark.parametrize("changes, message", [
    ({"kafka_security_protocol": "SSL"}, "CITYCREDIT_KAFKA_SECURITY_PROTOCOL"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_username": "worker"}, "CITYCREDIT_KAFKA_PASSWORD"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_username": "w", "kafka_password": "p",
      "kafka_sasl_mechanism": "PLAIN"}, "CITYCREDIT_KAFKA_SASL_MECHANISM"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_username": "w", "kafka_password": "p",
      "kafka_ca_file": "/nonexistent/ca.pem"}, "CITYCREDIT_KAFKA_CA_FILE"),
])
def test_a_wrong_setting_names_the_variable(changes, message):
    with pytest.raises(ConfigError, match=message):
        kafka_client.client_args(Settings(**changes))


def test_the_ops_script_writes_the_certificates_and_secrets_compose_reads(tmp_path):
    import importlib.util

    from citycredit.settings import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("make_kafka_certs", PROJECT_ROOT / "ops" / "make_kafka_certs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "secrets"
    assert script.main(["--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"ca.pem", "ca-key.pem", "kafka.keystore.p12", "kafka.keystore.password", "kafka-admin.password",
            "kafka-worker.password", "kafka-pollers.password", "grafana-admin.password"} <= names
    assert out.stat().st_mode & 0o777 == 0o700 and (out / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    before = (out / "kafka-worker.password").read_text()
    assert script.main(["--out", str(out), "--force"]) == 0
    assert (out / "kafka-worker.password").read_text() == before  # a re-run never locks a deployment out
    # a client trusts the broker certificate through ca.pem
    ctx = kafka_client.ssl_context(Settings(kafka_ca_file=str(out / "ca.pem")))
    assert ctx.get_ca_certs()[0]["subject"] == ((("commonName", "citycredit Kafka CA"),),)


def test_the_password_can_come_from_a_secret_file(tmp_path):
    secret = tmp_path / "kafka_worker_password"
    secret.write_text("from-the-file\n")
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_username="worker", kafka_password_file=str(secret))
    assert kafka_client.client_args(s)["sasl_plain_password"] == "from-the-file"
    assert kafka_client.client_args(s.replace(kafka_password="env-wins"))["sasl_plain_password"] == "env-wins"
    with pytest.raises(ConfigError, match="CITYCREDIT_KAFKA_PASSWORD_FILE"):
        kafka_client.client_args(s.replace(kafka_password_file=str(tmp_path / "missing")))
