"""Load the demo centre from bpmn/: departments, posts, users, items and their diagrams."""

from __future__ import annotations

import tomllib
from pathlib import Path

import sqlalchemy as sa
from flask_babel import gettext as _

from .calendar.services import forget as forget_calendar
from .calendar.services import seed_from_package
from .cases.reported import first_instance_days
from .catalogue.models import Item
from .catalogue.services import deploy_version
from .db import session, transactional
from .errors import InvalidInput
from .org.models import REGION_LEVELS, Department, DepartmentHead, Post, Region, User
from .org.services import hash_password

ITEM_FIELDS = ("code", "name", "kind", "department", "diagram", "process_id")


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path.name}: {exc}") from None


def _by_code(model, code: str):
    return session().scalars(sa.select(model).where(model.code == code)).first()


def _load_regions(centre: dict) -> dict[str, Region]:
    """The levels served: [[regions]] if given, else one region: the centre's own level."""
    db = session()
    info = centre["centre"]
    specs = centre.get("regions") or [{"code": info.get("region", info["code"]),
                                        "name": info.get("region_name", info["name"]),
                                        "level": info.get("level", "city")}]  # fmt: skip
    found: dict[str, Region] = {}
    for spec in specs:
        if spec["level"] not in REGION_LEVELS:
            raise ValueError(f"region {spec['code']}: level must be one of {REGION_LEVELS}")
        region = _by_code(Region, spec["code"]) or Region(code=spec["code"])
        region.name, region.level = spec["name"], spec["level"]
        parent = found.get(spec.get("parent") or "")
        region.parent_id = parent.id if parent else None
        db.add(region)
        db.flush()
        found[region.code] = region
    return found


def _load_departments(centre: dict) -> dict[str, Department]:
    db = session()
    regions = _load_regions(centre)
    home = next(iter(regions.values()))
    found: dict[str, Department] = {}
    for spec in centre.get("departments", []):
        dept = _by_code(Department, spec["code"]) or Department(code=spec["code"])
        dept.name, dept.kind = spec["name"], spec.get("kind", "bureau")
        dept.number_prefix = spec.get("number_prefix") or None
        dept.seal_text = spec.get("seal_text") or None
        parent = found.get(spec.get("parent") or "")
        dept.parent_id = parent.id if parent else None
        dept.region_id = regions[spec["region"]].id if spec.get("region") else home.id
        db.add(dept)
        db.flush()
        found[dept.code] = dept
    return found


def _load_users(centre: dict, departments: dict[str, Department]) -> dict[str, User]:
    db = session()
    password = centre["centre"].get("demo_password", "onewindow")
    hashed = hash_password(password)
    users: dict[str, User] = {}
    for spec in centre.get("users", []):
        user = db.scalars(sa.select(User).where(User.username == spec["username"])).first()
        if user is None:
            user = User(username=spec["username"], password_hash=hashed)
        dept = departments.get(spec.get("department", ""))
        user.name = spec["name"]
        user.roles = " ".join(spec.get("roles", []))
        user.phone = spec.get("phone")
        user.id_number = spec.get("id_number")
        user.department_id = dept.id if dept else None
        db.add(user)
        users[user.username] = user
    db.flush()
    return users


def _load_posts(centre: dict, departments: dict[str, Department], users: dict[str, User]) -> None:
    db = session()
    for spec in centre.get("posts", []):
        post = _by_code(Post, spec["code"]) or Post(code=spec["code"])
        post.name = spec["name"]
        post.department_id = departments[spec["department"]].id
        for attr, key in (("a_user_id", "a"), ("b_user_id", "b"), ("leader_user_id", "leader")):
            holder = users.get(spec.get(key) or "")
            setattr(post, attr, holder.id if holder else None)
        db.add(post)
    db.flush()


def _load_heads(centre: dict, departments: dict[str, Department],
                users: dict[str, User]) -> None:  # fmt: skip
    """The departments' heads (负责人) as the file lists them, replacing those loaded before."""
    db = session()
    listed = {departments[spec["department"]].id for spec in centre.get("heads", [])}
    if listed:
        db.execute(sa.delete(DepartmentHead).where(DepartmentHead.department_id.in_(listed)))
    for spec in centre.get("heads", []):
        db.add(DepartmentHead(department_id=departments[spec["department"]].id,
                              user_id=users[spec["user"]].id, title=spec["title"],
                              rank=int(spec.get("rank", 0))))  # fmt: skip
    db.flush()


def _load_item(path: Path, departments: dict[str, Department]) -> Item:
    db = session()
    entry = _read_toml(path)
    missing = [f for f in ITEM_FIELDS if not entry.get(f)]
    if missing:
        raise InvalidInput(
            _("%(file)s: missing fields %(fields)s", file=path.name, fields=", ".join(missing))
        )
    first_instance = first_instance_days(entry["kind"], entry, path.name)  # 上报件 (art. 43)
    item = _by_code(Item, entry["code"]) or Item(code=entry["code"])
    item.name, item.kind = entry["name"], entry["kind"]
    item.department_id = departments[entry["department"]].id
    item.process_id = entry["process_id"]
    item.statutory_days = first_instance or int(entry.get("statutory_days", 20))
    item.promised_days = int(entry.get("promised_days", item.statutory_days))
    item.entry = entry
    db.add(item)
    db.flush()
    diagram = path.parent / entry["diagram"]
    deploy_version(item, diagram.read_bytes(), diagram.name, None, "示范中心初始版本")
    return item


@transactional
def load_demo(bpmn_dir: Path) -> dict[str, int]:
    """Create or update the demo centre from a folder; return how many of each were loaded."""
    centre = _read_toml(bpmn_dir / "centre.toml")
    seed_from_package(session())
    forget_calendar()
    departments = _load_departments(centre)
    users = _load_users(centre, departments)
    _load_posts(centre, departments, users)
    _load_heads(centre, departments, users)
    items = [
        _load_item(path, departments)
        for path in sorted(bpmn_dir.glob("*.toml"))
        if path.name != "centre.toml"
    ]
    return {
        "departments": len(departments),
        "users": len(users),
        "posts": len(centre.get("posts", [])),
        "items": len(items),
    }
