"""The analysts' pages for changing a procedure safely (issue 22): what a draft would have
done with the item's past cases (what-if), and plans that move running cases to a new
version, with the second person's approval."""

from __future__ import annotations

import datetime as dt
import json

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...errors import InvalidInput
from ...web import bp, role_required
from ...web.policy import attempt
from .. import drafts, migration_plans, whatif_runs
from ..migration_plans import READERS
from .analysts import _item_or_404
from .diagrams import asked_diagram, choose_diagram, draw

ROWS_SHOWN = 500  # cases listed on the what-if page (the API has them all)


def _day(name: str) -> dt.date | None:
    value = request.values.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("'%(name)s' must be a date such as 2026-01-31", name=name)) from None


def _shown(cases: list[dict]) -> list[dict]:
    """The report's cases the table's filters keep: period, recorded outcome, changed or not."""
    since, until = request.args.get("from", ""), request.args.get("to", "")
    outcome, show = request.args.get("outcome", ""), request.args.get("show", "")
    kept = [c for c in cases
            if (not since or c["received_on"] >= since) and (not until or c["received_on"] <= until)
            and (not outcome or c["decision"] == outcome)
            and (show != "changed" or not c["same"]) and (show != "same" or c["same"])]  # fmt: skip
    return kept


@bp.route("/analyst/items/<code>/what-if", methods=["GET", "POST"])
@role_required("analyst", "admin")
def analyst_whatif(code: str):
    """Start a what-if run of a draft or version, follow its progress, read its report."""
    item = _item_or_404(code)
    if request.method == "POST":
        def start():
            return whatif_runs.start_run(current_user, code, request.form.get("source", "draft"),
                                         _day("since"), _day("until"),
                                         request.form.get("decision") or None)  # fmt: skip

        done = attempt(start)
        if done.ok:
            return redirect(url_for("web.analyst_whatif", code=code, run=done.value.id))
    runs = whatif_runs.runs_of(current_user, code)
    wanted = request.args.get("run", type=int) if request.method == "GET" else None
    run = shown = svg = chooser = None
    if wanted is not None:
        found = whatif_runs.get_run(current_user, wanted)
        run = whatif_runs.run_json(found)
        if run["item"] != code:
            return redirect(url_for("web.analyst_whatif", code=run["item"], run=wanted))
        if run["status"] == "done":
            shown = _shown(run["report"]["cases"])
            chooser = choose_diagram(found.content, found.filename, asked_diagram())
            highlight, notes = whatif_runs.drawing(run["report"])
            svg = draw(found.content, found.filename, chooser.chosen_id, highlight, notes)
    return render_template("analyst/whatif.html", item=item, runs=runs, run=run, shown=shown,
                           rows_shown=ROWS_SHOWN, svg=svg, chooser=chooser,
                           versions=drafts.versions(code), form=request.form,
                           has_draft=drafts.draft_of(item) is not None)  # fmt: skip


def _pairs(text: str, what: str, value=lambda v: v) -> dict:
    """Read `key = value` lines (also `key -> value`, `key → value`); a bad line is named."""
    found = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for arrow in ("→", "->", "="):
            key, sep, rest = line.partition(arrow)
            if sep:
                break
        if not sep or not key.strip() or not rest.strip():
            raise InvalidInput(_("%(what)s, line %(n)d: write it as name = value", what=what,
                                 n=number))  # fmt: skip
        found[key.strip()] = value(rest.strip())
    return found


def _plain(text: str):
    """A default's value: a number, true/false or a quoted text as JSON, else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


@bp.route("/analyst/items/<code>/migrations", methods=["GET", "POST"])
@role_required(*READERS)
def analyst_migrations(code: str):
    """The item's migration plans, and the form that makes one (the dry run)."""
    item = _item_or_404(code)
    if request.method == "POST":
        def make():
            mapping = _pairs(request.form.get("mapping", ""), _("Mapping"))
            defaults = _pairs(request.form.get("defaults", ""), _("Defaults"), _plain)
            return migration_plans.make_plan(current_user, code, request.form.get("target"),
                                             request.form.get("source") or None, mapping,
                                             defaults)  # fmt: skip

        done = attempt(make)
        if done.ok:
            return redirect(url_for("web.migration_plan_page", plan_id=done.value.id))
    plans = [migration_plans.plan_json(p) for p in migration_plans.plans_of(current_user, code)]
    return render_template("analyst/migrations.html", item=item, plans=plans,
                           versions=drafts.versions(code), form=request.form)  # fmt: skip


@bp.get("/migrations")
@role_required("leader", "admin")
def migrations_waiting():
    plans = [migration_plans.plan_json(p) for p in migration_plans.plans_waiting(current_user)]
    return render_template("analyst/migrations_waiting.html", plans=plans)


@bp.get("/migrations/<int:plan_id>")
@role_required(*READERS)
def migration_plan_page(plan_id: int):
    plan = migration_plans.get_plan(current_user, plan_id)
    return render_template("analyst/migration.html", plan=migration_plans.plan_json(plan),
                           may_decide=migration_plans.may_decide(current_user, plan))  # fmt: skip


@bp.post("/migrations/<int:plan_id>/approve")
@role_required("leader", "admin")
def migration_approve(plan_id: int):
    if not request.form.get("confirm"):
        flash(_("Tick the box to confirm: nothing was changed."), "error")
    elif attempt(migration_plans.approve, current_user, plan_id).ok:
        flash(_("Approved: the cases are being moved."), "success")
    return redirect(url_for("web.migration_plan_page", plan_id=plan_id))


@bp.post("/migrations/<int:plan_id>/decline")
@role_required("leader", "admin")
def migration_decline(plan_id: int):
    reason = request.form.get("reason", "")
    if attempt(migration_plans.decline, current_user, plan_id, reason).ok:
        flash(_("The plan is declined."), "success")
    return redirect(url_for("web.migration_plan_page", plan_id=plan_id))
