"""The case pages: search, the case page, an administrator's retry, the full personal data."""

from __future__ import annotations

import datetime as dt

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ... import privacy
from ...audit.review import note_if_auditor
from ...catalogue import services as catalogue
from ...licences import queries as licence_queries
from ...supervision import opinions
from ...web import bp, role_required
from ...web.forms import (
    ClaimForm,
    ExtendForm,
    OpinionForm,
    PauseForm,
    PersonalDataForm,
    RefuseForm,
    SupplementForm,
    UrgeForm,
    WithdrawForm,
    choices,
)
from ...web.policy import attempt
from ...web.present import pause_kind_name
from .. import copies
from .. import opinions as asked
from .. import services as cases
from ..access import Purpose
from ..deadlines import extension_rule
from ..models import PAUSE_KINDS
from ..status import CASE_STATUSES, CaseStatus
from .window import close_form


@bp.get("/cases")
@role_required("clerk", "supervisor", "auditor", "admin", "official", "leader")
def case_search():
    """The case list (办件查询): the cases the user may read, filtered, newest first."""
    items, departments = cases.case_list_choices()
    flt, problems = _case_filter({i.code for i in items}, {d.code for d in departments})
    found = None if problems else cases.case_list(current_user, flt)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "case_search.html", flt=flt, found=found, problems=problems, items=items,
        departments=departments, statuses=CASE_STATUSES, args=args,
    ), 400 if problems else 200  # fmt: skip


def _case_filter(items: set[str], departments: set[str]) -> tuple[cases.CaseFilter, list[str]]:
    """Read the case list's filter from the query string; name every value that is wrong."""
    args, problems = request.args, []
    values = {k: args.get(k, "").strip()[:100] for k in ("q", "status", "item", "department")}
    known = {"status": (CASE_STATUSES, _("status")), "item": (items, _("item")),
             "department": (departments, _("department"))}  # fmt: skip
    for key, (allowed, what) in known.items():
        if values[key] and values[key] not in allowed:
            problems.append(_("There is no such %(what)s: %(value)s", what=what,
                              value=values[key]))  # fmt: skip
            values[key] = ""
    days = {}
    for key, what in (("from", _("Received from")), ("to", _("Received until"))):
        raw = args.get(key, "").strip()[:20]
        try:
            days[key] = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            problems.append(_("%(what)s is not a date (YYYY-MM-DD): %(value)s", what=what,
                              value=raw))  # fmt: skip
            days[key] = None
    if days["from"] and days["to"] and days["from"] > days["to"]:
        problems.append(_("The first day comes after the last."))
    page = args.get("page", "1").strip()
    if not page.isdigit() or not 1 <= int(page) <= 100_000:
        problems.append(_("There is no page %(value)s.", value=page[:10]))
        page = "1"
    flt = cases.CaseFilter(
        text=values["q"], status=values["status"], item=values["item"],
        department=values["department"], received_from=days["from"], received_to=days["to"],
        overdue=args.get("overdue") == "1", page=int(page),
    )  # fmt: skip
    return flt, problems


@bp.get("/cases/<case_no>")
@login_required
def case(case_no: str):
    detail = cases.case_detail(cases.require_case(current_user, case_no))
    note_if_auditor(current_user, detail.case.id, "case")
    copies.mark_read(current_user, detail.case.id)  # a copy sent for information: now read
    sent = copies.copies_of(detail.case.id)
    holds = any(t.state == "open" and current_user.id in (t.assignee_id, t.acting_for_id)
                for t, _who in detail.tasks)  # fmt: skip
    supervisor = current_user.has_role("supervisor")
    return render_template(
        "case.html",
        **detail.context(),
        fault=detail.fault,
        people=cases.people_named(detail.people_ids()
                                  | {c.user_id for c in sent} | {c.sent_by_id for c in sent}),
        copies=sent, may_copy=holds, opinions_asked=asked.of_case(detail.case.id),
        colleagues=copies.colleagues(current_user) if holds else [],
        materials=catalogue.materials_of(detail.item),
        is_clerk=current_user.has_role("clerk"),
        supplement_form=SupplementForm(),
        refuse_form=RefuseForm(),
        withdraw_form=WithdrawForm(),
        close_form=close_form() if detail.case.status == CaseStatus.DECIDED else None,
        pause_form=_pause_form(),
        extend_form=ExtendForm(),
        # who approves an extension: asked only for a leader, the one who might
        approvers=extension_rule(detail.item) if current_user.has_role("leader") else None,
        urge_form=UrgeForm(),
        # the supervision office's opinion on the commitment notice: theirs to enter and read
        opinion_form=OpinionForm(),
        opinion=opinions.latest_opinion(detail.case) if supervisor else None,
        licences=licence_queries.of_case(detail.case.id) if detail.case.decision else [],
    )


@bp.post("/cases/<case_no>/retry")
@role_required("admin")
def case_retry(case_no: str):
    """Run again the step that stopped a case in the fault state."""
    if not ClaimForm().validate_on_submit():
        return redirect(url_for("web.case", case_no=case_no))
    retried = attempt(cases.retry_case, current_user, case_no, flash_error=False)
    if retried.ok:
        flash(_("The failed step ran; the case goes on."), "success")
    else:
        flash(_("The retry stopped again: %(reason)s", reason=retried.error.message), "error")
    return redirect(url_for("web.case", case_no=case_no))


@bp.post("/cases/<case_no>/personal-data")
@role_required("clerk", "supervisor", "admin")
def case_personal_data(case_no: str):
    """The applicant's full ID and phone number, for a stated reason, and the view logged."""
    checked = cases.require_case(current_user, case_no, Purpose.VIEW)
    form = PersonalDataForm()
    if not form.validate_on_submit():
        flash(_("Say why you need the full numbers."), "error")
        return redirect(url_for("web.case", case_no=case_no))
    case = checked.case
    shown = {"id_number": case.applicant_id_number, "phone": case.applicant_phone}
    privacy.log_view(current_user, "case", case.id, case.case_no, shown,
                     form.purpose.data.strip())  # fmt: skip
    resp = make_response(render_template("personal_data.html", case=case, item=checked.item,
                                         purpose=form.purpose.data.strip()))  # fmt: skip
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _pause_form() -> PauseForm:
    form = PauseForm()
    form.kind.choices = choices((k, pause_kind_name(k)) for k in PAUSE_KINDS)
    return form


@bp.post("/cases/<case_no>/copies")
@login_required
def case_send_copies(case_no: str):
    """抄送: the holder of an open task sends the case to colleagues for information."""
    done = attempt(copies.send_copies, current_user, case_no, request.form.getlist("to"),
                   request.form.get("reason", ""))  # fmt: skip
    if done.ok:
        flash(_("Sent for information to %(n)d people.", n=len(done.value)), "success")
    return redirect(url_for("web.case", case_no=case_no) + "#copies")
