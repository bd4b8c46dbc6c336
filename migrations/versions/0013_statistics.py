"""statistics: the rollup cache of the register (stat_days, stat_rolls), events by type and time

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24

The register counts events of some types in a period (supplement requests, notices,
pauses, extensions, warnings, ratings, completed tasks); ix_events_type_at lets it read
one day's events of those types without scanning the whole log. The index is created
without a batch operation, so SQLite keeps the log's append-only triggers.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

COUNTERS = (
    "received", "accepted", "supplements", "refused", "approved", "denied", "withdrawn",
    "commitment_notices", "on_time_promised", "on_time_statutory", "days_taken_sum",
    "paused_days", "extensions", "yellow", "red", "eval_5", "eval_4", "eval_3", "eval_2",
    "eval_1",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "stat_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("item_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("window_id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COUNTERS),
        sa.Column("rolled_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_stat_days_item_id_items")
        ),
        sa.PrimaryKeyConstraint("day", "item_id", "window_id", name=op.f("pk_stat_days")),
    )
    op.create_table(
        "stat_rolls",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rolled_at", sa.DateTime(), nullable=False),
        sa.Column("rows", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_stat_rolls")),
    )
    op.create_index("ix_events_type_at", "events", ["type", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_events_type_at", table_name="events")
    op.drop_table("stat_rolls")
    op.drop_table("stat_days")
