"""Reading a topic with Kafka's own console consumer: a client none of us wrote, so a test
that reads what the worker wrote does not trust our consumer code to check itself."""
from __future__ import annotations

import subprocess

from citycredit import broker
from citycredit.settings import Settings


def console_consume(settings: Settings, topic: str, max_messages: int, timeout_ms: int = 20000,
                    print_key: bool = True) -> list[str]:
    """The records of ``topic`` from its beginning (``key<TAB>value`` lines with ``print_key``)."""
    args = ["--bootstrap-server", broker.bootstrap(settings), "--topic", topic, "--from-beginning",
            "--max-messages", str(max_messages), "--timeout-ms", str(timeout_ms)]
    if print_key:
        args += ["--property", "print.key=true", "--property", "key.separator=\t"]
    proc = subprocess.run(
        broker.java_cmd(settings, broker.paths_for(settings), "org.apache.kafka.tools.consumer.ConsoleConsumer", *args),
        capture_output=True, text=True, timeout=timeout_ms / 1000 + 60,
    )
    return [line for line in proc.stdout.splitlines() if line.strip()]
