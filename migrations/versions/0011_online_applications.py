"""online applications, uploads, evaluations, follow-ups, query attempts

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 15:54:41.006643
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "query_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_query_attempts")),
    )
    with op.batch_alter_table("query_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_query_attempts_key_at", ["key", "at"], unique=False)

    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_evaluations_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_evaluations_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("case_id", "round", name=op.f("uq_evaluations_case_id")),
    )
    op.create_table(
        "online_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=False),
        sa.Column("applicant_name", sa.String(length=200), nullable=False),
        sa.Column("applicant_id_number", sa.String(length=40), nullable=False),
        sa.Column("applicant_phone", sa.String(length=30), nullable=True),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("review_due_at", sa.DateTime(), nullable=False),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_by_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["applicant_user_id"],
            ["users.id"],
            name=op.f("fk_online_applications_applicant_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_online_applications_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_online_applications_item_id_items")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"],
            ["users.id"],
            name=op.f("fk_online_applications_reviewed_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_applications")),
        sa.UniqueConstraint("number", name=op.f("uq_online_applications_number")),
    )
    with op.batch_alter_table("online_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_online_applications_applicant_user_id"),
            ["applicant_user_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_online_applications_status", ["status", "submitted_at"], unique=False
        )

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("contact_note", sa.Text(), nullable=True),
        sa.Column("rectification", sa.Text(), nullable=True),
        sa.Column("handled_by_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("second_evaluation_id", sa.Integer(), nullable=True),
        sa.Column("warned", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_follow_ups_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_follow_ups_evaluation_id_evaluations"),
        ),
        sa.ForeignKeyConstraint(
            ["handled_by_id"], ["users.id"], name=op.f("fk_follow_ups_handled_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["second_evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_follow_ups_second_evaluation_id_evaluations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("evaluation_id", name=op.f("uq_follow_ups_evaluation_id")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_follow_ups_case_id"), ["case_id"], unique=False)

    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("material_code", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("stored_name", sa.String(length=80), nullable=False),
        sa.Column("content_type", sa.String(length=80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("scan", sa.String(length=16), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["online_applications.id"],
            name=op.f("fk_uploads_application_id_online_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_uploads_stored_name")),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_uploads_application_id"), ["application_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_application_id"))

    op.drop_table("uploads")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_case_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("online_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_online_applications_status")
        batch_op.drop_index(batch_op.f("ix_online_applications_applicant_user_id"))

    op.drop_table("online_applications")
    op.drop_table("evaluations")
    with op.batch_alter_table("query_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_query_attempts_key_at")

    op.drop_table("query_attempts")
