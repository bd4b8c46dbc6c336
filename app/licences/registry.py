"""Licences granted and changed by decisions, in the deciding step's transaction.

An approval of an item that issues a licence (every item, unless its catalogue entry says
``[licence] issue = false``) records one licence per approving authority: its number in the
authority's yearly licence series (``示自然资规许证〔2026〕3号``), the holder, the licensed
matter and content (the decision's wording filled from the application), the issue day in
the centre, the validity (``[licence] valid_months``) and the conditions.

An item whose entry has ``[licence_action] action = …`` handles a licence already granted
(Licensing Law arts. 49, 50, 69, 70): the application names the licence (form field
``licence_no``), and its approval changes the licence:

- ``renewal`` (延续, art. 50): the validity runs on by the licence item's term from its
  old end; the reminder is set again;
- ``change`` (变更, art. 49): the licence is marked changed, a new one (new number) carries
  the changed content (form field ``changed_content``) for the rest of the term;
- ``revocation`` (撤销, art. 69) and ``cancellation`` (注销, art. 70): the licence is marked.

The licence item names the item of each action (``[licence] renewal = "<item code>"``);
an application for a licence of another item, not in force, or of another holder is
refused at the window (`check_application`), and checked again when it is decided: a
decision that can no longer apply stops the case in the fault state, never half-applied.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.errors import WorkflowFault

from ..calendar.services import calendar
from ..cases.numbering import LICENCE, next_numbers
from ..clock import local_date
from ..errors import InvalidInput
from .models import IN_FORCE, Licence, LicenceEvent

ACTIONS = ("renewal", "change", "revocation", "cancellation")
# what an action's approval makes of the licence, and which statuses it may start from
RESULT = {"renewal": IN_FORCE, "change": "changed", "revocation": "revoked",
          "cancellation": "cancelled"}  # fmt: skip
FROM = {"renewal": (IN_FORCE,), "change": (IN_FORCE,), "revocation": (IN_FORCE,),
        "cancellation": (IN_FORCE, "expired")}  # fmt: skip
RENEW_BEFORE_DAYS = 30  # art. 50: renewal applied for 30 days before the term ends
REMIND_WORKING_DAYS = 10  # the reminder: this many working days before that day
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def new_code() -> str:
    """A short code for the QR code and to type in (32^10 ≈ 10^15: not guessable)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass(frozen=True)
class Terms:
    """What an item's ``[licence]`` table says of the licences it issues."""

    issue: bool
    valid_months: int | None
    renew_before_days: int
    remind_working_days: int
    actions: dict[str, str]  # action -> the item code that handles it

    @classmethod
    def of(cls, entry: dict) -> Terms:
        spec = entry.get("licence") or {}
        months = spec.get("valid_months")
        return cls(
            issue=bool(spec.get("issue", True)),
            valid_months=int(months) if isinstance(months, int) and months > 0 else None,
            renew_before_days=int(spec.get("renew_before_days", RENEW_BEFORE_DAYS)),
            remind_working_days=int(spec.get("remind_working_days", REMIND_WORKING_DAYS)),
            actions={a: str(spec[a]) for a in ACTIONS if spec.get(a)},
        )


def action_of(entry: dict) -> str | None:
    """The licence action an item handles (``[licence_action] action``), or None."""
    action = (entry.get("licence_action") or {}).get("action")
    return action if action in ACTIONS else None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day where it has no such day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def term_end(start: dt.date, months: int) -> dt.date:
    """The last day of a term of `months` starting on `start` (a year from 6 December 2026
    ends on 5 December 2027)."""
    return add_months(start, months) - dt.timedelta(days=1)


def remind_day(valid_until: dt.date | None, terms: Terms) -> dt.date | None:
    """The working day the renewal reminder goes: `remind_working_days` working days before
    the last day to apply for renewal (`renew_before_days` before the term ends)."""
    if valid_until is None:
        return None
    cal = calendar()
    day = valid_until - dt.timedelta(days=terms.renew_before_days)
    counted = 0
    while counted < terms.remind_working_days:
        day -= dt.timedelta(days=1)
        if cal.is_working_day(day):
            counted += 1
    while not cal.is_working_day(day):  # 0 working days: the last working day before
        day -= dt.timedelta(days=1)
    return day


def wording(template: str, form: dict) -> str:
    """The decision's wording filled from the form; a value the form lacks stays named (the
    letter itself is not printed without it: app.applicants.decision_docs)."""
    return _FIELD.sub(lambda m: str(form.get(m.group(1), m.group(0))).strip(), template or "")


@dataclass(frozen=True)
class Granted:
    """A decided case as the registry reads it (from the row the decision read)."""

    case_id: int
    item_id: int
    item_name: str
    entry: dict
    form: dict
    holder_name: str
    holder_user_id: int | None
    received_at: dt.datetime | None = None  # when the application came in (stored UTC)


_BY_NUMBER = sa.select(Licence).where(Licence.number == sa.bindparam("number"))


def licence_number(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}证〔{year}〕{seq}号"


def issuing(granted: Granted, authorities: list) -> list:
    """The authorities (Department rows) whose approval grants a licence: every approving
    one, unless the item issues none (``[licence] issue = false``)."""
    return list(authorities) if Terms.of(granted.entry).issue else []


def issue(db: Session, granted: Granted, authorities: list, seqs: dict[int, int],
          at: dt.datetime, events) -> list[dict]:  # fmt: skip
    """Record the licences an approval grants, one per approving authority, numbered in the
    same statement as the decisions (`seqs`: authority id -> number); log each as
    `licence_issued` on the case's chain. One statement: the licences (their history starts
    with the row itself)."""
    if not authorities:
        return []
    terms = Terms.of(granted.entry)
    day = local_date(at)
    until = term_end(day, terms.valid_months) if terms.valid_months else None
    spec = granted.entry.get("decision") or {}
    parts = {p.get("authority", ""): p for p in spec.get("parts", []) if isinstance(p, dict)}
    rows = [_row(granted, a, parts.get(a.code, spec), seqs[a.id], day, until, terms, at)
            for a in authorities]  # fmt: skip
    db.execute(sa.insert(Licence.__table__), rows)  # one executemany
    told = [{"number": r["number"], "code": r["code"],
             "valid_until": r["valid_until"].isoformat() if r["valid_until"] else None}
            for r in rows]  # fmt: skip
    for t in told:
        events.add("licence_issued", t)
    return told


def _row(granted: Granted, authority, part: dict, seq: int, day: dt.date,
         until: dt.date | None, terms: Terms, at: dt.datetime) -> dict:  # fmt: skip
    title = part.get("certificate") or granted.entry.get("result") or granted.item_name
    return {
        "number": licence_number(authority.number_prefix or authority.name, day.year, seq),
        "code": new_code(), "authority_id": authority.id, "item_id": granted.item_id,
        "case_id": granted.case_id, "year": day.year, "seq": seq,
        "holder_name": granted.holder_name, "holder_user_id": granted.holder_user_id,
        "title": str(title)[:200],
        "matter": str(part.get("matter") or granted.item_name)[:200],
        "content": wording(part.get("content", ""), granted.form),
        "conditions": [str(c) for c in part.get("conditions", ())],
        "issued_on": day, "valid_until": until, "status": IN_FORCE, "status_at": at,
        "remind_on": remind_day(until, terms), "reminded_at": None, "replaced_by_id": None,
        "created_at": at,
    }  # fmt: skip


def _licence_of(db: Session, form: dict, lock: bool = False) -> Licence | None:
    number = str(form.get("licence_no") or "").strip()
    if not number:
        return None
    query = _BY_NUMBER.with_for_update() if lock else _BY_NUMBER
    return db.execute(query, {"number": number}).scalars().first()


def check_application(db: Session, item, form: dict, applicant_name: str) -> None:
    """Refuse at the window an application of a licence action that cannot apply: no such
    licence, a licence of another item, of another holder, not in a status the action
    starts from, or with another application for it still open (one at a time; the
    authority's own revocation is never held up by one). A clear message naming the field
    `licence_no`."""
    action = action_of(item.entry or {})
    if action is None:
        return
    licence = _licence_of(db, form)
    problem = _problem(db, licence, item.code, action, applicant_name, form, window=True)
    if problem:
        raise InvalidInput(_("licence_no: %(problem)s", problem=problem))


def _open_case(db: Session, licence: Licence, terms: Terms) -> str:
    """The problem of a second application for a licence: another case of one of its
    actions (change, renewal, revocation, cancellation) still open names it."""
    from ..cases.models import Case
    from ..cases.status import OPEN_CASE_STATUSES
    from ..catalogue.models import Item

    codes = sorted(set(terms.actions.values()))
    open_no = db.scalar(
        sa.select(Case.case_no).join(Item, Item.id == Case.item_id)
        .where(Item.code.in_(codes), Case.status.in_(OPEN_CASE_STATUSES),
               Case.form["licence_no"].as_string() == licence.number)
        .order_by(Case.id).limit(1)
    )  # fmt: skip
    if open_no is None:
        return ""
    return _("licence %(number)s already has an open case %(case_no)s: a new application "
             "for it can be made once that case is decided",
             number=licence.number, case_no=open_no)  # fmt: skip


def _problem(db: Session, licence: Licence | None, item_code: str, action: str,
             holder: str, form: dict, window: bool = False) -> str:  # fmt: skip
    """What stands in the way of the action on the licence, or "". At the window (`window`)
    also another application of the holder still open (never for the revocation)."""
    from ..catalogue.models import Item

    number = str(form.get("licence_no") or "").strip()
    if licence is None:
        return _("there is no licence numbered %(number)s in the registry", number=number)
    terms = Terms.of(db.scalar(sa.select(Item.entry).where(Item.id == licence.item_id)) or {})
    if terms.actions.get(action) != item_code:
        return _("licence %(number)s is not of an item this application handles",
                 number=number)  # fmt: skip
    if licence.holder_name.strip() != (holder or "").strip():
        return _("licence %(number)s is held by someone else than the applicant", number=number)
    if licence.status not in FROM[action]:
        return _("licence %(number)s is %(status)s: it cannot be %(action)s",
                 number=number, status=status_name(licence.status), action=action_name(action))
    if action == "change" and not str(form.get("changed_content") or "").strip():
        return _("a change needs the changed content (changed_content)")
    if action == "renewal" and (licence.valid_until is None or not terms.valid_months):
        return _("licence %(number)s has no term to renew", number=number)
    if window and action != "revocation":
        return _open_case(db, licence, terms)
    return ""


def checked(db: Session, granted: Granted, action: str, approved: bool) -> Licence | None:
    """The licence a decided licence case applies to, locked, read before anything of the
    decision is written. An approval for a licence that is no longer what the application
    was accepted for stops the case (fault), so it is never half-applied; a denial changes
    nothing and only enters the history of the licence, if it still exists."""
    from ..catalogue.models import Item

    licence = _licence_of(db, granted.form, lock=True)
    if not approved:
        return licence
    item_code = db.scalar(sa.select(Item.code).where(Item.id == granted.item_id))
    problem = _problem(db, licence, item_code, action, granted.holder_name, granted.form)
    problem = problem or _acted_on_meanwhile(db, licence, granted)
    if problem:
        raise WorkflowFault(problem, code="licence")
    return licence


def _acted_on_meanwhile(db: Session, licence: Licence, granted: Granted) -> str:
    """The problem of an approval for a licence another case changed (renewed, replaced,
    revoked, cancelled) after this application came in: two renewals decided one after
    the other would otherwise run the term on twice. The licence is locked: read once."""
    from ..cases.models import Case

    if granted.received_at is None:
        return ""
    other = db.execute(
        sa.select(Case.case_no, LicenceEvent.kind).join(Case, Case.id == LicenceEvent.case_id)
        .where(LicenceEvent.licence_id == licence.id, LicenceEvent.kind.in_(tuple(_DONE.values())),
               LicenceEvent.case_id != granted.case_id, LicenceEvent.at > granted.received_at)
        .order_by(LicenceEvent.at).limit(1)
    ).first()  # fmt: skip
    if other is None:
        return ""
    action = next(a for a, done in _DONE.items() if done == other.kind)
    return _("licence %(number)s was %(done)s by case %(case_no)s after this application came "
             "in", number=licence.number, done=action_name(action),
             case_no=other.case_no)  # fmt: skip


def apply_action(db: Session, licence: Licence, granted: Granted, action: str,
                 approved: bool, at: dt.datetime, events) -> None:  # fmt: skip
    """Apply a decided licence case to its licence (`checked` first). A denial only enters
    the licence's history."""
    from ..catalogue.models import Item

    if not approved:
        _history(db, licence.id, f"{action}_denied", granted.case_id, at, {})
        events.add("licence_unchanged", {"number": licence.number, "action": action})
        return
    data: dict = {"from": licence.status}
    if action == "renewal":
        terms = Terms.of(db.scalar(sa.select(Item.entry).where(Item.id == licence.item_id)))
        until = term_end(licence.valid_until + dt.timedelta(days=1), terms.valid_months)
        data.update(before=licence.valid_until.isoformat(), valid_until=until.isoformat())
        licence.valid_until, licence.reminded_at = until, None
        licence.remind_on = remind_day(until, terms)
    elif action == "change":
        data["replaced_by"] = _replace(db, licence, granted, at, events)
    licence.status, licence.status_at = RESULT[action], at
    _history(db, licence.id, _DONE[action], granted.case_id, at, data)
    events.add(f"licence_{_DONE[action]}", {"number": licence.number, **data})
    db.flush()


_DONE = {"renewal": "renewed", "change": "changed", "revocation": "revoked",
         "cancellation": "cancelled"}  # fmt: skip


def _replace(db: Session, old: Licence, granted: Granted, at: dt.datetime, events) -> str:
    """The changed licence: a new number, the changed content, the rest of the old term."""
    from ..org.models import Department

    authority = db.get(Department, old.authority_id)
    day = local_date(at)
    seq = next_numbers(db, [(authority.id, LICENCE)], day.year)[(authority.id, LICENCE)]
    new = Licence(
        number=licence_number(authority.number_prefix or authority.name, day.year, seq),
        code=new_code(), authority_id=old.authority_id, item_id=old.item_id,
        case_id=granted.case_id, year=day.year, seq=seq, holder_name=old.holder_name,
        holder_user_id=old.holder_user_id, title=old.title, matter=old.matter,
        content=str(granted.form.get("changed_content")).strip(), conditions=old.conditions,
        issued_on=day, valid_until=old.valid_until, status=IN_FORCE, status_at=at,
        remind_on=old.remind_on, reminded_at=old.reminded_at, created_at=at,
    )  # fmt: skip
    db.add(new)
    db.flush()
    old.replaced_by_id = new.id
    events.add("licence_issued", {"number": new.number, "code": new.code, "replaces": old.number})
    return new.number


def _history(db: Session, licence_id: int, kind: str, case_id: int | None, at: dt.datetime,
             data: dict) -> None:  # fmt: skip
    db.execute(sa.insert(LicenceEvent).values(licence_id=licence_id, at=at, kind=kind,
                                              case_id=case_id, data=data))  # fmt: skip


def status_name(status: str) -> str:
    return {
        "in_force": _("in force"), "expiring": _("in force, expiring soon"),
        "expired": _("expired"), "changed": _("changed (replaced)"), "revoked": _("revoked"),
        "cancelled": _("cancelled"),
    }.get(status, status)  # fmt: skip


def action_name(action: str) -> str:
    return {"renewal": _("renewed"), "change": _("changed"), "revocation": _("revoked"),
            "cancellation": _("cancelled")}.get(action, action)  # fmt: skip


def shown_status(licence, today: dt.date) -> str:
    """The status a person reads: `expiring` for a licence in force whose reminder period
    has begun, `expired` for one past its term the round has not marked yet."""
    if licence.status != IN_FORCE:
        return licence.status
    if licence.valid_until is not None and licence.valid_until < today:
        return "expired"
    if licence.remind_on is not None and licence.remind_on <= today:
        return "expiring"
    return IN_FORCE
