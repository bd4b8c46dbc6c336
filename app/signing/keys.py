"""The authorities' signing keys and certificates (issue 24), kept out of the database.

A directory (`SIGNING_DIR`, default instance/signing) holds, per authority (a department
that decides in its own name: its code), `<code>.key.pem` (PKCS#8, unencrypted, readable by
the service only) and `<code>.cert.pem` (its certificate, then the chain up to the root),
and `trust.pem`: the roots a document's chain must end at. In production the admin puts
there the certificates (and keys) the authority was issued; a hardware module or a signing
service takes the place of the key file behind `DocumentSigner`.

For the demo, `create_demo_ca` makes a local certificate authority ("OneWindow Demo CA")
and a certificate for each authority under it; `flask init-signing` runs it once (the
set-up of `make run` does), and never overwrites what is there.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

DEMO_CA = "OneWindow Demo CA"
TRUST = "trust.pem"
CA_KEY = "demo-ca.key.pem"  # the demo CA's own key: only to issue the demo's certificates
CA_YEARS, CERT_DAYS = 10, 825


class NoSigningKey(Exception):
    """The authority has no key and certificate in the signing directory."""


class DocumentSigner(Protocol):
    """Whatever signs for an authority: a key file here, a hardware module, a service."""

    def certificates(self) -> list[x509.Certificate]:
        """The signing certificate first, then its chain (not the root)."""

    def private_key_pkcs8(self) -> bytes:
        """The key, DER PKCS#8, for pyHanko's signer (a module would sign instead)."""


@dataclass(frozen=True)
class LocalKeySigner:
    """An authority's key and certificate chain read from the signing directory."""

    code: str
    key_pem: bytes
    chain: list[x509.Certificate]

    def certificates(self) -> list[x509.Certificate]:
        return self.chain

    def private_key_pkcs8(self) -> bytes:
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())  # fmt: skip


def signer_for(directory: Path, code: str) -> LocalKeySigner:
    """The signer of authority `code`, or NoSigningKey naming the files it looked for."""
    key, cert = directory / f"{code}.key.pem", directory / f"{code}.cert.pem"
    if not key.is_file() or not cert.is_file():
        raise NoSigningKey(f"{key.name} / {cert.name}")
    chain = x509.load_pem_x509_certificates(cert.read_bytes())
    return LocalKeySigner(code, key.read_bytes(), chain)


def trust_roots(directory: Path) -> list[x509.Certificate]:
    """The roots a signed document's chain must end at (empty: none configured)."""
    path = directory / TRUST
    return x509.load_pem_x509_certificates(path.read_bytes()) if path.is_file() else []


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])  # fmt: skip


def _usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not sign_certs, content_commitment=not sign_certs,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=sign_certs, crl_sign=sign_certs, encipher_only=False,
                         decipher_only=False)  # fmt: skip


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _demo_root(directory: Path, now: dt.datetime, centre: str):
    """The demo CA's key and certificate: read if there, made otherwise."""
    if (directory / CA_KEY).is_file() and (directory / TRUST).is_file():
        key = serialization.load_pem_private_key((directory / CA_KEY).read_bytes(), None)
        return key, trust_roots(directory)[0]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = _name(DEMO_CA, centre)
    root = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(sign_certs=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))  # fmt: skip
    _write_private(directory / CA_KEY, _pem_key(key))
    (directory / TRUST).write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return key, root


def create_demo_ca(directory: Path, authorities: dict[str, str],
                   centre: str = "OneWindow") -> list[str]:  # fmt: skip
    """Make the demo CA (once) and a key and certificate for each authority (code -> name)
    that has none; return the codes given one. Nothing there is overwritten."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, root = _demo_root(directory, now, centre)
    made = []
    for code, name in sorted(authorities.items()):
        if (directory / f"{code}.key.pem").exists() or (directory / f"{code}.cert.pem").exists():
            continue
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        cert = (x509.CertificateBuilder().subject_name(_name(name, name))
                .issuer_name(root.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_usage(sign_certs=False), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))  # fmt: skip
        _write_private(directory / f"{code}.key.pem", _pem_key(key))
        (directory / f"{code}.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        made.append(code)
    return made
