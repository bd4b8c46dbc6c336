"""index warnings by task: the inbox shows each task's open card

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("warnings") as batch:
        batch.create_index("ix_warnings_task", ["task_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("warnings") as batch:
        batch.drop_index("ix_warnings_task")
