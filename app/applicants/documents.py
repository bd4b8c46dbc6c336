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
from flask_babel import gettext as _

from .. import privacy
from ..audit.models import Event
from ..calendar.services import calendar
from ..cases.access import Purpose, require_case
from ..cases.decisions import authority_for, of_case
from ..cases.models import Case
from ..cases.status import CaseStatus
from ..cases.store import CaseLog
from ..catalogue.models import Item
from ..clock import local_date, today
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..licences import documents as signed_docs
from ..links import public_url
from ..notices import pdf
from ..notices.blocks import requirement
from ..notices.layout import drawn_with_seals
from ..org.authority import authority_of
from ..org.models import Department, User
from ..supervision.opinions import latest_opinion
from . import clock_notices, decision_docs
from .models import OnlineApplication

STAFF = ("clerk", "supervisor", "auditor", "admin")
KINDS = ("receipt", "commitment", "supplement", "refusal", "decision", "licence",
         *clock_notices.KINDS)  # fmt: skip
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


def _accepting_unit(db, item: Item) -> str:
    """受理单位 as every notice prints it: the licensing authority, which accepts in law (the
    centre's window accepts in its name), followed by its section that handles the item:
    "示范市自然资源和规划局规划科", or the authority alone when it handles the item itself or
    the catalogue names a deciding authority other than the section's bureau (a registration
    agency: "示范市不动产登记中心")."""
    authority = authority_of(db, item.department_id)
    try:
        deciding = authority_for(db, item)
    except Conflict:  # a misconfigured catalogue: the section's bureau still accepted it
        deciding = authority
    dept = db.get(Department, item.department_id)
    if deciding.id != authority.id:
        return deciding.name
    if dept.id == authority.id or dept.name.startswith(authority.name):
        return authority.name
    return f"{authority.name}{dept.name}"


def _requirements(item: Item, missing: list[dict]) -> list[tuple[str, str]]:
    """Each missing material's name and what is required of it (form, count and note, from
    the catalogue); one the catalogue no longer lists keeps its name alone. Neither a case
    nor an online application records a reason per material."""
    listed = {m["code"]: m for m in item.entry.get("materials", [])}
    rows = []
    for m in missing:
        spec = listed.get(m.get("code"))
        rows.append((m["name"], requirement(spec.get("form", ""), int(spec.get("count", 1)),
                                            spec.get("note", "")) if spec else ""))  # fmt: skip
    return rows


def _facts(case: Case, item: Item) -> pdf.CaseFacts:
    db = session()
    cal = calendar()
    acceptor = db.get(User, case.received_by_id) if case.received_by_id else None
    local = cal.local
    return pdf.CaseFacts(
        case_no=case.case_no, query_code=case.query_code, item_name=item.name,
        department=_accepting_unit(db, item), applicant_name=case.applicant_name,
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


def _render(kind: str, case: Case, item: Item, staff: bool = True, n: str | None = None) -> bytes:
    """A notice of a case as a signed PDF: the decision letter and the licence signed once
    and kept (app.licences.documents); every other notice signed as it is drawn, under the
    key of the authority that accepted the application in law (the centre's window accepts
    in its name). No key: a 409, never an unsigned notice."""
    if kind in ("decision", "licence"):
        return _draw(kind, case, item, staff, n)
    pdf, seals = drawn_with_seals(lambda: _draw(kind, case, item, staff, n))
    return signed_docs.sign_notice(pdf, seals, authority_for(session(), item), centre())


def _draw(kind: str, case: Case, item: Item, staff: bool = True, n: str | None = None) -> bytes:
    """Draw a notice of a case. The supervision office's opinion goes on the commitment
    notice for staff only: the applicant's face of a case shows no internal comment and
    no staff name (app.cases.access)."""
    facts, opts, here = _facts(case, item), _options(), centre()
    if kind in clock_notices.KINDS:  # one notice per pause or extension: the n-th
        return clock_notices.render(kind, case, item, n, facts, here, opts)
    if kind == "licence":  # the n-th licence the case granted, signed (app/licences)
        if n is not None and not (n.isdigit() and 0 < int(n) < 100):
            raise InvalidInput(_("n: which of the case's licences, 1 for the first."))
        return signed_docs.licence_pdf(case, facts, here, int(n or 1), opts["font_path"],
                                       decision_docs.seal_image, decision_docs.issuer)  # fmt: skip
    if n is not None:
        raise InvalidInput(_("Only the notices of pauses and extensions are numbered (n)."))
    if kind == "receipt":
        if case.accepted_at is None:
            raise Conflict(_("the case has not been accepted"))
        listed = {m["code"]: m for m in item.entry.get("materials", [])}
        got = [(listed[c]["name"], FORMS.get(listed[c].get("form", ""), "原件"),
                int(listed[c].get("count", 1))) for c in case.materials if c in listed]  # fmt: skip
        return pdf.acceptance_receipt(here, facts, got, **opts)
    if kind == "commitment":
        if case.accepted_at is None:
            raise Conflict(_("the case has not been accepted"))
        return pdf.commitment_notice(here, facts, latest_opinion(case) if staff else None, **opts)
    if kind == "supplement":
        if not case.missing_materials:
            raise Conflict(_("no material is missing"))
        missing = _requirements(item, case.missing_materials)
        note = "请于补正后携带上述材料到" + (item.entry.get("window") or "受理窗口") + "办理"
        registration = (item.entry.get("decision") or {}).get("kind") == "registration"
        return pdf.supplement_notice(here, facts, missing, note, registration=registration,
                                     issued_on=first_issued(case, kind), **opts)  # fmt: skip
    if kind == "refusal":
        if case.status != CaseStatus.REFUSED:
            raise Conflict(_("the case was not refused"))
        return pdf.refusal_notice(here, facts, case.decision_reason or "", case.legal_basis or "",
                                  issued_on=first_issued(case, kind), **opts)  # fmt: skip
    if kind == "decision":
        rows = of_case(session(), case.id)
        if not rows or case.decision not in ("approved", "denied"):
            return decision_docs.render(case, item, facts, here, opts["font_path"])  # says why
        # signed under the lead authority's key and kept: the same file every time
        return signed_docs.issued(
            case, "decision", rows[0][1], facts, here,
            lambda signed_facts: decision_docs.render(case, item, signed_facts, here,
                                                      opts["font_path"]),
        )  # fmt: skip
    raise NotFound(_("there is no such notice"))


def _notice_case(actor: User, case_no: str, kind: str) -> tuple[Case, Item]:
    if kind not in KINDS:
        raise NotFound(_("there is no such notice"))
    # 404 if there is none or it is not theirs to read; OWN admits the case's own applicant
    checked = require_case(actor, case_no, Purpose.OWN)
    if not may_have(actor, checked.case):
        raise NotFound(_("there is no such notice"))
    return checked.case, checked.item


def _log_issued(actor: User, case: Case, kind: str, content: bytes, n: str | None = None,
                via: str = "window") -> None:  # fmt: skip
    """Log a notice given to the applicant: which (kind, n), and how (`via`: handed over at
    the window by the actor, a clerk, or downloaded online by the applicant)."""
    log = CaseLog(session(), case.id, utcnow(), actor)
    numbered = {"n": int(n)} if n is not None else {}  # _render accepted it: a number
    log.add("notice_issued", {"kind": kind, **numbered, "via": via, "bytes": len(content)})
    log.close()


@transactional
def case_notice(actor: User, case_no: str, kind: str, n: str | None = None) -> bytes:
    """Draw a notice of a case for someone who may have it. Staff looking at it (auditors,
    supervisors, a clerk before handing it over) change nothing in the case; the applicant's
    own download is the notice handed to them, logged as issued. `n` says which pause or
    extension notice (1 the oldest)."""
    case, item = _notice_case(actor, case_no, kind)
    content = _render(kind, case, item, staff=actor.has_role(*STAFF), n=n)
    if case.applicant_user_id == actor.id:
        _log_issued(actor, case, kind, content, n, via="online")
    if kind == "commitment":  # the notice prints the phone in full: an access-log row
        privacy.note_view(actor, "case", case.id, case.case_no,
                          {"phone": case.applicant_phone}, privacy.COMMITMENT_NOTICE)  # fmt: skip
    return content


@transactional
def hand_over_notice(actor: User, case_no: str, kind: str, n: str | None = None) -> None:
    """The window clerk hands a notice to the applicant: the case logs it as issued (409
    when the case has no such notice yet)."""
    if not actor.has_role("clerk"):
        raise Forbidden(_("only the window hands notices over"))
    case, item = _notice_case(actor, case_no, kind)
    _log_issued(actor, case, kind, _render(kind, case, item, n=n), n)


def application_notice(app: OnlineApplication) -> bytes:
    """The one-time supplement notice of an online application; there is none (404) unless
    supplements are asked for. It prints the query code of the application's case if it has
    one, else the application's number and where to follow it online (no QR code of a
    query it cannot answer); the reviewer's note; and one instruction: upload the materials
    online and hand the application in again."""
    if app.status != "supplement_required":
        raise NotFound(_("no supplement has been asked for"))
    db = session()
    item = db.get(Item, app.item_id)
    reviewer = db.get(User, app.reviewed_by_id) if app.reviewed_by_id else None
    local = calendar().local
    case = db.get(Case, app.case_id) if app.case_id else None
    facts = pdf.CaseFacts(
        case_no=case.case_no if case else app.number,
        query_code=case.query_code if case else "", item_name=item.name,
        department=_accepting_unit(db, item), applicant_name=app.applicant_name,
        applicant_phone=app.applicant_phone or "",
        received_at=local(app.submitted_at).replace(tzinfo=None),
        acceptor_name=reviewer.name if reviewer else "",
        acceptor_phone=(reviewer.phone or "") if reviewer else "",
        window=item.entry.get("window", ""),
        query_url=public_url("web.track") if case else "",
    )  # fmt: skip
    note = f"请登录网上办事大厅，在本申请（申请编号 {app.number}）中上传上述全部材料后重新提交"
    issued = local_date(app.reviewed_at) if app.reviewed_at else today()
    drawn, seals = drawn_with_seals(lambda: pdf.supplement_notice(
        centre(), facts, _requirements(item, app.missing), note, remarks=app.review_note or "",
        issued_on=issued, online=True, **_options()))  # fmt: skip
    return signed_docs.sign_notice(drawn, seals, authority_for(db, item), centre())
