"""case copies (抄送): a case sent to officials for information, by its task holder or by
the diagram

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("spec_id", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_copies_case_id_cases")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_case_copies_user_id_users")),
        sa.ForeignKeyConstraint(["sent_by_id"], ["users.id"],
                                name=op.f("fk_case_copies_sent_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_copies")),
    )  # fmt: skip
    op.create_index("ix_case_copies_case", "case_copies", ["case_id"])
    op.create_index("ix_case_copies_user", "case_copies", ["user_id", "sent_at"])
    op.create_index("ix_case_copies_unread", "case_copies", ["user_id"],
                    postgresql_where=sa.text("read_at IS NULL"),
                    sqlite_where=sa.text("read_at IS NULL"))  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_case_copies_unread", table_name="case_copies")
    op.drop_index("ix_case_copies_user", table_name="case_copies")
    op.drop_index("ix_case_copies_case", table_name="case_copies")
    op.drop_table("case_copies")
