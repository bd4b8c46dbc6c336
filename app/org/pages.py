"""The organisation's pages: the admin's departments, users, posts and their A/B pairs;
absences (leave, business trips, sick leave) and the daily check-in (考勤)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import privacy
from ..auth import sessions as web_sessions
from ..db import utcnow
from ..errors import Forbidden, NotFound
from ..web import bp, role_name, role_required
from ..web.forms import AbsenceForm, ClaimForm, DepartmentForm, PostForm, UserForm, choices
from ..web.policy import attempt
from ..web.present import department_kind_name
from . import absences, queries
from . import admin as org_admin
from .models import User

NONE = (0, "—")
STAFF = ("clerk", "official", "leader", "supervisor", "auditor", "analyst", "admin")


def _editing(form_class, load: Callable[[int], Any], obj_id: int | None, missing: str):
    """The object a form edits (None for a new one; an id that names none is a 404) and the
    form, filled from the object on a GET."""
    found = load(obj_id) if obj_id else None
    if obj_id and found is None:
        raise NotFound(missing)
    return found, form_class(obj=found if request.method == "GET" else None)


def _form_page(form, save: Callable[[], Any], done: Callable[[Any], str], back: str,
               template: str, context: Callable[[], dict]):  # fmt: skip
    """Save a valid form and go back to the list `back`; else show the form again, with the
    save's refusal flashed (400 when the form was sent). `context` is read after the save."""
    if form.validate_on_submit():
        saved = attempt(save)
        if saved.ok:
            flash(done(saved.value), "success")
            return redirect(url_for(back))
    status = 400 if form.is_submitted() else 200
    return render_template(template, form=form, **context()), status


def _saved(_value) -> str:
    return _("Saved.")


@bp.route("/admin/departments", methods=["GET", "POST"])
@bp.route("/admin/departments/<int:dept_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_departments(dept_id: int | None = None):
    missing = _("There is no such department.")
    dept, form = _editing(DepartmentForm, queries.department, dept_id, missing)
    form.parent_id.choices = choices(
        [NONE] + [(d.id, d.name) for d in queries.departments() if d.id != dept_id]
    )
    form.kind.choices = choices((c.value, department_kind_name(c.value)) for c in form.kind.choices)
    if request.method == "GET" and dept is not None:
        form.parent_id.data = dept.parent_id or 0
    return _form_page(
        form,
        lambda: org_admin.save_department(
            current_user, dept_id, form.code.data, form.name.data,
            form.kind.data, form.parent_id.data or None,
            form.number_prefix.data or "", form.seal_text.data or "",
        ),
        _saved, "web.admin_departments", "admin/departments.html",
        lambda: {"dept": dept, "departments": queries.departments()},
    )  # fmt: skip


@bp.get("/admin/users")
@role_required("admin")
def admin_users():
    depts = {d.id: d for d in queries.departments()}
    return render_template("admin/users.html", users=queries.users(), depts=depts)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_user(user_id: int | None = None):
    user, form = _editing(UserForm, queries.user, user_id, _("There is no such user."))
    form.roles.choices = choices((c.value, role_name(c.value)) for c in form.roles.choices)
    form.department_id.choices = choices([NONE] + [(d.id, d.name) for d in queries.departments()])
    if request.method == "GET" and user is not None:
        shown = {"id_number": user.id_number, "phone": user.phone}  # in full in the form
        privacy.log_view(current_user, "user", user.id, user.username, shown,
                         privacy.EDITING_ACCOUNT)  # fmt: skip
        form.roles.data = sorted(user.role_set)
        form.department_id.data = user.department_id or 0
    return _form_page(
        form,
        lambda: org_admin.save_user(
            current_user, user_id, username=form.username.data,
            name=form.name.data, roles=form.roles.data or [],
            department_id=form.department_id.data or None, phone=form.phone.data or "",
            id_number=form.id_number.data or "", password=form.password.data or "",
            active=bool(form.active.data),
        ),
        _saved, "web.admin_users", "admin/user.html",
        lambda: {"user": user, "live_sessions": web_sessions.live(user) if user else []},
    )  # fmt: skip


@bp.post("/admin/users/<int:user_id>/sessions/end")
@role_required("admin")
def admin_end_sessions(user_id: int):
    ended = attempt(org_admin.end_sessions, current_user, user_id)
    if ended.ok:
        flash(_("%(n)d session(s) ended: the user must log in again.", n=ended.value), "success")
    return redirect(url_for("web.admin_user", user_id=user_id))


@bp.get("/admin/posts")
@role_required("admin")
def admin_posts():
    posts = queries.posts()
    users = {u.id: u for u in queries.users()}
    depts = {d.id: d for d in queries.departments()}
    return render_template("admin/posts.html", posts=posts, users=users, depts=depts)


@bp.route("/admin/posts/new", methods=["GET", "POST"])
@bp.route("/admin/posts/<int:post_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_post(post_id: int | None = None):
    post, form = _editing(PostForm, queries.post, post_id, _("There is no such post."))
    if request.method == "GET" and post is None:
        form.return_to_a.data = True
    people = [NONE] + [(u.id, u.name) for u in queries.users() if u.active]
    people = choices(people)
    form.department_id.choices = choices([(d.id, d.name) for d in queries.departments()])
    for field in (form.a_user_id, form.b_user_id, form.leader_user_id):
        field.choices = people
        if request.method == "GET" and post is not None:
            field.data = getattr(post, field.name) or 0
    return _form_page(
        form,
        lambda: org_admin.save_post(
            current_user, post_id, code=form.code.data, name=form.name.data,
            department_id=form.department_id.data, a_user_id=form.a_user_id.data or None,
            b_user_id=form.b_user_id.data or None,
            leader_user_id=form.leader_user_id.data or None,
            return_to_a=bool(form.return_to_a.data), shared=bool(form.shared.data),
        ),
        lambda saved: _("Saved; %(n)d open tasks moved to the post's new holders.", n=saved[1]),
        "web.admin_posts", "admin/post.html", lambda: {"post": post},
    )  # fmt: skip


def _to_utc(value: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(current_app.config["CENTRE_TIMEZONE"])
    return value.replace(tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)


def _absences(form: AbsenceForm, people: list[User], status: int = 200):
    rows = queries.recent_absences([p.id for p in people])
    return render_template(
        "absences.html", form=form, rows=rows, checked=queries.check_in_today(current_user),
        now=utcnow(), action_form=ClaimForm(),
    ), status  # fmt: skip


@bp.route("/absences", methods=["GET", "POST"])
@role_required(*STAFF)
def absences_page():
    people = queries.people_registrable_by(current_user)
    form = AbsenceForm()
    form.user_id.choices = choices([(p.id, p.name) for p in people])
    form.kind.choices = choices([
        ("leave", _("leave")), ("trip", _("business trip")), ("sick", _("sick leave")),
        ("other", _("other")),
    ])  # fmt: skip
    if form.user_id.data is None:
        form.user_id.data = current_user.id
    if form.is_submitted() and form.user_id.data not in {p.id for p in people}:
        raise Forbidden(_("Only the person, their post's leader or an admin registers an absence."))
    if not form.is_submitted():
        return _absences(form, people)
    if not form.validate():
        return _absences(form, people, 400)
    registered = attempt(
        absences.register_absence,
        current_user, form.user_id.data, form.kind.data, _to_utc(form.starts_at.data),
        _to_utc(form.ends_at.data), form.reason.data or "", bool(form.confirm.data),
    )  # fmt: skip
    if not registered.ok:
        return _absences(form, people, registered.status)
    flash(_("The absence is registered; open tasks move to the backup when it begins."), "success")
    return redirect(url_for("web.absences_page"))


def _form_sent() -> bool:
    """Whether the action form (only its CSRF token) came complete; if not, say so."""
    if ClaimForm().validate_on_submit():
        return True
    flash(_("The form was incomplete."), "error")
    return False


@bp.post("/absences/<int:absence_id>/end")
@role_required(*STAFF)
def end_absence(absence_id: int):
    if _form_sent():
        absences.cancel_absence(current_user, absence_id)
        flash(_("The absence has ended; tasks not yet started go back to A."), "success")
    return redirect(url_for("web.absences_page"))


@bp.post("/checkin")
@role_required(*STAFF)
def checkin():
    if _form_sent():
        record = absences.check_in(current_user)
        flash(_("Checked in for %(day)s.", day=record.day.isoformat()), "success")
    return redirect(url_for("web.absences_page"))
