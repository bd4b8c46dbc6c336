"""Log-in and log-out, the language switch, and the home page that sends each role on."""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user

from ..auth import sessions as web_sessions
from ..auth.services import authenticate
from ..errors import TooManyRequests, Unauthorized
from . import LANGUAGES, bp, forget_login, safe_next
from .forms import (
    LanguageForm,
    LoginForm,
)

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
        web_sessions.start(user, request.user_agent.string, request.remote_addr)
        login_user(user)  # the cookie carries the new session's random id only
        session.permanent = True
        if lang in LANGUAGES:
            session["lang"] = lang
        log.info("log-in: %s from %s", user.username, request.remote_addr)
        return redirect(safe_next(request.args.get("next"), url_for("web.home")))
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    web_sessions.end_current("logout")
    forget_login()
    flash(_("You have logged out."), "info")
    return redirect(url_for("web.login"))


@bp.post("/language")
def language():
    form = LanguageForm()
    if form.validate_on_submit() and form.lang.data in LANGUAGES:
        session["lang"] = form.lang.data
    return redirect(safe_next(request.form.get("next"), url_for("web.home")))
