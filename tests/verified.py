"""A case's chain checked and its log re-executed, as the auditor's verification does."""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.review import verify_case
from app.cases.models import Case
from app.db import session


def assert_verified(app, case_no: str) -> None:
    """Fail unless the case's chain is intact and its log re-executes to what it recorded."""
    with app.app_context():
        db = session()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        result = verify_case(db, case)
        assert result.ok, (case_no, result.chain, result.divergence, result.error)
