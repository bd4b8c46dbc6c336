"""Decisions in the licensing authority's name, and their numbers.

The service centre accepts an application and delivers the decision; the licensing authority
decides it (行政许可法 arts. 22–23, 26). When a case is decided, each authority that decided
it gets a row of `case_decisions` with the number of its decision document:

- an item decided by one authority: one row, for the item's authority (the catalogue's
  ``[decision] authority``, else the bureau its handling department belongs to);
- a joint item (并联审批, art. 26(2)): one row per department that decided a stage of it,
  each with its own outcome, reasons and number; the centre delivers them together.

A number is the authority's prefix (机关代字), the year and the next number of the
authority's series for that year: ``示自然资规许〔2026〕12号``. Where the issuing official
entered the number at the issue stage (the item's ``number_field``), that number is used
instead, once it is checked to be the authority's only decision with that number.

`resolve` only reads (it may stop the case in the fault state: a decision is never written
without its authority); `write` runs after the version-checked case row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.errors import WorkflowFault

from ..catalogue.models import Item
from ..clock import local
from ..errors import Conflict, InvalidInput
from ..licences.registry import Granted
from ..org.models import Department, Post
from .models import Case, CaseDecision, Task
from .numbering import DECISION, LICENCE, next_numbers

AUTHORITY_KINDS = ("bureau", "agency", "government", "centre")
OUTCOMES = {"approve": "approved", "reject": "denied"}
NUMBER_MAX = 80


@dataclass(frozen=True)
class Rule:
    """How an item's decisions are made and written (the catalogue's ``[decision]`` table)."""

    authority: str  # department code of the deciding authority; "" = the handling bureau
    kind: str  # "licence" (行政许可决定) or "registration" (不动产登记)
    number_field: tuple[str, ...]  # issue-stage fields where a number may be entered
    certificate_field: str  # issue-stage field with the licence's own number
    parts: dict[str, dict]  # a joint item's wording per deciding department code
    entry: dict = field(default_factory=dict)


def rule(item_entry: dict) -> Rule:
    """The decision rule of an item from its catalogue entry (defaults for an old entry)."""
    spec = item_entry.get("decision") or {}
    numbers = spec.get("number_field") or ()
    if isinstance(numbers, str):
        numbers = (numbers,)
    parts = {p.get("authority", ""): p for p in spec.get("parts", []) if isinstance(p, dict)}
    return Rule(
        authority=spec.get("authority", ""),
        kind=spec.get("kind", "licence"),
        number_field=tuple(numbers),
        certificate_field=spec.get("certificate_field", ""),
        parts=parts,
        entry=spec,
    )


def authority_in(tree: dict[int, Department], department_id: int) -> Department:
    """The authority a department belongs to: itself or its nearest ancestor that decides."""
    dept = tree[department_id]
    while dept.kind not in AUTHORITY_KINDS and dept.parent_id in tree:
        dept = tree[dept.parent_id]
    return dept


def item_authority(tree: dict[int, Department], item_department_id: int, spec: Rule) -> Department:
    """The authority that decides an item: the catalogue's, or its handling bureau."""
    if spec.authority:
        named = [d for d in tree.values() if d.code == spec.authority]
        if not named:
            raise WorkflowFault(
                _(
                    "the item's deciding authority %(authority)s is not a department",
                    authority=repr(spec.authority),
                ),
                code="no-authority",
            )
        return named[0]
    return authority_in(tree, item_department_id)


def format_number(dept: Department, year: int, seq: int) -> str:
    """机关代字〔年〕序号号; an authority without a prefix numbers under its name."""
    return f"{dept.number_prefix or dept.name}〔{year}〕{seq}号"


@dataclass
class Pending:
    """One authority's decision, resolved and waiting to be written."""

    department: Department
    outcome: str
    task_id: uuid.UUID | None
    reason: str | None
    legal_basis: str | None
    number: str = ""  # entered by hand; "" = the next of the series
    certificate_no: str | None = None


@dataclass
class Resolved:
    case_id: int
    year: int
    at: dt.datetime
    rows: list[Pending]
    granted: Granted | None = None  # the case as the licence registry reads it
    licence_numbers: dict[int, int] = field(default_factory=dict)  # authority -> its licence

# The statements a decision runs, built once (building one costs more than running it).
_TREE = sa.select(*Department.__table__.columns)  # every column: callers print seals too
_ITEM_OF = (
    sa.select(Item.entry, Item.kind, Item.department_id, Item.id, Item.name, Case.form,
              Case.applicant_name, Case.applicant_user_id, Case.received_at)
    .join(Case, Case.item_id == Item.id)
    .where(Case.id == sa.bindparam("case_id"))
)
_DECIDED = (
    sa.select(Task.id, Task.outcome, Task.comment, Task.data, Post.department_id)
    .join(Post, Post.id == Task.post_id)
    .where(Task.case_id == sa.bindparam("case_id"), Task.is_decision.is_(True),
           Task.outcome.in_(tuple(OUTCOMES)))
    .order_by(Task.completed_at)
)  # fmt: skip
_POST_DEPARTMENT = sa.select(Post.department_id).where(Post.id == sa.bindparam("post_id"))


def _tree(db: Session) -> dict[int, Department]:
    """Every department as plain rows (its columns by name), by id."""
    return {d.id: d for d in db.connection().execute(_TREE)}


def entered_number(spec: Rule, data: dict) -> str:
    """The number the issuing official entered at this stage, or ""."""
    for name in spec.number_field:
        value = str(data.get(name) or "").strip()
        if value:
            return value
    return ""


def _item_of(db: Session, case_id: int):
    """The case's item as a decision reads it: its entry, kind and handling department."""
    return db.connection().execute(_ITEM_OF, {"case_id": case_id}).one()


def check_entered(db: Session, case_id: int, data: dict) -> None:
    """Refuse an issue-stage number already given (before the task is completed: nothing is
    written): by the deciding authority, or for a joint item by any of its departments (the
    number may go to the lead's decision or to the department that refused)."""
    row = _item_of(db, case_id)
    spec = rule(row.entry or {})
    number = entered_number(spec, data)
    if not number:
        return
    field_name = next(n for n in spec.number_field if str(data.get(n) or "").strip())
    if len(number) > NUMBER_MAX:
        raise InvalidInput(_("The decision number in %(field)s is longer than %(n)d characters.",
                             field=field_name, n=NUMBER_MAX))  # fmt: skip
    query = (
        sa.select(Case.case_no, Department.name)
        .join(CaseDecision, CaseDecision.case_id == Case.id)
        .join(Department, Department.id == CaseDecision.department_id)
        .where(CaseDecision.number == number)
    )
    if row.kind != "joint":
        try:
            query = query.where(
                CaseDecision.department_id == item_authority(_tree(db), row.department_id, spec).id
            )
        except WorkflowFault:
            return  # the decision itself stops the case in the fault state
    taken = db.execute(query.limit(1)).first()
    if taken is not None:
        raise InvalidInput(
            _("%(authority)s has already given the number %(number)s (field %(field)s, case "
              "%(case)s): a decision number is given once.", authority=taken.name,
              number=number, field=field_name, case=taken.case_no)
        )  # fmt: skip


def resolve(
    db: Session,
    case_id: int,
    result: str,
    reason: str | None,
    basis: str | None,
    at: dt.datetime,
    completion=None,
) -> Resolved:
    """Who decided the case and how, read before anything is written. A deciding authority
    that cannot be found stops the case in the fault state (`WorkflowFault`)."""
    row = _item_of(db, case_id)
    spec = rule(row.entry or {})
    year = local(at).year
    granted = Granted(case_id, row.id, row.name, row.entry or {}, row.form or {},
                      row.applicant_name, row.applicant_user_id, row.received_at)  # fmt: skip
    if row.kind == "reported" and not spec.authority:
        # decided by the upper authority (art. 43), outside this centre's organisation: its
        # number is in the recorded upper decision; no series of ours numbers it
        return Resolved(case_id, year, at, [], granted)
    tree = _tree(db)
    lead = item_authority(tree, row.department_id, spec)
    data = completion.data if completion is not None else {}
    certificate = str(data.get(spec.certificate_field) or "").strip() or None
    if row.kind != "joint":
        pending = Pending(lead, result, completion.task.id if completion else None, reason, basis,
                          entered_number(spec, data), certificate)  # fmt: skip
        return Resolved(case_id, year, at, [pending], granted)
    joint = _joint(db, tree, case_id, lead, spec, data, certificate, completion)
    return Resolved(case_id, year, at, joint, granted)


def _joint(db, tree, case_id, lead, spec, data, certificate, completion) -> list[Pending]:
    """Each department's decision of a joint case: its latest decided stage's outcome."""
    rows = db.connection().execute(_DECIDED, {"case_id": case_id}).all()
    decided = [(r.id, r.outcome, r.comment, r.data or {}, r.department_id) for r in rows]
    task = completion.task if completion is not None else None
    if task is not None and task.is_decision and completion.outcome in OUTCOMES:
        post_dept = db.connection().scalar(_POST_DEPARTMENT, {"post_id": task.post_id})
        if post_dept is not None:
            decided.append((task.id, completion.outcome, completion.comment, completion.data,
                            post_dept))  # fmt: skip
    latest: dict[int, Pending] = {}
    for task_id, outcome, comment, task_data, dept_id in decided:
        dept = authority_in(tree, dept_id)
        denied = outcome == "reject"
        latest[dept.id] = Pending(
            dept, OUTCOMES[outcome], task_id, comment if denied else None,
            (task_data.get("legal_basis") if denied else None),
        )  # fmt: skip
    if not latest:
        raise WorkflowFault(_("the joint case ended without any department's decision"),
                            code="no-authority")  # fmt: skip
    # the number entered at the end goes to the lead's decision when it has the case's
    # outcome; a denial's number (不予许可决定书文号) to the first department that refused
    result = "approved" if all(p.outcome == "approved" for p in latest.values()) else "denied"
    refused = [p for p in latest.values() if p.outcome == "denied"]
    if lead.id in latest and latest[lead.id].outcome == result:
        latest[lead.id].number = entered_number(spec, data)
    elif refused:
        refused[0].number = entered_number(spec, data)
    if lead.id in latest:
        latest[lead.id].certificate_no = certificate
    return sorted(latest.values(), key=lambda p: (p.department.id != lead.id, p.department.id))


def write(db: Session, resolved: Resolved, licences: list[Department] = ()) -> list[dict]:
    """Number and write the decisions; return them as the `case_decided` event tells them.
    The licences the decision grants (their authorities) are numbered in the same statement
    (`resolved.licence_numbers`: app.licences.registry writes them)."""
    if not resolved.rows:
        return []
    keys = [(p.department.id, DECISION) for p in resolved.rows if not p.number]
    keys += [(d.id, LICENCE) for d in licences]
    seqs = next_numbers(db, keys, resolved.year)
    resolved.licence_numbers = {d.id: seqs[(d.id, LICENCE)] for d in licences}
    values = []
    for p in resolved.rows:
        seq = None if p.number else seqs[(p.department.id, DECISION)]
        number = p.number or format_number(p.department, resolved.year, seq)
        values.append({
            "case_id": resolved.case_id, "department_id": p.department.id,
            "outcome": p.outcome, "number": number, "year": resolved.year, "seq": seq,
            "task_id": p.task_id, "reason": p.reason, "legal_basis": p.legal_basis,
            "certificate_no": p.certificate_no, "decided_at": resolved.at,
        })  # fmt: skip
    db.execute(sa.insert(CaseDecision.__table__), values)  # one executemany, NULLs and all
    return [
        {"authority": p.department.code, "outcome": v["outcome"], "number": v["number"]}
        for p, v in zip(resolved.rows, values, strict=True)
    ]


def of_case(db: Session, case_id: int) -> list[tuple[CaseDecision, Department]]:
    """A case's decisions with their authorities, the lead authority's first."""
    rows = db.execute(
        sa.select(CaseDecision, Department)
        .join(Department, Department.id == CaseDecision.department_id)
        .where(CaseDecision.case_id == case_id)
        .order_by(CaseDecision.id)
    ).all()
    return [(decision, dept) for decision, dept in rows]


def authority_for(db: Session, item: Item) -> Department:
    """The authority in whose name an item is decided (its catalogue's, else its bureau);
    a catalogue naming no department is a 409 that says so (a case of it that is decided
    stops in the fault state: `resolve`)."""
    try:
        return item_authority(_tree(db), item.department_id, rule(item.entry or {}))
    except WorkflowFault:
        raise Conflict(
            _("The catalogue entry of %(item)s names a deciding authority that is not a "
              "department: %(code)s.", item=item.name, code=rule(item.entry or {}).authority)
        ) from None  # fmt: skip
