"""Statistics pages for leaders and supervisors (the “五制” register, trends, the slowest
items and stages), their CSV/XLSX exports and the monthly PDF report, and the public
monthly figures. Every figure comes from app.stats.queries, counted from the cases and
their events; charts are SVG drawn on the server (app.stats.charts)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask import current_app, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup

from ..calendar.services import calendar
from ..catalogue.models import ITEM_KINDS
from ..clock import today
from ..db import utcnow
from ..errors import InvalidInput
from ..org import queries as org_queries
from ..web import bp, role_required
from ..web.policy import attempt
from . import charts, exports, queries, report, verbs
from .figures import Row
from .grouping import GROUPINGS, KIND_LABELS, Filters
from .periods import UNITS, Period
from .queries import Stage, slowest_stages

STATS_ROLES = ("leader", "supervisor", "auditor", "admin")
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class Query:
    """What the page shows: a period, a grouping, filters, the trend's step."""

    period: Period
    text: str
    grouping: str
    filters: Filters
    roll_up: bool
    unit: str


def _int(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw or raw == "0":
        return None
    if not raw.isdigit():
        raise InvalidInput(_("'%(name)s' must be a number", name=name), field=name)
    return int(raw)


def this_month() -> str:
    return calendar().local(utcnow()).strftime("%Y-%m")


def _query() -> Query:
    text = request.args.get("period", "").strip() or this_month()
    period = Period.parse(text)
    if (period.until - period.since).days > MAX_DAYS:
        raise InvalidInput(_("choose a period of at most three years"), field="period")
    grouping = request.args.get("grouping", "department")
    if grouping not in GROUPINGS:
        raise InvalidInput(_("unknown grouping"), field="grouping")
    kind = request.args.get("kind") or None
    if kind is not None and kind not in ITEM_KINDS:
        raise InvalidInput(_("unknown item kind"), field="kind")
    filters = Filters(
        item_id=_int("item"), kind=kind, department_id=_int("department"), region_id=_int("region")
    )
    days = (period.until - period.since).days + 1
    default_unit = "day" if days <= 31 else "week" if days <= 190 else "month"
    unit = request.args.get("unit") or default_unit
    if unit not in UNITS:
        raise InvalidInput(_("unknown step"), field="unit")
    roll_up = request.args.get("roll_up", "1") == "1"
    return Query(period, text, grouping, filters, roll_up, unit)


def _pct(value: Decimal | None) -> float | None:
    """The figures give rates in per cent; the exports want fractions."""
    return None if value is None else float(value) / 100


def columns(grouping: str) -> tuple[exports.Column, ...]:
    """The register's columns for a grouping (the official grouping has task figures)."""
    first = exports.Column("label", _("Group"), "text")
    if grouping == "official":
        return (first, exports.Column("tasks", _("Tasks completed")),
                exports.Column("tasks_with_limit", _("with a stage limit")),
                exports.Column("tasks_on_time", _("on time")),
                exports.Column("tasks_on_time_rate", _("On-time rate"), "percent"),
                exports.Column("tasks_days_avg", _("Average office days"), "float"))  # fmt: skip
    return (
        first,
        exports.Column("received", _("Cases received")),
        exports.Column("accepted", _("Cases accepted")),
        exports.Column("supplements", _("Supplements asked")),
        exports.Column("refused", _("Cases refused")),
        exports.Column("completed", _("Cases completed")),
        exports.Column("approved", _("Cases approved")),
        exports.Column("denied", _("Cases denied")),
        exports.Column("withdrawn", _("Cases withdrawn")),
        exports.Column("still_open", _("Still open")),
        exports.Column("commitment_notices", _("Commitment notices")),
        exports.Column("completion_rate", _("Completion rate"), "percent"),
        exports.Column("on_time_promised", _("On time (promised)"), "percent"),
        exports.Column("on_time_statutory", _("On time (statutory)"), "percent"),
        exports.Column("days_avg", _("Average working days"), "float"),
        exports.Column("days_p90", _("90th percentile"), "int"),
        exports.Column("paused_days", _("Paused days")),
        exports.Column("extensions", _("Extensions")),
        exports.Column("yellow", _("Yellow cards")),
        exports.Column("red", _("Red cards")),
        exports.Column("evaluated", _("Ratings")),
        exports.Column("satisfied", _("Satisfied"), "percent"),
        exports.Column("complaints", _("Complaints")),
        exports.Column("complaints_on_time", _("Replied on time"), "percent"),
    )


def row_values(row: Row) -> dict:
    """One register row as the exports and the page read it."""
    out: dict = {"label": row.label, "_key": row.key, "_depth": row.depth}
    if row.tasks is not None:
        t = row.tasks
        out.update(tasks=t.completed, tasks_with_limit=t.with_limit, tasks_on_time=t.on_time,
                   tasks_on_time_rate=_pct(t.on_time_rate),
                   tasks_days_avg=float(t.office_days_avg) if t.office_days_avg is not None
                   else None)  # fmt: skip
    f = row.figures
    if f is None:
        return out
    evaluations = f.evaluations
    satisfied = evaluations[5] + evaluations[4] + evaluations[3]
    c = f.complaints
    out.update(
        received=f.received, accepted=f.accepted, supplements=f.supplements,
        refused=f.refused, completed=f.completed, approved=f.approved, denied=f.denied,
        withdrawn=f.withdrawn, still_open=f.still_open,
        commitment_notices=f.commitment_notices, completion_rate=_pct(f.completion_rate),
        on_time_promised=_pct(f.on_time_rate_promised),
        on_time_statutory=_pct(f.on_time_rate_statutory),
        days_avg=float(f.days_taken_avg) if f.days_taken_avg is not None else None,
        days_p90=f.days_taken_p90, paused_days=f.paused_days, extensions=f.extensions,
        yellow=f.yellow, red=f.red, evaluated=f.evaluated,
        satisfied=satisfied / f.evaluated if f.evaluated else None,
        complaints=c.received if c else None,
        complaints_on_time=_pct(c.on_time_rate) if c else None,
    )  # fmt: skip
    return out


# the columns of the printed monthly report (A4 portrait holds about eleven)
REPORT_KEYS = (
    "label",
    "received",
    "accepted",
    "completed",
    "still_open",
    "commitment_notices",
    "completion_rate",
    "on_time_promised",
    "days_avg",
    "days_p90",
    "red",
)


def report_table(query: Query, rows: list[Row]) -> exports.Table:
    """The register narrowed to the report's columns."""
    full = register_table(query, rows)
    keep = tuple(c for c in full.columns if c.key in REPORT_KEYS)
    return exports.Table(full.title, keep, full.rows, full.totals, full.note)


def register_table(query: Query, rows: list[Row]) -> exports.Table:
    names = {"total": _("Total"), "item": _("By item"), "kind": _("By item kind"),
             "department": _("By department"), "region": _("By region"),
             "window": _("By window clerk"),
             "official": _("By official")}  # fmt: skip
    values = [row_values(r) for r in rows]
    title = _("Register %(period)s, %(by)s", period=query.text, by=names[query.grouping])
    note = _("Counted from the cases and their events; see the definitions on the page.")
    return exports.Table(title, columns(query.grouping), tuple(values), None, note)


def _charts(query: Query) -> dict[str, Markup]:
    points = queries.series(query.period, query.unit, "total", query.filters)
    labels = [p.label for p in points]

    def line(name: str, getter) -> tuple[str, list[float | None]]:
        return name, [getter(p.rows[0].figures) if p.rows else 0 for p in points]

    trend = charts.line_chart(
        _("Received, accepted and completed"), labels,
        [line(_("Cases received"), lambda f: f.received),
         line(_("Cases accepted"), lambda f: f.accepted),
         line(_("Cases completed"), lambda f: f.completed)],
    )  # fmt: skip
    departments = [r for r in queries.register(query.period, "department", query.filters)
                   if r.depth == 0 and r.figures and r.figures.accepted]  # fmt: skip
    completion = charts.bar_chart(
        _("Completion rate by department"),
        [(r.label, _pct(r.figures.completion_rate)) for r in departments],
        percent=True, max_value=1,
    )  # fmt: skip
    on_time = charts.bar_chart(
        _("On time against the promise, by department"),
        [(r.label, _pct(r.figures.on_time_rate_promised)) for r in departments
         if r.figures.completed],
        percent=True, max_value=1,
    )  # fmt: skip
    items = [r for r in queries.register(query.period, "item", query.filters)
             if r.figures and r.figures.days_taken_p90 is not None]  # fmt: skip
    items.sort(key=lambda r: -(r.figures.days_taken_p90 or 0))
    slow_items = charts.bar_chart(
        _("Slowest items: 90th percentile of working days taken"),
        [(r.label, r.figures.days_taken_p90) for r in items[:10]], unit=_("days"),
    )  # fmt: skip
    stages = slowest_stages(query.period, query.filters)
    slow_stages = charts.bar_chart(
        _("Slowest stages: 90th percentile of office days"),
        [(f"{s.item} · {s.name}", round(s.days_p90, 2)) for s in stages],
        value_format="{:.2f}", unit=_("days"),
    )  # fmt: skip
    # drawn by our chart code from escaped text; no scripts or styles
    return {
        "trend": Markup(trend),
        "completion": Markup(completion),
        "on_time": Markup(on_time),
        "slow_items": Markup(slow_items),
        "slow_stages": Markup(slow_stages),
    }


def _choices() -> dict:
    return {**queries.choices(), "kinds": ITEM_KINDS, "kind_labels": KIND_LABELS,
            "groupings": GROUPINGS, "units": UNITS}  # fmt: skip


def _register_page() -> tuple[Query, exports.Table, dict[str, Markup]]:
    """The query of the page, its register and its charts."""
    query = _query()
    rows = queries.register(query.period, query.grouping, query.filters, query.roll_up)
    return query, register_table(query, rows), _charts(query)


@bp.get("/stats")
@role_required(*STATS_ROLES)
def stats_page():
    shown = attempt(_register_page)
    query, table, drawn = shown.value if shown.ok else (None, None, {})
    stages = slowest_stages(query.period, query.filters) if query else []
    used = verbs.verb_counts(query.period, query.filters) if query else []
    return render_template("stats/page.html", query=query, table=table, charts=drawn,
                           stages=stages, verbs=used, verb_columns=verbs.VERBS,
                           args=request.args, cell=exports.cell_text,
                           **_choices()), 200 if shown.ok else 400  # fmt: skip


def _download(content: bytes, mimetype: str, name: str):
    resp = current_app.response_class(content, mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _stage_table(stages: list[Stage]) -> exports.Table:
    return exports.Table(
        _("Slowest stages"),
        (exports.Column("item", _("Item"), "text"), exports.Column("name", _("Stage"), "text"),
         exports.Column("completed", _("Tasks completed")),
         exports.Column("days_avg", _("Average office days"), "float"),
         exports.Column("days_p90", _("90th percentile"), "float")),
        tuple({"item": s.item, "name": s.name, "completed": s.completed,
               "days_avg": round(s.days_avg, 2), "days_p90": round(s.days_p90, 2)}
              for s in stages),
    )  # fmt: skip


@bp.get("/stats/export.<fmt>")
@role_required(*STATS_ROLES)
def stats_export(fmt: str):
    query = _query()
    rows = queries.register(query.period, query.grouping, query.filters, query.roll_up)
    table = register_table(query, rows)
    name = exports.safe_filename(f"register-{query.text}-{query.grouping}")
    if fmt == "csv":
        return _download(exports.to_csv(table), exports.CSV_MIMETYPE, f"{name}.csv")
    if fmt == "xlsx":
        tables = [table, _stage_table(slowest_stages(query.period, query.filters, limit=50))]
        return _download(exports.to_xlsx(tables), exports.XLSX_MIMETYPE, f"{name}.xlsx")
    raise InvalidInput(_("the export is csv or xlsx"))


@bp.get("/stats/report.pdf")
@role_required(*STATS_ROLES)
def stats_report():
    """The monthly report for the leadership meeting."""
    month = request.args.get("month") or this_month()
    period = _month(month, _("the report is for a month, e.g. 2026-11"))
    query = Query(period, month, "department", Filters(), True, "week")
    total = queries.register(period, "total")[0].figures
    departments = queries.register(period, "department")
    kinds = queries.register(period, "kind")
    summary = [
        _("%(m)s: %(r)d applications received, %(a)d accepted, %(c)d completed "
          "(%(ap)d approved, %(d)d denied); %(o)s still open at the end of the month.",
          m=month, r=total.received, a=total.accepted, c=total.completed, ap=total.approved,
          d=total.denied, o=total.still_open or 0),
        _("Completion rate %(cr)s, on time against the promise %(op)s and against the "
          "law %(os)s; %(y)d yellow and %(rd)d red cards.",
          cr=_fmt_rate(total.completion_rate), op=_fmt_rate(total.on_time_rate_promised),
          os=_fmt_rate(total.on_time_rate_statutory), y=total.yellow, rd=total.red),
    ]  # fmt: skip
    bars = [(r.label, float(r.figures.completion_rate or 0)) for r in departments
            if r.depth == 0 and r.figures and r.figures.accepted]  # fmt: skip
    pdf = report.monthly_report(
        org_queries.centre_name() or _("OneWindow"), month,
        [report_table(query, departments),
         report_table(Query(period, month, "kind", Filters(), True, "week"), kinds),
         _stage_table(slowest_stages(query.period, query.filters))],
        charts=[(_("Completion rate by department (%)"), bars)] if bars else None,
        summary=summary, issued_on=today(),
    )  # fmt: skip
    return _download(pdf, "application/pdf", f"report-{month}.pdf")


def _fmt_rate(value: Decimal | None) -> str:
    return "—" if value is None else f"{value}%"


def _month(text: str, message: str) -> Period:
    """The period of a whole month, e.g. 2026-11; else InvalidInput(`message`)."""
    period = Period.parse(text)
    if period.since.day != 1 or period.until.month != period.since.month:
        raise InvalidInput(message, field="month")
    return period


@bp.get("/figures")
def public_figures():
    """The public monthly figures (政务公开): by department, no personal data."""
    month = request.args.get("month") or this_month()
    chosen = attempt(_month, month, "choose a month, e.g. 2026-11")
    if chosen.ok:
        period = chosen.value
    else:
        month = this_month()
        period = Period.parse(month)
    rows = [
        r
        for r in queries.register(period, "department")
        if r.depth == 0 and r.figures and (r.figures.received or r.figures.completed)
    ]
    total = queries.register(period, "total")[0]
    return render_template("stats/public.html", month=month, rows=rows, total=total,
                           values=row_values, cell=exports.cell_text,
                           pct=lambda v: exports.cell_text(exports.Column("x", "", "percent"),
                                                           v))  # fmt: skip
