"""Printable notices of a licensing case (受理通知书, 补正告知书, 决定书 …) as PDF."""

from __future__ import annotations

from .pdf import (
    CaseFacts,
    Centre,
    FontChoice,
    acceptance_receipt,
    cjk_font,
    commitment_notice,
    decision_letter,
    qr_payload,
    refusal_notice,
    supplement_notice,
)

__all__ = [
    "CaseFacts",
    "Centre",
    "FontChoice",
    "acceptance_receipt",
    "cjk_font",
    "commitment_notice",
    "decision_letter",
    "qr_payload",
    "refusal_notice",
    "supplement_notice",
]
