"""The window clerk's pages: receive an application, accept, ask for supplements, refuse."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...catalogue import services as catalogue
from ...catalogue.models import Item
from ...web import bp, role_required
from ...web.forms import (
    CloseForm,
    ReceiveForm,
    RefuseForm,
    SupplementForm,
    WithdrawForm,
    choices,
    form_values,
    item_fields,
)
from ...web.policy import attempt
from ...web.present import delivery_name
from .. import services as cases
from .. import status
from ..queries import window_lists
from ..status import OPEN_CASE_STATUSES, CaseStatus


@bp.get("/window")
@role_required("clerk")
def window():
    mine, waiting = window_lists(current_user)
    return render_template(
        "window.html", items=catalogue.list_items(), mine=mine, waiting=waiting,
        open_statuses=OPEN_CASE_STATUSES,
    )  # fmt: skip


def _receive_page(item: Item, form: ReceiveForm, errors=None, status: int = 200):
    return render_template(
        "receive.html",
        item=item,
        form=form,
        fields=item_fields(item),
        materials=catalogue.materials_of(item),
        checked=set(request.form.getlist("materials")) if request.method == "POST" else set(),
        values=request.form if request.method == "POST" else {},
        errors=errors or {},
    ), status


@bp.route("/window/receive/<code>", methods=["GET", "POST"])
@role_required("clerk")
def receive(code: str):
    item, _version = catalogue.get_item(code)
    form = ReceiveForm()
    if request.method == "GET":
        return _receive_page(item, form)
    if not form.validate_on_submit():
        return _receive_page(item, form, status=400)
    refusal = None
    if form.decision.data == "refuse":
        refusal = {
            "reason": form.refuse_reason.data or "",
            "legal_basis": form.refuse_basis.data or "",
        }
    applicant = cases.Applicant(
        name=form.applicant_name.data,
        id_number=form.applicant_id_number.data,
        phone=form.applicant_phone.data or "",
    )
    received = attempt(
        cases.receive_case, current_user, item.code, applicant, request.form.getlist("materials"),
        form_values(item_fields(item), request.form, prefix="a_"), refusal,
    )  # fmt: skip
    if not received.ok:
        return _receive_page(item, form, received.fields, received.status)
    case = received.value.subject
    messages = {
        CaseStatus.ACCEPTED: _("Case %(no)s accepted; it has gone to the departments.",
                               no=case.case_no),
        CaseStatus.SUPPLEMENT_REQUIRED: _(
            "Case %(no)s needs supplements: give the applicant the one-time notice.",
            no=case.case_no,
        ),
        CaseStatus.REFUSED: _("Case %(no)s refused at the window.", no=case.case_no),
    }  # fmt: skip
    flash(messages.get(case.status, case.case_no), "success")
    return redirect(url_for("web.case", case_no=case.case_no))


@bp.post("/cases/<case_no>/supplement")
@role_required("clerk")
def supplement(case_no: str):
    back = url_for("web.case", case_no=case_no)
    if not SupplementForm().validate_on_submit():
        flash(_("The form was incomplete."), "error")
        return redirect(back)
    done = attempt(cases.submit_supplement, current_user, case_no,
                   request.form.getlist("materials"))  # fmt: skip
    if done.ok and status.awaits_supplement(done.value):
        flash(_("Still missing: see the list below."), "error")
    elif done.ok:
        flash(_("All materials are in: the case is accepted."), "success")
    return redirect(back)


def _refusal(form, incomplete: str) -> str:
    """Why a decisive form was not taken: its box not ticked, or a field missing."""
    if form.confirm.errors:
        return _("Tick the box to confirm: nothing was changed.")
    return incomplete


def _end_case(case_no: str, form, incomplete: str, change, *fields: str):
    """Refuse or withdraw a case from its page; back to the page either way."""
    if not form.validate_on_submit():
        flash(_refusal(form, incomplete), "error")
    else:
        attempt(change, current_user, case_no, *(getattr(form, f).data for f in fields))
    return redirect(url_for("web.case", case_no=case_no))


@bp.post("/cases/<case_no>/refuse")
@role_required("clerk")
def refuse(case_no: str):
    return _end_case(case_no, RefuseForm(), _("A refusal needs a reason and a legal basis."),
                     cases.refuse_case, "reason", "legal_basis")  # fmt: skip


@bp.post("/cases/<case_no>/withdraw")
@role_required("clerk")
def withdraw(case_no: str):
    return _end_case(case_no, WithdrawForm(), _("A withdrawal needs the applicant's reason."),
                     cases.withdraw_case, "reason")  # fmt: skip


def close_form() -> CloseForm:
    """The form that closes a decided case with how its result was delivered."""
    form = CloseForm()
    form.method.choices = choices((m, delivery_name(m)) for m in cases.DELIVERY_METHODS)
    return form


@bp.post("/cases/<case_no>/close")
@role_required("clerk")
def case_close(case_no: str):
    """Close a decided case (办结送达), recording how, and to whom, its result was delivered."""
    form = close_form()
    if not form.validate_on_submit():
        flash(_refusal(form, _("Say how and to whom the result was delivered.")), "error")
    else:
        delivery = cases.Delivery(form.method.data, form.recipient.data,
                                  form.tracking_no.data or "", form.note.data or "")  # fmt: skip
        if attempt(cases.close_case, current_user, case_no, delivery).ok:
            flash(_("Case %(no)s is closed: its result was delivered.", no=case_no), "success")
    return redirect(url_for("web.case", case_no=case_no))
