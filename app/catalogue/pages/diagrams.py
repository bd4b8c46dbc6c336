"""The diagram chooser of the pages that draw a BPMN file: which of its diagrams is shown.

A file can hold several BPMNDiagram elements (a collaboration, a process, the drill-down of
a sub-process). A page lists them when there is more than one and draws the one named by
the GET (or form) parameter `diagram`, else the file's default (workflows.render). Links
keep the page's other parameters, so the chooser works without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from workflows.errors import OneWindowError
from workflows.render import DiagramInfo, list_diagrams, render_svg

from ...errors import NotFound
from ...web.present import element_type_name

PARAM = "diagram"
ANCHOR = "diagram-chooser"


@dataclass
class DiagramChooser:
    """The diagrams of one file, the one drawn, and whether the reader asked for it."""

    diagrams: list[DiagramInfo] = field(default_factory=list)
    chosen: DiagramInfo | None = None
    asked: str | None = None  # the id in the request; None when the default is drawn

    def url(self, diagram_id: str) -> str:
        """Return this page's address with the given diagram and every other parameter."""
        view_args = request.view_args or {}
        # url_for reads "_external" and the like itself, and the path's own values win
        args = {key: values for key, values in request.args.to_dict(flat=False).items()
                if key not in view_args and not key.startswith("_")}  # fmt: skip
        args[PARAM] = [diagram_id]
        return url_for(request.endpoint, **view_args, **args, _anchor=ANCHOR)

    @property
    def chosen_id(self) -> str | None:
        """Return the id of the diagram drawn (None if the file has none)."""
        return self.chosen.id if self.chosen else None

    def matching(self, content: str, filename: str) -> str | None:
        """Return the id of another file's diagram that matches the chosen one, if any.

        The same diagram id, else a diagram showing the same process or sub-process; None
        (the other file's default) when there is neither.
        """
        if self.chosen is None:
            return None
        try:
            others = list_diagrams(content.encode("utf-8"), filename)
        except OneWindowError:
            return None
        for key in ("id", "shows_id"):
            wanted = getattr(self.chosen, key)
            found = [d.id for d in others if wanted and getattr(d, key) == wanted]
            if found:
                return found[0]
        return None


def asked_diagram() -> str | None:
    """Return the diagram id the request asks for (a form's button first), or None."""
    wanted = request.form.get("show_diagram") or request.values.get(PARAM)
    return wanted or None


def choose_diagram(content: str | None, filename: str, wanted: str | None) -> DiagramChooser:
    """List the diagrams of a file and pick the one asked for (NotFound if there is none such).

    A file that cannot be read gives an empty chooser (the page says it cannot be drawn),
    unless a diagram was asked for: that is a 404 naming the id.
    """
    try:
        diagrams = list_diagrams(content.encode("utf-8"), filename) if content else []
    except OneWindowError:
        diagrams = []
    if wanted is None:
        return DiagramChooser(diagrams, next((d for d in diagrams if d.default), None))
    for info in diagrams:
        if info.id == wanted:
            return DiagramChooser(diagrams, info, wanted)
    raise NotFound(_("This diagram file has no diagram with the id %(id)s.", id=wanted[:100]))


def draw(
    content: str | None,
    filename: str,
    diagram_id: str | None,
    highlight: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
) -> Markup | None:
    """Draw one diagram of a file as inline SVG (None if it cannot be drawn)."""
    if not content:
        return None
    try:
        svg = render_svg(content.encode("utf-8"), filename=filename, highlight=highlight,
                         notes=notes, diagram_id=diagram_id,
                         kind_name=element_type_name)  # fmt: skip
    except OneWindowError:
        return None
    return Markup(svg)  # built by our renderer from escaped text; no scripts or styles
