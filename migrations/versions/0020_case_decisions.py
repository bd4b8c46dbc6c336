"""decisions in the licensing authority's name: the authority's number prefix (机关代字) and
seal, its yearly number series, and each authority's decision of a case with its number

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("number_prefix", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("seal_text", sa.String(length=40), nullable=True))
    op.create_table(
        "number_series",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_number_series_department_id_departments")),
        sa.PrimaryKeyConstraint("department_id", "year", name=op.f("pk_number_series")),
    )  # fmt: skip
    op.create_table(
        "case_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=True),
        sa.Column("certificate_no", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_case_decisions_case_id_cases")),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_case_decisions_department_id_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_decisions")),
        sa.UniqueConstraint("department_id", "number",
                            name=op.f("uq_case_decisions_department_id")),
    )  # fmt: skip
    op.create_index(op.f("ix_case_decisions_case_id"), "case_decisions", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_decisions_case_id"), table_name="case_decisions")
    op.drop_table("case_decisions")
    op.drop_table("number_series")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("seal_text")
        batch.drop_column("number_prefix")
