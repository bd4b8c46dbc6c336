"""Who decides a case: its licensing authority, and the heads (负责人) who answer for it.

The service centre accepts and delivers; the licensing authority decides (行政许可法 arts.
22–23, 26). An item's authority is the bureau its handling department belongs to: the
department itself or the nearest ancestor of kind `bureau` (a section, 科, is part of its
bureau). A joint item (并联审批, art. 26(2)) is handled under the government of that level
(kind `government`).

The heads of a department are rows of `department_heads`: its principal (rank 0) and its
deputies (rank 1). Art. 42 gives an extension to 本行政机关负责人, the authority's heads, and
for joint handling to 本级人民政府负责人, the government's heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import Department, DepartmentHead, User

AUTHORITY_KINDS = ("bureau", "agency", "government", "centre")


@dataclass(frozen=True)
class Head:
    """One head of a department, as the notices and messages name them."""

    user_id: int
    name: str
    title: str
    rank: int


@dataclass(frozen=True)
class Authority:
    """A department that answers for cases, with its heads (principal first)."""

    id: int
    code: str
    name: str
    kind: str
    heads: tuple[Head, ...]

    def is_head(self, user_id: int) -> bool:
        return any(h.user_id == user_id for h in self.heads)

    def head_names(self) -> str:
        return "、".join(f"{h.title}{h.name}" for h in self.heads)


def _tree(db: Session) -> dict[int, Department]:
    return {d.id: d for d in db.scalars(sa.select(Department))}


def _heads(db: Session, department_id: int) -> tuple[Head, ...]:
    rows = db.execute(
        sa.select(DepartmentHead.user_id, User.name, DepartmentHead.title, DepartmentHead.rank)
        .join(User, User.id == DepartmentHead.user_id)
        .where(DepartmentHead.department_id == department_id, User.active.is_(True))
        .order_by(DepartmentHead.rank, User.id)
    ).all()  # fmt: skip
    return tuple(Head(*row) for row in rows)


def _authority(db: Session, dept: Department) -> Authority:
    return Authority(dept.id, dept.code, dept.name, dept.kind, _heads(db, dept.id))


def authority_of(db: Session, department_id: int) -> Authority:
    """The licensing authority a department belongs to (itself, if it is one)."""
    tree = _tree(db)
    dept = tree[department_id]
    while dept.kind not in AUTHORITY_KINDS and dept.parent_id in tree:
        dept = tree[dept.parent_id]
    return _authority(db, dept)


def government_of(db: Session, department_id: int) -> Authority | None:
    """The government of the department's level: a department of kind `government` in the
    same region (else the only one there is)."""
    tree = _tree(db)
    region = tree[department_id].region_id
    found = [d for d in tree.values() if d.kind == "government"]
    same = [d for d in found if d.region_id == region]
    chosen = (same or found or [None])[0]
    return _authority(db, chosen) if chosen is not None else None


def extension_approvers(db: Session, item) -> Authority | None:
    """Whose heads may extend a case of `item` (art. 42): the government's for a joint item,
    else the item's licensing authority's."""
    if item.kind == "joint":
        return government_of(db, item.department_id)
    return authority_of(db, item.department_id)


def headed_departments(db: Session, user_id: int) -> tuple[set[int], bool]:
    """The departments a user heads with every department under them, and whether one of
    them is a government (whose heads answer for joint cases)."""
    headed = set(db.scalars(sa.select(DepartmentHead.department_id)
                            .where(DepartmentHead.user_id == user_id)))  # fmt: skip
    if not headed:
        return set(), False
    tree = _tree(db)
    government = any(tree[d].kind == "government" for d in headed if d in tree)
    under = set(headed)
    changed = True
    while changed:
        more = {d.id for d in tree.values() if d.parent_id in under} - under
        under |= more
        changed = bool(more)
    return under, government
