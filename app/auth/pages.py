"""A user's own web sessions: where and when they are logged in, and ending any of them."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..web import bp, forget_login
from ..web.policy import attempt
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
