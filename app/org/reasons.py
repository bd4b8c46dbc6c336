"""Why a task went to whom: stored as a code with parameters, put into words when read.

A task's assignment reason (the task row's `assignment_reason`, the `reason` of its
task_assigned, task_reassigned, task_transferred and task_escalated events) is written once
and read for years, by readers of either language. So it is stored structured, as compact
JSON such as {"reason": "b_acting", "post": 3, "passed": [["A", "leave", "2026-12-05T18:00"]]}
(the post and people by id, times in the centre's local time), and `reason_text` words it in
the reader's language with the names of the post and the people at display time. Reasons
stored as English sentences before this are shown as they are.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping

from flask import g, has_app_context
from flask_babel import gettext as _

from ..labels import labels

# the column holding the reason is 300 characters; a longer reason keeps only its code
REASON_MAX = 300

# who of a post holds a task: A, B acting for A, the post's leader
HOLDER_REASONS = {"A": "a_holds", "B": "b_acting", "leader": "leader_acting"}

away_name = labels(
    lambda: {
        "leave": _("on leave"),
        "trip": _("on a business trip"),
        "sick": _("on sick leave"),
        "other": _("away"),
        "no_checkin": _("not checked in today"),
    },
    unknown=lambda: _("away"),
)

# why a holder of the post was passed over, beside absence (`away_name`)
_barrier_name = labels(
    lambda: {
        "unset": _("not set"),
        "applicant": _("is the applicant of this case"),
        "four_eyes": _("decided the previous stage of this case (four-eyes)"),
        "signing": _("signs another instance of this stage already"),
    },
)

# why a task went up to the post's leader (a boundary timer with property escalate=leader)
escalation_why = labels(lambda: {"time_limit": _("the stage's time limit has passed")})


def escalation_why_zh(why: str) -> str:
    """The Chinese words of `why` for the leader's notification, stored as text."""
    return {"time_limit": "环节时限已过"}.get(why, why)


holder_role_name = labels(lambda: {"A": _("A"), "B": _("B"), "leader": _("the leader")})


@dataclasses.dataclass(frozen=True)
class Barrier:
    """Why one person cannot hold a task now: away (a kind and until when) or excluded.

    `until` is the end of an absence in the centre's local time ("2026-12-05T18:00"). The
    text (`str()`) is in the language of the moment it is read.
    """

    kind: str
    until: str | None = None

    def __str__(self) -> str:
        if self.kind in ("unset", "applicant", "four_eyes", "signing"):
            return _barrier_name(self.kind)
        what = away_name(self.kind)
        if self.until:
            return _("%(what)s until %(until)s", what=what, until=self.until.replace("T", " "))
        return what

    def stored(self, role: str) -> list:
        """The compact form kept in a stored reason: [role, kind] or [role, kind, until]."""
        return [role, self.kind] + ([self.until] if self.until else [])


def encode(reason: dict) -> str:
    """Return `reason` as the compact JSON stored in the reason column (300 characters)."""
    text = json.dumps(reason, ensure_ascii=False, separators=(",", ":"))
    if len(text) > REASON_MAX:  # many passed-over holders and a long note: keep what matters
        slim = {k: v for k, v in reason.items() if k not in ("passed", "note", "then")}
        text = json.dumps(slim, ensure_ascii=False, separators=(",", ":"))
    return text


def decode(value: str | dict | None) -> dict | str:
    """Return a stored reason as its dict, or an old free-text reason as the text itself."""
    if isinstance(value, dict):
        return value
    if not value or not value.startswith("{"):
        return value or ""
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict) and "reason" in parsed else value


Names = Callable[[int | None], str]


def reason_text(
    value: str | dict | None,
    person: Names | Mapping[int, str] | None = None,
    post: Names | Mapping[int, str] | None = None,
) -> str:
    """Word a stored assignment reason in the reader's language, with names, not ids.

    `person` and `post` name a user and a post by id (a function or a mapping); by default
    they are looked up in the database.
    """
    reason = decode(value)
    if isinstance(reason, str):
        return reason
    person_name = _namer(person, _user_name)
    post_name = _namer(post, _post_name)
    return _words(reason, person_name, post_name)


# long: one branch per kind of stored reason, each worded with the names read at display time
def _words(reason: dict, person: Names, post: Names) -> str:
    code = reason.get("reason")
    where = post(reason.get("post"))
    passed = "; ".join(
        _("%(role)s %(why)s", role=holder_role_name(p[0]), why=Barrier(*p[1:3]))
        for p in reason.get("passed", [])
    )
    if code in HOLDER_REASONS.values():
        role = next(r for r, c in HOLDER_REASONS.items() if c == code)
        text = _("assigned to %(role)s of %(post)s", role=holder_role_name(role), post=where)
        return _("%(text)s: %(passed)s", text=text, passed=passed) if passed else text
    if code in ("added", "added_b"):  # 加签: a signer the holder added before them
        by, signer = person(reason.get("by")), person(reason.get("signer"))
        if code == "added":
            return _("added as a signer by %(by)s", by=by)
        return _("B standing in for %(name)s, added as a signer by %(by)s", name=signer, by=by)
    if code in ("signer", "signer_b"):  # one signer of a 会签 stage, or B standing in
        text = (_("signs as one of the stage's signers") if code == "signer"
                else _("B standing in for %(name)s, one of the stage's signers",
                       name=person(reason.get("signer"))))  # fmt: skip
        return _("%(text)s: %(passed)s", text=text, passed=passed) if passed else text
    if code == "queue":
        return _(
            "nobody of %(post)s can take it (%(passed)s): waiting in the post's queue, "
            "supervision told",
            post=where,
            passed=passed,
        )
    if code == "shared":
        return _("offered to the holders of %(post)s: the first to claim it does it", post=where)
    if code == "no_post":
        return _("no post named '%(label)s': waiting unassigned", label=reason.get("label", ""))
    if code == "back_to_queue":
        return _(
            "back in the queue of %(post)s: its holder is %(why)s",
            post=where,
            why=Barrier(*reason.get("away", ["other"])),
        )
    if code == "escalated":
        return _(
            "escalated to the leader of %(post)s: %(why)s",
            post=where,
            why=escalation_why(reason.get("why", "")),
        )
    if code == "claimed":
        return _(
            "claimed by %(by)s (%(role)s)",
            by=person(reason.get("by")),
            role=holder_role_name(reason.get("role", "")),
        )
    if code == "window":
        return _("accepted at the window by the receiving clerk")
    if code == "transfer":
        return _(
            "transferred by %(by)s to %(role)s %(to)s: %(note)s",
            by=person(reason.get("by")),
            role=holder_role_name(reason.get("role", "")),
            to=person(reason.get("to")),
            note=reason.get("note", ""),
        )
    if code == "post_changed":
        then = reason.get("then")
        text = _("post %(post)s changed by %(by)s", post=where, by=person(reason.get("by")))
        return f"{text}; {_words(then, person, post)}" if isinstance(then, dict) else text
    return str(code)


def _namer(given: Names | Mapping[int, str] | None, default: Names) -> Names:
    if given is None:
        return default
    if callable(given):
        return given
    return lambda key: given.get(key) or default(key)


def remember_posts(names: Mapping[int, str]) -> None:
    """Keep for this request the names of posts a query has already read (by id), so that
    wording the reasons of the tasks it answers with costs no further round trip."""
    _memo("posts").update(names)


def post_label(name: str | None, code: str) -> str:
    """What a post is called in a reason: its name, else its code."""
    return name or code


def _memo(kind: str) -> dict[int, str]:
    if not has_app_context():
        return {}
    return g.setdefault(f"ow_reason_{kind}", {})


def _user_name(user_id: int | None) -> str:
    from ..db import session
    from .models import User

    if not user_id:
        return "—"
    memo = _memo("people")
    if user_id not in memo:
        user = session().get(User, user_id)
        memo[user_id] = user.name if user is not None else str(user_id)
    return memo[user_id]


def _post_name(post_id: int | None) -> str:
    from ..db import session
    from .models import Post

    if not post_id:
        return "—"
    memo = _memo("posts")
    if post_id not in memo:
        row = session().get(Post, post_id)
        memo[post_id] = post_label(row.name, row.code) if row is not None else str(post_id)
    return memo[post_id]
