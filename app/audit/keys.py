"""The audit trail's keys, none of which is ever stored in the database.

- `OW_AUDIT_KEY`: one or more base64 32-byte keys, separated by commas. Every event is
  sealed with an HMAC-SHA256 under the first; the others only verify events sealed before a
  rotation. Each event row names its key by a short id (not the key).
- `OW_CHECKPOINT_KEY`: a base64 32-byte Ed25519 private key (seed) that signs the
  checkpoints written to the log outside the database. Unset, it is derived from the
  current audit key, so the two are kept apart only when it is set. Its public key is what
  an auditor needs to check a copy of the log, on or off this machine.
- `OW_CHECKPOINT_TRUSTED_KEYS`: base64 public keys of retired signing keys, whose older
  checkpoint lines still verify.

A development or test installation without `OW_AUDIT_KEY` derives one from its secret key
(like the data key, app/privacy.py); any other refuses to start.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from flask import current_app, has_app_context

from ..privacy import decode_keys, development

KEY_HELP = (
    "{name} must hold base64-encoded 32-byte keys separated by commas; make one with: "
    'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
)


class AuditKeyError(RuntimeError):
    """An audit or checkpoint key is missing or malformed."""


def key_id(key: bytes) -> str:
    """A short public name of an audit key, stored with every event it sealed."""
    return hashlib.sha256(b"ow audit key id" + key).hexdigest()[:16]


def public_id(public: Ed25519PublicKey) -> str:
    """A short public name of a checkpoint signing key, written on every line it signed."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(b"ow checkpoint key id" + raw).hexdigest()[:16]


def _decode_list(value: str, name: str) -> list[bytes]:
    return decode_keys(value, name, AuditKeyError, KEY_HELP.format(name=name))


@dataclass(frozen=True)
class AuditKeys:
    """The installation's audit keys: MAC keys by id, and the checkpoint signing key."""

    mac_keys: dict[str, bytes]
    current: str
    signing: Ed25519PrivateKey
    trusted: dict[str, Ed25519PublicKey]  # the signing key's public key and retired ones

    def seal(self, text: str) -> tuple[str, str]:
        """Return (key id, HMAC-SHA256 hex) of a canonical event text under the current key."""
        return self.current, self.mac(self.current, text)

    def mac(self, kid: str, text: str) -> str:
        return hmac.new(self.mac_keys[kid], text.encode("utf-8"), hashlib.sha256).hexdigest()

    @property
    def signing_id(self) -> str:
        return public_id(self.signing.public_key())

    def public_pem(self) -> bytes:
        """Every trusted public key, PEM, for an auditor to keep beside the log."""
        return b"".join(
            k.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            for k in self.trusted.values()
        )


def keys_from_config(config: Mapping) -> AuditKeys:
    """Read the keys from the configuration; derived ones only for development and tests."""
    macs = _decode_list((config.get("AUDIT_KEY") or "").strip(), "OW_AUDIT_KEY")
    if not macs:
        if not development(config):
            raise AuditKeyError(f"OW_AUDIT_KEY is not set. {KEY_HELP.format(name='OW_AUDIT_KEY')}")
        secret = (config.get("SECRET_KEY") or "").encode()
        # named once by `flask init-db` (privacy.development_keys), not at every start
        macs = [hashlib.sha256(b"onewindow dev audit key:" + secret).digest()]
    seeds = _decode_list((config.get("CHECKPOINT_KEY") or "").strip(), "OW_CHECKPOINT_KEY")
    if len(seeds) > 1:
        raise AuditKeyError(
            "OW_CHECKPOINT_KEY holds one signing key; retired public keys go in "
            "OW_CHECKPOINT_TRUSTED_KEYS"
        )
    seed = seeds[0] if seeds else hashlib.sha256(b"onewindow checkpoint key:" + macs[0]).digest()
    signing = Ed25519PrivateKey.from_private_bytes(seed)
    trusted = {public_id(signing.public_key()): signing.public_key()}
    retired = _decode_list(
        (config.get("CHECKPOINT_TRUSTED_KEYS") or "").strip(), "OW_CHECKPOINT_TRUSTED_KEYS"
    )
    for raw in retired:
        public = Ed25519PublicKey.from_public_bytes(raw)
        trusted[public_id(public)] = public
    ids = [key_id(k) for k in macs]
    return AuditKeys(dict(zip(ids, macs, strict=True)), ids[0], signing, trusted)


_fallback: AuditKeys | None = None


def configure(app) -> AuditKeys:
    """Read the app's keys (create_app calls it); outside the demo a missing key stops it."""
    global _fallback
    keys = keys_from_config(app.config)
    app.extensions["ow_audit_keys"] = keys
    _fallback = keys
    return keys


def keyring() -> AuditKeys:
    """The keys of the current app; outside one, those of the app configured last (or of
    the configuration, for a script)."""
    if has_app_context() and "ow_audit_keys" in current_app.extensions:
        return current_app.extensions["ow_audit_keys"]
    if _fallback is None:
        from config import Config

        return keys_from_config({k: getattr(Config, k) for k in dir(Config) if k.isupper()})
    return _fallback
