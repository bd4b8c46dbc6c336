"""Absences (leave, business trips, sick leave) and the daily check-in (考勤)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..db import session, utcnow
from ..errors import AppError, Forbidden
from ..org import absences
from ..org.models import Absence, CheckIn, Post, User
from . import bp, role_required
from .forms import AbsenceForm, ClaimForm, choices

STAFF = ("clerk", "official", "leader", "supervisor", "auditor", "analyst", "admin")


def _people_i_register_for() -> list[User]:
    """Return who the current user may register an absence for: self, led holders, or all."""
    db = session()
    if current_user.has_role("admin"):
        return list(
            db.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.username))
        )
    led = db.execute(
        sa.select(Post.a_user_id, Post.b_user_id).where(Post.leader_user_id == current_user.id)
    ).all()
    ids = {current_user.id} | {u for row in led for u in row if u}
    return list(db.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.username)))


def _to_utc(value: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(current_app.config["CENTRE_TIMEZONE"])
    return value.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def _page(form: AbsenceForm, people: list[User], status: int = 200):
    db = session()
    ids = [p.id for p in people]
    rows = db.execute(
        sa.select(Absence, User.name, User.username)
        .join(User, User.id == Absence.user_id)
        .where(Absence.user_id.in_(ids), Absence.ends_at > utcnow() - dt.timedelta(days=30))
        .order_by(Absence.starts_at.desc())
    ).all()
    today = absences._local(utcnow()).date()
    checked = db.get(CheckIn, (current_user.id, today))
    return render_template(
        "absences.html", form=form, rows=rows, checked=checked, now=utcnow(),
        action_form=ClaimForm(),
    ), status  # fmt: skip


@bp.route("/absences", methods=["GET", "POST"])
@role_required(*STAFF)
def absences_page():
    people = _people_i_register_for()
    form = AbsenceForm()
    form.user_id.choices = choices([(p.id, f"{p.name} ({p.username})") for p in people])
    form.kind.choices = choices([
        ("leave", _("leave")), ("trip", _("business trip")), ("sick", _("sick leave")),
        ("other", _("other")),
    ])  # fmt: skip
    if form.user_id.data is None:
        form.user_id.data = current_user.id
    if form.is_submitted() and form.user_id.data not in {p.id for p in people}:
        raise Forbidden(_("Only the person, their post's leader or an admin registers an absence."))
    if not form.is_submitted():
        return _page(form, people)
    if not form.validate():
        return _page(form, people, 400)
    try:
        absences.register_absence(
            current_user, form.user_id.data, form.kind.data, _to_utc(form.starts_at.data),
            _to_utc(form.ends_at.data), form.reason.data or "", bool(form.confirm.data),
        )  # fmt: skip
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return _page(form, people, exc.status)
    flash(_("The absence is registered; open tasks move to the backup when it begins."), "success")
    return redirect(url_for("web.absences_page"))


@bp.post("/absences/<int:absence_id>/end")
@role_required(*STAFF)
def end_absence(absence_id: int):
    if not ClaimForm().validate_on_submit():
        flash(_("The form was incomplete."), "error")
        return redirect(url_for("web.absences_page"))
    absences.cancel_absence(current_user, absence_id)
    flash(_("The absence has ended; tasks not yet started go back to A."), "success")
    return redirect(url_for("web.absences_page"))


@bp.post("/checkin")
@role_required(*STAFF)
def checkin():
    if not ClaimForm().validate_on_submit():
        flash(_("The form was incomplete."), "error")
        return redirect(url_for("web.absences_page"))
    record = absences.check_in(current_user)
    flash(_("Checked in for %(day)s.", day=record.day.isoformat()), "success")
    return redirect(url_for("web.absences_page"))
