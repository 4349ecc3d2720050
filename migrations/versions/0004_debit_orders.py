"""debit orders, mandates and Pay Now (issue 5)

Debit-order items learn the debit date they collect for and the batch line they travel
on; NetCash statement lines are kept (each NetCash transaction id once, the guard against
applying a statement twice) and every eMandate / Pay Now postback is logged with what was
done with it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.database

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _timestamps():
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            app.database.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.database.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
    ]


def upgrade():
    op.create_table(
        "netcash_postbacks",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("request_trace", sa.String(length=100), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        *_timestamps(),
        sa.CheckConstraint(
            "kind IN ('emandate', 'paynow')", name=op.f("ck_netcash_postbacks_kind")
        ),
        sa.CheckConstraint(
            "outcome IN ('applied', 'duplicate', 'refused', 'ignored')",
            name=op.f("ck_netcash_postbacks_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_netcash_postbacks_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_netcash_postbacks")),
    )
    with op.batch_alter_table("netcash_postbacks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_netcash_postbacks_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_netcash_postbacks_kind_created", ["kind", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_netcash_postbacks_reference"), ["reference"], unique=False
        )

    op.create_table(
        "netcash_statement_lines",
        sa.Column("transaction_id", sa.String(length=100), nullable=False),
        sa.Column("statement_date", sa.Date(), nullable=False),
        sa.Column("transaction_date", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount", app.database.Money(precision=12, scale=2), nullable=False),
        sa.Column("sign", sa.String(length=1), nullable=False),
        sa.Column("extra1", sa.String(length=100), nullable=True),
        sa.Column("account_reference", sa.String(length=30), nullable=True),
        sa.Column("unpaid_code", sa.String(length=5), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "outcome IN ('confirmed', 'returned', 'paid', 'unmatched', 'ignored')",
            name=op.f("ck_netcash_statement_lines_outcome"),
        ),
        sa.CheckConstraint("sign IN ('+', '-')", name=op.f("ck_netcash_statement_lines_sign")),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_netcash_statement_lines_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_netcash_statement_lines")),
        sa.UniqueConstraint(
            "transaction_id", name=op.f("uq_netcash_statement_lines_transaction_id")
        ),
    )
    with op.batch_alter_table("netcash_statement_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_netcash_statement_lines_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_netcash_statement_lines_extra1"), ["extra1"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_netcash_statement_lines_statement_date"),
            ["statement_date"],
            unique=False,
        )

    with op.batch_alter_table("debit_order_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collection_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("line_reference", sa.String(length=30), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_debit_order_items_line_reference"), ["line_reference"], unique=False
        )


def downgrade():
    with op.batch_alter_table("debit_order_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debit_order_items_line_reference"))
        batch_op.drop_column("line_reference")
        batch_op.drop_column("collection_date")

    with op.batch_alter_table("netcash_statement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_netcash_statement_lines_statement_date"))
        batch_op.drop_index(batch_op.f("ix_netcash_statement_lines_extra1"))
        batch_op.drop_index(batch_op.f("ix_netcash_statement_lines_customer_id"))
    op.drop_table("netcash_statement_lines")

    with op.batch_alter_table("netcash_postbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_netcash_postbacks_reference"))
        batch_op.drop_index("ix_netcash_postbacks_kind_created")
        batch_op.drop_index(batch_op.f("ix_netcash_postbacks_customer_id"))
    op.drop_table("netcash_postbacks")
