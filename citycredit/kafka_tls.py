"""Certificates for Kafka's TLS listener: a CA, the broker's PKCS12 keystore, the CA file clients trust.

Used by ``ops/make_kafka_certs.py`` (the compose deployment) and by the local broker when it
opens a SASL_SSL listener (``CITYCREDIT_KAFKA_SASL_PORT``, the SASL_SSL integration test).
The CA's private key is written next to the certificates (mode 0600) so more broker
certificates can be signed later; keep the directory out of git (it is in .gitignore).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertFiles:
    root: Path

    @property
    def ca_cert(self) -> Path:
        """PEM: what clients trust (CITYCREDIT_KAFKA_CA_FILE) and the broker's truststore (ssl.truststore.type=PEM)."""
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca-key.pem"

    @property
    def keystore(self) -> Path:
        """PKCS12: the broker's key and certificate chain (ssl.keystore.type=PKCS12)."""
        return self.root / "kafka.keystore.p12"

    @property
    def keystore_password(self) -> Path:
        return self.root / "kafka.keystore.password"

    def complete(self) -> bool:
        return all(p.exists() for p in (self.ca_cert, self.ca_key, self.keystore, self.keystore_password))

    def password(self) -> str:
        return self.keystore_password.read_text().strip()


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def make_certs(root: Path, hosts: tuple[str, ...] = ("localhost", "kafka"), ips: tuple[str, ...] = ("127.0.0.1",),
               days: int = 825, force: bool = False) -> CertFiles:
    """Write a CA and a broker certificate for ``hosts``/``ips`` under ``root`` (kept if already there)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    files = CertFiles(Path(root))
    if files.complete() and not force:
        return files
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "citycredit Kafka CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    names = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0] if hosts else ips[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            # clientAuth too: the broker is a TLS client of its own listener (inter-broker in compose)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    password = secrets.token_urlsafe(24)
    keystore = pkcs12.serialize_key_and_certificates(b"kafka", key, cert, [ca],
                                                     serialization.BestAvailableEncryption(password.encode()))
    _write(files.ca_key, ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), private=True)
    _write(files.ca_cert, ca.public_bytes(serialization.Encoding.PEM), private=False)
    _write(files.keystore_password, (password + "\n").encode(), private=True)
    _write(files.keystore, keystore, private=True)
    return files
