from __future__ import annotations

from pathlib import Path

import pytest

from citycredit.exceptions import ConfigError
from citycredit.settings import PROJECT_ROOT, Settings, markdown_table
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


def test_every_bad_value_is_named_on_one_line_with_the_default():
    """The CLI prints a ConfigError as one line: each bad variable, its value and the way out."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"CITYCREDIT_WEB_PORT": "eighty", "CITYCREDIT_SESSION_TIMEOUT": "soon",
                           "CITYCREDIT_SPOOL_FSYNC": "maybe", "CITYCREDIT_DATA_DIR": "/tmp/fine"})
    line = str(caught.value)
    assert "\n" not in line
    assert "CITYCREDIT_WEB_PORT='eighty'" in line and "valid integer" in line and "default: 6066" in line
    assert "CITYCREDIT_SESSION_TIMEOUT='soon'" in line and "CITYCREDIT_SPOOL_FSYNC='maybe'" in line
    assert "DATA_DIR" not in line


def test_the_chained_validation_error_quotes_no_value():
    """A logged traceback shows the ValidationError under the ConfigError: it must not carry values."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"CITYCREDIT_WEB_PORT": "eighty-SENSITIVE"})
    assert "SENSITIVE" not in str(caught.value.__cause__)


@pytest.mark.parametrize("name", ["api_token", "kafka_password", "secret_key", "smtp_password"])
def test_no_secret_shows_in_repr_or_str(name):
    s = Settings.from_env({f"CITYCREDIT_{name.upper()}": "S3CRET-789"})
    assert "S3CRET-789" not in repr(s) and "S3CRET-789" not in str(s)
    assert "S3CRET-789" not in repr(s.replace(web_port=81))
    assert getattr(s, name) == "S3CRET-789"  # a plain str for its callers


def test_only_from_env_reads_the_environment_and_only_the_mapping_given(monkeypatch):
    monkeypatch.setenv("CITYCREDIT_WEB_PORT", "1234")
    monkeypatch.setenv("citycredit_app_id", "lower-case")  # names match upper case, as written
    monkeypatch.setenv("CITYCREDIT_app_id", "mixed-case")
    assert Settings().web_port == 6066 and Settings.from_env({}).web_port == 6066
    assert Settings.from_env().web_port == 1234 and Settings.from_env().app_id == "citycredit"


@pytest.mark.parametrize("raw, expected", [("1", True), ("yes", True), ("ON", True), ("True", True),
                                           ("0", False), ("off", False), ("", False)])
def test_flags_read_the_usual_words_and_empty_is_off(raw, expected):
    assert Settings.from_env({"CITYCREDIT_SPOOL_FSYNC": raw}).spool_fsync is expected


def test_replace_types_its_values_and_refuses_unknown_names():
    s = Settings().replace(web_port="81", data_dir="/tmp/x")
    assert s.web_port == 81 and s.data_dir == Path("/tmp/x")
    with pytest.raises(ValueError):
        Settings().replace(web_prot=81)


def test_the_settings_table_of_the_operating_guide_is_current():
    """Generated from the fields' descriptions: `make settings-doc` after changing a setting."""
    guide = (PROJECT_ROOT / "docs" / "operating.md").read_text()
    start = guide.index("\n", guide.index("<!-- settings-table")) + 1
    assert guide[start:guide.index("<!-- /settings-table -->")] == markdown_table() + "\n", "run `make settings-doc`"
