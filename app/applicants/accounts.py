"""Applicants register themselves: a person with a resident ID number, an organisation
with its unified social credit code (统一社会信用代码). Both numbers carry a check
character, which is verified (GB 11643 and GB 32100), so a typo is caught at once.
Registration is throttled per client address like the progress query: every attempt
counts, refused ones too (`REGISTRATION_ATTEMPTS_PER_CLIENT` an hour), so "this user name is
taken" cannot be harvested at scale: past the limit every attempt is a 429 before anything
is looked up; and at most `REGISTRATIONS_PER_CLIENT` accounts are opened an hour.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from ..db import session, transactional, utcnow
from ..errors import InvalidInput, TooManyRequests
from ..org.models import User
from ..org.services import hash_password
from .models import QueryAttempt

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USERNAME = re.compile(r"[a-z][a-z0-9_]{3,31}")
PHONE = re.compile(r"1\d{10}|0\d{2,3}-?\d{7,8}")
REGISTRATIONS_PER_CLIENT = 5  # accounts opened per hour
REGISTRATION_ATTEMPTS_PER_CLIENT = 20  # attempts per hour, refused ones included


def valid_resident_id(number: str) -> bool:
    """Check a mainland resident ID number (18 characters, GB 11643 check character)."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == number[17]


def valid_credit_code(code: str) -> bool:
    """Check a unified social credit code (18 characters, GB 32100 check character)."""
    if len(code) != 18 or any(ch not in USCC_CHARS for ch in code):
        return False
    total = sum(USCC_CHARS.index(ch) * w for ch, w in zip(code[:17], USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]


def _tries(key: str) -> int:
    since = utcnow() - dt.timedelta(hours=1)
    return session().scalar(sa.select(sa.func.count()).select_from(QueryAttempt).where(
        QueryAttempt.key == key, QueryAttempt.at > since))  # fmt: skip


@transactional
def _count_attempt(client: str) -> None:
    """Refuse (429) past the limits, else count this attempt (kept if the attempt fails)."""
    cfg = current_app.config
    limit = cfg.get("REGISTRATION_ATTEMPTS_PER_CLIENT", REGISTRATION_ATTEMPTS_PER_CLIENT)
    if _tries(f"register-try:{client}") >= limit:
        raise TooManyRequests(_("too many registration attempts from your address; try later"))
    if _tries(f"register:{client}") >= cfg.get(
        "REGISTRATIONS_PER_CLIENT", REGISTRATIONS_PER_CLIENT
    ):
        raise TooManyRequests(_("too many accounts registered from your address; try later"))
    session().add(QueryAttempt(key=f"register-try:{client}", at=utcnow()))


def register(client: str, username: str, name: str, id_number: str, phone: str,
             password: str) -> User:  # fmt: skip
    """Create an applicant account; every problem is reported at once, by field. Every
    attempt is counted first, in its own transaction (see the module docstring)."""
    _count_attempt(client)
    return _create(client, username, name, id_number, phone, password)


@transactional
def _create(client: str, username: str, name: str, id_number: str, phone: str,
            password: str) -> User:  # fmt: skip
    username, name = (username or "").strip().lower(), (name or "").strip()
    number, phone = (id_number or "").strip().upper(), (phone or "").strip()
    problems = {}
    if not USERNAME.fullmatch(username):
        problems["username"] = _("4–32 lower-case letters, digits or _, starting with a letter")
    elif session().scalar(sa.select(User.id).where(User.username == username)):
        problems["username"] = _("this user name is taken")
    if not 2 <= len(name) <= 100:
        problems["name"] = _("the name as on the ID card or the business licence")
    if not (valid_resident_id(number) or valid_credit_code(number)):
        problems["id_number"] = _("not a valid resident ID number or unified social credit "
                                  "code (its last character is a check character)")  # fmt: skip
    if not PHONE.fullmatch(phone):
        problems["phone"] = _("a mobile number (11 digits) or a landline with its area code")
    if len(password or "") < 10:
        problems["password"] = _("at least 10 characters")
    if problems:
        raise InvalidInput(_("the account cannot be created"), fields=problems)
    user = User(username=username, name=name, id_number=number, phone=phone,
                roles="applicant", password_hash=hash_password(password), active=True)  # fmt: skip
    session().add(user)
    session().add(QueryAttempt(key=f"register:{client}", at=utcnow()))
    return user
