"""Licence pages: the public status behind a document's code (the QR code's target), the
public register, and the staff's registry search and a licence's history (issue 24)."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ..web import bp, role_required
from ..web.present import labels
from . import queries
from .queries import STAFF, DocumentView

# what a status and a history entry are called on the pages
status_label = labels(lambda: {
    "in_force": _("In force"), "expiring": _("In force, expiring soon"),
    "expired": _("Expired"), "changed": _("Changed (replaced)"), "revoked": _("Revoked"),
    "cancelled": _("Cancelled"),
})  # fmt: skip
history_label = labels(lambda: {
    "issued": _("issued"), "renewed": _("renewed"), "changed": _("changed"),
    "revoked": _("revoked"), "cancelled": _("cancelled"), "expired": _("expired"),
    "reminded": _("renewal reminder sent"), "renewal_denied": _("renewal refused"),
    "change_denied": _("change refused"), "revocation_denied": _("revocation not decided"),
    "cancellation_denied": _("cancellation refused"),
})  # fmt: skip
action_label = labels(lambda: {
    "renewal": _("Renewal"), "change": _("Change"), "revocation": _("Revocation"),
    "cancellation": _("Cancellation"),
})  # fmt: skip
kind_label = labels(lambda: {"decision": _("Decision letter"), "licence": _("Licence")})


def _render(template: str, **context):
    return render_template(template, status_label=status_label, history_label=history_label,
                           action_label=action_label, kind_label=kind_label,
                           **context)  # fmt: skip


@bp.get("/l/<code>")
def licence_status(code: str):
    """What a document's code says now: authentic (issued here), and its licence's status."""
    found = queries.by_code(code[:40])
    if isinstance(found, DocumentView):
        return _render("licences/status.html", document=found, licence=found.licence)
    return _render("licences/status.html", document=None, licence=found)


@bp.get("/licence-register")
def licence_register():
    query = request.args.get("q", "").strip()[:100]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found, more = queries.public_register(query, page)
    return _render("licences/register.html", found=found, more=more, query=query, page=page)


@bp.get("/licences")
@role_required(*STAFF)
def licences():
    query = request.args.get("q", "").strip()[:100]
    status = request.args.get("status", "")
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    found, more = queries.search(current_user, query, status, page)
    return _render("licences/search.html", found=found, more=more, query=query, status=status,
                   page=page)  # fmt: skip


@bp.get("/licences/<int:licence_id>")
@role_required(*STAFF)
def licence_page(licence_id: int):
    return _render("licences/detail.html", found=queries.detail(current_user, licence_id))
