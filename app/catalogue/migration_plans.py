"""Plans that move an item's running cases to another deployed version (issue 22).

An analyst (or admin) makes a plan: the version the cases run on, the target version, a
mapping of the source's open elements to the target's (renamed or removed stages), and
defaults for data the target reads that the cases lack. Making it is the dry run: every
running case on the source version is worked out on a copy of its workflow
(app/cases/moving.py `plan_case`), and the plan keeps which cases would move where and
which cannot and why. Nothing of a case is written.

A second person approves it: a leader who heads the item's licensing authority, or an
admin, never the one who made it. Approval starts the run in the background: each case is
moved in its own transaction (`move_case`), worked out again on its state at that moment;
a case that cannot move then stays and its reasons are kept. The plan keeps every outcome,
and each moved case's chain has its `case_migrated` event naming the plan, for
supervision. A leader may decline a plan instead, with a reason.

Plans are read by analysts, leaders, supervisors, auditors and admins; roles are checked
before anything is looked up, the approver's headship after the plan is read.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column

from ..cases.access import heads_item
from ..cases.models import Case
from ..cases.moving import move_case, plan_case
from ..cases.runtime import runtime
from ..cases.status import WORKING_STATUSES
from ..db import Base, session, utcnow
from ..errors import AppError, Conflict, Forbidden, InvalidInput, NotFound
from ..org.models import User
from ..org.queries import post_names
from .models import DiagramVersion, Item, version_numbers

log = logging.getLogger("onewindow.migration")
MAX_CASES = 5000  # cases one plan works out while the analyst waits
READERS = ("analyst", "leader", "supervisor", "auditor", "admin")
# planned -> approved -> running -> done | failed; planned -> declined
OPEN_STATUSES = ("planned", "approved", "running")


class MigrationPlan(Base):
    """One plan to move running cases between two versions, its dry run and its outcome."""

    __tablename__ = "migration_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), index=True)
    source_version_id: Mapped[int] = mapped_column(sa.ForeignKey("diagram_versions.id"))
    target_version_id: Mapped[int] = mapped_column(sa.ForeignKey("diagram_versions.id"))
    mapping: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    defaults: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default="planned")
    planned_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    planned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(sa.Text)
    cases: Mapped[list] = mapped_column(sa.JSON, default=list)  # the dry run, per case
    results: Mapped[list] = mapped_column(sa.JSON, default=list)  # the run, per case
    done: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(sa.Text)


def _require(actor: User, roles: tuple[str, ...], why: str) -> None:
    if not actor.has_role(*roles):
        raise Forbidden(why)


def _version(item: Item, number: Any, name: str) -> DiagramVersion:
    if isinstance(number, str) and number.startswith("v"):
        number = number[1:]
    try:
        if isinstance(number, bool | float):
            raise TypeError
        number = int(number)
    except (TypeError, ValueError):
        raise InvalidInput(_("'%(name)s' must be a deployed version number such as 2",
                             name=name)) from None  # fmt: skip
    found = session().scalars(sa.select(DiagramVersion).where(
        DiagramVersion.item_id == item.id, DiagramVersion.version == number)).first()  # fmt: skip
    if found is None:
        raise InvalidInput(_("'%(name)s': item %(code)s has no version %(v)s", name=name,
                             code=item.code, v=number))  # fmt: skip
    return found


def _running_on(item_id: int, version_id: int) -> sa.Select:
    return sa.select(Case.id).where(
        Case.item_id == item_id, Case.diagram_version_id == version_id,
        Case.status.in_(WORKING_STATUSES)).order_by(Case.id)  # fmt: skip


def _check_mapping(mapping: Any, source, target) -> dict[str, str]:
    if mapping in (None, ""):
        return {}
    if not isinstance(mapping, dict):
        raise InvalidInput(_("'mapping' must map element ids of the source to the target's"))
    for key, value in mapping.items():
        if not isinstance(value, str) or key not in source.nodes:
            raise InvalidInput(_("mapping: %(key)s is not an element of the source version",
                                 key=f"`{key}`"))  # fmt: skip
        if value not in target.nodes:
            raise InvalidInput(_("mapping: %(value)s is not an element of the target version",
                                 value=f"`{value}`"))  # fmt: skip
    return dict(mapping)


def _check_defaults(defaults: Any) -> dict:
    if defaults in (None, ""):
        return {}
    if not isinstance(defaults, dict) or not all(
        isinstance(v, str | int | float | bool) or v is None for v in defaults.values()
    ):
        raise InvalidInput(_("'defaults' must map data names to plain values"))
    return dict(defaults)


def make_plan(actor: User, code: str, target: Any, source: Any = None, mapping: Any = None,
              defaults: Any = None) -> MigrationPlan:  # fmt: skip
    """Work out a plan over the running cases of an item on `source` (the dry run)."""
    _require(actor, ("analyst", "admin"), _("migration plans are made by process analysts and "
                                            "admins"))  # fmt: skip
    db = session()
    item = db.scalars(sa.select(Item).where(Item.code == code)).first()
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    to = _version(item, target, "target")
    if source in (None, ""):
        on = db.scalars(sa.select(Case.diagram_version_id).distinct().where(
            Case.item_id == item.id, Case.status.in_(WORKING_STATUSES),
            Case.diagram_version_id != to.id)).all()  # fmt: skip
        if len(on) != 1:
            raise InvalidInput(_("give the version the cases run on: they run on several"))
        frm = db.get(DiagramVersion, on[0])
    else:
        frm = _version(item, source, "source")
    if frm.id == to.id:
        raise InvalidInput(_("the source and the target are the same version"))
    rt = runtime()
    mapping = _check_mapping(mapping, rt.diagram(db, frm.id), rt.diagram(db, to.id))
    defaults = _check_defaults(defaults)
    case_ids = db.scalars(_running_on(item.id, frm.id).limit(MAX_CASES + 1)).all()
    if len(case_ids) > MAX_CASES:
        raise InvalidInput(_("more than %(n)s running cases: plan them in parts", n=MAX_CASES))
    lines = [plan_case(cid, frm.id, to.id, mapping, defaults).as_dict() for cid in case_ids]
    plan = MigrationPlan(item_id=item.id, source_version_id=frm.id, target_version_id=to.id,
                         mapping=mapping, defaults=defaults, planned_by_id=actor.id,
                         cases=lines)  # fmt: skip
    db.add(plan)
    db.commit()
    return plan


def get_plan(actor: User, plan_id: int) -> MigrationPlan:
    _require(actor, READERS, _("migration plans are read by analysts, leaders, supervisors, "
                               "auditors and admins"))  # fmt: skip
    plan = session().get(MigrationPlan, plan_id)
    if plan is None:
        raise NotFound(_("no migration plan %(plan)s", plan=plan_id))
    return plan


def plans_of(actor: User, code: str) -> list[MigrationPlan]:
    _require(actor, READERS, _("migration plans are read by analysts, leaders, supervisors, "
                               "auditors and admins"))  # fmt: skip
    db = session()
    item = db.scalars(sa.select(Item).where(Item.code == code)).first()
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    return list(db.scalars(sa.select(MigrationPlan).where(MigrationPlan.item_id == item.id)
                           .order_by(MigrationPlan.id.desc()).limit(50)))  # fmt: skip


def may_decide(actor: User, plan: MigrationPlan) -> bool:
    """Whether `actor` may approve or decline the plan now (for showing the buttons)."""
    if plan.status != "planned" or plan.planned_by_id == actor.id:
        return False
    return actor.has_role("admin") or heads_item(actor, session().get(Item, plan.item_id))


def plans_waiting(actor: User) -> list[MigrationPlan]:
    """Plans waiting for approval that `actor` may decide (every item's), oldest first."""
    _require(actor, ("leader", "admin"), _("a leader or an admin approves migration plans"))
    plans = session().scalars(sa.select(MigrationPlan).where(MigrationPlan.status == "planned")
                              .order_by(MigrationPlan.id).limit(200))  # fmt: skip
    return [p for p in plans if may_decide(actor, p)]


def _decider(actor: User, plan_id: int) -> MigrationPlan:
    """The plan, for a second person who may decide it (checked before and after reading)."""
    _require(actor, ("leader", "admin"), _("a leader or an admin approves migration plans"))
    plan = session().get(MigrationPlan, plan_id)
    if plan is None:
        raise NotFound(_("no migration plan %(plan)s", plan=plan_id))
    if plan.planned_by_id == actor.id:
        raise Forbidden(_("a plan is approved by a second person, not the one who made it"))
    if not actor.has_role("admin") and not heads_item(actor, session().get(Item, plan.item_id)):
        raise Forbidden(_("only a leader of the item's licensing authority approves its plans"))
    if plan.status != "planned":
        raise Conflict(_("the plan is %(status)s, not waiting for approval", status=plan.status))
    return plan


def decline(actor: User, plan_id: int, reason: str) -> MigrationPlan:
    plan = _decider(actor, plan_id)
    if not reason.strip():
        raise InvalidInput(_("give the reason for declining"))
    return _decide(plan, actor, "declined", decline_reason=reason.strip())


def _decide(plan: MigrationPlan, actor: User, status: str, **values) -> MigrationPlan:
    """Record the decision if the plan still waits for one: two people deciding at once
    cannot both (the second is told the plan's new state)."""
    db = session()
    decided = db.execute(
        sa.update(MigrationPlan)
        .where(MigrationPlan.id == plan.id, MigrationPlan.status == "planned")
        .values(status=status, decided_by_id=actor.id, decided_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    db.commit()
    db.refresh(plan)
    if decided.rowcount != 1:
        raise Conflict(_("the plan is %(status)s, not waiting for approval", status=plan.status))
    return plan


def approve(actor: User, plan_id: int, wait: bool = False) -> MigrationPlan:
    """Approve a plan and start moving its cases (in the background unless `wait`)."""
    db = session()
    plan = _decide(_decider(actor, plan_id), actor, "approved")
    app = current_app._get_current_object()
    if wait:
        _run(app, plan.id)
        db.refresh(plan)
    else:
        threading.Thread(target=_run, args=(app, plan.id), name=f"ow-migrate-{plan.id}",
                         daemon=True).start()  # fmt: skip
    return plan


def _run(app: Flask, plan_id: int) -> None:
    """Move every running case still on the plan's source version (its dry run's cases: new
    cases start on the newest version), one transaction each."""
    with app.app_context():
        db = session()
        plan = db.get(MigrationPlan, plan_id)
        approver = db.get(User, plan.decided_by_id)
        plan.status = "running"
        db.commit()
        args = (plan.source_version_id, plan.target_version_id, plan.mapping, plan.defaults)
        results: list[dict] = []
        try:
            for case_id in db.scalars(_running_on(plan.item_id, plan.source_version_id)).all():
                try:
                    outcome = move_case(approver, case_id, *args, plan_id=plan_id).as_dict()
                except AppError as exc:  # this case refused (e.g. lost every race): it stays
                    number = db.scalar(sa.select(Case.case_no).where(Case.id == case_id))
                    outcome = {"case_no": number, "movable": False, "reasons": [exc.message],
                               "moves": [], "defaults": {}}  # fmt: skip
                outcome["moved"] = outcome.pop("movable")
                results.append(outcome)
                db.execute(sa.update(MigrationPlan).where(MigrationPlan.id == plan_id)
                           .values(done=len(results), results=list(results)))  # fmt: skip
                db.commit()
            status, error = "done", None
        except Exception:  # the database gone, a bug: logged; the moved cases stay moved
            log.exception("migration plan %s stopped", plan_id)
            db.rollback()
            status, error = "failed", _("the moves stopped on an internal error; the service "
                                        "log has the details")  # fmt: skip
        db.execute(sa.update(MigrationPlan).where(MigrationPlan.id == plan_id)
                   .values(status=status, error=error, finished_at=utcnow(),
                           results=results, done=len(results)))  # fmt: skip
        db.commit()


def _when(at: dt.datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") + "Z" if at else None


def plan_json(plan: MigrationPlan) -> dict:
    """A plan as the API answers it: what was asked, the dry run, who decided, the outcome."""
    db = session()
    numbers = version_numbers(db, (plan.source_version_id, plan.target_version_id))
    deciders = [i for i in (plan.planned_by_id, plan.decided_by_id) if i]
    people = dict(db.execute(sa.select(User.id, User.name).where(User.id.in_(deciders))).all())
    movable = sum(1 for c in plan.cases if c["movable"])
    item = db.get(Item, plan.item_id)
    return {
        "plan": plan.id, "item": item.code, "item_name": item.name,
        "source": numbers.get(plan.source_version_id),
        "target": numbers.get(plan.target_version_id),
        "mapping": plan.mapping, "defaults": plan.defaults, "status": plan.status,
        "planned_by": people.get(plan.planned_by_id), "planned_at": _when(plan.planned_at),
        "decided_by": people.get(plan.decided_by_id), "decided_at": _when(plan.decided_at),
        "decline_reason": plan.decline_reason,
        "summary": {"cases": len(plan.cases), "movable": movable,
                    "refused": len(plan.cases) - movable,
                    "moved": sum(1 for r in plan.results if r.get("moved")),
                    "stayed": sum(1 for r in plan.results if not r.get("moved")),
                    "done": plan.done},
        "cases": plan.cases, "results": plan.results, "error": plan.error,
        "posts": post_names(),  # the posts' names by code, for the pages
    }  # fmt: skip
