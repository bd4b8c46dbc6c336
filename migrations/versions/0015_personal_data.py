"""personal data: ID and phone numbers sealed at rest, and the log of full views

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from app import privacy

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

WIDTHS = {"applicant_id_number": 40, "id_number": 30}  # the rest were 30


def upgrade() -> None:
    op.create_table(
        "personal_data_views",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("subject_ref", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.String(length=100), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_personal_data_views_user_id_users")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_data_views")),
    )
    op.create_index("ix_personal_data_views_subject", "personal_data_views",
                    ["subject", "subject_id"])  # fmt: skip
    op.create_index("ix_personal_data_views_at", "personal_data_views", ["at"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # SQLite does not enforce a VARCHAR's length
        for table, _pk, column in privacy.SEALED_COLUMNS:
            op.alter_column(table, column, type_=sa.String(length=255),
                            existing_type=sa.String(length=WIDTHS.get(column, 30)))  # fmt: skip
    privacy.reencrypt(bind)


def downgrade() -> None:
    bind = op.get_bind()
    current = privacy.cipher()
    for table, pk, column in privacy.SEALED_COLUMNS:
        t = sa.table(table, sa.column(pk), sa.column(column))
        for key, stored in bind.execute(sa.select(t.c[pk], t.c[column])).all():
            if stored is not None and privacy.is_sealed(stored):
                bind.execute(sa.update(t).where(t.c[pk] == key)
                             .values({column: current.open(stored)}))  # fmt: skip
    if bind.dialect.name == "postgresql":
        for table, _pk, column in privacy.SEALED_COLUMNS:
            op.alter_column(table, column, type_=sa.String(length=WIDTHS.get(column, 30)),
                            existing_type=sa.String(length=255))  # fmt: skip
    op.drop_index("ix_personal_data_views_at", table_name="personal_data_views")
    op.drop_index("ix_personal_data_views_subject", table_name="personal_data_views")
    op.drop_table("personal_data_views")
