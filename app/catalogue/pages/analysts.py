"""The analysts' workbench: items and versions, and the in-browser modeler (bpmn-js)."""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from workflows import dryrun
from workflows.diff import diff_diagrams
from workflows.errors import DiagramError, OneWindowError

from ...cases.intake import check_form
from ...cases.queries import people_named
from ...cases.runtime import runtime
from ...clock import today
from ...errors import AppError, InvalidInput, NotFound
from ...org.queries import post_names
from ...web import bp, role_required
from ...web.forms import form_values
from ...web.policy import attempt
from .. import drafts, stuck
from ..models import Item
from ..services import every_item, item_by_code
from .diagrams import asked_diagram, choose_diagram, draw

DRY_RUN_MAX_TEXT = 20_000

# diagram-js sets style attributes on the SVG it draws: this page allows inline styles
# (never inline scripts)
MODELER_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


def _json_error(exc: AppError):
    # the modeler posts with fetch and shows the message of any error, a 404 too, in place:
    # its two JSON endpoints answer every refusal in JSON instead of the pages' policy
    body = {"error": type(exc).__name__, "message": exc.message, **exc.details}
    return jsonify(body), exc.status


@bp.get("/analyst")
@role_required("analyst")
def analyst_home():
    items = every_item()
    waiting = drafts.drafts_by_item()
    listed = {i.code: drafts.versions(i.code) for i in items}
    authors = people_named({v.deployed_by_id for vs in listed.values() for v in vs})
    return render_template("analyst/home.html", items=items, drafts=waiting, versions=listed,
                           people=authors)  # fmt: skip


@bp.get("/analyst/items/<code>/edit")
@role_required("analyst")
def analyst_edit(code: str):
    item = _item_or_404(code)
    built = Path(current_app.static_folder, "modeler", "modeler.js").exists()
    version = request.args.get("version", type=int)
    xml_url = url_for("web.analyst_xml", code=code, version=version)
    # the modeler opens the same file as analyst_xml serves, at the diagram chosen
    has_draft = drafts.draft_of(item) is not None
    source = str(version) if version is not None else ("draft" if has_draft else None)
    found = _source(item, source)
    content = found[1] if found else None  # None: the modeler says the file cannot be opened
    chooser = choose_diagram(content, f"{code}.bpmn", asked_diagram())
    draft_report = drafts.draft_report(code) if source == "draft" else None
    page = render_template("analyst/edit.html", item=item, built=built, xml_url=xml_url,
                           version=version, csrf=generate_csrf(), chooser=chooser,
                           draft_report=draft_report)  # fmt: skip
    resp = make_response(page)
    resp.headers["Content-Security-Policy"] = MODELER_CSP
    return resp


def _xml_response(content: str):
    """Serve diagram XML so that no browser ever runs anything inside it."""
    resp = current_app.response_class(content, mimetype="application/xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp


@bp.get("/analyst/items/<code>/bpmn")
@role_required("analyst")
def analyst_xml(code: str):
    versions = drafts.versions(code)
    wanted = request.args.get("version", type=int)
    if wanted is None:
        draft = drafts.draft_of(item_by_code(code))  # the item is there: versions found it
        if draft is not None:
            return _xml_response(draft.content)
    chosen = [v for v in versions if wanted is None or v.version == wanted]
    if not chosen:
        raise NotFound(_("There is no such version."))
    return _xml_response(chosen[0].content)


@bp.post("/analyst/items/<code>/draft")
@role_required("analyst")
def analyst_save(code: str):
    content = request.get_data()  # bytes: the loader decodes them as the XML declares
    try:
        if not content.strip():
            raise InvalidInput(_("The diagram is empty."))
        _draft, findings = drafts.save_draft(current_user, code, content)
    except drafts.UnreadableDiagram as exc:
        reason = exc.details["findings"][0]["message"]
        return _json_error(InvalidInput(_("The diagram cannot be read: %(reason)s", reason=reason),
                                        **exc.details))  # fmt: skip
    except AppError as exc:
        return _json_error(exc)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    summary = _("Draft saved: %(e)d errors, %(w)d warnings.", e=errors, w=warnings)
    return jsonify({"errors": errors, "warnings": warnings, "summary": summary,
                    "findings": [f.as_dict() for f in findings]})  # fmt: skip


@bp.post("/analyst/items/<code>/deploy")
@role_required("analyst")
def analyst_deploy(code: str):
    """Deploy the draft; only when confirmed (the modeler asks first), else nothing is."""
    body = request.get_json(silent=True) or {}
    if body.get("confirm") is not True:
        return _json_error(InvalidInput(_("Confirm the deployment: nothing was deployed.")))
    try:
        version = drafts.deploy_draft(current_user, code, str(body.get("comment") or ""))
    except AppError as exc:
        drafts.remember_refusal(code, exc.details.get("findings") or [])
        return _json_error(exc)
    summary = _("Deployed as version %(v)d; new cases follow it.", v=version.version)
    return jsonify({"version": version.version, "summary": summary}), 201


@bp.post("/analyst/items/<code>/draft/rewrite")
@role_required("analyst")
def analyst_rewrite(code: str):
    """Apply the suggested rewrites of the draft's JUEL/FEEL expressions; show the new report."""
    item = _item_or_404(code)
    if drafts.draft_of(item) is None:
        raise NotFound(_("This item has no draft."))
    done = attempt(drafts.apply_rewrites, current_user, code)
    if not done.ok:
        return redirect(url_for("web.analyst_edit", code=code))
    rewritten, findings = done.value
    if not rewritten.rewritten:
        flash(_("The draft has no JUEL or FEEL expression that can be rewritten."), "info")
    else:
        errors = sum(1 for f in findings if f.severity == "error")
        summary = _(
            "%(n)d expressions rewritten; draft saved: %(e)d errors, %(w)d warnings.",
            n=len(rewritten.rewritten), e=errors, w=len(findings) - errors,
        )  # fmt: skip
        flash(summary, "error" if errors else "success")
    return redirect(url_for("web.analyst_edit", code=code))


# --- versions: their difference, a dry run, where cases get stuck --------------------------


def _source(item: Item, which: str | None) -> tuple[str, str] | None:
    """Return (label, xml text) of 'draft' or a version number (default: the newest), or
    None when the item has no such draft or version."""
    if which == "draft":
        draft = drafts.draft_of(item)
        return ("draft", draft.content) if draft is not None else None
    found = drafts.versions(item.code)
    if which not in (None, ""):
        if not str(which).isdigit():
            return None
        found = [v for v in found if v.version == int(which)]
    return (str(found[0].version), found[0].content) if found else None


def _diagram(code: str, which: str | None) -> tuple[str, str]:
    """Return (label, xml text) of 'draft' or a version number; NotFound if there is none."""
    found = _source(_item_or_404(code), which)
    if found is None:
        raise NotFound(_("This item has no draft.") if which == "draft"
                       else _("There is no such version."))  # fmt: skip
    return found


def _item_or_404(code: str) -> Item:
    item = item_by_code(code)
    if item is None:
        raise NotFound(_("There is no such item."))
    return item


@bp.get("/analyst/items/<code>/diff")
@role_required("analyst")
def analyst_diff(code: str):
    item = _item_or_404(code)
    listed = drafts.versions(code)
    has_draft = drafts.draft_of(item) is not None
    new = request.args.get("new") or ("draft" if has_draft else None)
    new_label, new_xml = _diagram(code, new)
    old = request.args.get("old")
    if not old:
        older = [v.version for v in listed if new_label == "draft" or v.version < int(new_label)]
        old = str(older[0]) if older else new_label
    old_label, old_xml = _diagram(code, old)
    try:
        difference = diff_diagrams(old_xml.encode("utf-8"), new_xml.encode("utf-8"),
                                   old_name=f"{code} v{old_label}",
                                   new_name=f"{code} v{new_label}")  # fmt: skip
    except OneWindowError as exc:
        flash(exc.message, "error")
        difference = None
    # the chooser lists the newer file's diagrams; the older one shows the matching diagram
    chooser = choose_diagram(new_xml, f"{code}.bpmn", asked_diagram())
    old_diagram = chooser.matching(old_xml, f"{code}.bpmn")
    return render_template(
        "analyst/diff.html", item=item, versions=listed, has_draft=has_draft,
        old=old_label, new=new_label, diff=difference, chooser=chooser,
        old_svg=draw(old_xml, f"{code}.bpmn", old_diagram,
                     difference.highlight_old() if difference else None),
        new_svg=draw(new_xml, f"{code}.bpmn", chooser.chosen_id,
                     difference.highlight_new() if difference else None),
    )  # fmt: skip


def _sample_data(item: Item) -> dict:
    """An application form for the dry run: each field's default or a plain sample."""
    samples = {"long": 10, "boolean": True, "date": today().isoformat()}
    out = {}
    for field in item.entry.get("form", []):
        options = field.get("options") or []
        if field.get("default") not in (None, ""):
            out[field["id"]] = field["default"]
        elif options:
            first = options[0]
            out[field["id"]] = first[0] if isinstance(first, list | tuple) else first
        else:
            out[field["id"]] = samples.get(field.get("type"), "示例")
    return out


def _with_choices(fields: list[dict]) -> list[dict]:
    return [{**f, "choices": [(o["id"], o["name"]) for o in f.get("options", [])]} for f in fields]


def _dry_input(item: Item) -> tuple[str, dict, list[dryrun.Choice]]:
    """Read the sample data and the choices so far from the posted form (ValueError if bad)."""
    text = request.form.get("data") or json.dumps(_sample_data(item), ensure_ascii=False,
                                                  indent=1)  # fmt: skip
    if request.method != "POST":
        return text, json.loads(text), []
    if len(text) > DRY_RUN_MAX_TEXT or len(request.form.get("steps", "")) > 100_000:
        raise ValueError(_("the sample data or the steps are too long"))
    data = json.loads(text)  # json.JSONDecodeError is a ValueError and says where
    if not isinstance(data, dict):
        raise ValueError(_("the sample data must be a JSON object"))
    raw = json.loads(request.form.get("steps") or "[]")
    if not isinstance(raw, list):
        raise ValueError(_("the steps must be a list"))
    return text, data, [dryrun.Choice.from_dict(s) for s in raw][: dryrun.MAX_STEPS]


def _choose(xml: bytes, filename: str, data: dict, steps: list[dryrun.Choice],
            action: str) -> str | None:  # fmt: skip
    """Add the outcome posted for a waiting task ("choose:<task>:<outcome>") to `steps`;
    return what is wrong with it, if anything (DiagramError if the diagram cannot run)."""
    spec_id, _sep, outcome = action.removeprefix("choose:").partition(":")
    run = dryrun.dry_run(xml, filename, data, steps, cache=runtime().compiled)
    ready = {t.spec_id: t for t in run.ready}
    task = ready.get(spec_id)
    if task is None:
        return _("That task is not waiting for a decision.")
    fields = [f.as_dict() for f in task.form]
    values = form_values(fields, request.form, prefix=f"f_{spec_id}_")
    checked = attempt(check_form, fields, values, task.name, flash_error=False)
    if not checked.ok:
        wrong = checked.fields
        return "; ".join([checked.error.message, *(f"{k}: {v}" for k, v in wrong.items())])
    steps.append(dryrun.Choice(spec_id, outcome, checked.value))
    return None


@bp.route("/analyst/items/<code>/dryrun", methods=["GET", "POST"])
@role_required("analyst")
def analyst_dryrun(code: str):
    """Run a draft or a version with sample data, choosing an outcome at each user task.

    The choices so far travel in the form, so nothing is stored; each request runs the
    diagram again from its start.
    """
    item = _item_or_404(code)
    has_draft = drafts.draft_of(item) is not None
    label, content = _diagram(code, request.values.get("source") or ("draft" if has_draft else ""))
    xml, filename = content.encode("utf-8"), f"{code}.bpmn"
    chooser = choose_diagram(content, filename, asked_diagram())
    problem, result, data_text = None, None, request.form.get("data", "")
    refusals = []  # the findings that keep a diagram from running, each shown on its own
    try:
        data_text, data, steps = _dry_input(item)
        data_ok = True
    except ValueError as exc:
        problem, data, steps = _("The sample data is not valid: %(e)s", e=str(exc)), {}, []
        data_ok = False
    action = request.form.get("action", "")
    try:
        if problem is None and action == "undo":
            steps = steps[:-1]
        elif problem is None and action == "restart":
            steps = []
        elif problem is None and action.startswith("choose:"):
            problem = _choose(xml, filename, data, steps, action)
        if data_ok:
            result = dryrun.dry_run(xml, filename, data, steps, cache=runtime().compiled)
    except DiagramError as exc:
        refusals = [f for f in exc.findings if f.severity == "error"]
        problem = _("The diagram cannot be run:") if refusals else exc.message
    names = {}
    if result is not None:
        names = {k: n.name for k, n in runtime().compile(xml, filename).nodes.items()}
    ready_forms = {t.spec_id: _with_choices([f.as_dict() for f in t.form])
                   for t in (result.ready if result else [])}  # fmt: skip
    return render_template(
        "analyst/dryrun.html", item=item, source=label, has_draft=has_draft,
        versions=drafts.versions(code), data_text=data_text, problem=problem, result=result,
        refusals=refusals,
        steps_json=json.dumps([s.as_dict() for s in steps], ensure_ascii=False),
        ready_forms=ready_forms, names=names, chooser=chooser, posts=post_names(),
        data_json=json.dumps(result.data, ensure_ascii=False, indent=1, default=str)
        if result else "",
        svg=draw(content, filename, chooser.chosen_id, result.highlight() if result else None),
    )  # fmt: skip


@bp.get("/analyst/items/<code>/stuck")
@role_required("analyst", "supervisor", "admin")
def analyst_stuck(code: str):
    item = _item_or_404(code)
    wanted = request.args.get("version", type=int)
    try:
        figures = stuck.where_stuck(code, wanted)
    except LookupError:
        raise NotFound(_("There is no such version.")) from None
    chooser = choose_diagram(figures.version.content, figures.version.filename, asked_diagram())
    svg = draw(figures.version.content, figures.version.filename, chooser.chosen_id,
               figures.highlight(), figures.notes())  # fmt: skip
    return render_template("analyst/stuck.html", item=item, figures=figures, svg=svg,
                           chooser=chooser, versions=drafts.versions(code))  # fmt: skip
