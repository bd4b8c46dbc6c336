"""orjson on the hot path writes what `json` wrote: event seals, event data, workflow states and
API bodies stay the same text (or read back the same values) as before the switch."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
import uuid

import pytest
from flask import Flask

from app import jsonio
from app.audit.services import event_hash, event_text, jsonable
from tests.workflows.test_engine import APPROVAL
from workflows.engine import Engine, compile_diagram


class Colour(enum.Enum):
    RED = "red"


class Kind(enum.StrEnum):
    JOINT = "joint"


AT = dt.datetime(2026, 11, 20, 9, 30, 1, 250)
VALUES = [
    {"b": 1, "a": {"z": [1, True, None], "é": 2, "e": 3, "示": "例", "Z": 0}, "": ""},
    {"text": 'a\nb\tc\x00\x1f\x7f\u2028\u2029 "q" \\ / \ud7ff\ue000\U0001f600 \x08\x0c\r'},
    {"floats": [1e16, 1e-05, 0.1, 1.0, -0.0, 123456789.123456789, 1e300]},
    {"nan": float("nan"), "inf": float("inf")},
    {"int keys": {1: "one", 2: "two"}},
    {"big": 2**70, "negative": -(2**64)},
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678"), "at": AT, "day": AT.date()},
    {"enum": Colour.RED, "str enum": Kind.JOINT, "tuple": (1, "2")},
    {"deep": [[[{"k": [1, 2, {"x": "y"}]}]]]},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_canonical_text_of_a_seal_is_jsons_byte_for_byte(value):
    old = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                     default=str)  # fmt: skip
    assert jsonio.canonical(value) == old


def test_an_event_sealed_before_the_switch_still_matches_its_hash():
    data = {"outcome": "approve", "comment": "同意", "score": 4.5, "tiny": 1e-05, "n": [1, 2]}
    args = ("2026112012345678", 3, "task_completed", "wang", AT,
            uuid.UUID("12345678-1234-5678-1234-567812345678"), data, "0" * 64)  # fmt: skip
    body = {"case_no": args[0], "seq": 3, "type": args[2], "actor": "wang",
            "at": AT.isoformat(timespec="microseconds"), "task_id": str(args[5]), "data": data,
            "prev_hash": "0" * 64}  # fmt: skip
    before = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                        default=str)  # fmt: skip
    assert event_text(*args) == before
    assert event_hash(*args) == hashlib.sha256(before.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_event_data_round_trips_as_json_did(value):
    def canonical(v):
        if isinstance(v, dt.datetime):
            return v.isoformat(timespec="microseconds")
        if isinstance(v, uuid.UUID):
            return str(v)
        return v

    try:
        old = json.loads(json.dumps(value, ensure_ascii=False, default=canonical))
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            jsonable(value)
        return
    new = jsonable(value)
    # the same values, NaN included (compared as the text json writes of them)
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_a_json_column_reads_back_what_json_would_have_stored(value):
    try:
        old = json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return  # json refused it: so does the column (or writes it as json would)
    new = jsonio.loads(jsonio.dumps(value))
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)
    nan = value.get("nan")
    if nan is not None:
        assert math.isnan(new["nan"])  # never turned into null


def test_text_stored_by_json_reads_the_same():
    stored = json.dumps({"a": float("nan"), "b": "示例", "c": 2**70})  # NaN: only json reads it
    loaded = jsonio.loads(stored)
    assert math.isnan(loaded["a"]) and loaded["b"] == "示例" and loaded["c"] == 2**70


def test_api_bodies_are_what_flasks_default_provider_wrote():
    app = Flask(__name__)
    app.json = jsonio.FastJSONProvider(app)
    body = {"z": 1, "a": "示例", "at": AT, "id": uuid.UUID(int=7), "list": [True, None]}
    with app.app_context():
        response = app.json.response(body)
        old = Flask(__name__)
        old.json.ensure_ascii = False
    with old.app_context():
        expected = old.json.response(body)
    assert response.get_data() == expected.get_data()
    assert '"at":"Fri, 20 Nov 2026 09:30:01 GMT"' in response.get_data(as_text=True)
    assert app.json.loads(b'{"a": NaN, "b": 1}')["b"] == 1  # json read it: so does the API


def test_a_state_written_by_spiffworkflows_json_encoder_is_restored():
    engine = Engine.standard()
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 2, "applicant": "张三", "share": 0.25})
    new_state = engine.serialize(run)
    old_state = engine.serializer.serialize_json(run.workflow)  # how rows were written before
    assert json.loads(new_state) == json.loads(old_state)
    assert "张三" in new_state and "\\u" not in new_state
    for state in (old_state, new_state):
        again = engine.restore(diagram, state)
        [task] = again.ready_tasks()
        assert task.spec_id == "review" and again.data["share"] == 0.25
        step = again.complete(task.id, "approve", {"opinion": "材料齐全"})
        assert [t.spec_id for t in step.created] == ["chief"]


def test_a_state_with_an_integer_beyond_64_bits_keeps_it():
    engine = Engine.standard()
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 2, "huge": 2**80})
    for state in (engine.serialize(run), engine.serializer.serialize_json(run.workflow)):
        assert engine.restore(diagram, state).data["huge"] == 2**80
