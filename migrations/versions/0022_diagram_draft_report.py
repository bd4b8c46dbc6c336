"""diagram_drafts.report: the last validation or deployment report of a draft, kept so the
modeler shows it again when the analyst reopens the draft

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("diagram_drafts") as batch:
        batch.add_column(sa.Column("report", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("diagram_drafts") as batch:
        batch.drop_column("report")
