"""Words for statuses, outcomes and audit events on pages, in the current language."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _


def labels(
    words: Callable[[], dict[str, str]],
    empty: str | None = None,
    unknown: Callable[[], str] | None = None,
) -> Callable[[str | None], str]:
    """Make a function that names a code in the reader's language.

    `words` builds the table of names; it is called at each use, so the names follow the
    language of the request. A code without a name is shown as it is, or as `unknown()`
    says; no code at all (None, "") as `empty` when given.
    """

    def name(code: str | None) -> str:
        if not code and empty is not None:
            return empty
        table = words()
        if code in table:
            return table[code]
        return unknown() if unknown is not None else code

    return name


status_name = labels(
    lambda: {
        "received": _("received"),
        "supplement_required": _("waiting for supplements"),
        "refused": _("refused at the window"),
        "accepted": _("accepted"),
        "in_progress": _("in progress"),
        "fault": _("workflow fault"),
        "decided": _("decided"),
        "closed": _("closed"),
        "withdrawn": _("withdrawn"),
        "open": _("open"),
        "completed": _("completed"),
        "cancelled": _("cancelled"),
    },
)


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
    },
)


def event_detail(event, people: dict[int, str]) -> str:
    """Return a one-line description of an event's data for the history."""
    data = event.data or {}
    who = people.get(data.get("to") or data.get("assignee_id"), None)
    parts: list[str] = []
    if "name" in data:
        parts.append(str(data["name"]))
    if who:
        parts.append("→ " + who)
    if data.get("acting_for_id"):
        parts.append(_("acting for %(name)s", name=people.get(data["acting_for_id"], "?")))
    if "outcome" in data:
        parts.append(outcome_name(data["outcome"]))
    for key in ("comment", "reason", "note", "legal_basis", "opinion"):
        if data.get(key):
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
        parts.append(", ".join(map(str, data["flows"])))
    for decision in data.get("decisions") or ():
        parts.append(f"{decision.get('number', '')} ({outcome_name(decision.get('outcome'))})")
    return " · ".join(parts)


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
