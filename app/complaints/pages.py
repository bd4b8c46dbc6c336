"""The complaints and hotline (12345) register of the supervision office.

The office (supervisors, admins) registers, assigns, replies and archives; the officials
and leaders of the department a ticket is assigned to see it and add investigation notes;
auditors read everything. A page shows only the forms its viewer may use, and the services
check every POST again against the ticket. Department staff do not learn who complained:
the complainant's name and phone are masked for everyone but the office.
"""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import privacy
from ..calendar.services import calendar
from ..db import utcnow
from ..errors import Forbidden
from ..web import bp, role_required
from ..web.forms import (
    ClaimForm,
    ComplaintAssignForm,
    ComplaintFilterForm,
    ComplaintForm,
    ComplaintNoteForm,
    ComplaintReplyForm,
    choices,
)
from ..web.policy import attempt, run_then
from ..web.present import iso_local, labels
from . import access, intake, public, queries, services
from . import figures as complaint_figures
from .history import local_text
from .models import CHANNELS, OPEN_STATUSES, REPLY_DAYS, STATUSES

READERS = ("supervisor", "admin", "auditor", "official", "leader")
OFFICE = access.OFFICE_ROLES
INVESTIGATORS = ("official", "leader", "admin")
PAGE_SIZE = 50


channel_name = labels(lambda: {
    "phone": _("phone (12345 hotline)"), "letter": _("letter"), "online": _("online"),
    "visit": _("in person"),
})  # fmt: skip
ticket_status_name = labels(lambda: {
    "registered": _("registered"), "assigned": _("assigned"),
    "investigating": _("under investigation"), "replied": _("replied"),
    "archived": _("archived"),
})  # fmt: skip
action_name = labels(lambda: {
    "registered": _("registered"), "assigned": _("assigned"),
    "reassigned": _("assigned elsewhere"), "note_added": _("investigation note"),
    "replied": _("replied"), "archived": _("archived"), "warning_issued": _("warning card"),
    "due_recomputed": _("due dates recomputed"),
})  # fmt: skip


def action_detail(event) -> str:
    """Return a one-line description of a history row's data."""
    data = event.data or {}
    parts: list[str] = []
    if data.get("channel"):
        parts.append(channel_name(data["channel"]))
    if data.get("department"):
        parts.append("→ " + data["department"])
    if data.get("level") in ("yellow", "red"):
        parts.append(_("red card") if data["level"] == "red" else _("yellow card"))
    if "on_time" in data:
        parts.append(_("on time") if data["on_time"] else _("late"))
    if data.get("due_at") and event.action == "due_recomputed":
        parts.append(_("due %(at)s", at=iso_local(data["due_at"])))
    if data.get("note_id"):
        parts.append(f"#{data['note_id']}")
    return " · ".join(parts)


def mask_name(name: str | None) -> str:
    """Keep the first character of a name (张**): staff of the department complained about
    do not learn who complained."""
    if not name:
        return "—"
    return name[0] + "*" * max(1, len(name) - 1)


def _pct(value) -> str:
    return "—" if value is None else f"{value}%"


def _today() -> dt.date:
    return calendar().local(utcnow()).date()


def _day(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _helpers() -> dict:
    return {"channel_name": channel_name, "ticket_status_name": ticket_status_name,
            "action_name": action_name, "action_detail": action_detail, "mask_name": mask_name,
            "pct": _pct}  # fmt: skip


@bp.get("/complaints")
@role_required(*READERS)
def complaints_page():
    form = ComplaintFilterForm(request.args)
    departments = queries.departments_for(current_user)
    form.status.choices = choices([("", _("All"))] + [(s, ticket_status_name(s))
                                                      for s in STATUSES])  # fmt: skip
    form.channel.choices = choices([("", _("All"))] + [(c, channel_name(c)) for c in CHANNELS])
    form.department_id.choices = choices([(0, _("All"))] + [(d.id, d.name) for d in departments])
    status = 200
    if not form.validate():
        flash(_("Some filters were not understood and are left out."), "error")
        status = 400
    today = _today()
    since = _day(form.since.data) if not form.since.errors else None
    until = _day(form.until.data) if not form.until.errors else None
    since, until = since or today.replace(day=1), until or today
    if since > until:
        since, until = until, since
    channel = form.channel.data if not form.channel.errors else ""
    dept = form.department_id.data if not form.department_id.errors else None
    flt = queries.Filter(
        since=since, until=until, channel=channel or "", department_id=dept or None,
        status=(form.status.data or "") if not form.status.errors else "",
        overdue=bool(form.overdue.data),
    )  # fmt: skip
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = queries.find(current_user, flt, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    scope = access.visible_departments(current_user)
    overall = complaint_figures.figures(since, until, flt.department_id, flt.channel or None,
                                        scope)  # fmt: skip
    per_department = complaint_figures.by_department(since, until, flt.channel or None, scope)
    per_channel = complaint_figures.by_channel(since, until, flt.department_id, scope)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "complaints/list.html", form=form, rows=rows, total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), args=args, since=since, until=until,
        overall=overall, per_department=per_department, per_channel=per_channel,
        office=current_user.has_role(*OFFICE), **_helpers(),
    ), status  # fmt: skip


def _register_form() -> ComplaintForm:
    form = ComplaintForm()
    form.channel.choices = choices(
        (c, f"{channel_name(c)} · " + _("%(n)d working days", n=REPLY_DAYS[c])) for c in CHANNELS
    )
    form.department_id.choices = choices(
        [(0, _("not yet"))] + [(d.id, d.name) for d in queries.assignable_departments()]
    )
    return form


@bp.route("/complaints/new", methods=["GET", "POST"])
@role_required(*OFFICE)
def complaint_new():
    form = _register_form()
    status = 200
    if form.validate_on_submit():
        received = form.received_at.data
        if received is not None:  # the form speaks centre-local time
            received = calendar().utc(received.date(), received.time())
        new = services.NewComplaint(
            channel=form.channel.data, complainant_name=form.complainant_name.data,
            complainant_phone=form.complainant_phone.data, subject=form.subject.data,
            content=form.content.data, received_at=received, case_no=form.case_no.data,
            department_id=form.department_id.data or None,
        )  # fmt: skip
        done = attempt(services.register, current_user, new, flash_error=False)
        if done.ok:
            flash(_("Complaint %(no)s is registered; the reply is due by %(at)s.",
                    no=done.value.number, at=local_text(done.value.due_at)), "success")  # fmt: skip
            return redirect(url_for("web.complaint", number=done.value.number))
        field = getattr(form, done.error.details.get("field", ""), None)
        if field is not None:  # the refusal is shown beside the input it concerns
            field.errors = [*field.errors, done.error.message]
        else:
            flash(done.error.message, "error")
        status = done.status
    elif form.is_submitted():
        status = 400
    return render_template("complaints/new.html", form=form, **_helpers()), status


@bp.get("/complaints/<number>")
@role_required(*READERS)
def complaint(number: str):
    ticket = queries.get(current_user, number)
    assign_form = ComplaintAssignForm(department_id=ticket.department_id)
    assign_form.department_id.choices = choices(
        [(0, "—")] + [(d.id, d.name) for d in queries.assignable_departments()]
    )
    people = queries.names(ticket.registered_by_id, ticket.replied_by_id,
                           ticket.archived_by_id)  # fmt: skip
    now = utcnow()
    contact = current_user.has_role(*OFFICE)
    if contact:  # the office calls back: a full view, logged
        privacy.log_view(current_user, "complaint", ticket.id, ticket.number,
                         {"phone": ticket.complainant_phone}, privacy.CALLING_BACK)  # fmt: skip
    return render_template(
        "complaints/detail.html", ticket=ticket, may=access.allowed(current_user, ticket),
        notes=queries.notes_of(ticket), history=queries.history_of(ticket),
        cards=queries.warnings_of(ticket), people=people,
        department=queries.department_name(ticket.department_id),
        case_no=queries.case_number(ticket.case_id),
        overdue=ticket.status in OPEN_STATUSES and ticket.due_at < now,
        late=ticket.replied_at is not None and ticket.replied_at > ticket.due_at,
        contact=contact, assign_form=assign_form,
        note_form=ComplaintNoteForm(), reply_form=ComplaintReplyForm(), archive_form=ClaimForm(),
        **_helpers(),
    )  # fmt: skip


def _change(number: str, valid: bool, problem: str | None, action, done: str):
    """Run a change of a ticket if its form is valid (else say `problem`), then go back to
    the ticket's page; a refusal is shown there (403 and 404 raised)."""
    back = url_for("web.complaint", number=number)
    if valid:
        return run_then(action, done, back)
    if problem:
        flash(problem, "error")
    return redirect(back)


@bp.post("/complaints/<number>/assign")
@role_required(*OFFICE)
def complaint_assign(number: str):
    form = ComplaintAssignForm()
    form.department_id.choices = choices((d.id, d.name) for d in queries.assignable_departments())
    return _change(number, form.validate_on_submit(),
                   _("Choose the department the complaint concerns."),
                   lambda: services.assign(current_user, number, form.department_id.data),
                   _("The complaint is assigned; the department's leaders are told."))  # fmt: skip


@bp.post("/complaints/<number>/notes")
@role_required(*INVESTIGATORS)
def complaint_note(number: str):
    form = ComplaintNoteForm()
    valid = form.validate_on_submit()
    if not valid and not access.may_investigate(current_user, queries.get(current_user, number)):
        raise Forbidden(_("Only the department the complaint is assigned to adds notes."))
    return _change(number, valid,
                   _("An investigation note needs its text (at most 4000 characters)."),
                   lambda: services.add_note(current_user, number, form.text.data),
                   _("The note is recorded."))  # fmt: skip


@bp.post("/complaints/<number>/reply")
@role_required(*OFFICE)
def complaint_reply(number: str):
    form = ComplaintReplyForm()
    return _change(number, form.validate_on_submit(),
                   _("A reply needs its text (at most 4000 characters)."),
                   lambda: services.reply(current_user, number, form.text.data),
                   _("The reply is recorded."))  # fmt: skip


@bp.post("/complaints/<number>/archive")
@role_required(*OFFICE)
def complaint_archive(number: str):
    return _change(number, ClaimForm().validate_on_submit(), None,
                   lambda: services.archive(current_user, number),
                   _("The complaint is archived."))  # fmt: skip


# --- the public's own entries (投诉/意见建议) ---------------------------------------------------


@bp.route("/feedback", methods=["GET", "POST"])
def feedback():
    """Anyone's complaint or suggestion, no account needed; it goes into the register. A
    refusal keeps what was typed and says what is wrong; a success shows the ticket number."""
    fields = ("kind", "complainant_name", "complainant_phone", "case_no", "subject", "content")
    typed = {key: request.form.get(key, "") for key in fields}
    if request.method == "GET" and current_user.is_authenticated:  # an account fills in who
        typed["complainant_name"] = current_user.name
        typed["complainant_phone"] = current_user.phone or ""
    received, status, bad = None, 200, ""
    if request.method == "POST":
        account = current_user.id if current_user.is_authenticated else None
        sent = attempt(public.submit, request.remote_addr or "unknown", typed["kind"],
                       typed["complainant_name"], typed["complainant_phone"],
                       typed["subject"], typed["content"], typed["case_no"],
                       account_id=account, raised=())  # fmt: skip
        received, status = sent.value, sent.status
        bad = (sent.error.details.get("field") or "") if sent.error else ""
        if received is not None:
            typed = {key: "" for key in typed}  # written down: the form starts afresh
    return render_template("complaints/feedback.html", typed=typed, received=received,
                           bad=bad, limit=intake.MAX_TEXT), status  # fmt: skip
