"""The notices a case gives its applicant, as PDF, from the case rows (app.notices.pdf draws).

Who may have them: the applicant whose account the case belongs to, and window,
supervision, audit and admin staff. Looking at a notice changes nothing in the case: only
handing it over is an event of the case (`notice_issued`), so the audit log shows what was
given to the applicant and when. A notice is handed over by the window clerk's explicit
action (`hand_over_notice`, a POST) or by the applicant's own download.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from .. import privacy
from ..audit.models import Event
from ..calendar.services import calendar
from ..cases.access import Purpose, require_case
from ..cases.models import Case
from ..cases.status import CaseStatus
from ..cases.store import CaseLog
from ..catalogue.models import Item
from ..clock import local_date, today
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, NotFound
from ..links import public_url
from ..notices import decisions, pdf
from ..org.models import Department, User
from .models import OnlineApplication

STAFF = ("clerk", "supervisor", "auditor", "admin")
KINDS = ("receipt", "commitment", "supplement", "refusal", "decision")
FORMS = {"original": "原件", "copy": "复印件", "original_and_copy": "原件及复印件"}


@functools.cache
def _centre_file(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("centre", {})
    except OSError:
        return {}


def centre() -> pdf.Centre:
    """The issuing centre, from the installation's centre.toml."""
    info = _centre_file(str(Path(current_app.config["BPMN_DIR"]) / "centre.toml"))
    return pdf.Centre(name=info.get("name", "政务服务中心"), address=info.get("address", ""),
                      supervision_phone=info.get("supervision_phone", ""))  # fmt: skip


def _options() -> dict:
    cfg = current_app.config
    return {"seal_image": cfg.get("SEAL_IMAGE") or None, "font_path": cfg.get("PDF_FONT") or None}


def may_have(actor: User, case: Case) -> bool:
    return case.applicant_user_id == actor.id or actor.has_role(*STAFF)


def _facts(case: Case, item: Item) -> pdf.CaseFacts:
    db = session()
    cal = calendar()
    dept = db.get(Department, item.department_id)
    acceptor = db.get(User, case.received_by_id) if case.received_by_id else None
    local = cal.local
    return pdf.CaseFacts(
        case_no=case.case_no, query_code=case.query_code, item_name=item.name,
        department=dept.name if dept else "", applicant_name=case.applicant_name,
        applicant_phone=case.applicant_phone or "",
        received_at=local(case.received_at).replace(tzinfo=None),
        accepted_at=local(case.accepted_at).replace(tzinfo=None) if case.accepted_at else None,
        accepted_on=cal.counting_day(case.accepted_at)[0] if case.accepted_at else None,
        promised_due=local(case.due_at).date() if case.due_at else None,
        promised_days=case.promised_days, statutory_days=item.statutory_days,
        acceptor_name=acceptor.name if acceptor else "",
        acceptor_phone=(acceptor.phone or "") if acceptor else "",
        window=item.entry.get("window", ""), query_url=public_url("web.track"),
    )  # fmt: skip


def _decision_no(case: Case) -> str:
    """The number of a decision letter: the case's own, with the year."""
    year = calendar().local(case.decided_at or utcnow()).year
    return f"〔{year}〕{case.case_no[-8:]}号"


def first_issued(case: Case, kind: str) -> dt.date:
    """The day a notice of `kind` is dated: the centre's local day it was first handed over
    (its first `notice_issued` event; for the supplement notice, the first since the latest
    request for materials, which makes a new notice), or today if it was never handed over.
    A reprint thus shows the day the applicant was given it."""
    starts = {"supplement": "supplement_required"}.get(kind)
    rows = session().scalars(
        sa.select(Event).where(Event.case_id == case.id,
                               Event.type.in_(("notice_issued", starts or "notice_issued")))
        .order_by(Event.seq)
    )  # fmt: skip
    issued = None
    for event in rows:
        if event.type == starts:
            issued = None
        elif issued is None and event.type == "notice_issued" and event.data.get("kind") == kind:
            issued = event.at
    return local_date(issued) if issued is not None else today()


def _render(kind: str, case: Case, item: Item) -> bytes:
    facts, opts, here = _facts(case, item), _options(), centre()
    if kind == "receipt":
        if case.accepted_at is None:
            raise Conflict("the case has not been accepted")
        listed = {m["code"]: m for m in item.entry.get("materials", [])}
        got = [(listed[c]["name"], FORMS.get(listed[c].get("form", ""), "原件"),
                int(listed[c].get("count", 1))) for c in case.materials if c in listed]  # fmt: skip
        return pdf.acceptance_receipt(here, facts, got, **opts)
    if kind == "commitment":
        if case.accepted_at is None:
            raise Conflict("the case has not been accepted")
        return pdf.commitment_notice(here, facts, **opts)
    if kind == "supplement":
        if not case.missing_materials:
            raise Conflict("no material is missing")
        names = [m["name"] for m in case.missing_materials]
        note = "请于补正后携带上述材料到" + (item.entry.get("window") or "受理窗口") + "办理"
        return pdf.supplement_notice(here, facts, names, note,
                                     issued_on=first_issued(case, kind), **opts)  # fmt: skip
    if kind == "refusal":
        if case.status != CaseStatus.REFUSED:
            raise Conflict("the case was not refused")
        return pdf.refusal_notice(here, facts, case.decision_reason or "", case.legal_basis or "",
                                  issued_on=first_issued(case, kind), **opts)  # fmt: skip
    if kind == "decision":
        if case.decision not in ("approved", "denied"):
            raise Conflict("the case is not decided yet")
        decided = (
            calendar().local(case.decided_at).replace(tzinfo=None) if case.decided_at else None
        )
        return decisions.decision_letter(
            here, facts, case.decision == "approved", _decision_no(case),
            reason=case.decision_reason or "", legal_basis=case.legal_basis or "",
            decided_at=decided, certificate=item.entry.get("result", ""), **opts,
        )  # fmt: skip
    raise NotFound("there is no such notice")


def _notice_case(actor: User, case_no: str, kind: str) -> tuple[Case, Item]:
    if kind not in KINDS:
        raise NotFound("there is no such notice")
    # 404 if there is none or it is not theirs to read; OWN admits the case's own applicant
    checked = require_case(actor, case_no, Purpose.OWN)
    if not may_have(actor, checked.case):
        raise NotFound("there is no such notice")
    return checked.case, checked.item


def _log_issued(actor: User, case: Case, kind: str, content: bytes) -> None:
    log = CaseLog(session(), case.id, utcnow(), actor)
    log.add("notice_issued", {"kind": kind, "bytes": len(content)})
    log.close()


@transactional
def case_notice(actor: User, case_no: str, kind: str) -> bytes:
    """Draw a notice of a case for someone who may have it. Staff looking at it (auditors,
    supervisors, a clerk before handing it over) change nothing in the case; the applicant's
    own download is the notice handed to them, logged as issued."""
    case, item = _notice_case(actor, case_no, kind)
    content = _render(kind, case, item)
    if case.applicant_user_id == actor.id:
        _log_issued(actor, case, kind, content)
    if kind == "commitment":  # the notice prints the phone in full: an access-log row
        privacy.note_view(actor, "case", case.id, case.case_no,
                          {"phone": case.applicant_phone}, privacy.COMMITMENT_NOTICE)  # fmt: skip
    return content


@transactional
def hand_over_notice(actor: User, case_no: str, kind: str) -> None:
    """The window clerk hands a notice to the applicant: the case logs it as issued (409
    when the case has no such notice yet)."""
    if not actor.has_role("clerk"):
        raise Forbidden("only the window hands notices over")
    case, item = _notice_case(actor, case_no, kind)
    _log_issued(actor, case, kind, _render(kind, case, item))


def application_notice(app: OnlineApplication) -> bytes:
    """The one-time supplement notice of an online application (no case exists yet); there
    is none (404) unless supplements are asked for."""
    if app.status != "supplement_required":
        raise NotFound("no supplement has been asked for")
    db = session()
    item = db.get(Item, app.item_id)
    dept = db.get(Department, item.department_id)
    reviewer = db.get(User, app.reviewed_by_id) if app.reviewed_by_id else None
    local = calendar().local
    facts = pdf.CaseFacts(
        case_no=app.number, query_code="—", item_name=item.name,
        department=dept.name if dept else "", applicant_name=app.applicant_name,
        applicant_phone=app.applicant_phone or "",
        received_at=local(app.submitted_at).replace(tzinfo=None),
        acceptor_name=reviewer.name if reviewer else "",
        acceptor_phone=(reviewer.phone or "") if reviewer else "",
        window=item.entry.get("window", ""),
    )  # fmt: skip
    note = "请登录网上办事大厅上传上述材料后重新提交，或携带材料到" + (
        item.entry.get("window") or "受理窗口") + "办理"  # fmt: skip
    issued = local_date(app.reviewed_at) if app.reviewed_at else today()
    return pdf.supplement_notice(centre(), facts, [m["name"] for m in app.missing], note,
                                 issued_on=issued, **_options())  # fmt: skip
