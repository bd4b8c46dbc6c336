"""Signed documents: a decision letter or a licence, drawn, signed under the issuing
authority's key (PAdES, app.signing) and kept whole the first time it is issued, so that
every later copy is the same file and an uploaded one can be matched to the registry.

Fail closed: an authority without a key and certificate gets no document at all (never an
unsigned one), unless the installation is the demo (`SIGNING_DEMO_CA`), where the demo CA
issues the authority's certificate on first need (what `flask init-signing` does).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from ..cases.models import Case
from ..clock import local
from ..db import session, utcnow
from ..errors import Conflict, NotFound
from ..links import public_url
from ..notices.certificate import LicenceFacts, licence_document
from ..notices.facts import CaseFacts, Centre
from ..notices.layout import SealPlace, drawn_with_seals
from ..org.models import Department
from ..signing.keys import NoSigningKey, create_demo_ca, signer_for
from ..signing.pades import BOX, sign_pdf
from .models import Licence, SignedDocument
from .registry import new_code

REASONS = {"decision": "行政许可决定书", "licence": "电子证照"}
FIELD_W, FIELD_RATIO = 196.0, 56.0 / 196.0  # the visible signature's width, height/width
FIELD_GAP, PAGE_FOOT = 4.0, 72.0  # points under a seal block; the lowest a field may reach


def signer(authority: Department):
    """The authority's signer: its key and chain in SIGNING_DIR (made by the demo CA in a
    demo installation); none is a 409 that says what is missing."""
    directory = Path(current_app.config["SIGNING_DIR"])
    try:
        return signer_for(directory, authority.code)
    except NoSigningKey as missing:
        if not current_app.config.get("SIGNING_DEMO_CA"):
            raise Conflict(
                _("%(authority)s has no signing key and certificate (%(files)s in the signing "
                  "folder): the document is not issued unsigned. The admin installs them.",
                  authority=authority.name, files=str(missing))
            ) from None  # fmt: skip
    create_demo_ca(directory, {authority.code: authority.name})
    return signer_for(directory, authority.code)


def field_place(seals: list[SealPlace], issuer: str) -> tuple[int, tuple[float, ...]]:
    """Where the visible signature goes: beside the signing authority's seal block (its last
    one drawn: a two-pass layout draws each twice), level with its foot; under the block when
    lines are set on its left (the acceptor and their phone), unless the page ends there; the
    first page's lower left if the document drew no seal."""
    mine = [s for s in seals if s.issuer == issuer] or seals
    if not mine:
        return 0, BOX
    place = mine[-1]
    width = min(FIELD_W, place.width * 0.45)
    height = width * FIELD_RATIO
    if place.left_lines and place.y - FIELD_GAP - height >= PAGE_FOOT:
        top = place.y - FIELD_GAP
        return place.page, (place.x, top - height, place.x + width, top)
    return place.page, (place.x, place.y, place.x + width, place.y + height)


def _stored(case_id: int, kind: str) -> bytes | None:
    return session().scalar(sa.select(SignedDocument.content)
                            .where(SignedDocument.case_id == case_id,
                                   SignedDocument.kind == kind))  # fmt: skip


def issued(case: Case, kind: str, authority: Department, facts: CaseFacts, centre: Centre,
           draw: Callable[[CaseFacts], bytes],
           licence: Licence | None = None) -> bytes:  # fmt: skip
    """The signed document of a case (`kind`: decision, licence, licence-2 …): the stored
    one, or drawn with its code and QR code, signed and stored now."""
    kept = _stored(case.id, kind)
    if kept is not None:
        return kept
    code = licence.code if licence is not None else new_code()
    facts = dataclasses.replace(facts, verify_code=code,
                                verify_url=public_url("web.licence_status", code=code))  # fmt: skip
    now = utcnow()
    shown = local(now).strftime("%Y-%m-%d %H:%M")
    base = kind.split("-")[0]
    pdf, seals = drawn_with_seals(lambda: draw(facts))
    page, box = field_place(seals, authority.name)
    with force_locale("zh"):  # a document is worded in Chinese, whoever fetches it first
        signed = sign_pdf(pdf, signer(authority), reason=REASONS.get(base, base),
                          location=centre.name, shown_at=shown, box=box, page=page)  # fmt: skip
    db = session()
    try:
        with db.begin_nested():
            db.add(SignedDocument(code=code, case_id=case.id, kind=kind,
                                  licence_id=licence.id if licence is not None else None,
                                  authority_id=authority.id,
                                  sha256=hashlib.sha256(signed).hexdigest(), size=len(signed),
                                  content=signed, signed_at=now))  # fmt: skip
    except IntegrityError:  # issued at the same moment by another request: theirs is kept
        kept = _stored(case.id, kind)
        if kept is None:
            raise
        return kept
    return signed


def sign_notice(pdf: bytes, seals: list[SealPlace], authority: Department,
                centre: Centre) -> bytes:  # fmt: skip
    """Sign a notice drawn just now (receipt, commitment, supplement, refusal, pause or
    extension notice) under the authority's key, beside the seal it carries; it is drawn
    again each time it is fetched, so it is not kept."""
    page, box = field_place(seals, authority.name)
    shown = local(utcnow()).strftime("%Y-%m-%d %H:%M")
    with force_locale("zh"):
        return sign_pdf(pdf, signer(authority), reason="政务服务文书", location=centre.name,
                        shown_at=shown, box=box, page=page)  # fmt: skip


def licences_of(case_id: int) -> list[Licence]:
    return list(session().scalars(sa.select(Licence).where(Licence.case_id == case_id)
                                  .order_by(Licence.id)))  # fmt: skip


def licence_pdf(case: Case, facts: CaseFacts, centre: Centre, n: int, font_path,
                seal_of: Callable[[Department], str | None], issuer) -> bytes:  # fmt: skip
    """The n-th (1 first) licence a case granted, as its signed document."""
    found = licences_of(case.id)
    if not found:
        raise NotFound(_("This case granted no licence."))
    if not 1 <= n <= len(found):
        raise NotFound(_("This case granted %(count)d licence(s).", count=len(found)))
    lic = found[n - 1]
    authority = session().get(Department, lic.authority_id)
    replaced = session().scalar(sa.select(Licence.number).where(Licence.replaced_by_id == lic.id))
    printed = LicenceFacts(
        authority=issuer(authority, centre), title=lic.title, number=lic.number,
        holder=lic.holder_name, matter=lic.matter, content=lic.content,
        issued_on=lic.issued_on, valid_until=lic.valid_until,
        conditions=tuple(lic.conditions or ()), seal_image=seal_of(authority),
        replaces=replaced or "",
    )  # fmt: skip
    kind = "licence" if n == 1 else f"licence-{n}"
    return issued(case, kind, authority, facts, centre,
                  lambda f: licence_document(centre, f, printed, font_path=font_path),
                  licence=lic)  # fmt: skip
