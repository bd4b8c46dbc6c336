"""What the window takes in: the applicant, the application form and the materials.

Each check reports every problem at once, with the field it concerns, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from ..catalogue.models import Item
from ..clock import local_date
from ..errors import InvalidInput
from ..labels import labels

QUERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Applicant:
    """Who applies: a citizen or a company."""

    name: str
    id_number: str
    phone: str | None = None

    # the window's form has the same limits (the name's column is 200; the numbers are sealed)
    LIMITS = (("name", 200), ("id_number", 40), ("phone", 30))

    def check(self) -> None:
        """Refuse a missing name or ID number and any field longer than its limit."""
        if not self.name.strip() or not self.id_number.strip():
            raise InvalidInput(_("applicant name and id_number are required"))
        for field, limit in self.LIMITS:
            if len((getattr(self, field) or "").strip()) > limit:
                raise InvalidInput(
                    _(
                        "the applicant's %(field)s is longer than %(limit)s characters",
                        field=applicant_field_name(field),
                        limit=limit,
                    )
                )


# the applicant's particulars and the forms checked here, as a refusal names them
applicant_field_name = labels(
    lambda: {"name": _("name"), "id_number": _("ID number"), "phone": _("phone")}
)
form_name = labels(lambda: {"application form": _("application form"), "task form": _("task form")})


def _coerce_field(spec: dict, value: Any) -> Any:
    kind = spec.get("type", "string")
    if kind == "long":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(_("must be a whole number"))
        try:
            return int(value)
        except ValueError:
            raise ValueError(_("must be a whole number")) from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError(_("must be true or false"))
    if kind == "enum":
        # an item's form lists option values; a diagram's task form (FormField.as_dict) lists
        # {"id", "name"} pairs
        options = [o["id"] if isinstance(o, dict) else o for o in spec.get("options") or []]
        if value not in options:
            raise ValueError(_("must be one of %(items)s", items=", ".join(map(str, options))))
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(_("must be a date like 2026-11-23")) from None
    if not isinstance(value, str):
        raise ValueError(_("must be text"))
    return value.strip()


def check_form(fields: list[dict], form: dict, where: str) -> dict:
    """Check form data against field definitions; report every problem at once."""
    if not isinstance(form, dict):
        raise InvalidInput(_("%(where)s must be an object", where=form_name(where)))
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    known = {f["id"] for f in fields}
    for spec in fields:
        fid = spec["id"]
        value = form.get(fid)
        if value is None or value == "":
            if spec.get("required"):
                problems[fid] = _("%(label)s is required", label=spec.get("label", fid))
            continue
        try:
            clean[fid] = _coerce_field(spec, value)
        except ValueError as exc:
            problems[fid] = _("%(label)s %(problem)s", label=spec.get("label", fid), problem=exc)
    for extra in sorted(set(form) - known):
        problems[extra] = _("unknown field")
    if problems:
        raise InvalidInput(_("%(where)s has errors", where=form_name(where)), fields=problems)
    return clean


def missing_materials(item: Item, materials: list[str]) -> list[dict]:
    listed = {m["code"]: m for m in item.entry.get("materials", [])}
    unknown = [code for code in materials if code not in listed]
    if unknown:
        raise InvalidInput(_("unknown material codes"), materials=unknown)
    given = set(materials)
    return [
        {"code": m["code"], "name": m["name"]}
        for m in item.entry.get("materials", [])
        if m.get("required", True) and m["code"] not in given
    ]


def new_case_no(now: dt.datetime) -> str:
    """A case number: the centre's local day of `now` (stored UTC), then 8 random digits."""
    return f"{local_date(now):%Y%m%d}{secrets.randbelow(10**8):08d}"


def new_query_code() -> str:
    return "".join(secrets.choice(QUERY_ALPHABET) for _ in range(6))


def signer_lists(item: Item) -> dict[str, list[str]]:
    """会签: the lists of signers an item names (`signers` in its catalogue entry: a data name
    to usernames), added to each case's start data so that a multi-instance stage of its
    diagram (`camunda:collection` naming that data) runs over them. Anything else is left
    out: the stage then finds no list and the case stops in the fault state."""
    found = (item.entry or {}).get("signers") or {}
    if not isinstance(found, dict):
        return {}
    return {str(name): [str(u) for u in users] for name, users in found.items()
            if isinstance(users, list) and all(isinstance(u, str) for u in users)}  # fmt: skip
