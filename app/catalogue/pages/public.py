"""Public pages: the service guide and catalogue, and the published licensing results.

No log-in, nothing changes, and nothing personal: results carry the case number, the item,
the applicant's name masked (an organisation's in full) and the decision date, never an ID
number, a phone number or form data (DESIGN rule 12). Jinja escapes every text; the Atom
feed is built with lxml, which escapes too.
"""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, render_template, request
from flask_babel import gettext as _
from lxml import etree
from markupsafe import Markup

from ...db import utcnow
from ...errors import InvalidInput, NotFound
from ...links import public_host, public_url
from ...org.queries import centre_name
from ...web import bp, local_time
from ...web.present import labels
from .. import guide as public
from ..models import ITEM_KINDS
from .diagrams import asked_diagram, choose_diagram

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"


# the public name of an item kind (即办件, 承诺件, 联办件, 上报件)
kind_name = labels(lambda: {
    "immediate": _("on-the-spot item"), "promised": _("promised item"),
    "joint": _("joint item"), "reported": _("reported item"),
})  # fmt: skip


def _render(template: str, **context):
    return render_template(template, kind_name=kind_name, kinds=ITEM_KINDS,
                           centre=_centre_name(), **context)  # fmt: skip


def _centre_name() -> str:
    return centre_name() or _("OneWindow")


@bp.get("/guide")
def guide_catalogue():
    listed = public.listed_items()
    query = request.args.get("q", "").strip()[:100]
    department = request.args.get("dept", "")
    kind = request.args.get("kind", "")
    groups = public.search(listed, query, department, kind)
    return _render("public/catalogue.html", groups=groups, query=query, department=department,
                   kind=kind, departments=public.publishing_departments(listed),
                   found=sum(len(g.items) for g in groups), total=len(listed))  # fmt: skip


@bp.get("/guide/<code>")
def guide_page(code: str):
    found = public.guide(code)
    if found is None:
        raise NotFound(_("There is no such item."))
    version = found.version
    chooser = choose_diagram(
        version.content if version else None,
        version.filename if version else "<diagram>",
        asked_diagram(),
    )
    svg = public.procedure_svg(version, chooser.chosen_id)
    # drawn by our renderer from escaped text; no scripts or styles
    return _render("public/guide.html", guide=found, svg=Markup(svg) if svg else None,
                   chooser=chooser)  # fmt: skip


def _filter() -> public.ResultFilter:
    zone = current_app.config["CENTRE_TIMEZONE"]
    bounds: dict[str, dt.datetime | None] = {}
    for key, shift in (("from", 0), ("to", 1)):
        raw = request.args.get(key, "").strip()
        if not raw:
            bounds[key] = None
            continue
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(_("'%(key)s' must be a date like 2026-11-01", key=key)) from None
        bounds[key] = public.local_day_start(day + dt.timedelta(days=shift), zone)
    return public.ResultFilter(request.args.get("item", "").strip()[:64], bounds["from"],
                               bounds["to"])  # fmt: skip


def _filter_args() -> dict[str, str]:
    """The filters of the request, for links to other pages of the same results."""
    return {k: request.args[k] for k in ("item", "from", "to") if request.args.get(k)}


@bp.get("/results")
def results():
    wanted = _filter()
    page = request.args.get("page", 1, type=int) or 1
    found = public.results(wanted, page)
    return _render("public/results.html", found=found, args=_filter_args(),
                   items=public.all_items(), item=wanted.item)  # fmt: skip


def _atom(tag: str) -> str:
    return f"{{{ATOM_NS}}}{tag}"


def _stamp(value: dt.datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def _add(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    element = etree.SubElement(parent, _atom(tag), {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = text
    return element


def atom_feed(rows: list[public.Published], centre: str) -> bytes:
    """Build the Atom feed (RFC 4287) of published results; lxml escapes every text."""
    args = _filter_args()
    page_url = public_url("web.results", **args)  # never the request's Host (app.links)
    self_url = public_url("web.results_feed", **args)
    host = public_host()
    feed = etree.Element(_atom("feed"), nsmap={None: ATOM_NS})
    _add(feed, "id", self_url)  # a filtered feed is a feed of its own
    _add(feed, "title", _("Licences granted: %(centre)s", centre=centre))
    newest = rows[0].decided_at if rows else utcnow()
    _add(feed, "updated", _stamp(newest))
    _add(_add(feed, "author"), "name", centre)
    _add(feed, "link", rel="self", type=ATOM_TYPE, href=self_url)
    _add(feed, "link", rel="alternate", type="text/html", href=page_url)
    for row in rows:
        entry = _add(feed, "entry")
        _add(entry, "id", f"tag:{host},{row.decided_at:%Y-%m-%d}:licence/{row.case_no}")
        _add(entry, "title", f"{row.case_no} {row.item_name}")
        _add(entry, "updated", _stamp(row.decided_at))
        _add(entry, "published", _stamp(row.decided_at))
        link = public_url("web.results", item=row.item_code) + f"#{row.case_no}"
        _add(entry, "link", rel="alternate", type="text/html", href=link)
        summary = _("Case %(no)s, %(item)s: %(result)s granted to %(who)s on %(day)s.",
                    no=row.case_no, item=row.item_name, result=row.result or "—",
                    who=row.applicant, day=local_time(row.decided_at, "yyyy-MM-dd"))  # fmt: skip
        _add(entry, "summary", summary, type="text")
        _add(entry, "category", term=row.item_code, label=row.item_name)
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8")


@bp.get("/results.atom")
def results_feed():
    rows = public.newest_results(_filter())
    return Response(atom_feed(rows, _centre_name()), content_type=f"{ATOM_TYPE}; charset=utf-8")
