"""Personal data (PIPL): ID and phone numbers encrypted at rest, every full view logged.

The columns that hold a person's resident ID number (or an organisation's credit code)
and phone number use `Encrypted`: the value is sealed with AES-256-GCM before it is
written and opened when it is read, so the rest of the code sees plain text and the
database, its backups and its logs see only `ow1:<key id>:<base64>`.

The key comes from the environment, `OW_DATA_KEY`: one or more base64 32-byte keys,
separated by commas. The first seals new values; all of them open old ones, so a key is
rotated by putting the new one first and running `flask reencrypt`. Without the variable
only a development or test installation (the default secret key) runs, on a key derived
from its secret key; any other refuses to start.

Pages show these numbers masked. Where someone needs the full value (the commitment
notice, the supervision office calling a complainant back, the admin editing an account,
a window clerk checking an ID at collection) the view is a row of `personal_data_views`:
who, whose, which fields, why, from where, when.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
from collections.abc import Mapping

import click
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import has_request_context, request
from flask.cli import with_appcontext
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, session, transactional, utcnow

PREFIX = "ow1"
AAD = b"onewindow personal data"
DEV_SECRET_KEYS = ("dev-only-change-me", "test-secret")
KEY_HELP = (
    "OW_DATA_KEY must hold one or more base64-encoded 32-byte keys separated by commas; "
    'make one with: python -c "import base64, os; print(base64.b64encode(os.urandom(32))'
    '.decode())"'
)


class DataKeyError(RuntimeError):
    """The data key is missing, malformed, or does not open a stored value."""


class Cipher:
    """Seal and open short texts with AES-256-GCM under a list of keys (the first seals)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise DataKeyError(KEY_HELP)
        self._keys = {self.key_id(k): AESGCM(k) for k in keys}
        self.primary = self.key_id(keys[0])

    @staticmethod
    def key_id(key: bytes) -> str:
        """A short public name of a key, stored with each value it sealed."""
        return hashlib.sha256(b"ow key id" + key).hexdigest()[:8]

    def seal(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self.primary].encrypt(nonce, text.encode("utf-8"), AAD)
        return f"{PREFIX}:{self.primary}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            return stored  # written before encryption: `flask reencrypt` seals it
        _, kid, body = stored.split(":", 2)
        aes = self._keys.get(kid)
        if aes is None:
            raise DataKeyError(f"a stored value was sealed with key {kid}, which OW_DATA_KEY lacks")
        raw = base64.b64decode(body)
        try:
            return aes.decrypt(raw[:12], raw[12:], AAD).decode("utf-8")
        except InvalidTag:
            raise DataKeyError(f"a stored value sealed with key {kid} fails its check") from None

    def is_current(self, stored: str) -> bool:
        return is_sealed(stored) and stored.split(":", 2)[1] == self.primary


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX + ":") and stored.count(":") >= 2


def decode_keys(value: str, name: str, error: type[Exception], help_text: str) -> list[bytes]:
    """Read comma-separated base64 32-byte keys from the variable `name`; `error` names the
    first one that is not (an empty value gives an empty list)."""
    keys = []
    for n, part in enumerate(p.strip() for p in value.split(",")):
        if not part:
            continue
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise error(f"key {n + 1} of {name} is not 32 bytes of base64. {help_text}")
        keys.append(key)
    return keys


def parse_keys(value: str) -> list[bytes]:
    """Read OW_DATA_KEY; a clear error for anything but base64 32-byte keys."""
    keys = decode_keys(value, "OW_DATA_KEY", DataKeyError, KEY_HELP)
    if not keys:
        raise DataKeyError(KEY_HELP)
    return keys


def keys_from_config(config: Mapping) -> list[bytes]:
    """The keys of an installation; a derived key only for development and tests."""
    value = (config.get("DATA_KEY") or "").strip()
    if value:
        return parse_keys(value)
    secret = config.get("SECRET_KEY") or ""
    if development(config):  # named once by `flask init-db` (development_keys), not here
        return [hashlib.sha256(b"onewindow dev data key:" + secret.encode()).digest()]
    raise DataKeyError(f"OW_DATA_KEY is not set. {KEY_HELP}")


_cipher: Cipher | None = None


def development(config: Mapping) -> bool:
    """Whether this is the demo (OW_DEMO, set by `make run`), a debug server or the tests:
    the only places the published development secret and a derived data key are allowed."""
    return bool(config.get("DEMO") or config.get("TESTING") or config.get("DEBUG"))


def development_keys(config: Mapping) -> list[str]:
    """The settings a development value stands in for, in the demo or a debug server.

    `flask init-db` names them once (make run calls it once); each worker and command
    starting with them says nothing, so the server log is not filled with the same warning.
    """
    if not development(config):
        return []
    unset = [name for name, key in (("OW_DATA_KEY", "DATA_KEY"), ("OW_AUDIT_KEY", "AUDIT_KEY"))
             if not (config.get(key) or "").strip()]  # fmt: skip
    if (config.get("SECRET_KEY") or "") in DEV_SECRET_KEYS:
        unset.insert(0, "OW_SECRET_KEY")
    return unset


class WeakDefaultError(RuntimeError):
    """Production settings still hold a published development default."""


def refuse_weak_defaults(config: Mapping) -> None:
    """Outside the demo, refuse to start with the development SECRET_KEY (the data key is
    checked by `keys_from_config`)."""
    if development(config):
        return
    secret = config.get("SECRET_KEY") or ""
    if not secret or secret in DEV_SECRET_KEYS:
        raise WeakDefaultError(
            "SECRET_KEY (OW_SECRET_KEY) is unset or the published development value: "
            "outside the demo the service does not start with it. Set OW_SECRET_KEY to a long "
            'random value (python -c "import secrets; print(secrets.token_urlsafe(48))"), '
            "or OW_DEMO=1 to run the demo."
        )


def configure(config: Mapping) -> Cipher:
    """Make the installation's keys the ones `Encrypted` columns use (create_app calls it);
    outside the demo, refuse the development secret and a missing data key first."""
    global _cipher
    refuse_weak_defaults(config)
    _cipher = Cipher(keys_from_config(config))
    return _cipher


def cipher() -> Cipher:
    if _cipher is None:  # a migration or script run without an app
        from config import Config

        return configure({k: getattr(Config, k) for k in dir(Config) if k.isupper()})
    return _cipher


class Encrypted(sa.TypeDecorator):
    """A text column stored sealed. It cannot be searched or compared in SQL: compare
    the values in Python after loading them."""

    impl = sa.String(255)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return cipher().seal(str(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return cipher().open(value)


# Every column holding a person's ID or phone number: (table, primary key, column).
SEALED_COLUMNS = (
    ("cases", "id", "applicant_id_number"),
    ("cases", "id", "applicant_phone"),
    ("users", "id", "id_number"),
    ("users", "id", "phone"),
    ("online_applications", "id", "applicant_id_number"),
    ("online_applications", "id", "applicant_phone"),
    ("complaints", "id", "complainant_phone"),
)


def reencrypt(conn: sa.Connection, current: Cipher | None = None, batch: int = 500) -> int:
    """Seal every plain value and re-seal every value sealed under an older key.

    Works on raw rows (a migration and `flask reencrypt` both use it); returns how many
    values it rewrote.
    """
    changed = 0
    for table, pk, column in SEALED_COLUMNS:
        t = sa.table(table, sa.column(pk), sa.column(column))
        last = None
        while True:
            query = sa.select(t.c[pk], t.c[column]).where(t.c[column].is_not(None))
            if last is not None:
                query = query.where(t.c[pk] > last)
            rows = conn.execute(query.order_by(t.c[pk]).limit(batch)).all()
            if not rows:
                break
            last = rows[-1][0]
            current = current or cipher()  # only once there is a value (an empty database
            # is migrated without keys: outside the demo the fallback needs real ones)
            for key, stored in rows:
                if current.is_current(stored):
                    continue
                value = current.seal(current.open(stored))
                conn.execute(sa.update(t).where(t.c[pk] == key).values({column: value}))
                changed += 1
    return changed


class PersonalDataView(Base):
    """One look at a person's full ID or phone number: who, whose, which fields, why."""

    __tablename__ = "personal_data_views"
    __table_args__ = (
        sa.Index("ix_personal_data_views_subject", "subject", "subject_id"),
        sa.Index("ix_personal_data_views_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    username: Mapped[str] = mapped_column(sa.String(64))
    subject: Mapped[str] = mapped_column(sa.String(20))  # case, application, complaint, user
    subject_id: Mapped[int] = mapped_column()
    subject_ref: Mapped[str] = mapped_column(sa.String(64))  # case or ticket number, user name
    fields: Mapped[str] = mapped_column(sa.String(100))  # "id_number phone"
    purpose: Mapped[str] = mapped_column(sa.String(200))
    client: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime] = mapped_column()


# the reasons the system gives for the views it shows by itself (pages translate them)
COMMITMENT_NOTICE = "notice: commitment notice"
CALLING_BACK = "complaint: calling the complainant back"
EDITING_ACCOUNT = "admin: editing the account"


def note_view(actor, subject: str, subject_id: int, ref: str, shown: Mapping[str, str | None],
              purpose: str) -> None:  # fmt: skip
    """Add a view row to the current transaction (the caller commits) for the fields of
    `shown` that hold a value; nothing when none does."""
    fields = [name for name, value in shown.items() if value]
    if not fields:
        return
    client = request.remote_addr if has_request_context() else None
    session().add(PersonalDataView(
        user_id=actor.id, username=actor.username, subject=subject, subject_id=subject_id,
        subject_ref=ref, fields=" ".join(fields), purpose=purpose[:200], client=client,
        at=utcnow(),
    ))  # fmt: skip


@transactional
def log_view(actor, subject: str, subject_id: int, ref: str, shown: Mapping[str, str | None],
             purpose: str) -> None:  # fmt: skip
    """Record a view in its own transaction (pages that only read)."""
    note_view(actor, subject, subject_id, ref, shown, purpose)


@click.command("reencrypt")
@with_appcontext
def reencrypt_command() -> None:
    """Seal plain ID and phone numbers and re-seal old-key values under the first key."""
    from .db import get_engine

    with get_engine().begin() as conn:
        changed = reencrypt(conn)
    click.echo(f"re-sealed {changed} values under key {cipher().primary}")


def recent_views(ref: str = "", username: str = "", limit: int = 500) -> list[PersonalDataView]:
    """The newest views, optionally of one case/ticket/user or by one member of staff."""
    query = sa.select(PersonalDataView).order_by(PersonalDataView.at.desc(),
                                                 PersonalDataView.id.desc())  # fmt: skip
    if ref:
        query = query.where(PersonalDataView.subject_ref == ref)
    if username:
        query = query.where(PersonalDataView.username == username)
    return list(session().scalars(query.limit(limit)))
