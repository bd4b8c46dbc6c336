"""The auditors' pages: case timeline, step-by-step replay, verification, exports.

Everything here reads; nothing changes a case. Each page an auditor opens is logged.
"""

from __future__ import annotations

import datetime as dt

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from .. import privacy
from ..cases.queries import people_named, usernames_named
from ..catalogue.pages.diagrams import asked_diagram, choose_diagram, draw
from ..clock import day_start, today
from ..errors import InvalidInput
from ..org.queries import post_names
from ..web import bp, role_required
from ..web.present import actor_name
from . import anchor, export
from . import review as audit
from .keys import keyring

AUDIT_ROLES = audit.AUDIT_ROLES


def _field_labels(file: audit.CaseFile) -> dict[str, str]:
    """Name each case data field as the forms call it (the application form, the tasks'
    forms, each task's outcome), so that a page shows the name with the field id beside it."""
    labels = {"comment": _("Comment"), "outcome": _("Outcome")}
    labels.update({f["id"]: f.get("label") or f["id"] for f in file.item.entry.get("form", [])})
    diagram = file.diagram()
    for node in diagram.nodes.values() if diagram is not None else ():
        labels.update({f.id: f.label for f in node.form if f.label})
        if node.outcome_var:
            labels[node.outcome_var] = _("%(task)s outcome", task=node.name)
    return labels


def _highlight(state, diagram, late: set[str]) -> dict[str, str]:
    marks: dict[str, str] = {}
    if state is None:
        return marks
    done = set(state.path)
    for node in state.path:
        marks[node] = "completed"
    for spec in late & done:
        marks[spec] = "late"
    for task in state.open_tasks:
        marks[task.spec_id] = "active"
    if diagram is not None:
        chosen = {flow for flows in state.gateways.values() for flow in flows}
        for node_id, info in diagram.nodes.items():
            for flow_id, target in info.outgoing:
                is_gateway = node_id in state.gateways
                if (is_gateway and flow_id in chosen) or (
                    not is_gateway and node_id in done and (target in done or target in marks)
                ):
                    marks[flow_id] = "taken"
    return marks


@bp.get("/audit")
@role_required(*AUDIT_ROLES)
def audit_home():
    # "until" is not included: the default ends tomorrow, so today's cases are in the export
    until = today() + dt.timedelta(days=1)
    return render_template("audit/home.html", until=until.isoformat())


@bp.get("/audit/cases/<case_no>")
@role_required(*AUDIT_ROLES)
def audit_timeline(case_no: str):
    file = audit.open_case_file(current_user, case_no, "timeline")
    kinds = sorted({e.type for e in file.events})
    people = people_named(file.detail.people_ids())
    # the filter's choices: each actor's user name (the parameter) with the name shown
    actors = sorted({(e.actor, actor_name(e.actor, e.actor_id, people)) for e in file.events})
    want_kind, want_actor = request.args.get("type", ""), request.args.get("actor", "")
    states = audit.states(file)
    # what each completion or timer changed, against the step before it in its own branch
    # (a parallel branch's values are not the previous step's of another branch)
    moves = ("task_completed", "timer_fired")
    before_after = {event.seq: state.changes
                    for event, state in zip(file.events, states, strict=False)
                    if event.type in moves and state.changes}  # fmt: skip
    shown = [
        e
        for e in file.events
        if (not want_kind or e.type == want_kind) and (not want_actor or e.actor == want_actor)
    ]
    return render_template("audit/timeline.html", file=file, events=shown, kinds=kinds,
                           actors=actors, want_kind=want_kind, want_actor=want_actor,
                           before_after=before_after, people=people,
                           labels=_field_labels(file),
                           task_names={str(t.id): t.name for t in file.tasks})  # fmt: skip


@bp.get("/audit/cases/<case_no>/replay")
@role_required(*AUDIT_ROLES)
def audit_replay(case_no: str):
    file = audit.open_case_file(current_user, case_no, "replay")
    states = audit.states(file)
    last = len(file.events)
    try:
        step = int(request.args.get("step", last))
    except ValueError:
        raise InvalidInput(_("The step must be a number.")) from None
    step = max(0, min(step, last))
    state = states[step - 1] if step > 0 and step <= len(states) else None
    seq = file.events[step - 1].seq if step > 0 else 0
    then = file.at(seq)  # the version the case ran on at that step (it may have moved since)
    diagram = then.diagram()
    pinned = then.version  # its chosen diagram is drawn
    content, filename = (pinned.content, pinned.filename) if pinned else (None, "<diagram>")
    chooser = choose_diagram(content, filename, asked_diagram())
    svg = draw(content, filename, chooser.chosen_id,
               _highlight(state, diagram, audit.late_specs(file)))  # fmt: skip
    holders = audit.holders_at(file.events, seq)
    actor_id = file.events[step - 1].actor_id if step > 0 else None
    people = people_named({u for u in holders.values() if isinstance(u, int)} | {actor_id})
    signers = usernames_named(state.data if state else {})  # 会签 lists: names, not usernames
    names = {str(t.id): t.name for t in file.tasks}
    posts = post_names()
    return render_template("audit/replay.html", file=file, step=step, last=last, state=state,
                           event=file.events[step - 1] if step > 0 else None, svg=svg,
                           chooser=chooser,
                           holders=holders, people=people, names=names, signers=signers,
                           labels=_field_labels(file),
                           posts=posts)  # fmt: skip


@bp.get("/audit/cases/<case_no>/verify")
@role_required(*AUDIT_ROLES)
def audit_verify(case_no: str):
    file = audit.open_case_file(current_user, case_no, "verify")
    result = audit.verify_file(file)
    return render_template("audit/verify.html", file=file, result=result)


def _period() -> dict:
    out: dict = {"item": request.args.get("item") or None}
    for key in ("since", "until"):
        raw = request.args.get(key)
        if raw:
            try:
                day = dt.date.fromisoformat(raw)
            except ValueError:
                raise InvalidInput(_("'%(key)s' must be a date like 2026-11-01", key=key)) from None
            out[key] = day_start(day)  # the start of the centre's local day, as stored UTC
    return out


@bp.get("/audit/export.<kind>")
@role_required(*AUDIT_ROLES)
def audit_export(kind: str):
    if kind not in ("xes", "csv"):
        raise InvalidInput(_("Exports are XES or CSV."))
    period = _period()
    numbers = [n for n in request.args.getlist("case") if n]
    log = export.chosen_traces(case_nos=numbers, **period)  # chosen now, read when written
    audit.log_view(current_user, None, "export")
    stamp = today().isoformat()
    if kind == "xes":
        return Response(export.to_xes(log), mimetype="application/xml", headers={
            "Content-Disposition": f'attachment; filename="onewindow-{stamp}.xes"'})  # fmt: skip
    return Response(export.to_csv(log), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="onewindow-{stamp}.csv"'})  # fmt: skip


@bp.get("/audit/personal-data")
@role_required(*AUDIT_ROLES)
def audit_personal_data():
    """Who saw a person's full ID or phone number, whose, why and when (newest first)."""
    ref = request.args.get("ref", "").strip()[:64]
    who = request.args.get("user", "").strip()[:64]
    rows = privacy.recent_views(ref=ref, username=who)
    subjects = {"case": _("case"), "complaint": _("complaint"), "user": _("account"),
                "application": _("online application")}  # fmt: skip
    purposes = {privacy.COMMITMENT_NOTICE: _("printing the commitment notice"),
                privacy.CALLING_BACK: _("calling the complainant back"),
                privacy.EDITING_ACCOUNT: _("editing the account")}  # fmt: skip
    fields = {"id_number": _("ID number"), "phone": _("Phone")}
    return render_template("audit/personal_data.html", rows=rows, ref=ref, who=who,
                           subjects=subjects, purposes=purposes, fields=fields)  # fmt: skip


@bp.get("/audit/checkpoints")
@role_required(*AUDIT_ROLES)
def audit_checkpoints():
    """The signed checkpoint log: its state (read afresh), its latest lines, its downloads."""
    view = anchor.overview(current_app)
    audit.log_view(current_user, None, "checkpoints")
    return render_template("audit/checkpoints.html", view=view, keys=keyring(),
                           minutes=current_app.config.get("CHECKPOINT_MINUTES"))  # fmt: skip


@bp.post("/audit/checkpoints")
@role_required("auditor", "admin")
def audit_checkpoint_now():
    """Write a checkpoint now (an auditor about to take a copy of the log, say)."""
    try:
        written = anchor.checkpoint_now(current_app)
    except anchor.LogBroken as exc:
        flash(_("No checkpoint was written: the checkpoint log is broken (%(why)s).",
                why=exc.reason), "error")  # fmt: skip
    else:
        flash(_("Checkpoint %(n)d written: %(cases)d cases recorded on it.", n=written.line,
                cases=written.cases), "success")  # fmt: skip
        if written.held:
            flash(_("Held back, their chains do not extend the recorded ones: %(cases)s",
                    cases=", ".join(written.held)), "error")  # fmt: skip
    return redirect(url_for("web.audit_checkpoints"))


@bp.get("/audit/checkpoints.<kind>")
@role_required(*AUDIT_ROLES)
def audit_checkpoint_download(kind: str):
    """The log itself (to keep and compare later) or the public key(s) that check it."""
    if kind == "pem":
        return Response(
            keyring().public_pem(),
            mimetype="application/x-pem-file",
            headers={"Content-Disposition": 'attachment; filename="onewindow-checkpoint-keys.pem"'},
        )
    path = anchor.log_path(current_app)
    if kind != "log" or path is None or not path.exists():
        abort(404)
    audit.log_view(current_user, None, "checkpoints-export")
    stamp = today().isoformat()
    return send_file(path, mimetype="text/plain", as_attachment=True,
                     download_name=f"onewindow-checkpoints-{stamp}.log")  # fmt: skip
