"""The JSON API of the catalogue: items, their diagram versions, drafts and deployment."""

from __future__ import annotations

from flask import current_app, g, jsonify, request
from flask_babel import gettext as _

from ..api import bp, json_body, login_required, text
from ..api.schemas import item_json
from ..errors import Forbidden, InvalidInput, NotFound
from . import drafts, migration_plans, whatif_runs
from . import services as catalogue


@bp.get("/items")
def items():
    return jsonify({"items": [item_json(i, brief=True) for i in catalogue.list_items()]})


@bp.get("/items/<code>")
def item(code: str):
    found, version = catalogue.get_item(code)
    return jsonify(item_json(found, version=version))


@bp.get("/items/<code>/versions")
@login_required
def item_versions(code: str):
    if not g.user.has_role("analyst", "auditor", "admin"):
        raise Forbidden(_("diagram versions are for analysts, auditors and admins"))
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
        raise Forbidden(_("diagram versions are for analysts, auditors and admins"))
    found = [v for v in drafts.versions(code) if v.version == number]
    if not found:
        raise NotFound(_("item %(code)s has no version %(number)s", code=code, number=number))
    resp = current_app.response_class(found[0].content, mimetype="application/xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


@bp.put("/items/<code>/draft")
@login_required
def save_draft(code: str):
    content = request.get_data()  # bytes: the loader decodes them as the XML declares
    if not content.strip():
        raise InvalidInput(_("send the diagram's XML as the request body"))
    based_on = request.args.get("based_on")
    if based_on is not None:
        if not based_on.isdigit() or int(based_on) > 2**31 - 1:
            raise InvalidInput(_("'based_on' must be a version number"))
        based_on = int(based_on)
    draft, findings = drafts.save_draft(g.user, code, content, based_on)
    errors = sum(1 for f in findings if f.severity == "error")
    return jsonify({"item": code, "saved_at": draft.saved_at.isoformat(timespec="seconds") + "Z",
                    "errors": errors, "warnings": len(findings) - errors,
                    "findings": [f.as_dict() for f in findings]})  # fmt: skip


@bp.post("/items/<code>/deploy")
@login_required
def deploy(code: str):
    body = json_body()
    version = drafts.deploy_draft(g.user, code, text(body, "comment", True))
    return jsonify({"item": code, "version": version.version, "comment": version.comment}), 201


def _day_arg(body: dict, name: str):
    import datetime as dt

    value = body.get(name)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(_("'%(name)s' must be a date such as 2026-01-31", name=name)) from None


@bp.post("/items/<code>/what-if")
@login_required
def start_what_if(code: str):
    """Run a draft or a deployed version over the item's decided cases (in the background)."""
    body = json_body()
    source = body.get("source", "draft")
    if isinstance(source, int) and not isinstance(source, bool):
        source = f"v{source}"
    if not isinstance(source, str):
        raise InvalidInput(_("source must be 'draft' or a deployed version such as 'v2'"))
    decision = body.get("decision") or None
    run = whatif_runs.start_run(g.user, code, source, _day_arg(body, "since"),
                                _day_arg(body, "until"), decision)  # fmt: skip
    return jsonify(whatif_runs.run_json(run)), 202


@bp.get("/what-if/<int:run_id>")
@login_required
def what_if_run(run_id: int):
    run = whatif_runs.get_run(g.user, run_id)
    return jsonify(whatif_runs.run_json(run))


@bp.post("/items/<code>/migrations")
@login_required
def make_migration_plan(code: str):
    """Work out which running cases of the item would move to `target`, and how (dry run)."""
    body = json_body()
    plan = migration_plans.make_plan(g.user, code, body.get("target"), body.get("source"),
                                     body.get("mapping"), body.get("defaults"))  # fmt: skip
    return jsonify(migration_plans.plan_json(plan)), 201


@bp.get("/items/<code>/migrations")
@login_required
def migration_plans_of(code: str):
    plans = migration_plans.plans_of(g.user, code)
    return jsonify({"item": code, "plans": [migration_plans.plan_json(p) for p in plans]})


@bp.get("/migrations/<int:plan_id>")
@login_required
def migration_plan(plan_id: int):
    return jsonify(migration_plans.plan_json(migration_plans.get_plan(g.user, plan_id)))


@bp.post("/migrations/<int:plan_id>/approve")
@login_required
def approve_migration_plan(plan_id: int):
    """A second person approves the plan; its cases are moved in the background."""
    plan = migration_plans.approve(g.user, plan_id)
    return jsonify(migration_plans.plan_json(plan)), 202


@bp.post("/migrations/<int:plan_id>/decline")
@login_required
def decline_migration_plan(plan_id: int):
    plan = migration_plans.decline(g.user, plan_id, text(json_body(), "reason"))
    return jsonify(migration_plans.plan_json(plan))
