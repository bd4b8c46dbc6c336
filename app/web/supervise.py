"""Time limits on the web: pause, resume, extend, urge; the transfer card; supervision,
notifications and the working-day calendar."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..calendar import admin as calendar_admin
from ..calendar.models import CalendarYear
from ..cases import deadlines
from ..cases.models import PAUSE_KINDS
from ..catalogue.models import Item
from ..db import session
from ..errors import AppError, InvalidInput
from ..supervision import reports
from ..supervision import services as supervision
from . import bp, role_required
from .forms import ClaimForm, ExtendForm, PauseForm, UrgeForm, YearForm, choices
from .present import pause_kind_name


def _back(case_no: str):
    return redirect(url_for("web.case", case_no=case_no))


def _run(case_no: str, action, done: str):
    """Run a change of a case's clock; show its refusal on the case page (403s are raised)."""
    try:
        action()
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return _back(case_no)
    flash(done, "success")
    return _back(case_no)


@bp.post("/cases/<case_no>/pause")
@login_required
def pause(case_no: str):
    form = PauseForm()
    form.kind.choices = choices((k, pause_kind_name(k)) for k in PAUSE_KINDS)
    if not form.validate_on_submit():
        flash(_("A pause needs its kind, a reason and the expected working days."), "error")
        return _back(case_no)
    return _run(case_no, lambda: deadlines.pause_case(
        current_user, case_no, form.kind.data, form.reason.data, form.expected_days.data),
        _("The case is paused; its time limit has stopped."))  # fmt: skip


@bp.post("/cases/<case_no>/resume")
@login_required
def resume(case_no: str):
    if not ClaimForm().validate_on_submit():
        return _back(case_no)
    done = _("The case runs again; its due dates moved by the paused working days.")
    return _run(case_no, lambda: deadlines.resume_case(current_user, case_no), done)


@bp.post("/cases/<case_no>/extend")
@login_required
def extend(case_no: str):
    form = ExtendForm()
    if not form.validate_on_submit():
        flash(_("An extension needs the working days and a reason."), "error")
        return _back(case_no)
    return _run(case_no, lambda: deadlines.extend_case(
        current_user, case_no, form.days.data, form.reason.data),
        _("The extension is approved and logged."))  # fmt: skip


@bp.post("/cases/<case_no>/urge")
@role_required("supervisor")
def urge(case_no: str):
    form = UrgeForm()
    if not form.validate_on_submit():
        flash(_("An urging notice needs its text."), "error")
        return _back(case_no)
    return _run(case_no, lambda: supervision.urge(current_user, case_no, form.text.data),
                _("The urging notice has been sent."))  # fmt: skip


@bp.get("/cases/<case_no>/card")
@login_required
def card(case_no: str):
    return render_template("card.html", card=reports.transfer_card(current_user, case_no))


@bp.get("/supervision")
@role_required("supervisor", "leader", "admin", "auditor")
def supervision_page():
    items = session().scalars(sa.select(Item).order_by(Item.code))
    return render_template("supervision.html", data=reports.overview(),
                           delays=reports.delay_report(50), items=list(items))  # fmt: skip


@bp.get("/notifications")
@login_required
def notifications():
    return render_template("notifications.html", rows=supervision.notifications_for(current_user),
                           form=ClaimForm())  # fmt: skip


@bp.post("/notifications/read")
@login_required
def notifications_read():
    if ClaimForm().validate_on_submit():
        supervision.mark_read(current_user)
    return redirect(url_for("web.notifications"))


@bp.route("/admin/calendar", methods=["GET", "POST"])
@role_required("admin")
def admin_calendar():
    form = YearForm()
    status = 200
    if form.validate_on_submit():
        try:
            year = form.year.data
            changed = calendar_admin.add_year(
                current_user, year, form.source.data,
                calendar_admin.parse_days(form.holidays.data or "", year),
                calendar_admin.parse_days(form.workdays.data or "", year),
            )  # fmt: skip
            flash(_("%(year)d added; %(n)d cases had provisional due dates recomputed.",
                    year=year, n=changed), "success")  # fmt: skip
            return redirect(url_for("web.admin_calendar"))
        except (AppError, InvalidInput) as exc:
            if exc.status == 403:
                raise
            flash(exc.message, "error")
            status = exc.status
    elif form.is_submitted():
        status = 400
    years = list(session().scalars(sa.select(CalendarYear).order_by(CalendarYear.year.desc())))
    return render_template("admin/calendar.html", form=form, years=years,
                           this_year=dt.date.today().year), status  # fmt: skip
