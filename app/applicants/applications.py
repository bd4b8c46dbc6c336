"""Online applications: the applicant fills in the form and uploads materials; a clerk
pre-reviews (预审) and asks once for everything missing (一次性告知), invites the applicant
to the window, or accepts the application as a case.

The Licensing Law (art. 32) gives five working days to tell an applicant what is missing;
`review_due_at` holds that limit and the clerks' list shows it. Past it, the application
is deemed accepted as of its receipt (app/applicants/deemed.py): the scheduler registers
it (`scan_deemed`), and the clerk can no longer ask for supplements.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import BinaryIO

import sqlalchemy as sa
from flask_babel import gettext as _

from ..calendar.services import calendar
from ..cases import services as cases
from ..cases.models import Case
from ..cases.status import awaits_supplement
from ..catalogue.models import Item
from ..catalogue.services import materials_of
from ..clock import local_date
from ..db import on_rollback, session, transactional, utcnow
from ..errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from ..licences import registry
from ..org.models import User
from ..supervision.models import Notification
from . import deemed, uploads
from .models import OnlineApplication, Upload

REVIEW_DAYS = deemed.REVIEW_DAYS
log = logging.getLogger("onewindow.applicants")
CHANGEABLE = ("draft", "supplement_required")  # the applicant adds materials and hands in
STAFF_READERS = ("clerk", "supervisor", "auditor", "admin")


def item_to_apply(code: str) -> Item | None:
    """Return the active item with this code (None if there is none, or if the authority
    starts its cases of its own motion: a licence's revocation)."""
    item = session().scalars(sa.select(Item).where(Item.code == code, Item.active)).first()
    return None if item is None or (item.entry or {}).get("ex_officio") else item


def _item(code: str) -> Item:
    item = item_to_apply(code)
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    return item


def item_of(app: OnlineApplication) -> Item:
    """Return the item an application is made for."""
    return session().get(Item, app.item_id)


def case_of(app: OnlineApplication) -> Case | None:
    """Return the case an accepted application became (None before)."""
    return session().get(Case, app.case_id) if app.case_id else None


def _log(app: OnlineApplication, actor: User, what: str, note: str = "") -> None:
    entry = {"at": utcnow().isoformat(timespec="seconds"), "who": actor.username,
             "name": actor.name, "what": what, "note": note}  # fmt: skip
    app.history = [*(app.history or []), entry]


def get(actor: User, number: str, for_update: bool = False) -> OnlineApplication:
    """Return an application its applicant or window staff may see; 404 for anyone else."""
    query = sa.select(OnlineApplication).where(OnlineApplication.number == number)
    app = session().scalars(query.with_for_update() if for_update else query).first()
    if app is None or not (app.applicant_user_id == actor.id or actor.has_role(*STAFF_READERS)):
        raise NotFound(_("there is no such application"))
    return app


def upload_of(actor: User, number: str, upload_id: int) -> Upload | None:
    """Return a file of an application the actor may see (None if it is not one of its)."""
    app = get(actor, number)
    row = session().get(Upload, upload_id)
    return row if row is not None and row.application_id == app.id else None


def current_uploads(app_id: int) -> list[Upload]:
    return list(session().scalars(
        sa.select(Upload).where(Upload.application_id == app_id, Upload.replaced_at.is_(None))
        .order_by(Upload.material_code, Upload.uploaded_at)
    ))  # fmt: skip


def mine(actor: User) -> list[tuple[OnlineApplication, Item, Case | None]]:
    """Return the actor's applications, newest first, with their item and case."""
    rows = session().execute(
        sa.select(OnlineApplication, Item, Case)
        .join(Item, Item.id == OnlineApplication.item_id)
        .outerjoin(Case, Case.id == OnlineApplication.case_id)
        .where(OnlineApplication.applicant_user_id == actor.id)
        .order_by(OnlineApplication.id.desc())
    ).all()  # fmt: skip
    return [(r.OnlineApplication, r.Item, r.Case) for r in rows]


def waiting_review() -> list[tuple[OnlineApplication, Item]]:
    """Return applications waiting for a clerk, the oldest review deadline first."""
    rows = session().execute(
        sa.select(OnlineApplication, Item).join(Item, Item.id == OnlineApplication.item_id)
        .where(OnlineApplication.status.in_(("submitted", "supplement_required", "invited")))
        .order_by(OnlineApplication.review_due_at)
    ).all()  # fmt: skip
    return [(r.OnlineApplication, r.Item) for r in rows]


@transactional
def start(actor: User, item_code: str, form: dict) -> OnlineApplication:
    """Open a draft application of an item with its form filled in (checked)."""
    if not actor.has_role("applicant"):
        raise Forbidden(_("only applicants apply online"))
    if not (actor.id_number or "").strip():
        raise InvalidInput(_("your account has no ID number; add it before applying"))
    item = _item(item_code)
    clean = cases.check_form(item.entry.get("form", []), form or {}, "application form")
    # a licence's renewal, change or cancellation: the licence is the applicant's, in force
    registry.check_application(session(), item, clean, actor.name)
    now = utcnow()
    app = OnlineApplication(
        number=f"WS{local_date(now):%Y%m%d}{secrets.randbelow(10**6):06d}", item_id=item.id,
        applicant_user_id=actor.id, applicant_name=actor.name,
        applicant_id_number=actor.id_number, applicant_phone=actor.phone, form=clean,
        status="draft", submitted_at=now, review_due_at=now, missing=[], history=[],
    )  # fmt: skip
    _log(app, actor, "draft")
    session().add(app)
    session().flush()
    return app


def may_change(actor: User, app: OnlineApplication) -> bool:
    """The applicant adds materials to a draft, or when supplements are asked for."""
    return app.applicant_user_id == actor.id and app.status in CHANGEABLE


def _own(actor: User, number: str) -> OnlineApplication:
    app = get(actor, number, for_update=True)
    if app.applicant_user_id != actor.id:
        raise Forbidden(_("only the applicant changes an application"))
    return app


@transactional
def attach(actor: User, number: str, material_code: str, stream: BinaryIO,
           filename: str | None) -> Upload:  # fmt: skip
    """Store a material file for a draft or for a supplement; it replaces an older one."""
    app = _own(actor, number)
    if app.status not in CHANGEABLE:
        raise Conflict(_("materials can be added to a draft or when supplements are asked for"))
    names = {m["code"]: m["name"] for m in materials_of(item_of(app))}
    if material_code not in names:
        raise InvalidInput(_(
            "'%(material_code)s' is not a material of this item",
            material_code=material_code,
        ),
                           field="material")  # fmt: skip
    stored = uploads.store(stream, filename)
    on_rollback(lambda: uploads.discard(stored.stored_name))
    now = utcnow()
    session().execute(
        sa.update(Upload)
        .where(Upload.application_id == app.id, Upload.material_code == material_code,
               Upload.replaced_at.is_(None))
        .values(replaced_at=now)
    )  # fmt: skip
    row = Upload(application_id=app.id, material_code=material_code,
                 filename=stored.filename, stored_name=stored.stored_name,
                 content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
                 scan=stored.scan, uploaded_at=now)  # fmt: skip
    session().add(row)
    _log(app, actor, "uploaded", f"{names[material_code]}: {stored.filename}")
    return row


def missing_required(app: OnlineApplication) -> list[dict]:
    """Return the item's required materials the application has no current upload of."""
    have = {up.material_code for up in current_uploads(app.id)}
    return [m for m in materials_of(item_of(app))
            if m.get("required", True) and m["code"] not in have]  # fmt: skip


@transactional
def submit(actor: User, number: str, missing_confirmed: bool = False) -> OnlineApplication:
    """Hand the application in for pre-review (again, after supplements). With a required
    material missing it is refused, naming them, unless the applicant has confirmed handing
    it in so (the window then asks for them once, within five working days)."""
    app = _own(actor, number)
    if app.status not in CHANGEABLE:
        raise Conflict(_("this application has been handed in already"))
    if not current_uploads(app.id):
        raise InvalidInput(_("upload at least one material before handing in"))
    missing = missing_required(app)
    if missing and not missing_confirmed:
        raise InvalidInput(
            _("required materials are not uploaded: %(list)s; upload them, or confirm that "
              "you hand the application in without them",
              list="、".join(m["name"] for m in missing)),
            field="confirm_missing", missing=[m["code"] for m in missing],
        )  # fmt: skip
    now = utcnow()
    again = app.status == "supplement_required"
    app.status, app.submitted_at = "submitted", now
    app.review_due_at = deemed.review_due(now)
    _log(app, actor, "resubmitted" if again else "submitted")
    return app


@transactional
def withdraw(actor: User, number: str) -> OnlineApplication:
    app = _own(actor, number)
    if app.status in ("accepted", "withdrawn"):
        raise Conflict(_("this application cannot be withdrawn any more"))
    app.status = "withdrawn"
    _log(app, actor, "withdrawn")
    return app


def _for_review(actor: User, number: str) -> tuple[OnlineApplication, Item]:
    if not actor.has_role("clerk"):
        raise Forbidden(_("only window clerks pre-review applications"))
    app = get(actor, number, for_update=True)
    if app.status != "submitted":
        raise Conflict(_("this application is not waiting for a pre-review"))
    return app, item_of(app)


def deemed_message(app: OnlineApplication) -> str:
    """Why the window can no longer send an application back (the page says it first)."""
    return _(
        "Not told within five working days what was missing, this application is deemed "
        "accepted as of %(day)s, the day its materials were received (Licensing Law art. 32): "
        "it can no longer be sent back for supplements or to the window.",
        day=deemed.received_day(app).isoformat(),
    )


def _still_open(app: OnlineApplication) -> None:
    """Refuse a one-time notice or an invitation once the five working days have passed."""
    if deemed.is_due(app, utcnow()):
        raise Conflict(deemed_message(app))


def _tell(user_id: int, kind: str, text: str, case_id: int | None = None) -> None:
    session().add(Notification(user_id=user_id, kind=kind, text=text, case_id=case_id,
                               created_at=utcnow()))  # fmt: skip


@transactional
def request_supplements(actor: User, number: str, codes: list[str], note: str) -> OnlineApplication:
    """Tell the applicant, at once, every material that is missing or unusable."""
    app, item = _for_review(actor, number)
    _still_open(app)
    names = {m["code"]: m["name"] for m in materials_of(item)}
    unknown = sorted(set(codes) - set(names))
    if unknown:
        raise InvalidInput(
            _(
                "unknown material codes: %(items)s",
                items=", ".join(unknown),
            ),
            field="missing",
        )
    if not codes:
        raise InvalidInput(_("name at least one missing material"), field="missing")
    order = [m["code"] for m in materials_of(item)]
    app.missing = [{"code": c, "name": names[c]} for c in order if c in set(codes)]
    app.status, app.review_note = "supplement_required", (note or "").strip() or None
    app.reviewed_by_id, app.reviewed_at = actor.id, utcnow()
    listed = "、".join(m["name"] for m in app.missing)
    _log(app, actor, "supplements requested", listed)
    _tell(app.applicant_user_id, "supplement", f"{app.number}: 请补正材料：{listed}")
    return app


@transactional
def invite(actor: User, number: str, note: str) -> OnlineApplication:
    """Ask the applicant to come to the window (with the originals)."""
    app, _item_row = _for_review(actor, number)
    _still_open(app)
    if not (note or "").strip():
        raise InvalidInput(_("say what to bring and when"), field="note")
    app.status, app.review_note = "invited", note.strip()
    app.reviewed_by_id, app.reviewed_at = actor.id, utcnow()
    _log(app, actor, "invited to the window", note.strip())
    _tell(app.applicant_user_id, "invitation", f"{app.number}: {note.strip()}")
    return app


def _register(actor, app: OnlineApplication, item: Item, deem: bool = False) -> Case:
    """Register and accept the application as a case through the window's intake path
    (receive_case's own body, without its transaction, so both rows commit together);
    deemed accepted, as of its receipt and whatever is missing."""
    have = sorted({u.material_code for u in current_uploads(app.id)})
    applicant = cases.Applicant(app.applicant_name, app.applicant_id_number, app.applicant_phone)
    outcome = cases.receive_case.__wrapped__(
        actor, item.code, applicant, have, dict(app.form), applicant_user_id=app.applicant_user_id,
        deemed=(app.submitted_at, deemed.event_data(app)) if deem else None,
    )  # fmt: skip
    case = outcome.subject
    if awaits_supplement(case):
        missing = "、".join(m["name"] for m in case.missing_materials)
        raise InvalidInput(_(
            "required materials are missing: %(missing)s; ask for them first",
            missing=missing,
        ),
                           field="missing")  # fmt: skip
    app.status, app.case_id = "accepted", case.id
    app.reviewed_by_id, app.reviewed_at = (None if deem else actor.id), utcnow()
    return case


@transactional
def accept(actor: User, number: str) -> Case:
    """Accept the application: register and accept it as a case, in this transaction.

    Past the five working days it is deemed accepted instead (as the scheduler would)."""
    app, item = _for_review(actor, number)
    if deemed.is_due(app, utcnow()):
        return _deem(app, item)
    case = _register(actor, app, item)
    _log(app, actor, "accepted", case.case_no)
    _tell(
        app.applicant_user_id,
        "accepted",
        f"{app.number}: 已受理，办件编号 {case.case_no}，查询码 {case.query_code}",
        case.id,
    )
    return case


def _deem(app: OnlineApplication, item: Item) -> Case:
    """Register an application deemed accepted, by the system account, told to the applicant."""
    system = deemed.system_actor()
    case = _register(system, app, item, deem=True)
    day = deemed.received_day(app)
    _log(app, system, "deemed accepted", f"{case.case_no} · {deemed.ARTICLE} · {day}")
    _tell(
        app.applicant_user_id,
        "deemed_accepted",
        f"{app.number}: 窗口未在五个工作日内一次告知需补正的材料，依法视为受理"
        f"（{deemed.ARTICLE}），受理日期为收到材料之日 {day:%Y-%m-%d}；"
        f"办件编号 {case.case_no}，查询码 {case.query_code}",
        case.id,
    )
    return case


def scan_deemed(now: dt.datetime | None = None) -> int:
    """Register every application deemed accepted at `now`; return how many.

    Each in its own transaction, the application row read FOR UPDATE and checked again:
    a second round, a concurrent process or a clerk acting at the same moment finds it no
    longer submitted, and the version-checked write of the row refuses any double."""
    now = now or utcnow()
    db = session()
    due = list(db.scalars(
        sa.select(OnlineApplication.id).where(OnlineApplication.status == "submitted",
                                              OnlineApplication.review_due_at < now)
        .order_by(OnlineApplication.review_due_at)
    ))  # fmt: skip
    db.commit()
    done = 0
    for app_id in due:
        try:
            done += _deem_one(app_id, now)
        except AppError:  # e.g. its item has no diagram: logged, the others go on
            log.exception("application %s could not be deemed accepted", app_id)
    return done


@transactional
def _deem_one(app_id: int, now: dt.datetime) -> bool:
    query = sa.select(OnlineApplication).where(OnlineApplication.id == app_id)
    app = session().scalars(query.with_for_update()).first()
    if app is None or not deemed.is_due(app, now):
        return False
    _deem(app, item_of(app))
    return True


def next_deemed(now: dt.datetime) -> dt.datetime | None:
    """When the next application waiting for a pre-review is deemed accepted."""
    return session().scalar(
        sa.select(sa.func.min(OnlineApplication.review_due_at))
        .where(OnlineApplication.status == "submitted", OnlineApplication.review_due_at >= now)
    )  # fmt: skip


def review_overdue(app: OnlineApplication, now: dt.datetime | None = None) -> bool:
    """Whether the five working days to tell what is missing have passed (it is deemed
    accepted, registered by the next round if not yet)."""
    return deemed.is_due(app, now or utcnow())


def working_days_left(app: OnlineApplication, now: dt.datetime | None = None) -> int | None:
    """Working days after today up to the day a waiting application is deemed accepted
    (at its close of office): 0 on that day, None once it is or when it is not waiting for
    a pre-review."""
    now = now or utcnow()
    if app.status != "submitted" or now > app.review_due_at:
        return None
    cal = calendar()
    day, last = cal.local(now).date(), cal.local(app.review_due_at).date()
    left = 0
    while day < last:
        day += dt.timedelta(days=1)
        left += cal.is_working_day(day)
    return left


def was_deemed(app: OnlineApplication) -> bool:
    """Whether the application was deemed accepted (its history says so)."""
    return any(h.get("what") == "deemed accepted" for h in app.history or [])


def deemed_facts(app: OnlineApplication, now: dt.datetime | None = None) -> dict | None:
    """What the application page says of deemed acceptance: `deemed` (registered so),
    `due` (the five working days have passed; the next round registers it) or `waiting`
    (the local day it will be deemed accepted and the working days left); None otherwise."""
    now = now or utcnow()
    if was_deemed(app):
        return {"state": "deemed", "day": deemed.received_day(app)}
    if deemed.is_due(app, now):
        return {"state": "due", "day": deemed.received_day(app),
                "message": deemed_message(app)}  # fmt: skip
    if app.status == "submitted":
        on = calendar().local(app.review_due_at).date()
        return {"state": "waiting", "on": on, "left": working_days_left(app, now)}
    return None


def deemed_day_of_case(case_id: int) -> dt.date | None:
    """The day a case's online application was deemed accepted from (None if it was not)."""
    app = (
        session()
        .scalars(sa.select(OnlineApplication).where(OnlineApplication.case_id == case_id))
        .first()
    )
    return deemed.received_day(app) if app is not None and was_deemed(app) else None
