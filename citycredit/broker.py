"""The local single-node KRaft Kafka broker: fetch, format, start, wait, stop.

Used by ``citycredit broker ...``, the demo and the test session. Everything that
can go wrong on a developer's machine (no Java, port taken, half-formatted
storage, broker not answering) becomes a ``BrokerError`` whose message names the
fix; the CLI prints it without a stack trace.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .exceptions import BrokerError, ConfigError
from .settings import PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from .kafka_tls import CertFiles

OPS_KAFKA = PROJECT_ROOT / "ops" / "kafka"
# Outside git, shared by every checkout of the same user: the jars are ~100 MB.
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve() / "citycredit"


@dataclass(frozen=True)
class BrokerPaths:
    root: Path

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def log(self) -> Path:
        return self.root / "broker.log"


def libs_dir(settings: Settings) -> Path:
    return CACHE_ROOT / f"kafka-{settings.kafka_version}" / "libs"


def java_binary(settings: Settings) -> str:
    home = settings.java_home or os.environ.get("JAVA_HOME", "")
    if home:
        candidate = Path(home) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise BrokerError(
            "Java not found: the local Kafka broker needs a JDK 17 or newer. "
            "Install one (apt-get install openjdk-17-jre-headless) or set CITYCREDIT_JAVA_HOME."
        )
    return found


def fetch(settings: Settings, quiet: bool = True) -> Path:
    """Fetch the broker's jars from Maven Central into the cache (idempotent)."""
    libs = libs_dir(settings)
    stamp = libs.parent / "complete"
    if stamp.exists():
        return libs
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError("Maven (mvn) not found: it fetches the Kafka jars. Install it (apt-get install maven).")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-B", "-f", str(OPS_KAFKA / "pom.xml"), "dependency:copy-dependencies",
           f"-DoutputDirectory={libs}", f"-Dkafka.version={settings.kafka_version}", "-DincludeScope=runtime"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BrokerError(
            f"fetching Kafka {settings.kafka_version} from Maven Central failed "
            f"(is the registry reachable?):\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    if not any(libs.glob(f"kafka_2.13-{settings.kafka_version}.jar")):
        raise BrokerError(f"Maven finished but {libs} has no kafka_2.13-{settings.kafka_version}.jar")
    stamp.write_text(settings.kafka_version + "\n")
    return libs


def java_cmd(settings: Settings, paths: BrokerPaths, main_class: str, *args: str, heap: str | None = None) -> list[str]:
    cmd = [java_binary(settings)]
    if heap:  # the long-running broker
        cmd += [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
    else:  # short-lived tools (format, console consumer): start fast, stay small
        cmd += ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
    cmd += [
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{OPS_KAFKA / 'log4j.properties'}",
        f"-Dkafka.logs.dir={paths.root}",
        "-cp", str(libs_dir(settings) / "*"),
        main_class, *args,
    ]
    return cmd


def paths_for(settings: Settings) -> BrokerPaths:
    return BrokerPaths(settings.kafka_dir)


def render_config(settings: Settings, paths: BrokerPaths) -> str:
    template = (OPS_KAFKA / "server.properties.template").read_text()
    text = template.format(port=settings.kafka_port, controller_port=settings.kafka_controller_port,
                           log_dirs=paths.storage)
    if settings.kafka_sasl_port:
        text = _with_sasl_listener(settings, paths, text)
    return text


def tls_files(settings: Settings) -> CertFiles:
    """The local broker's certificates (``<data_dir>/kafka/tls``); clients trust its ``ca.pem``."""
    from .kafka_tls import CertFiles

    return CertFiles(paths_for(settings).root / "tls")


def _scram_user(settings: Settings) -> tuple[str, str]:
    from .kafka_client import password as kafka_password

    name, password = settings.kafka_username, kafka_password(settings)
    if not name or not password:
        raise ConfigError("CITYCREDIT_KAFKA_SASL_PORT opens a SASL_SSL listener: set CITYCREDIT_KAFKA_USERNAME and "
                          "CITYCREDIT_KAFKA_PASSWORD for its SCRAM user")
    # the storage tool's --add-scram value is [name=...,password=...], unquoted
    if any(c in ",[]='\"\\" or c.isspace() for c in name + password):
        raise ConfigError("the local broker's SCRAM user name and password may not contain spaces, quotes, commas, "
                          "brackets, '=' or backslashes (the storage tool's --add-scram syntax)")
    return name, password


def _with_sasl_listener(settings: Settings, paths: BrokerPaths, text: str) -> str:
    """An extra SASL_SSL listener (SCRAM-SHA-512 over TLS) beside the PLAINTEXT one on 127.0.0.1.

    The certificates come from citycredit.kafka_tls (what ops/make_kafka_certs.py writes for
    compose); the SCRAM user is added when the storage is formatted (format_storage).
    """
    from .kafka_tls import make_certs

    _scram_user(settings)
    files = make_certs(tls_files(settings).root, hosts=("localhost",), ips=("127.0.0.1",))
    sasl = f"SASL_SSL://127.0.0.1:{settings.kafka_sasl_port}"
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{settings.kafka_port},CONTROLLER://127.0.0.1:{settings.kafka_controller_port},{sasl}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{settings.kafka_port},{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
    }
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0]
        lines.append(f"{key}={overrides[key]}" if key in overrides and not line.startswith("#") else line)
    password = files.password()
    lines += [
        "# SASL_SSL listener (CITYCREDIT_KAFKA_SASL_PORT): SCRAM-SHA-512 over TLS",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={files.keystore}",
        f"ssl.keystore.password={password}",
        f"ssl.key.password={password}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={files.ca_cert}",
    ]
    return "\n".join(lines) + "\n"


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def new_cluster_id() -> str:
    """A random KRaft cluster id (22 URL-safe base64 characters).

    One in 64 of them starts with "-", which the storage tool's argument parser took for an
    option ("--cluster-id: expected one argument"): broker start failed at random (found by
    the fault tests, which format a fresh broker). Like Kafka's own Uuid.randomUuid, draw again.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(settings: Settings, paths: BrokerPaths) -> None:
    """Format KRaft storage once; a storage dir that is neither empty nor formatted is an error."""
    meta = paths.storage / "meta.properties"
    if meta.exists():
        return
    if paths.storage.exists() and any(paths.storage.iterdir()):
        raise BrokerError(
            f"the broker storage {paths.storage} is half-formatted (files but no meta.properties). "
            "Remove it with `citycredit broker reset` (this deletes the local broker's data) and start again."
        )
    paths.storage.mkdir(parents=True, exist_ok=True)
    args = ["format", f"--cluster-id={new_cluster_id()}", "-c", str(paths.config), "--ignore-formatted"]
    if settings.kafka_sasl_port:
        # KRaft keeps SCRAM credentials in its metadata log: the SASL_SSL listener's user is
        # written there at format time, before the broker first starts
        name, password = _scram_user(settings)
        args += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    proc = subprocess.run(java_cmd(settings, paths, "kafka.tools.StorageTool", *args), capture_output=True, text=True)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr)[-2000:]
        if settings.kafka_sasl_port:
            output = output.replace(password, "***")
        raise BrokerError(f"formatting broker storage {paths.storage} failed:\n{output}")


def read_pid(paths: BrokerPaths) -> int | None:
    try:
        pid = int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A recycled pid that is not our java would be killed by stop(): check the command line.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid
    return pid if b"kafka.Kafka" in cmdline else None


def bootstrap(settings: Settings) -> str:
    return f"127.0.0.1:{settings.kafka_port}"


async def _metadata_ok(servers: str, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
    finally:
        await admin.close()


def answers(servers: str, timeout: float = 3.0) -> bool:
    """True when a Kafka metadata request to ``servers`` succeeds."""
    # aiokafka logs every refused connection at ERROR; while polling for readiness that is expected.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        asyncio.run(_metadata_ok(servers, timeout))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False


def start(settings: Settings) -> float:
    """Start the broker in the background and wait until it answers; returns seconds to ready."""
    paths = paths_for(settings)
    if read_pid(paths):
        if answers(bootstrap(settings)):
            return 0.0
        raise BrokerError(f"a broker process is running (pid file {paths.pid}) but does not answer: "
                          f"see {paths.log}, or `citycredit broker stop` and start again")
    for port in (settings.kafka_port, settings.kafka_controller_port, settings.kafka_sasl_port):
        if port and _port_in_use(port):
            raise BrokerError(
                f"port {port} is already taken by another process (`ss -ltnp 'sport = :{port}'` shows which). "
                "Stop it, or choose other ports with CITYCREDIT_KAFKA_PORT / CITYCREDIT_KAFKA_CONTROLLER_PORT"
                " / CITYCREDIT_KAFKA_SASL_PORT."
            )
    fetch(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(render_config(settings, paths))
    format_storage(settings, paths)
    t0 = time.monotonic()
    with open(paths.log, "ab") as log:
        proc = subprocess.Popen(
            java_cmd(settings, paths, "kafka.Kafka", str(paths.config), heap=settings.kafka_heap),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    paths.pid.write_text(f"{proc.pid}\n")
    deadline = t0 + settings.kafka_ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            paths.pid.unlink(missing_ok=True)
            raise BrokerError(f"the broker exited with status {proc.returncode} while starting; "
                              f"last lines of {paths.log}:\n{_tail(paths.root / 'server.log', paths.log)}")
        if answers(bootstrap(settings), timeout=2.0):
            return time.monotonic() - t0
        time.sleep(0.25)
    stop(settings)
    raise BrokerError(f"the broker did not answer a metadata request within {settings.kafka_ready_timeout:.0f}s; "
                      f"see {paths.log} and {paths.root / 'server.log'}")


def _tail(*files: Path, lines: int = 15) -> str:
    out = []
    for f in files:
        if f.exists():
            out += f.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(out)


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the broker (SIGTERM, then SIGKILL); True if one was running."""
    paths = paths_for(settings)
    pid = read_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    paths.pid.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split()[2] == "Z":
                os.waitpid(pid, os.WNOHANG)
                return False
    except (OSError, ChildProcessError):
        pass
    return True


def reset(settings: Settings) -> None:
    """Stop the broker and delete its storage (all local topics and offsets)."""
    stop(settings)
    shutil.rmtree(paths_for(settings).storage, ignore_errors=True)


def status(settings: Settings) -> dict[str, object]:
    paths = paths_for(settings)
    pid = read_pid(paths)
    rss_kb = None
    if pid:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb = int(line.split()[1])
        except OSError:
            pass
    return {
        "running": pid is not None,
        "pid": pid,
        "answers": answers(bootstrap(settings)) if pid else False,
        "bootstrap": bootstrap(settings),
        "rss_mb": round(rss_kb / 1024, 1) if rss_kb else None,
        "log": str(paths.log),
        "version": settings.kafka_version,
    }
