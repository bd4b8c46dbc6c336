"""events name the audit key that sealed them (NULL: sealed before the keys, plain SHA-256)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # plain ALTER on both (SQLite 3.35+): a batch copy of the table would drop its
    # append-only triggers
    op.execute("ALTER TABLE events DROP COLUMN key_id")
