"""The OpenAPI paths of the approval verbs (issue 23): 抄送, 委派, 加签/减签, 撤回, 征求意见.
Each takes a reason; the server checks who may use it on every request."""

from __future__ import annotations


def _body(required: list[str], **properties: dict) -> dict:
    return {"type": "object", "required": required, "properties": properties}


TEXT = {"type": "string"}
REASON = {"reason": TEXT}
# how to decide in the same request and ask a signer to sign after (加签 after)
THEN_SIGN = {
    "type": "object",
    "required": ["reason"],
    "properties": {"to": TEXT, "post": TEXT, "reason": TEXT},
    "description": "加签 after: the decision waits for this signer (a username `to` or a post "
                   "code `post`); their approval lets it through, a rejection gives the task "
                   "back",
}  # fmt: skip


def verb_paths(op, json, path_param) -> dict:
    """The paths, built with the document's own helpers (`_op`, `_json`, `_path_param`)."""
    task, created = [path_param("id")], {"201": json({"type": "object"}, "Created")}
    done = {"200": json({"type": "object"})}
    return {
        "/cases/{case_no}/copies": {"post": op(
            "抄送: send the case to officials for information (the holder of an open task)",
            created, _body(["to", "reason"], to={"type": "array", "items": TEXT}, **REASON),
            params=[path_param("case_no")])},
        "/copies": {"get": op("The copies sent to me, unread first", done)},
        "/tasks/{id}/delegate": {"post": op(
            "委派: hand the work to a colleague, who fills it in and hands it back",
            created, _body(["to", "reason"], to=TEXT, **REASON), params=task)},
        "/tasks/{id}/take-back": {"post": op("委派: take the delegated work back", done,
                                             params=task)},
        "/delegations": {"get": op("The work delegated to me", done)},
        "/delegations/{id}/hand-back": {"post": op(
            "委派: hand the filled-in work back to the holder", done,
            _body(["data"], data={"type": "object"}, comment=TEXT), params=task)},
        "/tasks/{id}/add-signer": {"post": op(
            "加签 before: a colleague (`to`) or a post (`post`) signs before the holder decides",
            created, _body(["reason"], to=TEXT, post=TEXT, **REASON), params=task)},
        "/tasks/{id}/remove-signer": {"post": op(
            "减签: the holder removes an added signer (this is the added task) who has not acted",
            done, _body(["reason"], **REASON), params=task)},
        "/tasks/{id}/recall": {"post": op(
            "撤回: take back one's completion while nothing it opened was opened", done,
            _body(["reason"], **REASON), params=task)},
        "/tasks/{id}/ask-opinion": {"post": op(
            "征求意见: ask a post for a written opinion within 1-30 working days; the case does "
            "not wait", created,
            _body(["post", "question", "days"], post=TEXT, question=TEXT,
                  days={"type": "integer", "minimum": 1, "maximum": 30}), params=task)},
    }  # fmt: skip
