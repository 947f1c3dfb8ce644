#!/usr/bin/env bash
# Fresh-machine set-up, idempotent: a venv with the pinned Python packages and the
# Kafka jars from Maven Central. Called by `make demo` and `make test`; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null; then echo "bootstrap: python3 (3.11+) not found" >&2; exit 2; fi
if ! command -v java >/dev/null && [ -z "${CITYCREDIT_JAVA_HOME:-}" ] && [ -z "${JAVA_HOME:-}" ]; then
  echo "bootstrap: Java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless)" >&2; exit 2
fi
if ! command -v mvn >/dev/null; then echo "bootstrap: Maven not found: apt-get install maven" >&2; exit 2; fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.citycredit-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # The lock pins every transitive version; -e . adds the project itself.
  .venv/bin/python -m pip install -q -r requirements.lock -e .
  echo "$want" > "$stamp"
fi
.venv/bin/citycredit broker fetch >/dev/null
