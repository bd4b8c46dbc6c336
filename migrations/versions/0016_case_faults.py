"""case faults: the fault status counts as open, timers can be held or failed

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD_OPEN = "status IN ('received', 'supplement_required', 'accepted', 'in_progress')"
NEW_OPEN = "status IN ('received', 'supplement_required', 'accepted', 'in_progress', 'fault')"


def _open_due_index(where: str) -> None:
    op.create_index("ix_cases_open_due", "cases", ["due_at"], unique=False,
                    postgresql_where=sa.text(where), sqlite_where=sa.text(where))  # fmt: skip


def upgrade() -> None:
    op.drop_index("ix_cases_open_due", table_name="cases")
    _open_due_index(NEW_OPEN)
    with op.batch_alter_table("timers") as batch_op:
        batch_op.add_column(sa.Column("failure", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timers") as batch_op:
        batch_op.drop_column("failure")
    op.drop_index("ix_cases_open_due", table_name="cases")
    _open_due_index(OLD_OPEN)
