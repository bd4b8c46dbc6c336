"""The window clerk's pages: receive an application, accept, ask for supplements, refuse."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..cases import services as cases
from ..cases.models import OPEN_CASE_STATUSES, Case
from ..catalogue import services as catalogue
from ..catalogue.models import Item
from ..db import session
from ..errors import AppError
from . import bp, role_required
from .forms import ReceiveForm, RefuseForm, SupplementForm, WithdrawForm, form_values


def item_fields(item: Item) -> list[dict]:
    """Return an item's application form fields with options as (value, label) pairs."""
    out = []
    for field in item.entry.get("form", []):
        options = [o if isinstance(o, list | tuple) else (o, o) for o in field.get("options", [])]
        out.append({**field, "choices": options})
    return out


@bp.get("/window")
@role_required("clerk")
def window():
    db = session()
    base = sa.select(Case, Item.name).join(Item, Item.id == Case.item_id)
    mine = db.execute(
        base.where(Case.received_by_id == current_user.id)
        .order_by(Case.received_at.desc())
        .limit(30)
    ).all()
    waiting = db.execute(
        base.where(Case.status == "supplement_required").order_by(Case.received_at).limit(50)
    ).all()
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
    try:
        received = cases.receive_case(
            current_user, item.code, applicant, request.form.getlist("materials"),
            form_values(item_fields(item), request.form, prefix="a_"), refusal,
        )  # fmt: skip
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return _receive_page(item, form, exc.details.get("fields"), exc.status)
    case = received.subject
    messages = {
        "accepted": _("Case %(no)s accepted; it has gone to the departments.", no=case.case_no),
        "supplement_required": _(
            "Case %(no)s needs supplements: give the applicant the one-time notice.",
            no=case.case_no,
        ),
        "refused": _("Case %(no)s refused at the window.", no=case.case_no),
    }
    flash(messages.get(case.status, case.case_no), "success")
    return redirect(url_for("web.case", case_no=case.case_no))


@bp.post("/cases/<case_no>/supplement")
@role_required("clerk")
def supplement(case_no: str):
    if not SupplementForm().validate_on_submit():
        flash(_("The form was incomplete."), "error")
        return redirect(url_for("web.case", case_no=case_no))
    try:
        case = cases.submit_supplement(current_user, case_no, request.form.getlist("materials"))
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
        return redirect(url_for("web.case", case_no=case_no))
    if case.status == "supplement_required":
        flash(_("Still missing: see the list below."), "error")
    else:
        flash(_("All materials are in: the case is accepted."), "success")
    return redirect(url_for("web.case", case_no=case_no))


@bp.post("/cases/<case_no>/refuse")
@role_required("clerk")
def refuse(case_no: str):
    form = RefuseForm()
    if not form.validate_on_submit():
        flash(_("A refusal needs a reason and a legal basis."), "error")
        return redirect(url_for("web.case", case_no=case_no))
    try:
        cases.refuse_case(current_user, case_no, form.reason.data, form.legal_basis.data)
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
    return redirect(url_for("web.case", case_no=case_no))


@bp.post("/cases/<case_no>/withdraw")
@role_required("clerk")
def withdraw(case_no: str):
    form = WithdrawForm()
    if not form.validate_on_submit():
        flash(_("A withdrawal needs the applicant's reason."), "error")
        return redirect(url_for("web.case", case_no=case_no))
    try:
        cases.withdraw_case(current_user, case_no, form.reason.data)
    except AppError as exc:
        if exc.status == 403:
            raise
        flash(exc.message, "error")
    return redirect(url_for("web.case", case_no=case_no))
