"""statistics of settled days: the 90th percentile's counts, the task figures and the tasks
on time per post in the rollup cache; completed tasks with a limit by completion time

The register reads a settled day from the cache and counts only the other days from the
cases, tasks and events; the supervision page's on-time rates sum the cache's months and
days and count only the unsettled days' tasks (ix_tasks_completed_limit). Every day the
cache had rolled is rolled again here with the calendar as it stands, so the new tables
hold it too (the days are rolled one by one as the scheduler rolls them; nothing to do on
a database whose cache is empty).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

COMPLETED = "state = 'completed' AND due_at IS NOT NULL"


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Integer(), server_default="0", nullable=False) for n in names]


def _day(name: str = "day") -> sa.Column:
    return sa.Column(name, sa.Date(), nullable=False)


def _key(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), autoincrement=False, nullable=False)


def _item(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["item_id"], ["items.id"],
                                   name=op.f(f"fk_{table}_item_id_items"))  # fmt: skip


def _post(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["post_id"], ["posts.id"],
                                   name=op.f(f"fk_{table}_post_id_posts"))  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "stat_days_taken", _day(), _key("item_id"), _key("window_id"), _key("days"),
        *_counts("cases"), _item("stat_days_taken"),
        sa.PrimaryKeyConstraint("day", "item_id", "window_id", "days",
                                name=op.f("pk_stat_days_taken")),
    )  # fmt: skip
    op.create_table(
        "stat_task_days", _day(), _key("item_id"), _key("window_id"), _key("official_id"),
        *_counts("completed", "with_limit", "on_time"),
        sa.Column("office_days", sa.Float(), server_default="0", nullable=False),
        _item("stat_task_days"),
        sa.PrimaryKeyConstraint("day", "item_id", "window_id", "official_id",
                                name=op.f("pk_stat_task_days")),
    )  # fmt: skip
    op.create_table(
        "stat_post_days", _day(), _key("post_id"), *_counts("completed", "on_time"),
        _post("stat_post_days"),
        sa.PrimaryKeyConstraint("day", "post_id", name=op.f("pk_stat_post_days")),
    )  # fmt: skip
    op.create_table(
        "stat_post_months", _day("month"), _key("post_id"),
        *_counts("completed", "on_time"), _post("stat_post_months"),
        sa.PrimaryKeyConstraint("month", "post_id", name=op.f("pk_stat_post_months")),
    )  # fmt: skip
    with op.batch_alter_table("tasks") as batch:
        batch.create_index("ix_tasks_completed_limit", ["completed_at"], unique=False,
                           postgresql_where=sa.text(COMPLETED),
                           sqlite_where=sa.text(COMPLETED),
                           postgresql_include=["post_id", "due_at"])  # fmt: skip
    _roll_again()


def _roll_again() -> None:
    """Roll every day the cache holds again, filling the new tables."""
    bind = op.get_bind()
    days = [r[0] for r in bind.execute(sa.text("SELECT day FROM stat_rolls ORDER BY day"))]
    if not days:
        return
    from sqlalchemy.orm import Session

    from app.stats.rollup import roll_day

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with Session(bind=bind, join_transaction_mode="create_savepoint") as db:
        cal = calendar_of(db)
        for when in days:  # the open snapshot's table comes with 0026, which keeps it
            roll_day(db, _date(when), now, cal, snapshot=False)
        db.commit()


def calendar_of(db):
    """The working-day calendar as the database holds it (not the app's cached one)."""
    from app.calendar.services import load
    from config import Config

    return load(db, Config.CENTRE_TIMEZONE, Config.OFFICE_HOURS)


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_completed_limit", postgresql_where=sa.text(COMPLETED),
                         sqlite_where=sa.text(COMPLETED))  # fmt: skip
    for table in ("stat_post_months", "stat_post_days", "stat_task_days", "stat_days_taken"):
        op.drop_table(table)
