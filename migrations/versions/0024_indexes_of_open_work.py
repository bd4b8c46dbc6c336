"""partial indexes of open work: the warning round's yellow times, tasks held for someone,
reported cases, urging notices; the cards by task and level

The scheduler's scans (yellow and red cards, A/B moves) and the supervision page read only
what is open, through these partial indexes, whatever the size of the history. The open
tasks' due-time index is made again holding the task ids (PostgreSQL INCLUDE), as the new
yellow-time index does: the warning round reads the ids from the index alone.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

OPEN_TASKS = "state = 'open'"
OPEN_CASES = "status IN ('received', 'supplement_required', 'accepted', 'in_progress', 'fault')"
INDEXES = (
    ("tasks", "ix_tasks_open_yellow", ["yellow_at"], OPEN_TASKS),
    ("tasks", "ix_tasks_open_due", ["due_at"], OPEN_TASKS),
    ("tasks", "ix_tasks_open_acting", ["created_at"],
     f"{OPEN_TASKS} AND acting_for_id IS NOT NULL"),
    ("cases", "ix_cases_open_yellow", ["yellow_at"], OPEN_CASES),
    ("cases", "ix_cases_open_reported", ["reported_at"],
     f"{OPEN_CASES} AND reported_at IS NOT NULL"),
    ("notifications", "ix_notifications_urging", ["created_at"], "kind = 'urging'"),
    ("warnings", "ix_warnings_task_level", ["task_id", "level"], None),
)  # fmt: skip
WITH_IDS = {"ix_tasks_open_yellow", "ix_tasks_open_due"}  # PostgreSQL: INCLUDE (id)


def _where(where: str | None) -> dict:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)} if where else {}


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_open_due", **_where(OPEN_TASKS))  # made again, with the ids
    for table, name, columns, where in INDEXES:
        include = {"postgresql_include": ["id"]} if name in WITH_IDS else {}
        with op.batch_alter_table(table) as batch:
            batch.create_index(name, columns, unique=False, **_where(where), **include)


def downgrade() -> None:
    for table, name, _columns, where in reversed(INDEXES):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(name, **_where(where))
    with op.batch_alter_table("tasks") as batch:
        batch.create_index("ix_tasks_open_due", ["due_at"], unique=False, **_where(OPEN_TASKS))
