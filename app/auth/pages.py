"""A user's own account: the web sessions (where and when they are logged in, ending any of
them) and changing their password."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..web import bp, forget_login
from ..web.policy import attempt
from . import services as auth_services
from . import sessions as web_sessions


@bp.get("/account/sessions")
@login_required
def account_sessions():
    return render_template("account/sessions.html", rows=web_sessions.live(current_user),
                           current=web_sessions.current_id())  # fmt: skip


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def account_end_session(session_id: int):
    was_current = session_id == web_sessions.current_id()
    if not attempt(web_sessions.end_own, current_user, session_id).ok:
        return redirect(url_for("web.account_sessions"))
    if was_current:
        forget_login()
        flash(_("You have logged out."), "info")
        return redirect(url_for("web.login"))
    flash(_("The session has ended: that device must log in again."), "success")
    return redirect(url_for("web.account_sessions"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def account_password():
    """Change one's own password; every other session of the account ends."""
    status = 200
    if request.method == "POST":
        changed = attempt(auth_services.change_password, current_user,
                          request.form.get("current", ""), request.form.get("new", ""),
                          request.form.get("repeat", ""), raised=())  # fmt: skip
        if changed.ok:
            flash(_("Your password is changed. Every other session of your account has ended."),
                  "success")  # fmt: skip
            return redirect(url_for("web.account_sessions"))
        status = changed.status
    return render_template("account/password.html"), status
