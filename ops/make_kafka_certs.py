"""Certificates and secrets of the compose deployment (docker-compose.yml reads them as secrets).

    python ops/make_kafka_certs.py [--out ops/secrets] [--host kafka] [--force]

Writes into the output directory (created mode 0700; keep it out of git, .gitignore lists it):

- ca.pem, ca-key.pem: the CA clients trust (CITYCREDIT_KAFKA_CA_FILE) and the broker's PEM truststore;
- kafka.keystore.p12, kafka.keystore.password: the broker's key and certificate (PKCS12) for
  the given host names (default kafka and localhost, and 127.0.0.1);
- kafka-<principal>.password: a SCRAM-SHA-512 password for each Kafka principal (admin, worker,
  pollers), added to the broker's storage when it is formatted (ops/kafka/compose-start.sh);
- grafana-admin.password: Grafana's admin password.

ca-key.pem stays mode 0600 (no container mounts it). Files that exist are kept (so a re-run does not lock a running deployment out); --force makes
new certificates, passwords stay. The other files are mode 0644 inside the 0700 directory: compose
bind-mounts each secret into a container whose user is not the host's, and the directory
keeps other host users out.
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citycredit.kafka_tls import make_certs  # noqa: E402  (the same certificates the local broker makes)

PRINCIPALS = ("admin", "worker", "pollers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "ops" / "secrets", help="output directory (default ops/secrets)")
    parser.add_argument("--host", action="append", default=None,
                        help="host name in the broker certificate (repeatable; default kafka and localhost)")
    parser.add_argument("--days", type=int, default=825, help="validity of the certificates in days")
    parser.add_argument("--force", action="store_true", help="make new certificates even if they exist")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o700)
    files = make_certs(out, hosts=tuple(args.host or ("kafka", "localhost")), ips=("127.0.0.1",), days=args.days,
                       force=args.force)
    made = [files.ca_cert, files.keystore]
    for name in [f"kafka-{p}.password" for p in PRINCIPALS] + ["grafana-admin.password"]:
        path = out / name
        if not path.exists():
            # URL-safe characters only: the storage tool's --add-scram value takes them unquoted
            path.write_text(secrets.token_urlsafe(24) + "\n")
            made.append(path)
    for path in out.iterdir():
        # the CA key is mounted nowhere: it stays the host user's alone
        os.chmod(path, 0o600 if path == files.ca_key else 0o644)
    for path in made:
        print(f"wrote {path}")
    print(f"secrets in {out} (directory mode 0700); docker-compose.yml reads them from there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
