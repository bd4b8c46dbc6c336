"""migration plans: moving an item's running cases to another deployed version, their dry
run, the second person's decision and each case's outcome

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "migration_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("source_version_id", sa.Integer(), nullable=False),
        sa.Column("target_version_id", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("defaults", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("planned_by_id", sa.Integer(), nullable=False),
        sa.Column("planned_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                name=op.f("fk_migration_plans_item_id_items")),
        sa.ForeignKeyConstraint(["source_version_id"], ["diagram_versions.id"],
                                name=op.f("fk_migration_plans_source_version_id_diagram_versions")),
        sa.ForeignKeyConstraint(["target_version_id"], ["diagram_versions.id"],
                                name=op.f("fk_migration_plans_target_version_id_diagram_versions")),
        sa.ForeignKeyConstraint(["planned_by_id"], ["users.id"],
                                name=op.f("fk_migration_plans_planned_by_id_users")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_migration_plans_decided_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_plans")),
    )  # fmt: skip
    op.create_index(op.f("ix_migration_plans_item_id"), "migration_plans", ["item_id"],
                    unique=False)  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_migration_plans_item_id"), table_name="migration_plans")
    op.drop_table("migration_plans")
