"""All settings in one typed object, read from ``CITYCREDIT_*`` environment variables.

``Settings`` is a pydantic-settings model: pydantic-settings finds each field's variable
(prefix + name) and pydantic turns the text into the field's type. Every field's
description is the settings table of docs/operating.md; a unit test checks that it
lists every one, so the two cannot drift apart.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Mapping

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from .exceptions import ConfigError

PREFIX = "CITYCREDIT_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _s(default: Any, doc: str, secret: bool = False) -> Any:
    # secret: left out of repr() and str(), so a logged or printed Settings (or a traceback
    # showing one) never carries it; it stays a plain str, which every caller reads directly
    return Field(default=default, description=doc, repr=not secret)


def _empty_is_false(value: Any) -> Any:
    # an empty variable (KEY= in a compose file or env file) has always meant "off";
    # pydantic's bool alone refuses the empty string
    return False if value == "" else value


# a bool read from the environment: 1/true/yes/on and 0/false/no/off in any case, empty = False
Flag = Annotated[bool, BeforeValidator(_empty_is_false)]


class Settings(BaseSettings):
    # Settings() is the defaults (tests build one and replace a few fields); only from_env()
    # reads the environment, so a developer's exported CITYCREDIT_* cannot leak into them
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="forbid",
                                      # a ValidationError's text (in a chained traceback) never quotes a value
                                      hide_input_in_errors=True)

    # --- Kafka -----------------------------------------------------------
    kafka_bootstrap: str = _s("127.0.0.1:9092", "Kafka bootstrap servers (host:port[,host:port]).")
    app_id: str = _s("citycredit", "Faust application id: consumer group and changelog topic prefix.")
    topic_partitions: int = _s(4, "Partitions for keyed topics (sightings, items, alerts, ...).")
    topic_replication: int = _s(1, "Replication factor for created topics (1 on the single-node broker).")
    # how every client connects (citycredit/kafka_client.py builds the arguments from these)
    kafka_security_protocol: str = _s("PLAINTEXT", "How clients talk to Kafka: PLAINTEXT (the local broker on 127.0.0.1) or SASL_SSL "
                                                   "(TLS plus a SASL login; the compose deployment).")
    kafka_sasl_mechanism: str = _s("SCRAM-SHA-512", "SASL mechanism with SASL_SSL: SCRAM-SHA-512 (or SCRAM-SHA-256).")
    kafka_username: str = _s("", "SASL user (Kafka principal User:<name>) of this process with SASL_SSL.")
    kafka_password: str = _s("", "SASL password of CITYCREDIT_KAFKA_USERNAME. Never logged.", secret=True)
    kafka_password_file: str = _s("", "File holding the SASL password (a compose secret such as /run/secrets/kafka_worker_password); "
                                      "read when CITYCREDIT_KAFKA_PASSWORD is empty.")
    kafka_ca_file: str = _s("", "PEM file of the CA that signed the broker's TLS certificate (ops/make_kafka_certs.py writes ca.pem); "
                                "empty means the system's CAs.")
    # --- Faust worker ----------------------------------------------------
    store: str = _s("rocksdb://", "Faust table store: rocksdb:// (embedded RocksDB) or memory:// (tests).")
    data_dir: Path = _s(PROJECT_ROOT / "var", "Directory for worker state, snapshots and the local broker.")
    web_port: int = _s(6066, "Port of the worker's web server (desk, API, /metrics).")
    web_host: str = _s("127.0.0.1", "Interface the worker's web server binds to.")
    session_timeout: float = _s(10.0, "Seconds without a heartbeat before a crashed worker's partitions move to another worker (failover time).")
    log_level: str = _s("info", "Log level of worker and pollers (debug, info, warn, error; Faust rejects \"warning\").")
    # --- desk, API and alert delivery (citycredit/web, agents/deliver_alerts.py) ---
    api_token: str = _s("", "Bearer token required by every write endpoint (responses, subscriptions); empty disables writes. Never logged.", secret=True)
    deployment: str = _s("development", "development or production. Production refuses to start without CITYCREDIT_SECRET_KEY; "
                                        "development seals webhook secrets with an ephemeral key (a warning says so).")
    secret_key: str = _s("", "Fernet key sealing webhook secrets on the subscriptions topic and in memory (several, comma-separated: "
                             "the first seals, all open, for a rotation). Never logged.", secret=True)
    web_max_body_bytes: int = _s(65536, "Largest request body the API accepts; bigger bodies get 413.")
    api_rate_limit: float = _s(20.0, "Requests per second each client address may make to the API on average (token bucket); beyond it 429 with Retry-After. 0 disables.")
    api_rate_burst: int = _s(60, "Requests a client may make at once before the API rate limit applies (the token bucket's size).")
    trusted_proxies: str = _s("", "Comma-separated addresses or CIDRs of the reverse proxies in front of the API (e.g. 10.0.0.5,172.18.0.0/16). "
                                  "Only a request from one of them is rate-limited by the last X-Forwarded-For address that is not a "
                                  "trusted proxy; empty: by the connecting address, X-Forwarded-For ignored.")
    desk_url: str = _s("http://127.0.0.1:6066", "Base URL under which officers reach the desk (behind the TLS proxy in production): "
                                              "the city links in 企业微信 and 钉钉 alerts point there.")
    smtp_host: str = _s("", "SMTP server for email alert subscriptions (kind email); empty: email subscriptions are refused.")
    smtp_port: int = _s(587, "Port of the SMTP server: 587 with STARTTLS, 465 with implicit TLS (CITYCREDIT_SMTP_TLS=implicit).")
    smtp_tls: str = _s("starttls", "starttls (upgrade after connecting, refused if the server cannot), implicit (TLS from the first "
                                   "byte) or none (closed test networks only).")
    smtp_username: str = _s("", "SMTP login; empty: no authentication.")
    smtp_password: str = _s("", "SMTP password. Never logged.", secret=True)
    smtp_from: str = _s("citycredit@localhost", "From address of email alerts.")
    webhook_allow_private: Flag = _s(False, "Allow subscription URLs that resolve to private, loopback or link-local addresses (tests, closed networks).")
    webhook_timeout: float = _s(10.0, "Seconds one webhook POST may take before it counts as a failed try.")
    webhook_max_response_bytes: int = _s(65536, "Most bytes of a webhook receiver's response body read (only its status counts; "
                                                "the start of the body goes into a failed try's reason); the rest is not read.")
    webhook_max_attempts: int = _s(6, "Tries per alert before a dead-letter record is written and the subscription is marked down.")
    webhook_backoff_base: float = _s(1.0, "First retry delay in seconds; doubles on each further try (exponential backoff).")
    webhook_backoff_max: float = _s(60.0, "Longest delay between tries, also the probe interval of a subscription marked down.")
    webhook_outbox_max: int = _s(10000, "Alerts kept per subscription while its receiver is down; older ones beyond this go to dead-letter.")
    sse_max_streams: int = _s(200, "Alert streams (Server-Sent Events, /api/alerts/stream) open at once; beyond it 503 with Retry-After, "
                                   "so idle connections cannot pile up until the worker runs out of file descriptors.")
    desk_events_per_city: int = _s(500, "Most recent classified items per city kept in the desk's read model (timeline and search).")
    # --- detection ---------------------------------------------------------
    detection_config: Path = _s(PROJECT_ROOT / "citycredit" / "config" / "detection.toml",
                                "TOML file with the major-event and early-warning rules (site threshold, window, top N, lateness, trend test).")
    # --- understanding (city, credit class, story) ---------------------------
    gazetteer_dir: Path = _s(PROJECT_ROOT / "citycredit" / "data" / "gazetteer",
                             "Directory of the national division lists (provinces/cities/areas.csv, areacodes/) used for city attribution; "
                             "shipped in the package, built by ops/build_gazetteer.py.")
    story_window_hours: float = _s(48.0, "Event-time hours a story stays open for new sightings after it was last seen (story clustering).")
    story_min_similarity: float = _s(0.12, "Weighted bigram Jaccard (weights idf^3) at which two titles in the same city bucket are one story.")
    story_min_containment: float = _s(0.5, "Weighted share of a short title found in a longer one at which both are one story.")
    story_max_open: int = _s(50000, "Most open stories kept for clustering; the oldest hours are dropped beyond it.")
    # --- local broker (ops) ------------------------------------------------
    kafka_version: str = _s("3.9.1", "Apache Kafka version fetched from Maven Central for the local broker.")
    kafka_port: int = _s(9092, "Client port of the local broker.")
    kafka_controller_port: int = _s(9093, "KRaft controller port of the local broker.")
    kafka_sasl_port: int = _s(0, "Port of an extra SASL_SSL listener of the local broker (0 = none): certificates from "
                                 "ops/make_kafka_certs.py under <data_dir>/kafka/tls, SCRAM user CITYCREDIT_KAFKA_USERNAME.")
    kafka_heap: str = _s("512m", "JVM heap (-Xmx and -Xms) of the local broker.")
    kafka_ready_timeout: float = _s(60.0, "Seconds to wait for the local broker to answer a metadata request.")
    java_home: str = _s("", "JDK used for the local broker; empty means java on PATH or $JAVA_HOME.")
    # --- city index (scoring); its city registry reads gazetteer_dir too ---------
    scoring_config: Path = _s(PROJECT_ROOT / "citycredit" / "config" / "scoring.toml",
                              "Scoring weights, saturation, decay, periods and response offsets (TOML).")
    tasks_config: Path = _s(PROJECT_ROOT / "citycredit" / "config" / "tasks.toml",
                            "Per-city credit-building task checklists (TOML).")
    disclosure_config: Path = _s(PROJECT_ROOT / "citycredit" / "config" / "disclosure_sites.toml",
                                 "City credit websites and the disclosure columns checked on them (TOML).")
    disclosure_interval: float = _s(86400.0, "Seconds between two checks of the city credit websites.")

    # --- ingestion (streams/) ---------------------------------------------
    sites_file: Path = _s(PROJECT_ROOT / "citycredit" / "config" / "sites.toml", "The site registry (TOML): sites, surfaces, parsers, poll intervals.")
    sites_base_url: str = _s("", "Poll this server instead of the real hosts (the recorded-sites server, e.g. http://127.0.0.1:8800); empty = the real sites.")
    sites_port: int = _s(8800, "Port of the recorded-sites server (`citycredit sites serve`, `citycredit demo`).")
    sites_speed: float = _s(120.0, "Time acceleration of the recorded-sites timeline: simulated seconds per real second.")
    poll_interval_scale: float = _s(1.0, "Multiplier on every registry poll interval (the demo uses a small one to match the accelerated timeline).")
    poll_metrics_port: int = _s(9108, "Port of the pollers' own Prometheus /metrics in `citycredit run` (0 = none; the worker serves the rest).")
    poll_politeness_delay: float = _s(2.0, "Seconds between two requests to the same host (one request per host at a time).")
    poll_connect_timeout: float = _s(5.0, "Seconds to connect to a site.")
    poll_read_timeout: float = _s(10.0, "Seconds without a byte before a read times out.")
    poll_deadline: float = _s(20.0, "Seconds for a whole response, however it trickles in.")
    poll_retries: int = _s(2, "Retries of a transient fetch failure (timeout, reset, 5xx, 429), with exponential backoff and jitter.")
    poll_backoff: float = _s(1.0, "Base of the exponential retry backoff, seconds.")
    poll_max_bytes: int = _s(8 * 1024 * 1024, "Largest response body accepted, checked while streaming and after decompression.")
    poll_max_redirects: int = _s(5, "Redirects followed before a fetch fails.")
    poll_yield_drop_ratio: float = _s(0.2, "A surface yielding under this fraction of its usual headline count is flagged as a broken parser.")
    snapshot_retention_days: float = _s(7.0, "Days raw snapshots are kept for `citycredit reparse`.")
    snapshot_max_mb: int = _s(500, "Size cap of the raw snapshot store (oldest days are dropped first).")
    spool_fsync: Flag = _s(False, "fsync the pollers' spool journal (`<data_dir>/streams/spool.jsonl`) on every enqueue: records "
                              "not yet acknowledged by Kafka then survive a crash of the machine, not only a killed poller "
                              "(~0.5 ms instead of 0.2 ms per enqueue of a poll's 40 records on the dev VM; see the Reliability section).")

    @property
    def kafka_dir(self) -> Path:
        """Where the local broker keeps its log, pid file and KRaft storage."""
        return self.data_dir / "kafka"

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        # the constructor's keywords only: no environment, .env file or secrets directory (see from_env)
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """The settings from ``CITYCREDIT_*`` variables of ``environ`` (default: this process's environment).

        A value that does not fit its field raises ConfigError naming the variable: the CLI
        prints it as one line. pydantic's ValidationError is translated here, once.
        """
        values = _Environ(cls, environ)()
        try:
            return cls(**values)
        except ValidationError as exc:
            raise _config_error(exc) from exc

    def replace(self, **changes: Any) -> "Settings":
        # validated like the constructor: a wrong type or an unknown name fails here, not later
        return type(self)(**{**dict(self), **changes})

    @classmethod
    def documented(cls) -> list[tuple[str, Any, str]]:
        """(environment variable, default, description) for every setting."""
        return [(PREFIX + name.upper(), f.default, f.description or "") for name, f in cls.model_fields.items()]


class _Environ(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, so from_env(mapping) reads only it."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None) -> None:
        self._environ = environ  # read by _load_env_vars, which the base __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        env = os.environ if self._environ is None else self._environ
        # names match as written, upper case, as they always did (pydantic-settings alone would
        # also take citycredit_web_port); its case-insensitive lookup wants the keys lower-cased
        return {k.lower(): v for k, v in env.items() if k.startswith(PREFIX) and k.isupper()}


def _config_error(exc: ValidationError) -> ConfigError:
    """One line naming every variable that does not fit, its value (not a secret's) and the way out."""
    problems = []
    for err in exc.errors(include_url=False):
        name = str(err["loc"][0]) if err["loc"] else ""
        field = Settings.model_fields.get(name)
        if field is None:
            problems.append(err["msg"])
            continue
        shown = "<hidden>" if not field.repr else repr(err["input"])
        default = "(empty)" if field.default == "" else field.default
        problems.append(f"{PREFIX}{name.upper()}={shown}: {err['msg']} (fix it, or unset it for the default: {default})")
    return ConfigError("; ".join(problems))


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def _relative_to_checkout(path: Path) -> str:
    """Defaults are absolute on this machine; the table shows them relative to the checkout."""
    if path.is_relative_to(PROJECT_ROOT):
        return f"<checkout>/{path.relative_to(PROJECT_ROOT)}"
    if path.is_relative_to(PROJECT_ROOT.parent):
        return f"<checkout>/../{path.relative_to(PROJECT_ROOT.parent)}"
    return str(path)


def markdown_table() -> str:
    """The settings table of docs/operating.md (``python -m citycredit.settings``)."""
    rows = ["| variable | default | what it sets |", "| --- | --- | --- |"]
    for name, default, doc in Settings.documented():
        shown = (f"`{_relative_to_checkout(default)}`" if isinstance(default, Path)
                 else f"`{default}`" if default != "" else "(empty)")
        rows.append(f"| `{name}` | {shown} | {doc} |")
    return "\n".join(rows)


def update_readme(path: Path) -> None:
    """Replace the table between the settings-table markers of a markdown file (docs/operating.md)."""
    text = path.read_text()
    start = text.index("<!-- settings-table")
    start = text.index("\n", start) + 1
    end = text.index("<!-- /settings-table -->")
    path.write_text(text[:start] + markdown_table() + "\n" + text[end:])


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--update-readme"]:
        update_readme(Path(sys.argv[2]))
    else:
        print(markdown_table())
