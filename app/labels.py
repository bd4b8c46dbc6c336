"""Names of the codes the domains and the pages both show (statuses, roles, diagram
elements), in the reader's language.

A domain puts these names into its messages (a refused step names the case's status, a
missing role its name), and the pages show them; so they live here, outside the web layer,
which re-exports them for the templates (app/web/present.py).
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import get_locale
from flask_babel import gettext as _


def labels(
    words: Callable[[], dict[str, str]],
    empty: str | None = None,
    unknown: Callable[[], str] | None = None,
) -> Callable[[str | None], str]:
    """Make a function that names a code in the reader's language.

    `words` builds the table of names; it is built once for each language and kept, so the
    names follow the language of the request (building it at each use, a gettext per name,
    cost more than the rest of an API answer). A code without a name is shown as it is, or
    as `unknown()` says; no code at all (None, "") as `empty` when given.
    """
    tables: dict[str, dict[str, str]] = {}

    def name(code: str | None) -> str:
        if not code and empty is not None:
            return empty
        language = str(get_locale())
        table = tables.get(language)
        if table is None:
            table = tables[language] = dict(words())
        if code in table:
            return table[code]
        return unknown() if unknown is not None else code

    return name


status_name = labels(
    lambda: {
        "received": _("received"),
        "supplement_required": _("waiting for supplements"),
        "refused": _("refused at the window"),
        "accepted": _("accepted"),
        "in_progress": _("in progress"),
        "fault": _("workflow fault"),
        "decided": _("decided"),
        "closed": _("closed"),
        "withdrawn": _("withdrawn"),
        "open": _("open"),
        "completed": _("completed"),
        "cancelled": _("cancelled"),
    },
)


# the display name of a role in the current language
role_name = labels(
    lambda: {
        "clerk": _("window clerk"),
        "official": _("official"),
        "leader": _("leader"),
        "supervisor": _("supervisor"),
        "auditor": _("auditor"),
        "analyst": _("analyst"),
        "admin": _("admin"),
        "applicant": _("applicant"),
    },
)


# Name a BPMN element type (the diagrams' tooltips, the modeler's reports) in the reader's
# language; an analyst sees the type itself beside it where they need it.
element_type_name = labels(
    lambda: {
        "task": _("task"),
        "userTask": _("user task"),
        "manualTask": _("manual task"),
        "serviceTask": _("service task"),
        "scriptTask": _("script task"),
        "businessRuleTask": _("business rule task"),
        "sendTask": _("send task"),
        "receiveTask": _("receive task"),
        "callActivity": _("call activity"),
        "subProcess": _("sub-process"),
        "adHocSubProcess": _("ad-hoc sub-process"),
        "transaction": _("transaction"),
        "startEvent": _("start event"),
        "endEvent": _("end event"),
        "intermediateCatchEvent": _("intermediate catch event"),
        "intermediateThrowEvent": _("intermediate throw event"),
        "boundaryEvent": _("boundary event"),
        "exclusiveGateway": _("exclusive gateway"),
        "parallelGateway": _("parallel gateway"),
        "inclusiveGateway": _("inclusive gateway"),
        "eventBasedGateway": _("event-based gateway"),
        "complexGateway": _("complex gateway"),
        "sequenceFlow": _("sequence flow"),
        "messageFlow": _("message flow"),
        "association": _("association"),
        "dataInputAssociation": _("data association"),
        "dataOutputAssociation": _("data association"),
        "participant": _("pool"),
        "lane": _("lane"),
        "textAnnotation": _("text annotation"),
        "group": _("group"),
        "dataObjectReference": _("data object"),
        "dataStoreReference": _("data store"),
        "process": _("process"),
        "collaboration": _("collaboration"),
    },
    unknown=lambda: _("diagram element"),
)
