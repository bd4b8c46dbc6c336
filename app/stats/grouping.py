"""The rows of a grouping of the register: which row a counted cell (an item, a window
clerk, an official) counts in, and the rows in their order, by item, item kind, department
or region (rolled up their trees, or not), window clerk or official.

Shared by the direct figures (app.stats.queries), the time series and the rollup cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..catalogue.models import ITEM_KINDS, Item
from ..catalogue.stuck import nearest_rank
from ..complaints import figures as complaint_figures
from ..errors import InvalidInput
from ..org.models import Department, Region, User
from .figures import ByDepartment, Cell, Figures, Row, TaskFigures, add_complaints

GROUPINGS = ("total", "item", "kind", "department", "region", "window", "official")
KIND_LABELS = {"immediate": "即办件", "promised": "承诺件", "joint": "联办件", "reported": "上报件"}
TOTAL_LABEL = "合计"
NO_WINDOW = "—"


@dataclass(frozen=True)
class Filters:
    """What the figures are narrowed to: one item, one item kind, one department (with
    every department below it, by the item's department)."""

    item_id: int | None = None
    kind: str | None = None
    department_id: int | None = None
    region_id: int | None = None  # a region and every region below it (by the departments)

    @property
    def by_item(self) -> bool:
        """Whether the filter picks items (complaints belong to no item)."""
        return self.item_id is not None or self.kind is not None


class _Tree:
    """Nodes with a parent (the departments, the regions): each node's children by code."""

    def __init__(self, nodes: dict[int, Any]) -> None:
        self.nodes = nodes
        self.children: dict[int | None, list[int]] = {}
        for node in sorted(nodes.values(), key=lambda n: n.code):
            parent = node.parent_id if node.parent_id in nodes else None
            self.children.setdefault(parent, []).append(node.id)

    def subtree(self, node_id: int) -> set[int]:
        """Return a node and every node below it."""
        found, todo = set(), [node_id]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo += self.children.get(current, [])
        return found

    def chain(self, node_id: int | None) -> list[int]:
        """Return a node and the nodes above it, nearest first (township → … → province)."""
        out: list[int] = []
        while node_id in self.nodes and node_id not in out:
            out.append(node_id)
            node_id = self.nodes[node_id].parent_id
        return out

    def preorder(self) -> list[int]:
        """Return every node, each before the ones below it, siblings by code."""
        out: list[int] = []

        def walk(parent: int | None) -> None:
            for child in self.children.get(parent, []):
                out.append(child)
                walk(child)

        walk(None)
        return out

    def rows(self, shown: set[int]) -> list[tuple[int, str, str, int, int | None]]:
        """(id, code, name, depth, parent) of the shown nodes in order; depth and parent
        count only the shown nodes above."""
        out = []
        for node_id in self.preorder():
            if node_id in shown:
                above = [n for n in self.chain(node_id)[1:] if n in shown]
                n = self.nodes[node_id]
                out.append((n.id, n.code, n.name, len(above), above[0] if above else None))
        return out


class _Org:
    """The catalogue, the department and region trees and the people, read once per
    register."""

    def __init__(self, db: Session) -> None:
        self.items = {i.id: i for i in db.execute(
            sa.select(Item.id, Item.code, Item.name, Item.kind, Item.department_id))}  # fmt: skip
        self.departments = _Tree({d.id: d for d in db.execute(sa.select(
            Department.id, Department.code, Department.name, Department.parent_id,
            Department.region_id))})  # fmt: skip
        self.regions = _Tree({r.id: r for r in db.execute(sa.select(
            Region.id, Region.code, Region.name, Region.level, Region.parent_id))})  # fmt: skip
        self._db = db
        self._users: dict[int, tuple[str, str]] | None = None

    def user(self, user_id: int) -> tuple[str, str]:
        """Return a user's username and name."""
        if self._users is None:
            self._users = {u.id: (u.username, u.name) for u in self._db.execute(
                sa.select(User.id, User.username, User.name))}  # fmt: skip
        return self._users.get(user_id, ("", NO_WINDOW))

    def region_of(self, department_id: int | None) -> int | None:
        """Return the region a department serves in (None if it names none)."""
        found = self.departments.nodes.get(department_id)
        return found.region_id if found is not None else None


class Register:
    """Turns counted cells into the rows of a grouping (shared by the direct figures, the
    time series and the rollup cache)."""

    def __init__(self, db: Session, grouping: str = "total", filters: Filters | None = None,
                 roll_up: bool = True) -> None:  # fmt: skip
        if grouping not in GROUPINGS:
            raise InvalidInput(_(
                "the grouping must be one of %(items)s",
                items=', '.join(GROUPINGS),
            ),
                               field="grouping")  # fmt: skip
        filters = filters or Filters()
        if filters.kind is not None and filters.kind not in ITEM_KINDS:
            raise InvalidInput(
                _(
                    "the kind must be one of %(items)s",
                    items=", ".join(ITEM_KINDS),
                ),
                field="kind",
            )
        self.org = org = _Org(db)
        if filters.department_id is not None and filters.department_id not in org.departments.nodes:
            raise InvalidInput(_("there is no such department"), field="department_id")
        self.grouping, self.filters, self.roll_up = grouping, filters, roll_up
        self.scope = (org.departments.subtree(filters.department_id)
                      if filters.department_id is not None else None)  # fmt: skip
        if filters.region_id is not None and filters.region_id not in org.regions.nodes:
            raise InvalidInput(_("there is no such region"), field="region_id")
        self.region_scope = (org.regions.subtree(filters.region_id)
                             if filters.region_id is not None else None)  # fmt: skip
        self.allowed = {
            i.id for i in self.org.items.values()
            if (filters.item_id is None or i.id == filters.item_id)
            and (filters.kind is None or i.kind == filters.kind)
            and (self.scope is None or i.department_id in self.scope)
            and (self.region_scope is None
                 or self.org.region_of(i.department_id) in self.region_scope)
        }  # fmt: skip

    @property
    def complaints_apply(self) -> bool:
        """Whether the rows carry complaint figures."""
        return self.grouping in ("total", "department") and not self.filters.by_item

    def _departments(self, department_id: int | None) -> list[int]:
        return self._rolled(self.org.departments, department_id, self.scope)

    def _regions(self, region_id: int | None) -> list[int]:
        return self._rolled(self.org.regions, region_id, self.region_scope)

    def _rolled(self, tree: _Tree, node_id: int | None, scope: set[int] | None) -> list[int]:
        """The node and, rolling up, the nodes above it; those in the filter's scope."""
        if node_id is None:
            return []
        keys = tree.chain(node_id) if self.roll_up else [node_id]
        return [k for k in keys if scope is None or k in scope]

    def keys(self, item_id: int, window_id: int, official_id: int = 0) -> list[int | str]:
        """Return the rows a cell counts in."""
        if item_id not in self.allowed:
            return []
        if self.grouping == "total":
            return ["total"]
        if self.grouping == "item":
            return [item_id]
        if self.grouping == "kind":
            return [self.org.items[item_id].kind]
        if self.grouping == "department":
            return list(self._departments(self.org.items[item_id].department_id))
        if self.grouping == "region":
            return list(self._regions(self.org.region_of(self.org.items[item_id].department_id)))
        if self.grouping == "window":
            return [window_id]
        return [official_id]

    def rows(self, cells: dict[Cell, Figures],
             tasks: dict[tuple[int, int, int], TaskFigures] | None = None,
             still_open: dict[Cell, int] | None = None,
             complaints: ByDepartment | None = None) -> list[Row]:  # fmt: skip
        """Return the rows of the grouping, in a fixed order.

        `cells` holds the summable figures (and the days taken) per item and window;
        `tasks` the task figures per item, window and official; `still_open` the open
        snapshot per item and window; `complaints` the complaint figures per department.
        What is None is left None in the rows.
        """
        official = self.grouping == "official"
        figures: dict[int | str, Figures] = {}
        task_rows: dict[int | str, TaskFigures] = {}
        if not official:
            for (item_id, window_id), cell in cells.items():
                for key in self.keys(item_id, window_id):
                    figures.setdefault(key, Figures()).merge(cell)
            for (item_id, window_id), count in (still_open or {}).items():
                for key in self.keys(item_id, window_id):
                    row = figures.setdefault(key, Figures())
                    row.still_open = (row.still_open or 0) + count
        for (item_id, window_id, official_id), cell in (tasks or {}).items():
            for key in self.keys(item_id, window_id, official_id):
                task_rows.setdefault(key, TaskFigures()).merge(cell)
        complained: dict[int | str, complaint_figures.Figures] = {}
        if complaints is not None and self.complaints_apply:
            for department_id, _name, found in complaints:
                keys = (["total"] if self.grouping == "total"
                        else self._departments(department_id))  # fmt: skip
                for key in keys:
                    complained[key] = add_complaints(complained.get(key), found)
        out = []
        for key, code, label, depth, parent in self._skeleton(figures, task_rows, complained):
            row_figures = None
            if not official:
                row_figures = figures.get(key) or Figures()
                if still_open is not None and row_figures.still_open is None:
                    row_figures.still_open = 0
                if row_figures.days_taken:
                    row_figures.days_taken_p90 = int(nearest_rank(row_figures.days_taken, 0.9))
                if complaints is not None and self.complaints_apply:
                    row_figures.complaints = complained.get(key) or complaint_figures.Figures()
            row_tasks = None if tasks is None else task_rows.get(key) or TaskFigures()
            out.append(Row(key, code, label, row_figures, row_tasks, depth, parent))
        return out

    def _skeleton(self, figures: dict, tasks: dict, complained: dict
                  ) -> list[tuple[int | str, str, str, int, int | None]]:  # fmt: skip
        """Return (key, code, label, depth, parent) of every row, in order."""
        org = self.org
        if self.grouping == "total":
            return [("total", "total", TOTAL_LABEL, 0, None)]
        if self.grouping == "item":
            items = sorted((org.items[i] for i in self.allowed), key=lambda i: i.code)
            return [(i.id, i.code, i.name, 0, None) for i in items]
        if self.grouping == "kind":
            kinds = [self.filters.kind] if self.filters.kind else list(ITEM_KINDS)
            return [(k, k, KIND_LABELS.get(k, k), 0, None) for k in kinds]
        if self.grouping == "department":
            shown: set[int] = set()
            for department_id in [org.items[i].department_id for i in self.allowed] + [
                k for k in complained if isinstance(k, int)
            ]:
                shown.update(self._departments(department_id))
            return org.departments.rows(shown)
        if self.grouping == "region":
            shown = {
                r
                for i in self.allowed
                for r in self._regions(org.region_of(org.items[i].department_id))
            }
            return org.regions.rows(shown)
        people = set(tasks) if self.grouping == "official" else set(figures)
        ordered = sorted(people, key=lambda u: (u == 0, org.user(u)[0], u))
        return [(u, org.user(u)[0], org.user(u)[1] if u else NO_WINDOW, 0, None)
                for u in ordered]  # fmt: skip
