"""The data a caller maps its case rows to, for the notices: the centre and the case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlencode


@dataclass(frozen=True)
class Centre:
    """The service centre that issues the notices."""

    name: str
    address: str
    supervision_phone: str  # 驻厅监察室
    seal_text: str = "行政审批专用章"


@dataclass(frozen=True)
class CaseFacts:
    """What every notice needs to know about the case. Times are local times already."""

    case_no: str
    query_code: str
    item_name: str
    department: str  # the accepting unit (受理单位)
    applicant_name: str
    applicant_phone: str  # masked or not: the caller decides
    received_at: datetime
    accepted_at: datetime | None = None  # when the window actually accepted it
    # the acceptance day the time limits count from (受理日): the day of accepted_at, or the
    # next working day when it was accepted outside office hours or on a day off
    accepted_on: date | None = None
    promised_due: date | None = None
    promised_days: int | None = None  # working days
    statutory_days: int | None = None  # working days
    acceptor_name: str = ""
    acceptor_phone: str = ""
    window: str = ""
    query_url: str = ""  # where the public progress query lives
    # a signed document's own code and the public page that verifies it (app/licences): the
    # QR code then opens that page instead of the progress query
    verify_code: str = ""
    verify_url: str = ""


@dataclass(frozen=True)
class Opinion:
    """The supervision office's opinion (监察室意见) for its copy of the commitment notice:
    what it says, the supervisor who entered it and the centre's local day they did."""

    text: str
    by: str
    on: date


def qr_payload(facts: CaseFacts) -> str:
    """What the QR code on a notice encodes: the progress query for this case."""
    if facts.query_url:
        sep = "&" if "?" in facts.query_url else "?"
        query = urlencode({"case_no": facts.case_no, "code": facts.query_code})
        return f"{facts.query_url}{sep}{query}"
    return f"办件编号:{facts.case_no};查询码:{facts.query_code}"
