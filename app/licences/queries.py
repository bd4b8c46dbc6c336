"""Reading the licence registry: the public status behind a code, a checked PDF matched to
what was issued, the public register (no personal data), and the staff's search and detail.

Who may: anyone reads a code's status and the public register (what a document shows, no ID
or phone number, a person's name masked as the published results mask it); staff who read
cases (not analysts, not applicants) search the registry and read a licence's history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _

from ..catalogue.guide import public_name
from ..catalogue.models import Item
from ..clock import today
from ..db import session
from ..errors import Forbidden, NotFound
from ..org.models import Department, User
from .models import IN_FORCE, Licence, LicenceEvent, SignedDocument
from .registry import ACTIONS, CODE_ALPHABET, CODE_LENGTH, FROM, Terms, shown_status

STAFF = ("clerk", "official", "leader", "supervisor", "auditor", "admin")
PAGE = 50
CODE_CHARS = frozenset(CODE_ALPHABET)


@dataclass
class LicenceView:
    """A licence as a page shows it (`holder` masked for the public)."""

    id: int
    number: str
    code: str
    title: str
    matter: str
    content: str
    holder: str
    authority: str
    issued_on: dt.date
    valid_until: dt.date | None
    status: str  # as shown: in_force, expiring, expired, changed, revoked, cancelled
    status_at: dt.datetime
    conditions: list[str] = field(default_factory=list)
    replaced_by: str = ""
    case_no: str = ""


@dataclass
class DocumentView:
    """A signed document found by its code or its SHA-256."""

    kind: str
    authority: str
    signed_at: dt.datetime
    sha256: str
    case_no: str
    licence: LicenceView | None


def _view(lic: Licence, authority: str, public: bool) -> LicenceView:
    replaced = ""
    if lic.replaced_by_id:
        replaced = session().scalar(sa.select(Licence.number)
                                    .where(Licence.id == lic.replaced_by_id)) or ""  # fmt: skip
    return LicenceView(
        id=lic.id, number=lic.number, code=lic.code, title=lic.title, matter=lic.matter,
        content=lic.content, holder=public_name(lic.holder_name) if public else lic.holder_name,
        authority=authority, issued_on=lic.issued_on, valid_until=lic.valid_until,
        status=shown_status(lic, today()), status_at=lic.status_at,
        conditions=list(lic.conditions or ()), replaced_by=replaced,
    )  # fmt: skip


def _authority_name(dept_id: int) -> str:
    return session().scalar(sa.select(Department.name).where(Department.id == dept_id)) or ""


def clean_code(code: str) -> str | None:
    """A code as typed (spaces, lower case) made canonical, or None if it cannot be one."""
    code = "".join(code.split()).upper()
    if len(code) != CODE_LENGTH or not set(code) <= CODE_CHARS:
        return None
    return code


def by_code(code: str) -> LicenceView | DocumentView:
    """What a document's code opens: its licence, or the signed document that carries it
    (a decision letter), with its licence's status if the case granted one. The holder's
    name is shown as the document shows it (the one who has the code has the document)."""
    canonical = clean_code(code)
    if canonical is None:
        raise NotFound(_("There is no document with this code."))
    db = session()
    lic = db.scalars(sa.select(Licence).where(Licence.code == canonical)).first()
    if lic is not None:
        return _view(lic, _authority_name(lic.authority_id), public=False)
    doc = db.scalars(sa.select(SignedDocument).where(SignedDocument.code == canonical)).first()
    if doc is None:
        raise NotFound(_("There is no document with this code."))
    return _document(doc)


def _document(doc: SignedDocument) -> DocumentView:
    from ..cases.models import Case

    db = session()
    lic = db.get(Licence, doc.licence_id) if doc.licence_id else db.scalars(
        sa.select(Licence).where(Licence.case_id == doc.case_id).order_by(Licence.id)).first()
    case_no = db.scalar(sa.select(Case.case_no).where(Case.id == doc.case_id)) or ""
    view = _view(lic, _authority_name(lic.authority_id), public=False) if lic else None
    return DocumentView(doc.kind.split("-")[0], _authority_name(doc.authority_id), doc.signed_at,
                        doc.sha256, case_no, view)  # fmt: skip


def by_sha256(digest: str) -> DocumentView | None:
    """The signed document issued with exactly these bytes, or None (another file)."""
    doc = session().scalars(sa.select(SignedDocument)
                            .where(SignedDocument.sha256 == digest)).first()  # fmt: skip
    return _document(doc) if doc is not None else None


def public_register(query: str = "", page: int = 1) -> tuple[list[LicenceView], bool]:
    """The public register: number, licence, matter, authority, days and status; the holder
    as the published results show names (a person's masked). A page at a time, newest
    first; whether more follow."""
    stmt = sa.select(Licence, Department.name).join(Department,
                                                    Department.id == Licence.authority_id)
    if query:
        like = f"%{query}%"
        stmt = stmt.where(sa.or_(Licence.number.like(like), Licence.matter.like(like),
                                 Licence.title.like(like)))  # fmt: skip
    rows = session().execute(stmt.order_by(Licence.id.desc())
                             .offset((max(page, 1) - 1) * PAGE).limit(PAGE + 1)).all()  # fmt: skip
    views = [_view(lic, name, public=True) for lic, name in rows[:PAGE]]
    for v in views:
        v.content = ""  # what is licensed in detail is on the document, not in the list
    return views, len(rows) > PAGE


def _staff(actor: User) -> None:
    if not actor.has_role(*STAFF):
        raise Forbidden(_("Only the centre's staff search the licence registry."))


def search(actor: User, query: str = "", status: str = "", page: int = 1
           ) -> tuple[list[LicenceView], bool]:  # fmt: skip
    """The staff's search: by number, holder, matter or the granting case; by status."""
    from ..cases.models import Case

    _staff(actor)
    stmt = (sa.select(Licence, Department.name, Case.case_no)
            .join(Department, Department.id == Licence.authority_id)
            .join(Case, Case.id == Licence.case_id))  # fmt: skip
    if query:
        like = f"%{query}%"
        stmt = stmt.where(sa.or_(Licence.number.like(like), Licence.holder_name.like(like),
                                 Licence.matter.like(like), Case.case_no.like(like)))  # fmt: skip
    day = today()
    in_force = sa.and_(Licence.status == IN_FORCE,
                       sa.or_(Licence.valid_until.is_(None), Licence.valid_until >= day))
    reminding = sa.and_(Licence.remind_on.is_not(None), Licence.remind_on <= day)
    if status == "expired":  # marked, or past its term before the round marked it
        stmt = stmt.where(sa.or_(Licence.status == "expired",
                                 sa.and_(Licence.status == IN_FORCE, Licence.valid_until < day)))
    elif status in ("changed", "revoked", "cancelled"):
        stmt = stmt.where(Licence.status == status)
    elif status == "expiring":
        stmt = stmt.where(in_force, reminding)
    elif status == "in_force":
        stmt = stmt.where(in_force, sa.not_(reminding))
    rows = session().execute(stmt.order_by(Licence.id.desc())
                             .offset((max(page, 1) - 1) * PAGE).limit(PAGE + 1)).all()  # fmt: skip
    views = []
    for lic, name, case_no in rows[:PAGE]:
        view = _view(lic, name, public=False)
        view.case_no = case_no
        views.append(view)
    return views, len(rows) > PAGE


@dataclass
class Detail:
    licence: LicenceView
    history: list[dict]
    actions: list[tuple[str, str, str]]  # (action, item code, item name)


def detail(actor: User, licence_id: int) -> Detail:
    """A licence with its history and the items that handle it, for staff."""
    from ..cases.models import Case

    _staff(actor)
    db = session()
    lic = db.get(Licence, licence_id)
    if lic is None:
        raise NotFound(_("There is no such licence."))
    view = _view(lic, _authority_name(lic.authority_id), public=False)
    view.case_no = db.scalar(sa.select(Case.case_no).where(Case.id == lic.case_id)) or ""
    rows = db.execute(sa.select(LicenceEvent, Case.case_no)
                      .outerjoin(Case, Case.id == LicenceEvent.case_id)
                      .where(LicenceEvent.licence_id == lic.id)
                      .order_by(LicenceEvent.at, LicenceEvent.id)).all()  # fmt: skip
    replaces = db.scalar(sa.select(Licence.number).where(Licence.replaced_by_id == lic.id))
    issued = {"valid_until": lic.valid_until.isoformat() if lic.valid_until else None,
              **({"replaces": replaces} if replaces else {})}  # fmt: skip
    history = [{"at": lic.created_at, "kind": "issued", "case_no": view.case_no, "data": issued}]
    history += [{"at": e.at, "kind": e.kind, "case_no": no, "data": e.data or {}}
                for e, no in rows]  # fmt: skip
    terms = Terms.of(db.scalar(sa.select(Item.entry).where(Item.id == lic.item_id)) or {})
    names = dict(db.execute(sa.select(Item.code, Item.name)
                            .where(Item.code.in_(list(terms.actions.values())))).all())  # fmt: skip
    actions = [(a, terms.actions[a], names[terms.actions[a]]) for a in ACTIONS
               if terms.actions.get(a) in names]  # fmt: skip
    return Detail(view, history, actions)


def of_case(case_id: int) -> list[LicenceView]:
    """The licences a case granted (its page lists them with their documents)."""
    rows = session().execute(sa.select(Licence, Department.name)
                             .join(Department, Department.id == Licence.authority_id)
                             .where(Licence.case_id == case_id).order_by(Licence.id)).all()
    return [_view(lic, name, public=False) for lic, name in rows]


@dataclass
class Held:
    """A licence an applicant's account holds, and what its holder may apply for now."""

    licence: LicenceView
    apply_for: list[tuple[str, str, str]]  # (action, item code, item name)


def held_by(actor: User) -> list[Held]:
    """The licences granted on an applicant's own applications, newest first, each with the
    items its holder may apply for now (renewal, change, cancellation, as its status
    allows; the authority's revocation is not applied for). Nobody else's."""
    if not actor.has_role("applicant"):
        return []
    db = session()
    rows = db.execute(sa.select(Licence, Department.name, Item.entry)
                      .join(Department, Department.id == Licence.authority_id)
                      .join(Item, Item.id == Licence.item_id)
                      .where(Licence.holder_user_id == actor.id)
                      .order_by(Licence.id.desc())).all()  # fmt: skip
    codes = {code for _lic, _name, entry in rows for code in Terms.of(entry or {}).actions.values()}
    items = {i.code: i for i in db.scalars(sa.select(Item).where(Item.code.in_(sorted(codes))))} \
        if codes else {}  # fmt: skip
    held = []
    for lic, name, entry in rows:
        actions = Terms.of(entry or {}).actions
        may = [(a, actions[a], items[actions[a]].name) for a in ACTIONS
               if actions.get(a) in items and lic.status in FROM[a]
               and not (items[actions[a]].entry or {}).get("ex_officio")]  # fmt: skip
        held.append(Held(_view(lic, name, public=False), may))
    return held
