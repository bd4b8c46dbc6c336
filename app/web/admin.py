"""The admin's pages: departments, users, posts and their A/B pairs."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import privacy
from ..db import session
from ..errors import AppError, NotFound
from ..org import admin as org_admin
from ..org.models import Department, Post, User
from . import bp, role_required
from .forms import DepartmentForm, PostForm, UserForm, choices

NONE = (0, "—")


def _departments() -> list[Department]:
    return list(session().scalars(sa.select(Department).order_by(Department.code)))


def _users() -> list[User]:
    return list(session().scalars(sa.select(User).order_by(User.username)))


def _failed(exc: AppError) -> None:
    if exc.status == 403:
        raise exc
    flash(exc.message, "error")


@bp.route("/admin/departments", methods=["GET", "POST"])
@bp.route("/admin/departments/<int:dept_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_departments(dept_id: int | None = None):
    db = session()
    dept = db.get(Department, dept_id) if dept_id else None
    if dept_id and dept is None:
        raise NotFound(_("There is no such department."))
    form = DepartmentForm(obj=dept if request.method == "GET" else None)
    form.parent_id.choices = choices(
        [NONE] + [(d.id, d.name) for d in _departments() if d.id != dept_id]
    )
    if request.method == "GET" and dept is not None:
        form.parent_id.data = dept.parent_id or 0
    if form.validate_on_submit():
        try:
            org_admin.save_department(
                current_user, dept_id, form.code.data, form.name.data,
                form.kind.data, form.parent_id.data or None,
            )  # fmt: skip
            flash(_("Saved."), "success")
            return redirect(url_for("web.admin_departments"))
        except AppError as exc:
            _failed(exc)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "admin/departments.html", form=form, dept=dept, departments=_departments()
    ), status


@bp.get("/admin/users")
@role_required("admin")
def admin_users():
    depts = {d.id: d for d in _departments()}
    return render_template("admin/users.html", users=_users(), depts=depts)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_user(user_id: int | None = None):
    user = session().get(User, user_id) if user_id else None
    if user_id and user is None:
        raise NotFound(_("There is no such user."))
    form = UserForm(obj=user if request.method == "GET" else None)
    form.department_id.choices = choices([NONE] + [(d.id, d.name) for d in _departments()])
    if request.method == "GET" and user is not None:
        shown = {"id_number": user.id_number, "phone": user.phone}  # in full in the form
        privacy.log_view(current_user, "user", user.id, user.username, shown,
                         privacy.EDITING_ACCOUNT)  # fmt: skip
        form.roles.data = sorted(user.role_set)
        form.department_id.data = user.department_id or 0
    if form.validate_on_submit():
        try:
            org_admin.save_user(
                current_user, user_id, username=form.username.data,
                name=form.name.data, roles=form.roles.data or [],
                department_id=form.department_id.data or None, phone=form.phone.data or "",
                id_number=form.id_number.data or "", password=form.password.data or "",
                active=bool(form.active.data),
            )  # fmt: skip
            flash(_("Saved."), "success")
            return redirect(url_for("web.admin_users"))
        except AppError as exc:
            _failed(exc)
    status = 400 if form.is_submitted() else 200
    return render_template("admin/user.html", form=form, user=user), status


@bp.get("/admin/posts")
@role_required("admin")
def admin_posts():
    db = session()
    posts = list(db.scalars(sa.select(Post).order_by(Post.code)))
    users = {u.id: u for u in _users()}
    depts = {d.id: d for d in _departments()}
    return render_template("admin/posts.html", posts=posts, users=users, depts=depts)


@bp.route("/admin/posts/new", methods=["GET", "POST"])
@bp.route("/admin/posts/<int:post_id>", methods=["GET", "POST"])
@role_required("admin")
def admin_post(post_id: int | None = None):
    post = session().get(Post, post_id) if post_id else None
    if post_id and post is None:
        raise NotFound(_("There is no such post."))
    form = PostForm(obj=post if request.method == "GET" else None)
    if request.method == "GET" and post is None:
        form.return_to_a.data = True
    people = [NONE] + [(u.id, f"{u.name} ({u.username})") for u in _users() if u.active]
    people = choices(people)
    form.department_id.choices = choices([(d.id, d.name) for d in _departments()])
    for field in (form.a_user_id, form.b_user_id, form.leader_user_id):
        field.choices = people
        if request.method == "GET" and post is not None:
            field.data = getattr(post, field.name) or 0
    if form.validate_on_submit():
        try:
            _post, moved = org_admin.save_post(
                current_user, post_id, code=form.code.data, name=form.name.data,
                department_id=form.department_id.data, a_user_id=form.a_user_id.data or None,
                b_user_id=form.b_user_id.data or None,
                leader_user_id=form.leader_user_id.data or None,
                return_to_a=bool(form.return_to_a.data), shared=bool(form.shared.data),
            )  # fmt: skip
            flash(_("Saved; %(n)d open tasks moved to the post's new holders.", n=moved), "success")
            return redirect(url_for("web.admin_posts"))
        except AppError as exc:
            _failed(exc)
    status = 400 if form.is_submitted() else 200
    return render_template("admin/post.html", form=form, post=post), status
