"""The JSON API under /api/v1: parse input, call one service, render JSON."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from functools import wraps
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..audit.review import note_if_auditor
from ..auth.services import authenticate, issue_token, user_from_token
from ..cases import deadlines, work
from ..cases import services as cases
from ..catalogue import drafts
from ..catalogue import services as catalogue
from ..errors import AppError, Forbidden, InvalidInput, NotFound, Unauthorized
from ..org import absences
from ..org import services as org_services
from ..org.models import STAFF_ROLES
from ..supervision import reports
from ..supervision import services as supervision
from .openapi import openapi_document
from .schemas import absence_json, case_json, event_json, item_json, opened_json, task_json

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("onewindow.api")


@bp.errorhandler(AppError)
def _app_error(exc: AppError):
    if isinstance(exc, Forbidden):
        log.warning(
            "forbidden: %s %s by %s: %s",
            request.method,
            request.path,
            getattr(g.get("user"), "username", "-"),
            exc.message,
        )
    body = {"error": type(exc).__name__, "message": exc.message}
    body.update(exc.details)
    return jsonify(body), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify({"error": exc.name, "message": exc.description}), exc.code


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    return body


def _optional_json_body() -> dict:
    """Return the JSON object sent, {} when no body was sent; anything else is refused."""
    if not request.get_data(cache=True):
        return {}
    return _json_body()


def login_required(view):
    """Require a valid bearer token of a staff member; the user is in g.user.

    The API is the centre's: applicants use the web pages, which show them their own
    applications and cases only.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthorized("missing bearer token")
        g.user = user_from_token(header[7:].strip())
        if not g.user.role_set & STAFF_ROLES:
            raise Forbidden("the API is for the centre's staff")
        return view(*args, **kwargs)

    return wrapper


def _text(body: dict, key: str, required: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be text")
    if required and not value.strip():
        raise InvalidInput(f"'{key}' is required")
    return value


def _string_list(body: dict, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"'{key}' must be a list of material codes")
    return value


@bp.post("/auth/token")
def token():
    body = _json_body()
    user = authenticate(_text(body, "username", True), _text(body, "password", True),
                        request.remote_addr or "unknown")  # fmt: skip
    return jsonify({"token": issue_token(user), "username": user.username})


@bp.get("/items")
def items():
    return jsonify({"items": [item_json(i, brief=True) for i in catalogue.list_items()]})


@bp.get("/items/<code>")
def item(code: str):
    found, version = catalogue.get_item(code)
    return jsonify(item_json(found, version=version))


@bp.post("/cases")
@login_required
def create_case():
    body = _json_body()
    applicant = body.get("applicant")
    if not isinstance(applicant, dict):
        raise InvalidInput("'applicant' must be an object with name, id_number and phone")
    form = body.get("form", {})
    if not isinstance(form, dict):
        raise InvalidInput("'form' must be an object")
    refusal = body.get("refusal")
    if refusal is not None and not isinstance(refusal, dict):
        raise InvalidInput("'refusal' must be an object with reason and legal_basis")
    received = cases.receive_case(
        g.user,
        _text(body, "item_code", True),
        cases.Applicant(
            name=_text(applicant, "name", True),
            id_number=_text(applicant, "id_number", True),
            phone=_text(applicant, "phone"),
        ),
        _string_list(body, "materials"),
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
    if case.status == "supplement_required":
        payload["missing"] = case.missing_materials
    return jsonify(payload), 201


def _case_response(case_no: str):
    case, item_row, version, tasks = cases.get_case(g.user, case_no)
    note_if_auditor(g.user, case.id, "api:case")
    return jsonify(case_json(case, item_row, version, tasks))


@bp.get("/cases/<case_no>")
@login_required
def get_case(case_no: str):
    return _case_response(case_no)


@bp.post("/cases/<case_no>/supplement")
@login_required
def supplement(case_no: str):
    body = _json_body()
    form = body.get("form")
    if form is not None and not isinstance(form, dict):
        raise InvalidInput("'form' must be an object")
    cases.submit_supplement(g.user, case_no, _string_list(body, "materials"), form)
    return _case_response(case_no)


@bp.post("/cases/<case_no>/refuse")
@login_required
def refuse(case_no: str):
    body = _json_body()
    cases.refuse_case(
        g.user, case_no, _text(body, "reason", True), _text(body, "legal_basis", True)
    )
    return _case_response(case_no)


@bp.post("/cases/<case_no>/withdraw")
@login_required
def withdraw(case_no: str):
    body = _json_body()
    cases.withdraw_case(g.user, case_no, _text(body, "reason", True))
    return _case_response(case_no)


@bp.post("/cases/<case_no>/retry")
@login_required
def retry(case_no: str):
    cases.retry_case(g.user, case_no)
    return _case_response(case_no)


@bp.post("/cases/<case_no>/close")
@login_required
def close(case_no: str):
    body = _optional_json_body()
    cases.close_case(g.user, case_no, _text(body, "note"))
    return _case_response(case_no)


@bp.get("/cases/<case_no>/events")
@login_required
def events(case_no: str):
    rows = cases.case_events(g.user, case_no)
    if rows:
        note_if_auditor(g.user, rows[0].case_id, "api:events")
    return jsonify({"case_no": case_no, "events": [event_json(e) for e in rows]})


@bp.get("/tasks")
@login_required
def tasks():
    assignee = request.args.get("assignee", "me")
    if assignee != "me":
        raise InvalidInput("only assignee=me is supported")
    rows = cases.list_open_tasks(g.user)
    me = g.user.username
    return jsonify({"tasks": [
        {**task_json(t, case_no=no, item_name=name, assignee=me), "warning": card}
        for t, no, name, card in rows
    ]})  # fmt: skip


def _task_uuid(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise NotFound(f"no task {task_id}") from None


@bp.get("/tasks/<task_id>")
@login_required
def task_detail(task_id: str):
    parsed = _task_uuid(task_id)
    task, case, form = cases.open_task(g.user, parsed)
    payload = task_json(task)
    payload.update(
        case_no=case.case_no,
        case_status=case.status,
        applicant=case.applicant_name,
        materials=case.materials,
        started_at=task.started_at.isoformat(timespec="seconds") + "Z" if task.started_at else None,
        acting_for_id=task.acting_for_id,
        form=form,
    )
    return jsonify(payload)


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id: str):
    parsed = _task_uuid(task_id)
    body = _json_body()
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise InvalidInput("'data' must be an object")
    done = cases.complete_task(
        g.user, parsed, _text(body, "outcome", True), _text(body, "comment"), data
    )
    payload = task_json(done.subject, assignee=g.user.username)
    payload["next_tasks"] = [opened_json(t) for t in done.opened]
    return jsonify(payload)


def _moment(body: dict, key: str) -> dt.datetime:
    """Parse an ISO time; without an offset it is the centre's local time. Return naive UTC."""
    raw = _text(body, key, True)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"'{key}' must be an ISO 8601 time, e.g. 2026-11-24T09:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(current_app.config["CENTRE_TIMEZONE"]))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


@bp.post("/absences")
@login_required
def create_absence():
    body = _json_body()
    user_id = body.get("user_id", g.user.id)
    if not isinstance(user_id, int):
        raise InvalidInput("'user_id' must be a user id")
    absence = absences.register_absence(
        g.user, user_id, _text(body, "kind", True), _moment(body, "starts_at"),
        _moment(body, "ends_at"), _text(body, "reason"), bool(body.get("confirm", False)),
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


def _int(body: dict, key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be a whole number")
    return value


@bp.post("/cases/<case_no>/pause")
@login_required
def pause(case_no: str):
    body = _json_body()
    deadlines.pause_case(g.user, case_no, _text(body, "kind", True), _text(body, "reason", True),
                         _int(body, "expected_days"))  # fmt: skip
    return _case_response(case_no)


@bp.post("/cases/<case_no>/resume")
@login_required
def resume(case_no: str):
    deadlines.resume_case(g.user, case_no)
    return _case_response(case_no)


@bp.post("/cases/<case_no>/extend")
@login_required
def extend(case_no: str):
    body = _json_body()
    deadlines.extend_case(g.user, case_no, _int(body, "days"), _text(body, "reason", True))
    return _case_response(case_no)


@bp.post("/cases/<case_no>/urge")
@login_required
def urge(case_no: str):
    body = _json_body()
    task_id = body.get("task_id")
    if task_id is not None and not isinstance(task_id, str):
        raise InvalidInput("'task_id' must be a task id (text)")
    told = supervision.urge(g.user, case_no, _text(body, "text", True),
                            _task_uuid(task_id) if task_id else None)  # fmt: skip
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


@bp.get("/posts")
@login_required
def posts():
    if not g.user.has_role("clerk", "official", "leader", "supervisor", "auditor", "admin"):
        raise Forbidden("posts are listed for staff only")
    return jsonify({"posts": org_services.list_posts()})


@bp.get("/tasks/queue")
@login_required
def task_queue():
    rows = work.claimable(g.user)
    return jsonify(
        {"tasks": [task_json(r.task, case_no=r.case_no, item_name=r.item_name) for r in rows]}
    )


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    task = work.claim_task(g.user, _task_uuid(task_id))
    return jsonify({"id": str(task.id), "assignee": g.user.username, "state": "open"})


@bp.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str):
    body = _json_body()
    to_user_id = body.get("to_user_id")
    if not isinstance(to_user_id, int) or isinstance(to_user_id, bool):
        raise InvalidInput("'to_user_id' must be a user id")
    task = work.transfer_task(g.user, _task_uuid(task_id), to_user_id, _text(body, "reason", True))
    return jsonify({"id": str(task.id), "assignee_id": to_user_id, "state": "open"})


@bp.get("/items/<code>/versions")
@login_required
def item_versions(code: str):
    if not g.user.has_role("analyst", "auditor", "admin"):
        raise Forbidden("diagram versions are for analysts, auditors and admins")
    return jsonify({"item": code, "versions": [
        {"version": v.version, "comment": v.comment, "deployed_by_id": v.deployed_by_id,
         "deployed_at": v.deployed_at.isoformat(timespec="seconds") + "Z",
         "content_hash": v.content_hash}
        for v in drafts.versions(code)
    ]})  # fmt: skip


@bp.get("/items/<code>/versions/<int:number>/bpmn")
@login_required
def item_version_xml(code: str, number: int):
    if not g.user.has_role("analyst", "auditor", "admin"):
        raise Forbidden("diagram versions are for analysts, auditors and admins")
    found = [v for v in drafts.versions(code) if v.version == number]
    if not found:
        raise NotFound(f"item {code} has no version {number}")
    resp = current_app.response_class(found[0].content, mimetype="application/xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


@bp.put("/items/<code>/draft")
@login_required
def save_draft(code: str):
    content = request.get_data()  # bytes: the loader decodes them as the XML declares
    if not content.strip():
        raise InvalidInput("send the diagram's XML as the request body")
    based_on = request.args.get("based_on")
    if based_on is not None:
        if not based_on.isdigit() or int(based_on) > 2**31 - 1:
            raise InvalidInput("'based_on' must be a version number")
        based_on = int(based_on)
    draft, findings = drafts.save_draft(g.user, code, content, based_on)
    errors = sum(1 for f in findings if f.severity == "error")
    return jsonify({"item": code, "saved_at": draft.saved_at.isoformat(timespec="seconds") + "Z",
                    "errors": errors, "warnings": len(findings) - errors,
                    "findings": [f.as_dict() for f in findings]})  # fmt: skip


@bp.post("/items/<code>/deploy")
@login_required
def deploy(code: str):
    body = _json_body()
    version = drafts.deploy_draft(g.user, code, _text(body, "comment", True))
    return jsonify({"item": code, "version": version.version, "comment": version.comment}), 201


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
