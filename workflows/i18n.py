"""Messages of the workflow package in the reader's language.

Inside the OneWindow app (a request, the scheduler, a CLI command with an app context) a
message comes from the app's zh/en catalogue through flask_babel; the package also runs
without any app (the bench, its own tests, tools reading a diagram), and then it speaks
English, the language the messages are written in.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from flask_babel import gettext as _babel_gettext


def _(message: str, /, **variables) -> str:
    """Return `message` translated when an app with Babel is running, else as written."""
    if has_app_context() and "babel" in current_app.extensions:
        return _babel_gettext(message, **variables)
    return message % variables if variables else message


# BPMN element types in words (the same words as the app's element_type_name)
ELEMENT_WORDS = {
    "task": "task",
    "userTask": "user task",
    "manualTask": "manual task",
    "serviceTask": "service task",
    "scriptTask": "script task",
    "businessRuleTask": "business rule task",
    "sendTask": "send task",
    "receiveTask": "receive task",
    "callActivity": "call activity",
    "subProcess": "sub-process",
    "adHocSubProcess": "ad-hoc sub-process",
    "transaction": "transaction",
    "startEvent": "start event",
    "endEvent": "end event",
    "intermediateCatchEvent": "intermediate catch event",
    "intermediateThrowEvent": "intermediate throw event",
    "boundaryEvent": "boundary event",
    "exclusiveGateway": "exclusive gateway",
    "parallelGateway": "parallel gateway",
    "inclusiveGateway": "inclusive gateway",
    "eventBasedGateway": "event-based gateway",
    "complexGateway": "complex gateway",
    "sequenceFlow": "sequence flow",
    "lane": "lane",
    "process": "process",
    "participant": "pool",
}


def element_word(kind: str) -> str:
    """Name a BPMN element type: in the reader's words inside the app, as BPMN has it outside.

    Outside the app (the bench, the package's tests) the type stays as BPMN writes it,
    "userTask", the form analysts search the XML for.
    """
    if kind in ELEMENT_WORDS and has_app_context() and "babel" in current_app.extensions:
        return _babel_gettext(ELEMENT_WORDS[kind])
    return kind
