"""How a decided case's result reaches the applicant (送达), checked before the case closes.

The window records the method (当场领取, 邮寄, 电子送达, 委托代领), to whom the result went
and, for the post, the tracking number; the record goes into the `case_closed` event, where
the applicant's progress query and the auditors read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import InvalidInput

# the ways a result is delivered; "mail" needs the tracking number
DELIVERY_METHODS = ("in_person", "agent", "mail", "electronic")
RECIPIENT_MAX = 100
NOTE_MAX = 500
TRACKING = re.compile(r"[A-Za-z0-9-]{6,40}")


@dataclass(frozen=True)
class Delivery:
    """One delivery of a case's result, as the clerk records it."""

    method: str
    recipient: str
    tracking_no: str = ""
    note: str = ""

    def checked(self) -> dict:
        """Return the delivery as the event's data, or refuse it naming every wrong field."""
        method, recipient = (self.method or "").strip(), (self.recipient or "").strip()
        tracking, note = (self.tracking_no or "").strip(), (self.note or "").strip()
        problems = {}
        if method not in DELIVERY_METHODS:
            problems["method"] = _("Choose how the result was delivered.")
        if not recipient:
            problems["recipient"] = _("Say to whom the result was delivered.")
        elif len(recipient) > RECIPIENT_MAX:
            problems["recipient"] = _("The recipient is at most %(n)d characters.",
                                      n=RECIPIENT_MAX)  # fmt: skip
        if method == "mail" and not TRACKING.fullmatch(tracking):
            problems["tracking_no"] = _("A result sent by post needs its tracking number "
                                        "(6 to 40 letters, digits or hyphens).")  # fmt: skip
        if len(note) > NOTE_MAX:
            problems["note"] = _("The note is at most %(n)d characters.", n=NOTE_MAX)
        if problems:
            raise InvalidInput(" ".join(problems.values()), fields=problems)
        data = {"method": method, "recipient": recipient, "note": note}
        if method == "mail":
            data["tracking_no"] = tracking
        return data
