"""complaints and the 12319 hotline: tickets, notes, history, cards, daily numbering

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

The history and the investigation notes are append-only: triggers refuse UPDATE and
DELETE on them, like on the audit log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OPEN_SQL = "status IN ('registered', 'assigned', 'investigating')"
APPEND_ONLY = ("complaint_events", "complaint_notes")


def upgrade() -> None:
    op.create_table(
        "complaint_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_complaint_counters")),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=False),
        sa.Column("complainant_name", sa.String(length=100), nullable=False),
        sa.Column("complainant_phone", sa.String(length=30), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("yellow_at", sa.DateTime(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("replied_by_id", sa.Integer(), nullable=True),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("archived_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["archived_by_id"], ["users.id"], name=op.f("fk_complaints_archived_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_complaints_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_complaints_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"], ["users.id"], name=op.f("fk_complaints_registered_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["replied_by_id"], ["users.id"], name=op.f("fk_complaints_replied_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("number", name=op.f("uq_complaints_number")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index("ix_complaints_case", ["case_id"], unique=False)
        batch_op.create_index(
            "ix_complaints_department", ["department_id", "received_at"], unique=False
        )
        batch_op.create_index(
            "ix_complaints_open_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text(OPEN_SQL),
            sqlite_where=sa.text(OPEN_SQL),
        )
        batch_op.create_index("ix_complaints_received_at", ["received_at"], unique=False)

    op.create_table(
        "complaint_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=24), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_complaint_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_events_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_events")),
        sa.UniqueConstraint("complaint_id", "seq", name=op.f("uq_complaint_events_complaint_id")),
    )
    op.create_table(
        "complaint_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_complaint_notes_author_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_notes_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_notes")),
    )
    with op.batch_alter_table("complaint_notes", schema=None) as batch_op:
        batch_op.create_index("ix_complaint_notes_ticket", ["complaint_id", "at"], unique=False)

    op.create_table(
        "complaint_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_warnings_complaint_id_complaints"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_complaint_warnings_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_warnings")),
        sa.UniqueConstraint(
            "complaint_id", "level", name=op.f("uq_complaint_warnings_complaint_id")
        ),
    )
    _append_only()


def _append_only() -> None:
    """Refuse UPDATE and DELETE on the history and the notes at the database level."""
    bind = op.get_bind()
    for table in APPEND_ONLY:
        message = f"{table} are append-only"
        if bind.dialect.name == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                )
        elif bind.dialect.name == "postgresql":
            op.execute(
                f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        elif bind.dialect.name == "sqlite":
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table("complaint_warnings")
    with op.batch_alter_table("complaint_notes", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_notes_ticket")

    op.drop_table("complaint_notes")
    op.drop_table("complaint_events")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_received_at")
        batch_op.drop_index("ix_complaints_open_due")
        batch_op.drop_index("ix_complaints_department")
        batch_op.drop_index("ix_complaints_case")

    op.drop_table("complaints")
    op.drop_table("complaint_counters")
