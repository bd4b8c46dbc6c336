"""diagram drafts: what an analyst is editing before it is deployed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diagram_drafts",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("based_on_version", sa.Integer(), nullable=True),
        sa.Column("saved_by_id", sa.Integer(), nullable=True),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_diagram_drafts_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["saved_by_id"], ["users.id"], name=op.f("fk_diagram_drafts_saved_by_id_users")
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_diagram_drafts")),
    )


def downgrade() -> None:
    op.drop_table("diagram_drafts")
