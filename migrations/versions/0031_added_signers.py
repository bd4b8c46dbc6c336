"""added signers (加签): a task no stage of the diagram made, for another task that waits
for it

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("kind", sa.String(length=16), nullable=True))
    op.add_column("tasks", sa.Column("added_for", sa.Uuid(), nullable=True))
    op.add_column("tasks", sa.Column("waits_for", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("tasks", "waits_for")
    op.drop_column("tasks", "added_for")
    op.drop_column("tasks", "kind")
