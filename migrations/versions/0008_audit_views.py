"""audit views: who opened which case in the audit pages

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("page", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_audit_views_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_audit_views_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_views")),
    )
    with op.batch_alter_table("audit_views") as batch:
        batch.create_index("ix_audit_views_case", ["case_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_views") as batch:
        batch.drop_index("ix_audit_views_case")
    op.drop_table("audit_views")
