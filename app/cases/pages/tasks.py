"""An official's pages: the inbox (待办), the done list (已办) and the task page."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ...audit.review import note_if_auditor
from ...catalogue import services as catalogue
from ...db import utcnow
from ...errors import NotFound
from ...org.reasons import holder_role_name
from ...web import bp, present, role_required
from ...web.forms import ClaimForm, CompleteForm, TransferForm, choices, form_values
from ...web.policy import attempt
from .. import copies, delegation, opinions, recall, signers
from .. import services as cases
from ..faults import CaseFaulted
from ..queries import COLOURS, due_colour
from ..status import is_decisive

TASK_HOLDER_ROLES = ("official", "leader", "clerk")  # clerks hold window stages (发证)


def _inbox_filter() -> cases.InboxFilter:
    args = request.args
    sort = args.get("sort", "due")
    return cases.InboxFilter(
        item=args.get("item", "").strip(),
        stage=args.get("stage", "").strip(),
        colour=args.get("colour", "") if args.get("colour") in COLOURS else "",
        as_b=args.get("as_b") == "1",
        text=args.get("q", "")[:100],
        sort=sort if sort in cases.InboxFilter.SORTS else "due",
    )


@bp.get("/inbox")
@role_required(*TASK_HOLDER_ROLES)
def inbox():
    flt = _inbox_filter()
    rows = cases.inbox(current_user, flt)
    everything = cases.inbox(current_user) if flt != cases.InboxFilter() else rows
    counts = {
        "all": len(everything),
        "as_b": sum(1 for r in everything if r.task.acting_for_id),
        **{c: sum(1 for r in everything if r.colour == c) for c in COLOURS},
    }
    return render_template(
        "inbox.html",
        rows=rows,
        flt=flt,
        counts=counts,
        queue=cases.claimable(current_user),
        items=catalogue.list_items(),
        stages=sorted({r.task.stage for r in everything if r.task.stage}),
        claim_form=ClaimForm(),
        copied=copies.my_copies(current_user, limit=50),
        delegated=delegation.my_delegations(current_user),
    )


@bp.get("/done")
@role_required(*TASK_HOLDER_ROLES)
def done():
    return render_template("done.html", rows=cases.done_list(current_user))


def _task_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise NotFound(_("There is no such task.")) from None


def _render_task(task_id: uuid.UUID, form: CompleteForm | None = None, errors=None, status=200):
    page = cases.task_page(current_user, task_id)
    note_if_auditor(current_user, page.task.case_id, "task")
    transfer = TransferForm()
    transfer.to_user.choices = choices(
        (uid, f"{holder_role_name(role)} · {page.people.get(uid, uid)}")
        for role, uid in page.holders
        if uid != page.task.assignee_id and uid not in page.away
    )
    detail, task = page.detail, page.task
    handed = delegation.latest_of(task.id) if page.may_work else None
    values = request.form if request.method == "POST" else {}
    if handed is not None and handed.handed_back and not values:  # the delegate's entries
        values = {f"f_{key}": value for key, value in (handed.data or {}).items()}
    people = dict(page.people)
    if handed is not None:
        people.update(cases.people_named({handed.delegate_id}))
    added = signers.added_to(task.id)
    return render_template(
        "task.html",
        task=task,
        due_colour=due_colour(task.due_at or detail.case.due_at, utcnow()),
        decisive_outcomes=[o for o in task.outcomes.split(",") if is_decisive(task.stage, o)],
        **detail.context(),
        fields=page.fields,
        form=form or CompleteForm(),
        errors=errors or {},
        values=values,
        people=people,
        delegation=handed,
        added=added,
        waiting_after=next((a for a in added if a.id == task.waits_for and a.data
                            and "after" in a.data), None),  # fmt: skip
        posts=opinions.posts_to_ask() if page.may_work and not task.kind else [],
        colleagues=copies.colleagues(current_user) if page.may_work else [],
        post=page.post,
        may_work=page.may_work,
        may_transfer=page.may_transfer,
        may_claim=page.may_claim,
        transfer=transfer,
        claim_form=ClaimForm(),
        materials=catalogue.materials_of(detail.item),
    ), status


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str):
    return _render_task(_task_id(task_id))


@bp.post("/tasks/<task_id>/complete")
@login_required
def complete(task_id: str):
    """Complete the task in one transaction: the form is read against the task's fields
    inside it. Only a refused completion reads the page again, to show the form back."""
    parsed = _task_id(task_id)
    form = CompleteForm()
    if not form.validate_on_submit():
        return _render_task(parsed, form, status=400)
    try:
        done = attempt(
            cases.complete_task, current_user, parsed, request.form.get("outcome", ""),
            form.comment.data or "", lambda fields: form_values(fields, request.form, "f_"),
            request.form.get("legal_basis", ""), confirmed=bool(request.form.get("confirm")),
            after=_after(request.form), passes=(CaseFaulted,),
        )  # fmt: skip
    except CaseFaulted as exc:
        flash(_("The workflow stopped (%(what)s) and nothing was decided: the case is in the "
                "fault state and the administrators have been told. Your task stays open.",
                what=present.fault_name(exc.fault.code)), "error")  # fmt: skip
        return redirect(url_for("web.case", case_no=exc.case_no))
    if not done.ok:
        return _render_task(parsed, form, done.fields, done.status)
    if _after(request.form) is not None:  # 加签 after: nothing moved yet
        flash(_("Your decision waits for the signer you added; it goes through when they "
                "approve."), "success")  # fmt: skip
        return redirect(url_for("web.task", task_id=task_id))
    flash(_("Task “%(name)s” of case %(case)s is done.", name=done.value.subject.name,
            case=done.value.case_no), "success")  # fmt: skip
    return redirect(url_for("web.inbox"))


def _after(form) -> signers.After | None:
    """加签 after, when the decision form names a signer (a colleague or `post:` a post)."""
    to = form.get("after_to", "").strip()
    if not to:
        return None
    post = to.removeprefix("post:") if to.startswith("post:") else ""
    return signers.After("" if post else to, post, form.get("after_reason", ""))


@bp.post("/tasks/<task_id>/transfer")
@login_required
def transfer(task_id: str):
    parsed = _task_id(task_id)
    form = TransferForm()
    form.to_user.choices = choices(
        [(int(v), v) for v in request.form.getlist("to_user") if v.isdigit()]
    )
    if not form.validate_on_submit():
        flash(_("Choose who takes the task and give a reason."), "error")
        return _render_task(parsed, status=400)
    moved = attempt(cases.transfer_task, current_user, parsed, form.to_user.data, form.reason.data)
    if not moved.ok:
        return _render_task(parsed, status=moved.status)
    flash(_("The task has been transferred."), "success")
    return redirect(url_for("web.inbox"))


@bp.post("/tasks/<task_id>/claim")
@login_required
def claim(task_id: str):
    parsed = _task_id(task_id)
    if not ClaimForm().validate_on_submit():
        return _render_task(parsed, status=400)
    if not attempt(cases.claim_task, current_user, parsed).ok:
        return redirect(url_for("web.inbox"))
    flash(_("The task is yours now."), "success")
    return redirect(url_for("web.task", task_id=task_id))


@bp.post("/tasks/<task_id>/delegate")
@login_required
def task_delegate(task_id: str):
    """委派: hand the task's work to a colleague."""
    parsed = _task_id(task_id)
    if attempt(delegation.delegate, current_user, parsed, request.form.get("to", ""),
               request.form.get("reason", "")).ok:  # fmt: skip
        flash(_("The work is delegated; you decide once it comes back."), "success")
    return redirect(url_for("web.task", task_id=task_id))


@bp.post("/tasks/<task_id>/take-back")
@login_required
def task_take_back(task_id: str):
    if attempt(delegation.take_back, current_user, _task_id(task_id)).ok:
        flash(_("The task is back with you."), "success")
    return redirect(url_for("web.task", task_id=task_id))


@bp.route("/delegations/<int:delegation_id>", methods=["GET", "POST"])
@login_required
def delegation_page(delegation_id: int):
    """The delegate's page: the case, the task's form to fill in, hand it back."""
    errors = {}
    if request.method == "POST":
        work = delegation.delegated_work(current_user, delegation_id)
        done = attempt(delegation.hand_back, current_user, delegation_id,
                       form_values(work.fields, request.form, "f_"),
                       request.form.get("comment", ""))  # fmt: skip
        if done.ok:
            flash(_("Handed back to %(name)s.", name=work.holder), "success")
            return redirect(url_for("web.inbox"))
        errors = done.fields
    work = delegation.delegated_work(current_user, delegation_id)
    return render_template("delegated.html", work=work, **work.detail.context(),
                           values=request.form if request.method == "POST" else {},
                           errors=errors,
                           people=cases.people_named(work.detail.people_ids()))  # fmt: skip


@bp.post("/tasks/<task_id>/recall")
@login_required
def task_recall(task_id: str):
    """撤回: take back one's own completion while nothing it opened was opened."""
    if attempt(recall.recall, current_user, _task_id(task_id), request.form.get("reason", "")).ok:
        flash(_("The step is recalled: the task is open again for you."), "success")
        return redirect(url_for("web.task", task_id=task_id))
    return redirect(url_for("web.done"))


@bp.post("/tasks/<task_id>/add-signer")
@login_required
def task_add_signer(task_id: str):
    """加签: ask a colleague to sign before you decide."""
    to = request.form.get("to", "")
    post = to.removeprefix("post:") if to.startswith("post:") else ""
    if attempt(signers.add_signer, current_user, _task_id(task_id), "" if post else to,
               request.form.get("reason", ""), post).ok:  # fmt: skip
        flash(_("The signer is added; you decide after their opinion."), "success")
    return redirect(url_for("web.task", task_id=task_id))


@bp.post("/tasks/<task_id>/remove-signer")
@login_required
def task_remove_signer(task_id: str):
    """减签: remove the signer you added (the added task), with a reason."""
    back = request.form.get("back", "")
    if attempt(signers.remove_signer, current_user, _task_id(task_id),
               request.form.get("reason", "")).ok:  # fmt: skip
        flash(_("The signer is removed."), "success")
    return redirect(url_for("web.task", task_id=back) if back else url_for("web.inbox"))


@bp.post("/tasks/<task_id>/ask-opinion")
@login_required
def task_ask_opinion(task_id: str):
    """征求意见: ask another post for a written opinion, with a time limit."""
    days = request.form.get("days", "")
    if attempt(opinions.ask, current_user, _task_id(task_id), request.form.get("post", ""),
               request.form.get("question", ""),
               int(days) if days.isdigit() else -1).ok:  # fmt: skip
        flash(_("The opinion is asked; the case goes on meanwhile."), "success")
    return redirect(url_for("web.task", task_id=task_id))
