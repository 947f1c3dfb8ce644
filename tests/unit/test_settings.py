from __future__ import annotations

from pathlib import Path

import pytest

from citycredit.exceptions import ConfigError
from citycredit.settings import PROJECT_ROOT, Settings
from citycredit.topics import ALL


def test_env_overrides_are_typed():
    s = Settings.from_env({"CITYCREDIT_TOPIC_PARTITIONS": "8", "CITYCREDIT_DATA_DIR": "/tmp/x",
                           "CITYCREDIT_KAFKA_READY_TIMEOUT": "2.5", "UNRELATED": "1"})
    assert s.topic_partitions == 8 and s.data_dir == Path("/tmp/x") and s.kafka_ready_timeout == 2.5


def test_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="CITYCREDIT_WEB_PORT"):
        Settings.from_env({"CITYCREDIT_WEB_PORT": "eighty"})


def test_the_operating_guide_documents_every_setting():
    guide = (PROJECT_ROOT / "docs" / "operating.md").read_text()
    missing = [name for name, _, _ in Settings.documented() if name not in guide]
    assert not missing, f"settings missing from docs/operating.md: {missing}"


def test_topics_are_declared_once_with_explicit_retention():
    names = [t.name for t in ALL]
    assert len(names) == len(set(names))
    assert {"sightings", "items", "alerts", "responses", "records", "city-index", "deadletter"} <= set(names)
    for t in ALL:
        assert t.config.get("cleanup.policy") in ("delete", "compact"), t.name
        if t.config["cleanup.policy"] == "delete":
            assert "retention.ms" in t.config, t.name


def test_the_api_token_is_not_in_the_repr():
    """Security review: a Settings printed in a log line or a traceback must not carry the token."""
    s = Settings(api_token="TOPSECRET-123")
    assert "TOPSECRET-123" not in repr(s) and "TOPSECRET-123" not in str(s)
    assert s.api_token == "TOPSECRET-123"


def test_the_operating_guide_lists_every_topic():
    guide = (PROJECT_ROOT / "docs" / "operating.md").read_text()
    missing = [t.name for t in ALL if f"| `{t.name}` |" not in guide]
    assert not missing, f"topics missing from the topics table of docs/operating.md: {missing}"


def test_the_kafka_password_is_not_in_the_repr():
    s = Settings(kafka_security_protocol="SASL_SSL", kafka_username="pollers", kafka_password="KAFKA-SECRET-456")
    assert "KAFKA-SECRET-456" not in repr(s) and "KAFKA-SECRET-456" not in str(s)
    assert "pollers" in repr(s) and s.kafka_password == "KAFKA-SECRET-456"
