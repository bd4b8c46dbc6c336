"""Generate real demo cases through the services (no HTTP): random items, forms and outcomes.

Every case is received at the window and worked to its end (or left open part way) by the
officials its tasks are assigned to, choosing approve, return or reject at random where the
stage allows it, so the cases take every path of the demo diagrams.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from app.cases import services as cases
from app.cases.models import Case, Task
from app.db import session
from app.org.models import User
from tests.apiclient import required_materials, sample_form

FORMS = {
    "house-cancellation": lambda r: {},
    "house-initial": lambda r: {"certificates": r.choice([3, 12, 30, 45, 120])},
    "planning-permit": lambda r: {"floor_area": r.choice([800, 5000, 25000])},
    "joint-investment": lambda r: {},
}


_NUMBERS = itertools.count(1)


def _value(field: dict, rnd: random.Random):
    kind = field.get("type")
    if kind == "long":
        return rnd.randint(1, 50)
    if kind == "boolean":
        return True
    if kind == "enum":
        return field["options"][0]["id"]
    if kind == "date":
        return "2026-11-20"
    if field.get("id", "").endswith("_no"):  # a document number is given once: a fresh one
        return f"测试〔2026〕{next(_NUMBERS)}号"
    return "同意"


def generate(
    app,
    count: int,
    seed: int = 7,
    finish: float = 1.0,
    items: Sequence[str] | None = None,
    before_step: Callable[[random.Random], None] | None = None,
) -> list[str]:
    """Create `count` cases and work them; return their case numbers.

    `finish` is the share of cases worked to their end; the rest stop after a few steps.
    `items` limits the item codes; `before_step` runs before every receipt and completion
    (a test moves its clock there).
    """
    step = before_step or (lambda _rnd: None)
    rnd = random.Random(seed)
    out = []
    with app.app_context():
        db = session()
        users = {u.id: u for u in db.scalars(sa.select(User))}
        clerk = next(u for u in users.values() if u.username == "clerk_liu")
        for n in range(count):
            code = rnd.choice(sorted(items or FORMS))
            form = sample_form(code, **FORMS[code](rnd))
            applicant = cases.Applicant(name=f"申请人{n}", id_number=f"3301021990{n:08d}",
                                        phone="13800000000")  # fmt: skip
            step(rnd)
            received = cases.receive_case(clerk, code, applicant, required_materials(code), form)
            case_no = received.subject.case_no
            out.append(case_no)
            steps_left = 40 if rnd.random() < finish else rnd.randint(0, 3)
            returns = 0
            while steps_left > 0:
                steps_left -= 1
                case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
                task = db.scalars(
                    sa.select(Task).where(Task.case_id == case_id, Task.state == "open")
                    .order_by(Task.created_at, Task.name).limit(1)
                ).first()  # fmt: skip
                if task is None or task.assignee_id is None:
                    break
                outcomes = task.outcomes.split(",")
                pick = "approve"
                roll = rnd.random()
                if "reject" in outcomes and roll < 0.12:
                    pick = "reject"
                elif "return" in outcomes and roll < 0.3 and returns < 2:
                    pick = "return"
                    returns += 1
                fields = cases.open_task(users[task.assignee_id], task.id).fields
                data = {f["id"]: _value(f, rnd) for f in fields}
                comment, basis = "同意", ""
                if pick == "reject":
                    comment = "不符合法定条件"
                    basis = "《中华人民共和国行政许可法》第三十八条"
                elif pick == "return":
                    comment = "材料需补充说明"
                step(rnd)
                cases.complete_task(users[task.assignee_id], task.id, pick, comment, data, basis)
                db.expire_all()
    return out


def item_codes() -> list[str]:
    """Return the demo item codes."""
    return sorted(FORMS)
