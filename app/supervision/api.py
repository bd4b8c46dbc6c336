"""The JSON API of supervision: urging a case, the office's opinion on the commitment
notice, the transfer card, notifications."""

from __future__ import annotations

from flask import g, jsonify
from flask_babel import gettext as _

from ..api import bp, json_body, login_required, optional, task_uuid, text
from . import opinions, reports
from . import services as supervision


@bp.post("/cases/<case_no>/urge")
@login_required
def urge(case_no: str):
    body = json_body()
    task_id = optional(body, "task_id", str, _("'task_id' must be a task id (text)"))
    told = supervision.urge(g.user, case_no, text(body, "text", True),
                            task_uuid(task_id) if task_id else None)  # fmt: skip
    return jsonify({"case_no": case_no, "notified": told}), 201


@bp.post("/cases/<case_no>/supervision-opinion")
@login_required
def supervision_opinion(case_no: str):
    opinion = opinions.enter_opinion(g.user, case_no, text(json_body(), "text"))
    return jsonify({"case_no": case_no, "opinion": opinion.text, "by": opinion.by,
                    "on": opinion.on.isoformat()}), 201  # fmt: skip


@bp.get("/cases/<case_no>/card")
@login_required
def transfer_card(case_no: str):
    return jsonify(reports.transfer_card(g.user, case_no))


@bp.get("/notifications")
@login_required
def notifications():
    rows = supervision.notifications_for(g.user)
    return jsonify({"notifications": [
        {"id": n.id, "kind": n.kind, "text": n.text, "case_id": n.case_id,
         "task_id": str(n.task_id) if n.task_id else None,
         "created_at": n.created_at.isoformat(timespec="seconds") + "Z",
         "read": n.read_at is not None}
        for n in rows
    ]})  # fmt: skip
