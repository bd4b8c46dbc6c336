"""The JSON API of supervision: urging a case, the transfer card, notifications."""

from __future__ import annotations

from flask import g, jsonify

from ..api import bp, json_body, login_required, optional, task_uuid, text
from . import reports
from . import services as supervision


@bp.post("/cases/<case_no>/urge")
@login_required
def urge(case_no: str):
    body = json_body()
    task_id = optional(body, "task_id", str, "'task_id' must be a task id (text)")
    told = supervision.urge(g.user, case_no, text(body, "text", True),
                            task_uuid(task_id) if task_id else None)  # fmt: skip
    return jsonify({"case_no": case_no, "notified": told}), 201


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
