"""The rating kiosk at the window (窗口评价器): the clerk opens it for one case, the applicant
rates there, once.

Opening it (`open_kiosk`, a clerk's POST) checks the case through the gate and that it may
be rated, and returns a grant: a token signed with the service's secret key, carrying the
case's id, the clerk who opened it and a random nonce, good for `KIOSK_MINUTES`. The kiosk
page (its own layout: no staff menu, no log-out) takes the applicant's rating with it. The
grant is bound to its case (the id is inside the signature, the URL names no case) and is
spent by the one rating the case may have (一次一评): afterwards it rates nothing. No table
keeps grants: an expired, altered or spent grant is simply refused.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..cases.access import Purpose, require_case
from ..cases.models import Case
from ..db import session
from ..errors import NotFound
from ..org.models import User
from . import evaluations
from .models import Evaluation

KIOSK_MINUTES = 15
_SALT = "onewindow-rating-kiosk"


@dataclass(frozen=True)
class KioskGrant:
    case_id: int
    opened_by: int


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def open_kiosk(actor: User, case_no: str) -> str:
    """Open the kiosk for one case the clerk may act on at the window; return the grant."""
    case = require_case(actor, case_no, Purpose.WINDOW).case
    evaluations.check_rateable(case)
    payload = {"case": case.id, "by": actor.id, "nonce": secrets.token_urlsafe(8)}
    return _serializer().dumps(payload)


def grant_of(token: str) -> tuple[KioskGrant, Case]:
    """Return a grant and its case, or "not found" for an expired or altered grant."""
    try:
        data = _serializer().loads(token, max_age=KIOSK_MINUTES * 60)
        grant = KioskGrant(int(data["case"]), int(data["by"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound(_("this rating tablet is closed: ask the window to open it again")) from None
    case = session().get(Case, grant.case_id)
    if case is None:
        raise NotFound(_("this rating tablet is closed: ask the window to open it again"))
    return grant, case


def rate_at_kiosk(token: str, level: object, comment: str) -> Evaluation:
    """The applicant's rating on the kiosk: its grant's case only, once."""
    grant, case = grant_of(token)
    return evaluations.rate(case, level, comment, "window", kiosk_case_id=grant.case_id,
                            opened_by=grant.opened_by)  # fmt: skip
