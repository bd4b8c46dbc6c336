"""Printable notices of a licensing case (受理通知书, 补正告知书, 决定书 …) as PDF.

`facts` holds the data a caller maps its case rows to, `pdf` the notices, `layout` the page
they are set on; the font, the seal and the page count are app.printing's.
"""

from __future__ import annotations

from .decisions import decision_letter
from .facts import CaseFacts, Centre, Opinion, qr_payload
from .pdf import (
    acceptance_receipt,
    commitment_notice,
    refusal_notice,
    supplement_notice,
)

__all__ = [
    "CaseFacts",
    "Centre",
    "Opinion",
    "acceptance_receipt",
    "commitment_notice",
    "decision_letter",
    "qr_payload",
    "refusal_notice",
    "supplement_notice",
]
