"""The JSON API of the organisation: absences, check-in, posts."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from ..api import bp, json_body, login_required, moment, text
from ..api.schemas import absence_json
from ..errors import Forbidden, InvalidInput
from . import absences
from . import services as org_services


@bp.post("/absences")
@login_required
def create_absence():
    body = json_body()
    user_id = body.get("user_id", g.user.id)
    if not isinstance(user_id, int):
        raise InvalidInput(_("'user_id' must be a user id"))
    absence = absences.register_absence(
        g.user, user_id, text(body, "kind", True), moment(body, "starts_at"),
        moment(body, "ends_at"), text(body, "reason"), bool(body.get("confirm", False)),
    )  # fmt: skip
    return jsonify(absence_json(absence)), 201


@bp.delete("/absences/<int:absence_id>")
@login_required
def end_absence(absence_id: int):
    return jsonify(absence_json(absences.cancel_absence(g.user, absence_id)))


@bp.post("/checkin")
@login_required
def checkin():
    record = absences.check_in(g.user)
    return jsonify({"user_id": record.user_id, "day": record.day.isoformat(),
                    "at": record.at.isoformat(timespec="seconds") + "Z"})  # fmt: skip


@bp.get("/posts")
@login_required
def posts():
    if not g.user.has_role("clerk", "official", "leader", "supervisor", "auditor", "admin"):
        raise Forbidden(_("posts are listed for staff only"))
    return jsonify({"posts": org_services.list_posts()})
