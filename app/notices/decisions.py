"""Decision letters (决定书) of a licensing case, in the licensing authority's name.

The service centre accepts the application and delivers the decision; the licensing
authority decides it (行政许可法 arts. 22–23, 26, 38). A letter is headed and sealed by the
authority, numbered by the authority's own series, and names the centre as the place of
acceptance and delivery.
"""

from __future__ import annotations

import os
from datetime import datetime

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer

from ..printing import chinese_date, markup
from .blocks import RIGHTS, acceptance_day, applied, body, opening, sentence
from .facts import CaseFacts, Centre
from .layout import build, font_and_styles, signature


def decision_letter(
    centre: Centre,
    facts: CaseFacts,
    approved: bool,
    decision_no: str,
    reason: str = "",
    legal_basis: str = "",
    decided_at: datetime | None = None,
    *,
    certificate: str = "",
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """准予行政许可决定书 / 不予行政许可决定书 (Law art. 38, 44).

    Approval: `reason` is what is granted (default: the item as applied for), `legal_basis`
    defaults to art. 38(1), `certificate` names the licence issued within 10 working days.
    Denial: `reason` and `legal_basis` are required; the letter states the rights to
    reconsideration (60 days) and litigation (6 months). Dated `decided_at`, the local time
    of the decision (a letter is written for a decided case only).
    """
    if not approved and (not reason.strip() or not legal_basis.strip()):
        raise ValueError("a denial needs its reasons and its legal basis (Law art. 38(2))")
    font, st = font_and_styles(font_path)
    title = "准予行政许可决定书" if approved else "不予行政许可决定书"
    if decided_at is None:
        raise ValueError("a decision letter is dated the day of the decision")
    decided = decided_at
    recalled = (
        f"{applied(facts, '提出的')}申请（办件编号：{markup(facts.case_no)}），"
        f"本机关已于{chinese_date(acceptance_day(facts))}依法受理。"
    )
    if approved:
        basis = sentence(legal_basis) or "《中华人民共和国行政许可法》第三十八条第一款"
        granted = sentence(reason) or f"准予{facts.item_name}"
        licence = f"行政许可证件（{markup(certificate)}）" if certificate else "行政许可证件"
        first = (
            f"{recalled}经审查，你（单位）的申请符合法定条件、标准。根据{markup(basis)}"
            "的规定，本机关决定准予行政许可。"
        )
        more = [
            body(f"准予许可的事项：{markup(facts.item_name)}。", st),
            body(f"准予许可的内容：{markup(granted)}。", st),
            body(
                "根据《中华人民共和国行政许可法》第四十四条的规定，本机关将自本决定作出之日起"
                f"十个工作日内向你（单位）颁发、送达{licence}。请凭本决定书"
                + (f"到{markup(facts.window)}" if facts.window else "到本中心")
                + "领取。",
                st,
            ),
        ]
    else:
        first = (
            f"{recalled}经审查，{markup(sentence(reason))}。根据{markup(sentence(legal_basis))}"
            "的规定，本机关决定不予行政许可。"
        )
        more = [body(RIGHTS, st)]
    story = opening(centre, facts, title, decision_no, first, st) + more
    story.append(KeepTogether([Spacer(1, 6 * mm), signature(centre, decided, font, seal_image)]))
    return build(centre, facts, title, story, font=font, with_qr=False)
