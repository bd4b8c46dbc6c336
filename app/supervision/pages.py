"""Time limits on the web: pause, resume, extend, urge; the transfer card; supervision and
notifications."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..cases import deadlines
from ..cases.models import PAUSE_KINDS
from ..catalogue import services as catalogue
from ..web import bp, role_required
from ..web.forms import ClaimForm, ExtendForm, OpinionForm, PauseForm, UrgeForm, choices
from ..web.policy import run_then
from ..web.present import pause_kind_name
from . import opinions, reports
from . import services as supervision


def _case_page(case_no: str) -> str:
    return url_for("web.case", case_no=case_no)


def _refused(case_no: str, message: str):
    """Back to the case page with what the form lacked."""
    flash(message, "error")
    return redirect(_case_page(case_no))


@bp.post("/cases/<case_no>/pause")
@login_required
def pause(case_no: str):
    form = PauseForm()
    form.kind.choices = choices((k, pause_kind_name(k)) for k in PAUSE_KINDS)
    if not form.validate_on_submit():
        needs = _("A pause needs its kind, a reason and the expected working days.")
        return _refused(case_no, needs)
    return run_then(lambda: deadlines.pause_case(
        current_user, case_no, form.kind.data, form.reason.data, form.expected_days.data),
        _("The case is paused; its time limit has stopped."), _case_page(case_no))  # fmt: skip


@bp.post("/cases/<case_no>/resume")
@login_required
def resume(case_no: str):
    if not ClaimForm().validate_on_submit():
        return redirect(_case_page(case_no))
    done = _("The case runs again; its due dates moved by the paused working days.")
    return run_then(lambda: deadlines.resume_case(current_user, case_no), done,
                    _case_page(case_no))  # fmt: skip


@bp.post("/cases/<case_no>/extend")
@login_required
def extend(case_no: str):
    form = ExtendForm()
    if not form.validate_on_submit():
        return _refused(case_no, _("An extension needs the working days and a reason."))
    return run_then(lambda: deadlines.extend_case(
        current_user, case_no, form.days.data, form.reason.data),
        _("The extension is approved and logged."), _case_page(case_no))  # fmt: skip


@bp.post("/cases/<case_no>/urge")
@role_required("supervisor")
def urge(case_no: str):
    form = UrgeForm()
    if not form.validate_on_submit():
        return _refused(case_no, _("An urging notice needs its text."))
    return run_then(lambda: supervision.urge(current_user, case_no, form.text.data),
                    _("The urging notice has been sent."), _case_page(case_no))  # fmt: skip


@bp.post("/cases/<case_no>/supervision-opinion")
@role_required("supervisor")
def supervision_opinion(case_no: str):
    """The supervision office's opinion on the commitment notice (its copy, 第三联)."""
    form = OpinionForm()
    if not form.validate_on_submit():
        return redirect(_case_page(case_no))
    return run_then(lambda: opinions.enter_opinion(current_user, case_no, form.text.data),
                    _("The opinion is recorded; it is printed on the supervision office's copy "
                      "of the commitment notice."), _case_page(case_no))  # fmt: skip


@bp.get("/cases/<case_no>/card")
@login_required
def card(case_no: str):
    return render_template("card.html", card=reports.transfer_card(current_user, case_no))


@bp.get("/supervision")
@role_required("supervisor", "leader", "admin", "auditor")
def supervision_page():
    return render_template("supervision.html", data=reports.overview(),
                           delays=reports.delay_report(50),
                           items=catalogue.every_item())  # fmt: skip


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
