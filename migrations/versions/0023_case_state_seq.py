"""cases.state_seq: the seq of the last event the stored workflow state (a snapshot, a cache
of the events) covers; the events after it are replayed onto it. The states stored so far
were written at every engine step, so each covers its case's whole log: it is stamped with
the case's event_seq, in the column and at the head of the state's JSON
({"ow_state_seq": N, ...}), which app/cases/rebuild.py checks before trusting a snapshot.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("state_seq", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE cases SET state_seq = event_seq, "
        "state = '{\"ow_state_seq\":' || CAST(event_seq AS VARCHAR(20)) || ',' || "
        "substr(state, 2) WHERE state IS NOT NULL AND substr(state, 1, 1) = '{'"
    )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("state_seq")
