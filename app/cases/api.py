"""The JSON API of cases: receipt and the case's life, tasks, and deadlines."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from ..api import (
    bp,
    integer,
    json_body,
    login_required,
    string_list,
    task_uuid,
    text,
)
from ..api.schemas import case_json, event_json, opened_json, task_json
from ..audit.review import note_if_auditor
from ..errors import InvalidInput
from . import copies, deadlines, delegation, opinions, recall, signers, status
from . import services as cases


@bp.post("/cases")
@login_required
def create_case():
    body = json_body()
    applicant = body.get("applicant")
    if not isinstance(applicant, dict):
        raise InvalidInput(_("'applicant' must be an object with name, id_number and phone"))
    form = body.get("form", {})
    if not isinstance(form, dict):
        raise InvalidInput(_("'form' must be an object"))
    refusal = body.get("refusal")
    if refusal is not None and not isinstance(refusal, dict):
        raise InvalidInput(_("'refusal' must be an object with reason and legal_basis"))
    received = cases.receive_case(
        g.user,
        text(body, "item_code", True),
        cases.Applicant(
            name=text(applicant, "name", True),
            id_number=text(applicant, "id_number", True),
            phone=text(applicant, "phone"),
        ),
        string_list(body, "materials"),
        form,
        refusal,
    )
    case = received.subject
    payload = {
        "case_no": case.case_no,
        "query_code": case.query_code,
        "status": case.status,
        "open_tasks": [opened_json(t) for t in received.opened],
    }
    if status.awaits_supplement(case):
        payload["missing"] = case.missing_materials
    return jsonify(payload), 201


def _case_response(case_no: str):
    detail = cases.case_detail(cases.require_case(g.user, case_no), with_events=False)
    note_if_auditor(g.user, detail.case.id, "api:case")
    copies.mark_read(g.user, detail.case.id)
    payload = case_json(detail.case, detail.item, detail.version, detail.tasks)
    if detail.case.decision is not None:  # each deciding authority's decision and number
        payload["decisions"] = [
            {"authority": dept.code, "authority_name": dept.name, "outcome": d.outcome,
             "number": d.number, "certificate_no": d.certificate_no,
             "decided_at": d.decided_at.isoformat(timespec="seconds") + "Z"}
            for d, dept in cases.case_decisions(detail.case.id)
        ]  # fmt: skip
    return jsonify(payload)


def _changed(case_no: str, change, *args):
    """Run a change of a case for the caller, then answer with the case as it is now."""
    change(g.user, case_no, *args)
    return _case_response(case_no)


@bp.get("/cases/<case_no>")
@login_required
def get_case(case_no: str):
    return _case_response(case_no)


@bp.post("/cases/<case_no>/supplement")
@login_required
def supplement(case_no: str):
    body = json_body()
    form = body.get("form")
    if form is not None and not isinstance(form, dict):
        raise InvalidInput(_("'form' must be an object"))
    return _changed(case_no, cases.submit_supplement, string_list(body, "materials"), form)


@bp.post("/cases/<case_no>/refuse")
@login_required
def refuse(case_no: str):
    body = json_body()
    reason, basis = text(body, "reason", True), text(body, "legal_basis", True)
    return _changed(case_no, cases.refuse_case, reason, basis)


@bp.post("/cases/<case_no>/withdraw")
@login_required
def withdraw(case_no: str):
    body = json_body()
    return _changed(case_no, cases.withdraw_case, text(body, "reason", True))


@bp.post("/cases/<case_no>/retry")
@login_required
def retry(case_no: str):
    return _changed(case_no, cases.retry_case)


@bp.post("/cases/<case_no>/close")
@login_required
def close(case_no: str):
    body = json_body()
    delivery = cases.Delivery(text(body, "method", True), text(body, "recipient", True),
                              text(body, "tracking_no"), text(body, "note"))  # fmt: skip
    return _changed(case_no, cases.close_case, delivery)


@bp.get("/cases/<case_no>/events")
@login_required
def events(case_no: str):
    checked = cases.require_case(g.user, case_no)
    rows = cases.case_events(checked)
    note_if_auditor(g.user, checked.case.id, "api:events")
    return jsonify({"case_no": case_no, "events": [event_json(e) for e in rows]})


@bp.get("/tasks")
@login_required
def tasks():
    assignee = request.args.get("assignee", "me")
    if assignee != "me":
        raise InvalidInput(_("only assignee=me is supported"))
    limit = _whole_arg("limit", cases.PAGE_SIZE, 1, cases.PAGE_MAX)
    offset = _whole_arg("offset", 0, 0, None)
    rows, more = cases.open_task_page(g.user, limit, offset)
    me = g.user.username
    return jsonify({"tasks": [
        {**task_json(r.task, case_no=r.case_no, item_name=r.item_name, assignee=me),
         "warning": r.card}
        for r in rows
    ], "next_offset": offset + limit if more else None})  # fmt: skip


def _whole_arg(name: str, default: int, low: int, high: int | None) -> int:
    """A whole-number query argument within [low, high], or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        if high is None:
            raise InvalidInput(_("%(name)s must be a whole number of at least %(low)s",
                                 name=name, low=low))  # fmt: skip
        raise InvalidInput(_("%(name)s must be a whole number from %(low)s to %(high)s",
                             name=name, low=low, high=high))  # fmt: skip
    return value


@bp.get("/tasks/<task_id>")
@login_required
def task_detail(task_id: str):
    parsed = task_uuid(task_id)
    opened = cases.open_task(g.user, parsed)
    task, case = opened.task, opened.case
    payload = task_json(task)
    payload.update(
        case_no=case.case_no,
        case_status=case.status,
        applicant=case.applicant_name,
        materials=case.materials,
        started_at=task.started_at.isoformat(timespec="seconds") + "Z" if task.started_at else None,
        acting_for_id=task.acting_for_id,
        form=opened.fields,
    )
    return jsonify(payload)


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id: str):
    parsed = task_uuid(task_id)
    body = json_body()
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise InvalidInput(_("'data' must be an object"))
    data = dict(data)
    # the API takes a rejection's legal basis among the data (documented so)
    legal_basis = text(data, "legal_basis")
    data.pop("legal_basis", None)
    then = body.get("then_sign")  # 加签 after: {"to" or "post", "reason"}
    if then is not None and not isinstance(then, dict):
        raise InvalidInput(_("'%(key)s' must be an object", key="then_sign"))
    after = signers.After(text(then, "to"), text(then, "post"),
                          text(then, "reason", True)) if then is not None else None  # fmt: skip
    done = cases.complete_task(g.user, parsed, text(body, "outcome", True),
                               text(body, "comment"), data, legal_basis, after=after)  # fmt: skip
    payload = task_json(done.subject, assignee=g.user.username)
    payload["next_tasks"] = [opened_json(t) for t in done.opened]
    return jsonify(payload)


@bp.post("/cases/<case_no>/pause")
@login_required
def pause(case_no: str):
    body = json_body()
    return _changed(case_no, deadlines.pause_case, text(body, "kind", True),
                    text(body, "reason", True), integer(body, "expected_days"))  # fmt: skip


@bp.post("/cases/<case_no>/resume")
@login_required
def resume(case_no: str):
    return _changed(case_no, deadlines.resume_case)


@bp.post("/cases/<case_no>/extend")
@login_required
def extend(case_no: str):
    body = json_body()
    days, reason = integer(body, "days"), text(body, "reason", True)
    return _changed(case_no, deadlines.extend_case, days, reason)


@bp.get("/tasks/queue")
@login_required
def task_queue():
    rows = cases.claimable(g.user)
    return jsonify(
        {"tasks": [task_json(r.task, case_no=r.case_no, item_name=r.item_name) for r in rows]}
    )


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    task = cases.claim_task(g.user, task_uuid(task_id))
    return jsonify({"id": str(task.id), "assignee": g.user.username, "state": "open"})


@bp.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str):
    body = json_body()
    to_user_id = body.get("to_user_id")
    if not isinstance(to_user_id, int) or isinstance(to_user_id, bool):
        raise InvalidInput(_("'to_user_id' must be a user id"))
    task = cases.transfer_task(g.user, task_uuid(task_id), to_user_id, text(body, "reason", True))
    return jsonify({"id": str(task.id), "assignee_id": to_user_id, "state": "open"})


@bp.post("/cases/<case_no>/copies")
@login_required
def send_copies(case_no: str):
    """抄送: the holder of an open task sends the case to colleagues for information."""
    body = json_body()
    to = body.get("to")
    if not isinstance(to, list) or not all(isinstance(u, str) for u in to):
        raise InvalidInput(_("'to' must be a list of usernames"))
    sent = copies.send_copies(g.user, case_no, to, text(body, "reason", True))
    return jsonify({"case_no": case_no, "sent": len(sent)}), 201


@bp.get("/copies")
@login_required
def my_copies():
    """The cases sent to me for information, unread first."""
    return jsonify({"copies": [
        {"case_no": no, "item": item, "reason": c.reason, "stage": c.spec_id,
         "sent_at": c.sent_at.isoformat(timespec="seconds") + "Z",
         "read": c.read_at is not None}
        for c, no, item in copies.my_copies(g.user)
    ]})  # fmt: skip


def _delegation_json(row, task=None, case_no: str | None = None) -> dict:
    out = {"delegation": row.id, "task_id": str(row.task_id), "holder_id": row.holder_id,
           "delegate_id": row.delegate_id, "reason": row.reason,
           "delegated_at": row.delegated_at.isoformat(timespec="seconds") + "Z",
           "ended": row.ended_at is not None, "handed_back": row.handed_back,
           "data": row.data, "comment": row.comment}  # fmt: skip
    if task is not None:
        out.update(task=task.name, stage=task.stage, case_no=case_no)
    return out


@bp.post("/tasks/<task_id>/delegate")
@login_required
def delegate_task(task_id: str):
    """委派: the holder hands the task's work to a colleague (`to`: username, `reason`)."""
    body = json_body()
    row = delegation.delegate(g.user, task_uuid(task_id), text(body, "to", True),
                              text(body, "reason", True))  # fmt: skip
    return jsonify(_delegation_json(row)), 201


@bp.post("/tasks/<task_id>/take-back")
@login_required
def take_back_task(task_id: str):
    return jsonify(_delegation_json(delegation.take_back(g.user, task_uuid(task_id))))


@bp.get("/delegations")
@login_required
def my_delegations():
    """The work delegated to me and not yet handed back."""
    return jsonify({"delegations": [_delegation_json(row, task, no)
                                    for row, task, no in delegation.my_delegations(g.user)]})


@bp.get("/delegations/<int:delegation_id>")
@login_required
def delegated_work(delegation_id: int):
    work = delegation.delegated_work(g.user, delegation_id)
    return jsonify({**_delegation_json(work.delegation, work.task, work.detail.case.case_no),
                    "fields": work.fields, "holder": work.holder})  # fmt: skip


@bp.post("/delegations/<int:delegation_id>/hand-back")
@login_required
def hand_back(delegation_id: int):
    """The delegate hands the work back: the form's values (`data`) and a `comment`."""
    body = json_body()
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise InvalidInput(_("'data' must be an object"))
    row = delegation.hand_back(g.user, delegation_id, data, text(body, "comment"))
    return jsonify(_delegation_json(row))


@bp.post("/tasks/<task_id>/recall")
@login_required
def recall_task(task_id: str):
    """撤回: the one who completed a step takes it back, while nothing it opened was opened."""
    task = recall.recall(g.user, task_uuid(task_id), text(json_body(), "reason", True))
    return jsonify({"task_id": str(task.id), "state": "open"})


@bp.post("/tasks/<task_id>/add-signer")
@login_required
def add_signer(task_id: str):
    """加签: the holder asks a colleague (`to`: username) or a post (`post`: its code) to
    sign before they decide."""
    body = json_body()
    if not text(body, "to").strip() and not text(body, "post").strip():
        raise InvalidInput(_("'%(key)s' is required", key="to"))
    added = signers.add_signer(g.user, task_uuid(task_id), text(body, "to"),
                               text(body, "reason", True), text(body, "post"))  # fmt: skip
    return jsonify({"task_id": str(added.id), "assignee_id": added.assignee_id,
                    "due_at": added.due_at.isoformat(timespec="seconds") + "Z"}), 201


@bp.post("/tasks/<task_id>/remove-signer")
@login_required
def remove_signer(task_id: str):
    """减签: the holder removes the signer they added (the added task's id), with a reason."""
    removed = signers.remove_signer(g.user, task_uuid(task_id), text(json_body(), "reason", True))
    return jsonify({"task_id": str(removed.id), "state": "cancelled"})


@bp.post("/tasks/<task_id>/ask-opinion")
@login_required
def ask_opinion(task_id: str):
    """征求意见: the holder asks a post (`post`: code) for a written opinion (`question`) within
    `days` working days (1–30, default 5); the case does not wait for it."""
    body = json_body()
    days = body.get("days", opinions.DEFAULT_DAYS)
    if not isinstance(days, int) or isinstance(days, bool):
        raise InvalidInput(_("'days' must be a whole number of working days"))
    row = opinions.ask(g.user, task_uuid(task_id), text(body, "post", True),
                       text(body, "question", True), days)  # fmt: skip
    return jsonify({"task_id": str(row.id), "assignee_id": row.assignee_id,
                    "due_at": row.due_at.isoformat(timespec="seconds") + "Z"}), 201
