"""regions: the levels an installation serves (province, city, county, township)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "regions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["regions.id"], name=op.f("fk_regions_parent_id_regions")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    # a plain ADD COLUMN (no batch copy), so SQLite keeps the table as it is
    op.add_column("departments", sa.Column("region_id", sa.Integer(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(op.f("fk_departments_region_id_regions"), "departments",
                              "regions", ["region_id"], ["id"])  # fmt: skip


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("fk_departments_region_id_regions"), "departments",
                           type_="foreignkey")  # fmt: skip
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("region_id")
    op.drop_table("regions")
