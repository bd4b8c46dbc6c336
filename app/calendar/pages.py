"""The admin's page of the working-day calendar: the years it knows, and adding one."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..clock import today
from ..web import bp, role_required
from ..web.forms import YearForm
from ..web.policy import attempt
from . import admin as calendar_admin
from . import queries
from .services import calendar


def _add_year(form: YearForm) -> int:
    year = form.year.data
    return calendar_admin.add_year(
        current_user, year, form.source.data,
        calendar_admin.parse_days(form.holidays.data or "", year),
        calendar_admin.parse_days(form.workdays.data or "", year),
    )  # fmt: skip


@bp.route("/admin/calendar", methods=["GET", "POST"])
@role_required("admin")
def admin_calendar():
    form = YearForm()
    status = 200
    if form.validate_on_submit():
        added = attempt(_add_year, form)
        if added.ok:
            flash(_("%(year)d added; %(n)d cases had provisional due dates recomputed.",
                    year=form.year.data, n=added.value), "success")  # fmt: skip
            return redirect(url_for("web.admin_calendar"))
        status = added.status
    elif form.is_submitted():
        status = 400
    years = queries.years()
    this_year = today().year
    known = {y.year for y in years}
    # what the calendar assumes for this year and the next until their notices are added
    fallback = {y: calendar().provisional_days_off(y)
                for y in (this_year, this_year + 1) if y not in known}  # fmt: skip
    return render_template("admin/calendar.html", form=form, years=years, this_year=this_year,
                           fallback=fallback), status  # fmt: skip
