"""task delegations (委派): a task's holder hands the work to a colleague and gets it back

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite cannot add a constraint to a table; its batch mode would
    # rebuild the whole task table): the foreign key on PostgreSQL only
    op.add_column("tasks", sa.Column("delegated_to_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(op.f("fk_tasks_delegated_to_id_users"), "tasks", "users",
                              ["delegated_to_id"], ["id"])  # fmt: skip
    op.create_table(
        "task_delegations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("delegate_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("delegated_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("handed_back", sa.Boolean(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_task_delegations_case_id_cases")),
        sa.ForeignKeyConstraint(["holder_id"], ["users.id"],
                                name=op.f("fk_task_delegations_holder_id_users")),
        sa.ForeignKeyConstraint(["delegate_id"], ["users.id"],
                                name=op.f("fk_task_delegations_delegate_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_delegations")),
    )  # fmt: skip
    op.create_index("ix_task_delegations_task", "task_delegations", ["task_id"])
    op.create_index("ix_task_delegations_case", "task_delegations", ["case_id"])
    op.create_index("ix_task_delegations_open", "task_delegations", ["delegate_id"],
                    postgresql_where=sa.text("ended_at IS NULL"),
                    sqlite_where=sa.text("ended_at IS NULL"))  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_task_delegations_open", table_name="task_delegations")
    op.drop_index("ix_task_delegations_case", table_name="task_delegations")
    op.drop_index("ix_task_delegations_task", table_name="task_delegations")
    op.drop_table("task_delegations")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_tasks_delegated_to_id_users"), "tasks", type_="foreignkey")
    op.drop_column("tasks", "delegated_to_id")
