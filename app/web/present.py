"""Words for statuses, outcomes and audit events on pages, in the current language."""

from __future__ import annotations

from flask_babel import gettext as _
from markupsafe import Markup, escape

from ..cases.status import task_kind  # noqa: F401  (the templates name it through here)

# status_name and element_type_name are re-exported: pages and templates name them from here
from ..labels import element_type_name, labels, status_name  # noqa: F401

# Say what kind of fault stopped a case, in the reader's language.
fault_name = labels(
    lambda: {
        "engine": _("the workflow engine could not run a step"),
        "expression": _("an expression of the diagram failed or went past its limits"),
        "step-limit": _("one step ran too many engine tasks (an endless loop?)"),
        "time-limit": _("one step ran too long"),
        "no-result": _("the workflow ended without a stated result"),
        "open-tasks": _("the engine reported the end while work was left"),
        "stalled": _("the workflow waits for nothing and cannot go on"),
        "timer": _("a timer could not be set or fired"),
        "rebuild": _("the workflow rebuilt from the case's log does not match its tasks"),
    },
    unknown=lambda: _("the workflow stopped unexpectedly"),
)


# Say which step of the case failed, in the reader's language.
fault_step_name = labels(
    lambda: {
        "start": _("the start of the workflow at acceptance"),
        "complete": _("an official's completion"),
        "timer": _("a timer"),
    },
)


outcome_name = labels(
    lambda: {
        "approve": _("approve"),
        "return": _("return"),
        "reject": _("reject"),
        "approved": _("approved"),
        "denied": _("denied"),
    },
    empty="—",
)


task_kind_name = labels(
    lambda: {
        "added": _("added signer"),
        "opinion": _("opinion asked"),
        "countersign": _("countersign"),
    },
)


# The status of a what-if run or a migration plan (app/catalogue), in the reader's language.
run_status_name = labels(
    lambda: {
        "queued": _("queued"),
        "running": _("running"),
        "done": _("done"),
        "failed": _("failed"),
        "planned": _("waiting for approval"),
        "approved": _("approved, moving"),
        "declined": _("declined"),
    },
)


# The verb on a task's button: a stage that issues a document says so (a denial stage
# 出具决定, an issue stage 出具决定/发证) instead of the reviewer's 同意; else the outcome.
_STAGE_VERBS = {
    ("acceptance", "approve"): lambda: _("Accept"),
    ("denial", "approve"): lambda: _("Issue the decision"),
    ("issue", "approve"): lambda: _("Issue the decision / licence"),
    ("report", "approve"): lambda: _("Report to the upper authority"),
    ("opinion", "approve"): lambda: _("Give the opinion"),
    ("upper_decision", "approve"): lambda: _("Record the approval"),
    ("upper_decision", "reject"): lambda: _("Record the denial"),
}


def button_name(stage: str | None, outcome: str) -> str:
    """Name the button that completes a task of `stage` with `outcome`."""
    verb = _STAGE_VERBS.get((stage, outcome))
    name = verb() if verb else outcome_name(outcome)
    return name[:1].upper() + name[1:]  # a button's label starts with a capital in English


# How a decided case's result reached the applicant (送达).
delivery_name = labels(
    lambda: {
        "in_person": _("collected at the window by the applicant"),
        "agent": _("collected at the window by an authorised agent"),
        "mail": _("sent by post"),
        "electronic": _("delivered electronically"),
    },
)


# Name a notice a case gives its applicant (notice_issued's kind, app.applicants.documents).
notice_name = labels(
    lambda: {
        "receipt": _("Acceptance receipt"),
        "commitment": _("Commitment notice"),
        "supplement": _("One-time supplement notice"),
        "refusal": _("Refusal notice"),
        "decision": _("Decision letter"),
    },
)


def notice_detail(data: dict, by: str) -> list[str]:
    """Say which notice a notice_issued event gave (the n-th pause or extension notice by
    its number) and how it reached the applicant: handed over at the window by `by`, or
    downloaded by the applicant online (`via`; older events do not say, they name `by`)."""
    kind, n = data.get("kind"), data.get("n")
    if kind == "pause":
        which = _("Notice of pause %(n)s", n=n or "?")
    elif kind == "extension":
        which = _("Notice of extension %(n)s", n=n or "?")
    else:
        which = notice_name(kind)
    if data.get("via") == "online":
        return [which, _("downloaded by the applicant online")]
    return [which, _("to the applicant, handed over by %(name)s", name=by)]


colour_name = labels(
    lambda: {
        "overdue": _("overdue"),
        "soon": _("due within a day"),
        "ok": _("on time"),
        "none": _("no time limit"),
    },
)


event_name = labels(
    lambda: {
        "case_received": _("application received"),
        "case_accepted": _("case accepted"),
        "deemed_accepted": _("deemed accepted by law (not told in five working days)"),
        "supplement_required": _("supplements required"),
        "materials_supplemented": _("materials supplemented"),
        "case_refused": _("refused"),
        "case_withdrawn": _("withdrawn"),
        "case_closed": _("closed"),
        "case_decided": _("decided"),
        "decisions_numbered": _("decision documents numbered"),
        "licence_issued": _("licence issued"),
        "licence_renewed": _("licence renewed"),
        "licence_changed": _("licence changed"),
        "licence_revoked": _("licence revoked"),
        "licence_cancelled": _("licence cancelled"),
        "licence_unchanged": _("licence left as it was"),
        "case_faulted": _("workflow fault"),
        "case_retried": _("failed step retried"),
        "task_created": _("task created"),
        "task_assigned": _("task assigned"),
        "task_reassigned": _("task moved"),
        "task_transferred": _("task transferred"),
        "task_claimed": _("task claimed"),
        "task_escalated": _("task escalated"),
        "task_completed": _("task completed"),
        "task_cancelled": _("task cancelled"),
        "gateway_taken": _("path chosen"),
        "timer_fired": _("timer fired"),
        "warning_issued": _("warning card"),
        "case_paused": _("paused"),
        "case_resumed": _("resumed"),
        "case_extended": _("extended"),
        "case_reported": _("reported to the upper authority"),
        "upper_decision_recorded": _("upper authority's decision recorded"),
        "case_urged": _("urging notice"),
        "supervision_opinion": _("opinion of the supervision office"),
        "due_dates_recomputed": _("due dates recomputed"),
        "notice_issued": _("notice issued"),
        "evaluated": _("rated by the applicant"),
        "follow_up_opened": _("follow-up opened"),
        "follow_up_closed": _("follow-up closed"),
        "case_migrated": _("moved to a new version of the procedure"),
        "case_copied": _("sent for information"),
        "task_delegated": _("task delegated"),
        "task_handed_back": _("delegated work handed back"),
        "task_taken_back": _("delegated task taken back"),
        "task_recalled": _("step recalled"),
        "signer_added": _("signer added"),
        "signer_signed": _("added signer's opinion"),
        "signer_removed": _("added signer removed"),
        "opinion_requested": _("opinion asked"),
        "opinion_given": _("opinion given"),
        "task_closed": _("closed with the case"),
    },
)


def event_detail(event, people: dict[int, str]) -> str:
    """Return a one-line description of an event's data for the history."""
    data = event.data or {}
    target = data.get("to") or data.get("assignee_id")
    who = people.get(target) if isinstance(target, int) else None
    parts: list[str] = []
    if "name" in data:
        parts.append(str(data["name"]))
    if who:
        parts.append("→ " + who)
    if data.get("acting_for_id"):
        parts.append(_("acting for %(name)s", name=people.get(data["acting_for_id"], "?")))
    if "outcome" in data:
        parts.append(outcome_name(data["outcome"]))
    if event.type == "case_closed" and data.get("method"):  # how the result was delivered
        parts.append(delivery_name(data["method"]))
        parts.append(_("to %(who)s", who=data.get("recipient", "")))
        if data.get("tracking_no"):
            parts.append(_("tracking number %(no)s", no=data["tracking_no"]))
    if event.type == "notice_issued":
        parts += notice_detail(data, people.get(event.actor_id) or event.actor)
    for key in ("comment", "reason", "note", "legal_basis", "opinion"):
        if key == "reason" and data.get(key) and event.type.startswith("task_"):
            parts.append(task_reason(data[key], people))
        elif data.get(key):
            parts.append(str(data[key]))
    if "missing" in data and data["missing"]:
        parts.append(_("missing: %(list)s", list=", ".join(m.get("name", m.get("code", "?"))
                                                          for m in data["missing"])))  # fmt: skip
    if data.get("level") in ("yellow", "red"):
        parts.append(_("red card") if data["level"] == "red" else _("yellow card"))
    if "kind" in data and "expected_days" in data:
        parts.append(pause_kind_name(data["kind"]))
        parts.append(_("%(n)d working days", n=data["expected_days"]))
    if "working_days" in data:
        parts.append(_("%(n)d working days", n=data["working_days"]))
    if "days" in data:
        parts.append(_("%(n)d working days", n=data["days"]))
    if data.get("due_at") and event.type != "timer_fired":
        parts.append(_("due %(at)s", at=iso_local(data["due_at"])))
    if "decision" in data:
        parts.append(outcome_name(data["decision"]))
    if "flows" in data:
        names = element_names(getattr(event, "case_id", None))
        parts.append("、".join(names.get(str(f)) or str(f) for f in data["flows"]))
    if event.type == "case_copied":
        parts.append("、".join(people.get(uid, "?") for uid in data.get("recipients") or ()))
    if event.type == "case_migrated":
        parts.append(_("version %(old)s → %(new)s", old=data.get("from_version"),
                       new=data.get("to_version")))  # fmt: skip
        parts += [f"{m.get('source_name', m['source'])} → {m.get('target_name', m['target'])}"
                  for m in data.get("moves") or () if m.get("kind") == "task"]  # fmt: skip
    if event.type.startswith("licence_"):
        parts += _licence_detail(data)
    for decision in data.get("decisions") or ():
        parts.append(f"{decision.get('number', '')} ({outcome_name(decision.get('outcome'))})")
    return " · ".join(parts)


def _licence_detail(data: dict) -> list[str]:
    """A licence event's number, term and the licence it replaces or is replaced by."""
    parts = [str(data.get("number", ""))]
    if data.get("valid_until"):
        parts.append(_("valid until %(day)s", day=data["valid_until"]))
    if data.get("replaces"):
        parts.append(_("replaces %(number)s", number=data["replaces"]))
    if data.get("replaced_by"):
        parts.append(_("replaced by %(number)s", number=data["replaced_by"]))
    return parts


def mask_id(number: str | None) -> str:
    """Mask an ID number to its first 3 and last 4 characters (PIPL: lists and pages)."""
    if not number:
        return "—"
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_phone(phone: str | None) -> str:
    """Mask a phone number to its first 3 and last 4 digits."""
    if not phone:
        return "—"
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# Return the display name of a diagram stage (camunda:property 'stage').
stage_name = labels(
    lambda: {
        "acceptance": _("acceptance"),
        "review": _("review"),
        "lead": _("handling"),
        "survey": _("site survey"),
        "co_handling": _("parallel review"),
        "chief": _("section chief approval"),
        "deputy": _("deputy head approval"),
        "head": _("head approval"),
        "collective": _("collective decision"),
        "decision": _("decision"),
        "denial": _("denial notice"),
        "issue": _("decision and licence issue"),
        "opinion": _("opinion asked"),
    },
    empty="—",
)


# Return how a material is handed in: original, copy, or both.
material_form = labels(
    lambda: {
        "original": _("original"),
        "copy": _("copy"),
        "original_and_copy": _("original and copy"),
        "electronic": _("electronic"),
    },
    empty="",
)


# Return why a case's clock stops (Licensing Law art. 45, or supplements).
pause_kind_name = labels(
    lambda: {
        "hearing": _("hearing"),
        "tendering": _("tendering"),
        "auction": _("auction"),
        "inspection": _("inspection"),
        "testing": _("testing"),
        "quarantine": _("quarantine"),
        "appraisal": _("appraisal"),
        "expert_review": _("expert review"),
        "supplement": _("supplements after acceptance"),
    },
)


def iso_local(value) -> str:
    """Format a stored ISO time (UTC, with or without 'Z') in the centre's zone."""
    import datetime as dt

    from . import local_time

    if not value:
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.rstrip("Z"))
        except ValueError:
            return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return local_time(value)


def provisional_at(at, flag) -> bool:
    """Whether to mark a shown due date provisional: its row says a date rests on the
    calendar's fallback (`flag`), and this date's local year is one the State Council has
    not published yet (a case's promised date may be certain while its statutory one is
    not)."""
    if not flag or not at:
        return False
    import datetime as dt

    from ..calendar.services import calendar

    if isinstance(at, str):  # an API-shaped time: ISO, UTC, with or without 'Z'
        at = dt.datetime.fromisoformat(at.rstrip("Z"))

    cal = calendar()
    return not cal.known(cal.local(at).date())


# Name the kind of an absence.
absence_kind_name = labels(
    lambda: {
        "leave": _("leave"),
        "trip": _("business trip"),
        "sick": _("sick leave"),
        "other": _("other absence"),
    },
)


# Name the kind of a department (licensing authorities and the centre's own units).
department_kind_name = labels(
    lambda: {
        "bureau": _("bureau"),
        "agency": _("agency"),
        "government": _("government"),
        "centre": _("service centre"),
        "section": _("section"),
        "supervision": _("supervision office"),
    },
)


# Name a step of an online application's history (stored as a code).
application_step_name = labels(
    lambda: {
        "draft": _("draft saved"),
        "uploaded": _("material uploaded"),
        "submitted": _("submitted"),
        "resubmitted": _("submitted again"),
        "withdrawn": _("withdrawn"),
        "supplements requested": _("supplements requested"),
        "invited to the window": _("invited to the window"),
        "accepted": _("accepted"),
        "deemed accepted": _("deemed accepted by law"),
    },
)


def limit_text(limit: str | None) -> str:
    """Say a stored time limit ("12d", "4h", "1.5d") in words: 12个工作日, 4小时."""
    if not limit or limit[-1] not in "dh":
        return limit or "—"
    try:
        value = float(limit[:-1])
    except ValueError:
        return limit
    n = f"{value:g}"
    return _("%(n)s hours", n=n) if limit[-1] == "h" else _("%(n)s working days", n=n)


def actor_name(actor: str | None, actor_id: int | None, people: dict[int, str]) -> str:
    """Who did something: the person's name, or the system for the service's own steps."""
    if actor_id and actor_id in people:
        return people[actor_id]
    if not actor or actor == "system":
        return _("system")
    return actor


def element_names(case_id: int | None) -> dict[str, str]:
    """The names of the elements (flows, tasks, gateways) of a case's diagram, by id: a
    page shows a chosen path by its name, not its id. Read once per request and case."""
    from flask import g, has_request_context

    from ..cases.queries import diagram_element_names

    if not case_id:
        return {}
    cache = g.setdefault("element_names", {}) if has_request_context() else {}
    if case_id not in cache:
        cache[case_id] = diagram_element_names(case_id)
    return cache[case_id]


def data_value(value):
    """A value of a case's data as a page shows it: a decision's outcome in words."""
    if isinstance(value, str) and value in ("approve", "return", "reject"):
        return outcome_name(value)
    return value


def task_reason(reason, people: dict[int, str]) -> str:
    """Why a task went to whom or ended, in the reader's language (stored as a code with
    its parameters, app/org/reasons.py; a task cancelled with its case, by the case's end)."""
    from ..org.reasons import reason_text

    if reason == "case withdrawn":
        return _("the case was withdrawn")
    return reason_text(reason, person=people)


def code_marks(text) -> Markup:
    """Show a message's `quoted` ids and file names (as the workflow checks write them) as
    code: an analyst reads the id beside the words, and it is set apart from them."""
    import re

    escaped = escape(str(text or ""))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escaped)))


# Name what changed of a diagram element between two versions (workflows/diff.py).
diff_aspect_name = labels(
    lambda: {
        "name": _("element name"),
        "type": _("element type"),
        "source": _("source"),
        "target": _("target"),
        "condition": _("condition"),
        "lane": _("lane"),
        "assignment": _("assignment"),
        "form": _("form"),
        "properties": _("properties"),
        "default flow": _("default flow"),
        "timer": _("timer"),
        "documentation": _("documentation"),
        "other": _("other"),
    },
)
