"""licence registry (电子证照): licences, their history, signed documents; the number
series get a series column (decision, licence)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("holder_user_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("matter", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", sa.DateTime(), nullable=False),
        sa.Column("remind_on", sa.Date(), nullable=True),
        sa.Column("reminded_at", sa.DateTime(), nullable=True),
        sa.Column("replaced_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["authority_id"], ["departments.id"],
                                name=op.f("fk_licences_authority_id_departments")),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name=op.f("fk_licences_item_id_items")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_licences_case_id_cases")),
        sa.ForeignKeyConstraint(["holder_user_id"], ["users.id"],
                                name=op.f("fk_licences_holder_user_id_users")),
        sa.ForeignKeyConstraint(["replaced_by_id"], ["licences.id"],
                                name=op.f("fk_licences_replaced_by_id_licences")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licences")),
        sa.UniqueConstraint("number", name=op.f("uq_licences_number")),
        sa.UniqueConstraint("code", name=op.f("uq_licences_code")),
        sa.UniqueConstraint("authority_id", "year", "seq", name="uq_licences_series"),
    )  # fmt: skip
    op.create_index("ix_licences_case", "licences", ["case_id"])
    op.create_index("ix_licences_holder", "licences", ["holder_name"])
    op.create_index("ix_licences_remind", "licences", ["remind_on"],
                    postgresql_where=sa.text("status = 'in_force' AND reminded_at IS NULL"),
                    sqlite_where=sa.text("status = 'in_force' AND reminded_at IS NULL"))
    op.create_index("ix_licences_expiry", "licences", ["valid_until"],
                    postgresql_where=sa.text("status = 'in_force'"),
                    sqlite_where=sa.text("status = 'in_force'"))  # fmt: skip
    op.create_table(
        "licence_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"],
                                name=op.f("fk_licence_events_licence_id_licences")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_licence_events_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_events")),
    )  # fmt: skip
    op.create_index("ix_licence_events_licence", "licence_events", ["licence_id", "at"])
    # licences are numbered in their authority's yearly series beside its decisions
    with op.batch_alter_table("number_series", recreate="always") as batch:
        batch.add_column(sa.Column("series", sa.String(length=16), nullable=False,
                                   server_default="decision"))
        batch.drop_constraint("pk_number_series", type_="primary")
        batch.create_primary_key("pk_number_series", ["department_id", "year", "series"])
    op.create_table(
        "signed_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=True),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_signed_documents_case_id_cases")),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"],
                                name=op.f("fk_signed_documents_licence_id_licences")),
        sa.ForeignKeyConstraint(["authority_id"], ["departments.id"],
                                name=op.f("fk_signed_documents_authority_id_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signed_documents")),
        sa.UniqueConstraint("code", name=op.f("uq_signed_documents_code")),
        sa.UniqueConstraint("case_id", "kind", name="uq_signed_documents_case_kind"),
    )  # fmt: skip
    op.create_index("ix_signed_documents_sha256", "signed_documents", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_signed_documents_sha256", table_name="signed_documents")
    op.drop_table("signed_documents")
    op.execute("DELETE FROM number_series WHERE series <> 'decision'")
    with op.batch_alter_table("number_series", recreate="always") as batch:
        batch.drop_constraint("pk_number_series", type_="primary")
        batch.create_primary_key("pk_number_series", ["department_id", "year"])
        batch.drop_column("series")
    op.drop_index("ix_licence_events_licence", table_name="licence_events")
    op.drop_table("licence_events")
    op.drop_index("ix_licences_expiry", table_name="licences")
    op.drop_index("ix_licences_remind", table_name="licences")
    op.drop_index("ix_licences_holder", table_name="licences")
    op.drop_index("ix_licences_case", table_name="licences")
    op.drop_table("licences")
