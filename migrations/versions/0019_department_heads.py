"""department heads (负责人): who approves a licensing authority's (or the government's)
extensions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "department_heads",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=40), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_department_heads_department_id_departments")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_department_heads_user_id_users")),
        sa.PrimaryKeyConstraint("department_id", "user_id", name=op.f("pk_department_heads")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("department_heads")
