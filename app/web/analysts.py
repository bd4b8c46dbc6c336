"""The analysts' workbench: items and versions, and the in-browser modeler (bpmn-js)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import current_app, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..catalogue import drafts
from ..catalogue.models import Item
from ..db import session
from ..errors import AppError, InvalidInput, NotFound
from . import bp, role_required

# diagram-js sets style attributes on the SVG it draws: this page allows inline styles
# (never inline scripts)
MODELER_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


def _json_error(exc: AppError):
    body = {"error": type(exc).__name__, "message": exc.message, **exc.details}
    return jsonify(body), exc.status


@bp.get("/analyst")
@role_required("analyst")
def analyst_home():
    db = session()
    items = list(db.scalars(sa.select(Item).order_by(Item.code)))
    waiting = {d.item_id: d for d in db.scalars(sa.select(drafts.DiagramDraft))}
    return render_template("analyst/home.html", items=items, drafts=waiting,
                           versions={i.code: drafts.versions(i.code) for i in items})  # fmt: skip


@bp.get("/analyst/items/<code>/edit")
@role_required("analyst")
def analyst_edit(code: str):
    item = session().scalars(sa.select(Item).where(Item.code == code)).first()
    if item is None:
        raise NotFound(_("There is no such item."))
    built = Path(current_app.static_folder, "modeler", "modeler.js").exists()
    version = request.args.get("version", type=int)
    xml_url = url_for("web.analyst_xml", code=code, version=version)
    page = render_template("analyst/edit.html", item=item, built=built, xml_url=xml_url,
                           version=version, csrf=generate_csrf())  # fmt: skip
    resp = make_response(page)
    resp.headers["Content-Security-Policy"] = MODELER_CSP
    return resp


def _xml_response(content: str):
    """Serve diagram XML so that no browser ever runs anything inside it."""
    resp = current_app.response_class(content, mimetype="application/xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


@bp.get("/analyst/items/<code>/bpmn")
@role_required("analyst")
def analyst_xml(code: str):
    versions = drafts.versions(code)
    wanted = request.args.get("version", type=int)
    if wanted is None:
        item = session().scalars(sa.select(Item).where(Item.code == code)).one()
        draft = session().get(drafts.DiagramDraft, item.id)
        if draft is not None:
            return _xml_response(draft.content)
    chosen = [v for v in versions if wanted is None or v.version == wanted]
    if not chosen:
        raise NotFound(_("There is no such version."))
    return _xml_response(chosen[0].content)


@bp.post("/analyst/items/<code>/draft")
@role_required("analyst")
def analyst_save(code: str):
    content = request.get_data(as_text=True)
    try:
        if not content.strip():
            raise InvalidInput(_("The diagram is empty."))
        _draft, findings = drafts.save_draft(current_user, code, content)
    except AppError as exc:
        return _json_error(exc)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    summary = _("Draft saved: %(e)d errors, %(w)d warnings.", e=errors, w=warnings)
    return jsonify({"errors": errors, "warnings": warnings, "summary": summary,
                    "findings": [f.as_dict() for f in findings]})  # fmt: skip


@bp.post("/analyst/items/<code>/deploy")
@role_required("analyst")
def analyst_deploy(code: str):
    body = request.get_json(silent=True) or {}
    try:
        version = drafts.deploy_draft(current_user, code, str(body.get("comment") or ""))
    except AppError as exc:
        return _json_error(exc)
    summary = _("Deployed as version %(v)d; new cases follow it.", v=version.version)
    return jsonify({"version": version.version, "summary": summary}), 201
