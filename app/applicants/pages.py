"""Applicants online: apply, upload materials, follow progress, rate the service; the
clerks' pre-review of online applications; the supervision office's follow-ups."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..calendar.services import calendar
from ..cases.deadlines import clock_changes
from ..cases.models import Case
from ..cases.reported import case_report
from ..catalogue import services as catalogue
from ..db import utcnow
from ..errors import NotFound
from ..licences import queries as licence_queries
from ..licences.pages import status_label
from ..web import bp, role_required
from ..web.forms import form_values, item_fields
from ..web.policy import attempt
from . import accounts, applications, documents, evaluations, kiosk, tracking, uploads
from .models import LEVELS


def _status_names() -> dict[str, str]:
    return {
        "draft": _("draft, not handed in"),
        "submitted": _("handed in, waiting for pre-review"),
        "supplement_required": _("supplements asked for"),
        "invited": _("invited to the window"),
        "accepted": _("accepted"),
        "withdrawn": _("withdrawn"),
    }


def _level_names() -> dict[int, str]:
    return {
        5: _("very satisfied"),
        4: _("satisfied"),
        3: _("fairly satisfied"),
        2: _("dissatisfied"),
        1: _("very dissatisfied"),
    }


def _client() -> str:
    return request.remote_addr or "unknown"


def _found(row, message: str):
    """Return `row`, or refuse with a 404 saying `message` if there is none."""
    if row is None:
        raise NotFound(message)
    return row


# --- applying -------------------------------------------------------------------------------


@bp.get("/apply")
@role_required("applicant")
def apply_home():
    return render_template("applicant/apply_home.html",
                           items=[i for i in catalogue.list_items() if not catalogue.ex_officio(i)])


@bp.route("/apply/<code>", methods=["GET", "POST"])
@role_required("applicant")
def apply_item(code: str):
    item = _found(applications.item_to_apply(code), _("There is no such item."))
    fields, errors, status = item_fields(item), {}, 200
    if request.method == "POST":
        done = attempt(applications.start, current_user, code,
                       form_values(fields, request.form, "a_"))  # fmt: skip
        if done.ok:
            flash(_("Application %(no)s saved as a draft: now upload the materials.",
                    no=done.value.number), "success")  # fmt: skip
            return redirect(url_for("web.my_application", number=done.value.number))
        errors, status = done.fields, done.status
    # a link may fill fields in (`?a_licence_no=…` from the applicant's licences)
    values = request.form if request.method == "POST" else request.args
    return render_template("applicant/apply.html", item=item, fields=fields, errors=errors,
                           values=values), status  # fmt: skip


@bp.get("/my")
@role_required("applicant")
def my_home():
    return render_template("applicant/my.html", rows=applications.mine(current_user),
                           names=_status_names(), held=licence_queries.held_by(current_user),
                           status_label=status_label)  # fmt: skip


def _application_page(number: str, status: int = 200):
    app = applications.get(current_user, number)
    item, case = applications.item_of(app), applications.case_of(app)
    have = {}
    for up in applications.current_uploads(app.id):
        have.setdefault(up.material_code, []).append(up)
    return render_template(
        "applicant/application.html", app=app, item=item, case=case,
        materials=catalogue.materials_of(item), have=have, names=_status_names(),
        fields=item_fields(item),
        notices=_notices(case) if case else [],
        may_change=applications.may_change(current_user, app),
        missing_required=applications.missing_required(app),
        review_overdue=applications.review_overdue(app),
        deemed=applications.deemed_facts(app),
        clock=clock_changes(case.id) if case is not None and case.accepted_at else [],
        report=case_report(case.id) if case is not None and case.accepted_at else None,
    ), status  # fmt: skip


@bp.get("/my/applications/<number>")
@role_required("applicant", "clerk", "supervisor", "auditor", "admin")
def my_application(number: str):
    return _application_page(number)


@bp.post("/my/applications/<number>/upload")
@role_required("applicant")
def my_upload(number: str):
    file = request.files.get("file")
    material = request.form.get("material", "")
    if file is None or not file.filename:
        flash(_("Choose a file to upload."), "error")
        return _application_page(number, 400)
    done = attempt(applications.attach, current_user, number, material, file.stream,
                   file.filename)  # fmt: skip
    if not done.ok:
        return _application_page(number, done.status)
    flash(_("Uploaded."), "success")
    return redirect(url_for("web.my_application", number=number))


@bp.post("/my/applications/<number>/<action>")
@role_required("applicant")
def my_application_action(number: str, action: str):
    steps = {"submit": applications.submit, "withdraw": applications.withdraw}
    if action not in steps:
        abort(404)
    # handing in with a required material missing takes the applicant's confirmation
    confirmed = {"missing_confirmed": request.form.get("confirm_missing") == "1"}
    extra = confirmed if action == "submit" else {}
    result = attempt(steps[action], current_user, number, **extra)
    if not result.ok:
        return _application_page(number, result.status)
    done = {"submit": _("Handed in: the window will pre-review it within five working days."),
            "withdraw": _("The application is withdrawn.")}  # fmt: skip
    flash(done[action], "success")
    return redirect(url_for("web.my_application", number=number))


@bp.get("/my/applications/<number>/files/<int:upload_id>")
@role_required("applicant", "clerk", "supervisor", "auditor", "admin")
def my_file(number: str, upload_id: int):
    row = _found(applications.upload_of(current_user, number, upload_id),
                 _("There is no such file."))  # fmt: skip
    name = uploads.download_name(row.filename, row.content_type)  # the stored type's extension
    resp = send_file(uploads.path_of(row.stored_name), mimetype=row.content_type,
                     as_attachment=True, download_name=name)  # fmt: skip
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


def _notices(case: Case) -> list[tuple[str, str]]:
    out = []
    if case.accepted_at:
        out += [("receipt", _("Acceptance receipt (PDF)")),
                ("commitment", _("Commitment notice (PDF)"))]  # fmt: skip
    if case.decision:
        out.append(("decision", _("Decision letter (PDF)")))
        out += [("licence", _("Licence %(number)s (PDF)", number=lic.number))
                for lic in licence_queries.of_case(case.id)[:1]]  # fmt: skip
    return out


def _pdf(content: bytes, name: str):
    resp = current_app.response_class(content, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/cases/<case_no>/notices/<kind>.pdf")
@login_required
def case_notice(case_no: str, kind: str):
    """A notice of a case; ?n= says which pause or extension notice (1 the oldest)."""
    n = request.args.get("n")
    content = documents.case_notice(current_user, case_no, kind, n)
    return _pdf(content, f"{case_no}-{kind}-{n}.pdf" if n else f"{case_no}-{kind}.pdf")


@bp.post("/cases/<case_no>/notices/<kind>/hand-over")
@role_required("clerk")
def case_notice_hand_over(case_no: str, kind: str):
    """The window hands a notice to the applicant (logged); the page then prints it."""
    if attempt(documents.hand_over_notice, current_user, case_no, kind, request.args.get("n")).ok:
        flash(_("The notice is recorded as handed over; print it with its button."), "success")
    return redirect(url_for("web.case", case_no=case_no) + "#notices")


@bp.get("/my/applications/<number>/supplement-notice.pdf")
@role_required("applicant", "clerk", "supervisor", "auditor", "admin")
def application_notice(number: str):
    content = documents.application_notice(applications.get(current_user, number))
    return _pdf(content, f"{number}-supplement.pdf")


# --- the clerk's pre-review --------------------------------------------------------------------


@bp.get("/window/online")
@role_required("clerk")
def online_queue():
    rows = [(app, item, applications.deemed_facts(app)) for app, item in
            applications.waiting_review()]  # fmt: skip
    return render_template("applicant/queue.html", rows=rows, names=_status_names(),
                           now=utcnow())  # fmt: skip


@bp.post("/window/online/<number>/<action>")
@role_required("clerk")
def online_review(number: str, action: str):
    note = request.form.get("note", "")
    if action == "supplements":
        done = attempt(applications.request_supplements, current_user, number,
                       request.form.getlist("missing"), note)  # fmt: skip
        told = _("The applicant has been told every missing material at once.")
    elif action == "invite":
        done = attempt(applications.invite, current_user, number, note)
        told = _("The applicant has been invited to the window.")
    elif action == "accept":
        done = attempt(applications.accept, current_user, number)
        told = _("Accepted as case %(no)s.", no=done.value.case_no) if done.ok else ""
    else:
        abort(404)
    if not done.ok:
        return _application_page(number, done.status)
    flash(told, "success")
    return redirect(url_for("web.my_application", number=number))


# --- the public progress query and the rating ---------------------------------------------------


# The public query answers every refusal on its own form, a wrong number or code (404) and
# throttling (429) included: the visitor corrects it and asks again (`raised=()`).


def _query(case_no: str, code: str):
    """The progress of the case asked for, the day it was deemed accepted from (if), and
    whether the visitor may have its notices (a query code alone gives none)."""
    case = tracking.find_case(_client(), case_no, code)
    mine = current_user.is_authenticated and documents.may_have(current_user, case)
    return tracking.progress(case), applications.deemed_day_of_case(case.id), mine


@bp.route("/track", methods=["GET", "POST"])
def track():
    progress, deemed, notices, status = None, None, False, 200
    case_no = request.values.get("case_no", "")
    if request.method == "POST":
        code = request.form.get("code", "")
        found = attempt(_query, case_no, code, raised=())
        progress, deemed, notices = found.value or (None, None, False)
        status = found.status
    return render_template("applicant/track.html", progress=progress, case_no=case_no,
                           deemed=deemed, notices=notices,
                           code=request.form.get("code", "") if progress else "",
                           levels=_level_names(), names=_status_names()), status  # fmt: skip


@bp.post("/track/rate")
def track_rate():
    """Rate an ended case online (any outcome, once), proving it is yours with the query code
    again. A refusal keeps what was typed: the case number and code in the query form (a
    wrong pair, throttling), or the case with its rating form, level and comment (a rating
    the service refuses)."""
    case_no, code = request.form.get("case_no", ""), request.form.get("code", "")
    typed = {"level": request.form.get("level", ""), "comment": request.form.get("comment", "")}
    found = attempt(tracking.find_case, _client(), case_no, code, raised=())
    case = found.value
    rated = found
    if case is not None:
        rated = attempt(evaluations.rate, case, typed["level"], typed["comment"], "online",
                        raised=())  # fmt: skip
    mine = case is not None and current_user.is_authenticated and documents.may_have(
        current_user, case)  # fmt: skip
    if rated.ok:
        flash(_("Thank you for your rating."), "success")
    page = render_template("applicant/track.html",
                           progress=tracking.progress(case) if case is not None else None,
                           case_no=case_no, code=code, notices=mine,
                           deemed=applications.deemed_day_of_case(case.id) if case else None,
                           typed=typed if not rated.ok else {}, levels=_level_names(),
                           names=_status_names())  # fmt: skip
    return page, 200 if rated.ok else rated.status


@bp.route("/window/rate/<case_no>", methods=["GET", "POST"])
@role_required("clerk")
def window_rate(case_no: str):
    """The clerk opens the rating kiosk for one case; a clerk never rates (a POST carrying a
    rating is refused and writes nothing)."""
    if request.method == "GET":
        return render_template("applicant/tablet.html", case_no=case_no)
    if "level" in request.form or "comment" in request.form:
        flash(_("Ratings are the applicant's own: open the kiosk and hand them the tablet."),
              "error")  # fmt: skip
        return render_template("applicant/tablet.html", case_no=case_no), 403
    opened = attempt(kiosk.open_kiosk, current_user, case_no)
    if not opened.ok:
        return render_template("applicant/tablet.html", case_no=case_no), opened.status
    return redirect(url_for("web.kiosk_rate", token=opened.value))


# The kiosk answers every outcome on its own page (`raised=()`), never on the staff layout.


@bp.route("/kiosk/<token>", methods=["GET", "POST"])
def kiosk_rate(token: str):
    """The window's rating tablet, facing the applicant: five faces, no staff menu."""
    found = attempt(kiosk.grant_of, token, raised=())
    if not found.ok:
        return render_template("applicant/kiosk.html", state="closed"), found.status
    case = found.value[1]
    if request.method == "POST":
        done = attempt(kiosk.rate_at_kiosk, token, request.form.get("level"),
                       request.form.get("comment", ""), raised=())  # fmt: skip
        if done.ok:
            return render_template("applicant/kiosk.html", state="thanks", case=case)
        state = "closed" if done.status == 409 else "open"
        return render_template("applicant/kiosk.html", state=state, case=case,
                               levels=_level_names(), token=token), done.status  # fmt: skip
    if tracking.rated_level(case.id) is not None:
        return render_template("applicant/kiosk.html", state="closed", case=case), 409
    return render_template("applicant/kiosk.html", state="open", case=case,
                           levels=_level_names(), token=token)  # fmt: skip


# --- the supervision office's follow-ups ---------------------------------------------------------


@bp.get("/followups")
@role_required("supervisor", "auditor", "admin")
def follow_up_list():
    return render_template("applicant/followups.html", rows=evaluations.follow_ups(),
                           levels=_level_names())  # fmt: skip


@bp.route("/followups/<int:follow_id>", methods=["GET", "POST"])
@role_required("supervisor", "auditor", "admin")
def follow_up(follow_id: int):
    errors, status = {}, 200
    if request.method == "POST":
        done = attempt(
            evaluations.close_follow_up, current_user, follow_id,
            request.form.get("contact_note", ""), request.form.get("rectification", ""),
            request.form.get("second_level"), request.form.get("second_comment", ""),
        )  # fmt: skip
        if done.ok:
            flash(_("The follow-up is closed."), "success")
            return redirect(url_for("web.follow_up_list"))
        errors, status = done.fields, done.status
    view = evaluations.get_follow_up(follow_id)
    return render_template("applicant/followup.html", view=view, levels=_level_names(),
                           errors=errors, values=request.form), status  # fmt: skip


@bp.get("/figures/evaluations")
def evaluation_figures():
    """Published monthly figures of the ratings (no personal data)."""
    this_month = calendar().local(utcnow()).strftime("%Y-%m")
    asked = attempt(evaluations.monthly, request.args.get("month") or this_month)
    figures = asked.value if asked.ok else evaluations.monthly(this_month)
    return render_template("applicant/figures.html", figures=figures, levels=_level_names(),
                           level_names=LEVELS)  # fmt: skip


@bp.route("/register", methods=["GET", "POST"])
def register():
    """An applicant opens an account (a person by ID number, an organisation by its code)."""
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    errors, status = {}, 200
    if request.method == "POST":
        form = request.form
        done = attempt(accounts.register, _client(), form.get("username", ""),
                       form.get("name", ""), form.get("id_number", ""), form.get("phone", ""),
                       form.get("password", ""))  # fmt: skip
        if done.ok:
            flash(_("Your account is open: log in to apply online."), "success")
            return redirect(url_for("web.login"))
        errors, status = done.fields, done.status
    return render_template("applicant/register.html", errors=errors,
                           values=request.form), status  # fmt: skip
