"""Keep a workflow's task tree bounded however often a case loops (issue 16).

Placeholder entry point: the pruning itself is being written; until then nothing is removed.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn import BpmnWorkflow


def compact_workflow(workflow: BpmnWorkflow) -> int:
    """Remove finished tasks the workflow no longer needs; return how many were removed."""
    return 0
