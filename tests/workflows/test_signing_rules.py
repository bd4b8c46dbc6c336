"""会签 / 或签 / 依次 as multi-instance user tasks (issue 23), without a database: each
instance stands for one signer, the completion condition reads the signers' counts, a
rejection's effect follows the diagram's rule, and the re-execution agrees."""

from __future__ import annotations

import pytest

from tests.variants import countersign, demo
from workflows.engine import Engine
from workflows.replay import EventLog, verify

ENGINE = Engine.standard()
MEMBERS = ["head_lin", "deputy_luo", "deputy_xie"]
FORM = {"project_name": "x", "floor_area": 30000, "members": MEMBERS}
ALL_OR_A_REJECTION = "nrOfRejections > 0 or nrOfCompletedInstances == nrOfInstances"
ANY = "nrOfCompletedInstances >= 1"
TWO_THIRDS = "nrOfApprovals * 3 >= nrOfInstances * 2 or nrOfRejections * 3 > nrOfInstances"


def _diagram(condition: str | None, sequential: bool = False):
    xml = countersign(demo("planning-permit"), "Task_collective", "members", condition,
                      sequential)  # fmt: skip
    return ENGINE.compile(xml, "cs.bpmn")


def _at_collective(diagram):
    log = EventLog()
    run = log.receive(ENGINE, diagram, FORM)
    for spec in ("Task_lead", "Task_deputy"):
        log.complete(run, spec)
    return run, log


def _sign(run, log, signer: str, outcome: str = "approve"):
    task = next(t for t in run.ready_tasks() if t.signer == signer)
    step = run.complete(task.id, outcome, {"comment": ""})
    log._completed(task, outcome, "", {}, step, signer, log._at())
    return step


def test_every_signer_gets_an_instance_and_all_must_sign():
    run, log = _at_collective(_diagram(ALL_OR_A_REJECTION))
    ready = run.ready_tasks()
    assert sorted(t.signer for t in ready) == sorted(MEMBERS)
    assert {t.spec_id for t in ready} == {"Task_collective"}
    _sign(run, log, "head_lin")
    run = ENGINE.restore(run.diagram, ENGINE.serialize(run))  # a stored state carries it on
    _sign(run, log, "deputy_luo")
    assert [t.signer for t in run.ready_tasks()] == ["deputy_xie"]
    _sign(run, log, "deputy_xie")
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_head"]
    assert verify(run.diagram, log.events) is None


def test_one_rejection_ends_the_countersign_and_denies():
    run, log = _at_collective(_diagram(ALL_OR_A_REJECTION))
    _sign(run, log, "head_lin")
    step = _sign(run, log, "deputy_luo", "reject")
    assert len(step.cancelled) == 1  # deputy_xie's instance goes
    assert run.is_completed and run.result() == "denied"
    assert verify(run.diagram, log.events) is None


def test_any_one_signature_completes_an_or_sign():
    run, log = _at_collective(_diagram(ANY))
    step = _sign(run, log, "deputy_xie")
    assert len(step.cancelled) == 2
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_head"]
    assert verify(run.diagram, log.events) is None


@pytest.mark.parametrize(("outcomes", "then"), [
    (["approve", "approve"], "Task_head"),            # two of three: done
    (["approve", "reject", "approve"], "Task_head"),  # a third against: two for still carry it
])  # fmt: skip
def test_a_share_of_the_signers_completes(outcomes, then):
    run, log = _at_collective(_diagram(TWO_THIRDS))
    for signer, outcome in zip(MEMBERS, outcomes, strict=False):
        _sign(run, log, signer, outcome)
    assert [t.spec_id for t in run.ready_tasks()] == [then]
    assert run.data["nrOfApprovals"] == 2


def test_in_turn_each_signer_after_the_one_before():
    run, log = _at_collective(_diagram(None, sequential=True))
    for signer in MEMBERS:
        assert [t.signer for t in run.ready_tasks()] == [signer]
        _sign(run, log, signer)
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_head"]
    assert verify(run.diagram, log.events) is None
