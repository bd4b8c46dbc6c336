"""Log-in, the home page, the inbox (待办), done list (已办), task and case pages."""

from __future__ import annotations

import logging
import uuid

from flask import flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import privacy
from ..audit.review import note_if_auditor
from ..auth.services import authenticate
from ..cases import services as cases
from ..cases import work
from ..cases.faults import CaseFaulted
from ..cases.models import PAUSE_KINDS
from ..catalogue import services as catalogue
from ..db import session as db_session
from ..db import utcnow
from ..errors import AppError, NotFound, TooManyRequests, Unauthorized
from ..org.models import Post
from . import LANGUAGES, bp, present, role_required, safe_next
from .forms import (
    ClaimForm,
    CompleteForm,
    ExtendForm,
    LanguageForm,
    LoginForm,
    PauseForm,
    PersonalDataForm,
    RefuseForm,
    SupplementForm,
    TransferForm,
    UrgeForm,
    WithdrawForm,
    choices,
    form_values,
)
from .present import pause_kind_name

log = logging.getLogger("onewindow.security")
TASK_HOLDER_ROLES = ("official", "leader", "clerk")  # clerks hold window stages (发证)
STAFF_HOME = (
    ("official", "web.inbox"),
    ("leader", "web.inbox"),
    ("clerk", "web.window"),
    ("admin", "web.admin_users"),
    ("supervisor", "web.supervision_page"),
    ("auditor", "web.audit_home"),
    ("analyst", "web.analyst_home"),
    ("applicant", "web.my_home"),
)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    for role, endpoint in STAFF_HOME:
        if current_user.has_role(role):
            return redirect(url_for(endpoint))
    return render_template("home.html")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data.strip(), form.password.data,
                                request.remote_addr or "unknown")  # fmt: skip
        except Unauthorized:
            log.warning("failed log-in for %r from %s", form.username.data, request.remote_addr)
            flash(_("Wrong username or password."), "error")
            return render_template("login.html", form=form), 401
        except TooManyRequests:
            flash(_("Too many failed log-ins: wait a quarter of an hour and try again."), "error")
            return render_template("login.html", form=form), 429
        lang = request.form.get("lang") or session.get("lang")
        session.clear()  # a fresh session (and CSRF token) for the logged-in user
        login_user(user)
        session.permanent = True
        session["login_at"] = utcnow().isoformat()
        if lang in LANGUAGES:
            session["lang"] = lang
        log.info("log-in: %s from %s", user.username, request.remote_addr)
        return redirect(safe_next(request.args.get("next"), url_for("web.home")))
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    lang = session.get("lang")
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You have logged out."), "info")
    return redirect(url_for("web.login"))


@bp.post("/language")
def language():
    form = LanguageForm()
    if form.validate_on_submit() and form.lang.data in LANGUAGES:
        session["lang"] = form.lang.data
    return redirect(safe_next(request.form.get("next"), url_for("web.home")))


# --- the inbox ---------------------------------------------------------------------------------


def _inbox_filter() -> work.InboxFilter:
    args = request.args
    sort = args.get("sort", "due")
    return work.InboxFilter(
        item=args.get("item", "").strip(),
        stage=args.get("stage", "").strip(),
        colour=args.get("colour", "") if args.get("colour") in work.COLOURS else "",
        as_b=args.get("as_b") == "1",
        text=args.get("q", "")[:100],
        sort=sort if sort in work.InboxFilter.SORTS else "due",
    )


@bp.get("/inbox")
@role_required(*TASK_HOLDER_ROLES)
def inbox():
    flt = _inbox_filter()
    rows = work.inbox(current_user, flt)
    everything = work.inbox(current_user) if flt != work.InboxFilter() else rows
    counts = {
        "all": len(everything),
        "as_b": sum(1 for r in everything if r.task.acting_for_id),
        **{c: sum(1 for r in everything if r.colour == c) for c in work.COLOURS},
    }
    return render_template(
        "inbox.html",
        rows=rows,
        flt=flt,
        counts=counts,
        queue=work.claimable(current_user),
        items=catalogue.list_items(),
        stages=sorted({r.task.stage for r in everything if r.task.stage}),
        claim_form=ClaimForm(),
    )


@bp.get("/done")
@role_required(*TASK_HOLDER_ROLES)
def done():
    return render_template("done.html", rows=work.done_list(current_user))


def _task_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise NotFound(_("There is no such task.")) from None


def _render_task(task_id: uuid.UUID, form: CompleteForm | None = None, errors=None, status=200):
    task, case, fields = cases.open_task(current_user, task_id)
    note_if_auditor(current_user, case.id, "task")
    case_row, item, version, tasks = cases.case_for_task(case.case_no)
    events = cases.case_events(current_user, case.case_no, allowed=True)
    post = db_session().get(Post, task.post_id) if task.post_id else None
    people = work.people_named(
        work.case_people_ids(tasks, events) | {task.acting_for_id}
        | ({uid for _r, uid in work.holders(post)} if post else set())
    )  # fmt: skip
    transfer = TransferForm()
    if post:
        away = work.away_now({uid for _r, uid in work.holders(post)})
        transfer.to_user.choices = choices(
            [
                (uid, f"{role} · {people.get(uid, uid)}")
                for role, uid in work.holders(post)
                if uid != task.assignee_id and uid not in away
            ]
        )
    may_work = task.assignee_id == current_user.id and task.state == "open"
    may_transfer = task.state == "open" and post is not None and (
        may_work or post.leader_user_id == current_user.id or current_user.has_role("admin")
    )  # fmt: skip
    return render_template(
        "task.html",
        task=task,
        case=case_row,
        item=item,
        version=version,
        tasks=tasks,
        events=events,
        fields=fields,
        form=form or CompleteForm(),
        errors=errors or {},
        values=request.form if request.method == "POST" else {},
        people=people,
        post=post,
        may_work=may_work,
        may_transfer=may_transfer,
        may_claim=task.assignee_id is None
        and task.state == "open"
        and post is not None
        and current_user.id in {uid for _r, uid in work.holders(post)},
        transfer=transfer,
        claim_form=ClaimForm(),
        materials=catalogue.materials_of(item),
    ), status


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str):
    return _render_task(_task_id(task_id))


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id: str):
    parsed = _task_id(task_id)
    form = CompleteForm()
    if not form.validate_on_submit():
        return _render_task(parsed, form, status=400)
    _task, _case, fields = cases.open_task(current_user, parsed)
    data = form_values(fields, request.form, prefix="f_")
    if request.form.get("legal_basis", "").strip():
        data["legal_basis"] = request.form["legal_basis"].strip()
    try:
        done = cases.complete_task(
            current_user, parsed, request.form.get("outcome", ""), form.comment.data or "", data
        )
    except CaseFaulted as exc:
        flash(_("The workflow stopped (%(what)s) and nothing was decided: the case is in the "
                "fault state and the administrators have been told. Your task stays open.",
                what=present.fault_name(exc.fault.code)), "error")  # fmt: skip
        return redirect(url_for("web.case", case_no=exc.case_no))
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return _render_task(parsed, form, exc.details.get("fields"), exc.status)
    flash(_("Task “%(name)s” of case %(case)s is done.", name=done.subject.name,
            case=_case.case_no), "success")  # fmt: skip
    return redirect(url_for("web.inbox"))


@bp.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str):
    parsed = _task_id(task_id)
    form = TransferForm()
    form.to_user.choices = choices(
        [(int(v), v) for v in request.form.getlist("to_user") if v.isdigit()]
    )
    if not form.validate_on_submit():
        flash(_("Choose who takes the task and give a reason."), "error")
        return _render_task(parsed, status=400)
    try:
        work.transfer_task(current_user, parsed, form.to_user.data, form.reason.data)
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return _render_task(parsed, status=exc.status)
    flash(_("The task has been transferred."), "success")
    return redirect(url_for("web.inbox"))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    parsed = _task_id(task_id)
    if not ClaimForm().validate_on_submit():
        return _render_task(parsed, status=400)
    try:
        work.claim_task(current_user, parsed)
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return redirect(url_for("web.inbox"))
    flash(_("The task is yours now."), "success")
    return redirect(url_for("web.task", task_id=task_id))


# --- cases -------------------------------------------------------------------------------------


@bp.get("/cases")
@role_required("clerk", "supervisor", "auditor", "admin", "official", "leader")
def case_search():
    text = request.args.get("q", "").strip()[:100]
    found = cases.find_cases(current_user, text) if text else []
    return render_template("case_search.html", q=text, found=found)


@bp.get("/cases/<case_no>")
@login_required
def case(case_no: str):
    case_row, item, version, tasks = cases.get_case(current_user, case_no)
    note_if_auditor(current_user, case_row.id, "case")
    events = cases.case_events(current_user, case_no)
    people = work.people_named(work.case_people_ids(tasks, events) | {case_row.received_by_id})
    fault = None
    if case_row.status == "fault":
        fault = next((e for e in reversed(events) if e.type == "case_faulted"), None)
    return render_template(
        "case.html",
        case=case_row,
        fault=fault,
        item=item,
        version=version,
        tasks=tasks,
        events=events,
        people=people,
        materials=catalogue.materials_of(item),
        is_clerk=current_user.has_role("clerk"),
        supplement_form=SupplementForm(),
        refuse_form=RefuseForm(),
        withdraw_form=WithdrawForm(),
        pause_form=_pause_form(),
        extend_form=ExtendForm(),
        urge_form=UrgeForm(),
    )


@bp.post("/cases/<case_no>/retry")
@role_required("admin")
def case_retry(case_no: str):
    """Run again the step that stopped a case in the fault state."""
    if not ClaimForm().validate_on_submit():
        return redirect(url_for("web.case", case_no=case_no))
    try:
        cases.retry_case(current_user, case_no)
    except AppError as exc:
        if exc.status in (403, 404):
            raise
        flash(_("The retry stopped again: %(reason)s", reason=exc.message), "error")
    else:
        flash(_("The failed step ran; the case goes on."), "success")
    return redirect(url_for("web.case", case_no=case_no))


@bp.post("/cases/<case_no>/personal-data")
@role_required("clerk", "supervisor", "admin")
def case_personal_data(case_no: str):
    """The applicant's full ID and phone number, for a stated reason, and the view logged."""
    case_row, item, _version, _tasks = cases.get_case(current_user, case_no)
    form = PersonalDataForm()
    if not form.validate_on_submit():
        flash(_("Say why you need the full numbers."), "error")
        return redirect(url_for("web.case", case_no=case_no))
    shown = {"id_number": case_row.applicant_id_number, "phone": case_row.applicant_phone}
    privacy.log_view(current_user, "case", case_row.id, case_row.case_no, shown,
                     form.purpose.data.strip())  # fmt: skip
    resp = make_response(render_template("personal_data.html", case=case_row, item=item,
                                         purpose=form.purpose.data.strip()))  # fmt: skip
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _pause_form() -> PauseForm:
    form = PauseForm()
    form.kind.choices = choices((k, pause_kind_name(k)) for k in PAUSE_KINDS)
    return form
