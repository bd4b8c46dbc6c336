"""Reading the catalogue and deploying diagram versions."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask_babel import gettext as _

from workflows.errors import DiagramError
from workflows.loader import diagram_text

from ..cases import reported
from ..cases.runtime import runtime
from ..db import session, transactional
from ..errors import InvalidInput, NotFound
from ..org.models import User
from .models import DiagramVersion, Item


def ex_officio(item: Item) -> bool:
    """An item the authority starts of its own motion (依职权: a licence's revocation): not
    in the public catalogue, not applied for online; received at the window by staff."""
    return bool((item.entry or {}).get("ex_officio"))


def list_items() -> list[Item]:
    """Return the active items, by code."""
    return list(session().scalars(sa.select(Item).where(Item.active.is_(True)).order_by(Item.code)))


def materials_of(item: Item) -> list[dict]:
    """Return the item's materials list (code, name, form, count, required, note)."""
    return list(item.entry.get("materials", []))


def item_by_code(code: str) -> Item | None:
    """Return the item with this code, active or not (None if there is none)."""
    return session().scalars(sa.select(Item).where(Item.code == code)).first()


def require_item(code: str) -> Item:
    """Return the item with this code, active or not (NotFound if there is none)."""
    item = item_by_code(code)
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    return item


def every_item() -> list[Item]:
    """Return every item, active or not, by code."""
    return list(session().scalars(sa.select(Item).order_by(Item.code)))


def latest_version(item_id: int) -> DiagramVersion | None:
    """Return the newest deployed version of an item's diagram (None before the first)."""
    newest = (
        sa.select(DiagramVersion)
        .where(DiagramVersion.item_id == item_id)
        .order_by(DiagramVersion.version.desc())
        .limit(1)
    )
    return session().scalars(newest).first()


def get_item(code: str) -> tuple[Item, int | None]:
    """Return an active item and the number of its newest diagram version."""
    db = session()
    item = db.scalars(sa.select(Item).where(Item.code == code, Item.active.is_(True))).first()
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    version = db.scalar(
        sa.select(sa.func.max(DiagramVersion.version)).where(DiagramVersion.item_id == item.id)
    )
    return item, version


def deploy_version(
    item: Item, content: bytes, filename: str, actor: User | None, comment: str = ""
) -> DiagramVersion:
    """Store a new immutable version of an item's diagram after it compiles; no commit."""
    db = session()
    try:
        # stored as text: decoded as the file declares, its declaration relabelled UTF-8
        text = diagram_text(content, filename)
        content = text.encode("utf-8")
        compiled = runtime().compile(content, filename, item.process_id)
    except DiagramError as exc:
        raise InvalidInput(
            _(
                "diagram %(filename)s cannot be deployed: %(summary)s",
                filename=filename,
                summary=exc.summary,
            ),
            findings=[f.as_dict() for f in exc.findings],
        ) from None
    reported.reporting(item.kind, item.entry or {}, item.name)  # a 上报件 names its authority
    reported.check_diagram(item.kind, item.name, compiled)
    digest = hashlib.sha256(content).hexdigest()
    latest = latest_version(item.id)
    if latest is not None and latest.content_hash == digest:
        return latest
    version = DiagramVersion(
        item_id=item.id,
        version=(latest.version + 1) if latest else 1,
        process_id=compiled.process_id,
        filename=filename,
        content=text,
        content_hash=digest,
        comment=comment,
        deployed_by_id=actor.id if actor else None,
    )
    db.add(version)
    db.flush()
    return version


@transactional
def deploy_file(
    item_code: str, content: bytes, filename: str, actor: User | None, comment: str = ""
) -> DiagramVersion:
    """Deploy a diagram file as the newest version of an item."""
    return deploy_version(require_item(item_code), content, filename, actor, comment)
