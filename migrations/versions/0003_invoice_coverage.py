"""invoice coverage: the days a period invoice still charges for, used by the overlap guard

A credit note for the tail of a period (cancellation, change of price or billing day)
moves `covered_until` back, so the credited days may be invoiced again (a bridging or
re-priced pro-rata invoice) while the original invoice stays live.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE_PERIOD_INVOICE = (
    "status <> 'cancelled' AND invoice_type IN ('recurring', 'pro_rata')"
    " AND service_id IS NOT NULL AND period_start IS NOT NULL"
)


CHECK_NAME = "ck_customer_invoices_covered_within_period"
CHECK_SQL = (
    "covered_until IS NULL OR (covered_until > period_start AND covered_until <= period_end)"
)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's batch "move and copy" cannot copy the generated amount_due column, but
        # ADD COLUMN may carry its own CHECK.
        op.execute(
            "ALTER TABLE customer_invoices ADD COLUMN covered_until DATE"
            f" CONSTRAINT {CHECK_NAME} CHECK ({CHECK_SQL})"
        )
    else:
        op.add_column("customer_invoices", sa.Column("covered_until", sa.Date(), nullable=True))
        op.create_check_constraint(op.f(CHECK_NAME), "customer_invoices", CHECK_SQL)
    op.execute("UPDATE customer_invoices SET covered_until = period_end")
    _replace_overlap_guard("covered_until")


def downgrade():
    _replace_overlap_guard("period_end")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f(CHECK_NAME), "customer_invoices", type_="check")
    op.drop_column("customer_invoices", "covered_until")


def _replace_overlap_guard(end_column: str):
    """Rebuild the no-overlap guard on [period_start, end_column) (see 0001)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE customer_invoices"
            " DROP CONSTRAINT IF EXISTS ex_customer_invoices_live_service_days"
        )
        op.execute(
            "ALTER TABLE customer_invoices ADD CONSTRAINT ex_customer_invoices_live_service_days"
            f" EXCLUDE USING gist (service_id WITH =, daterange(period_start, {end_column}) WITH &&)"
            f" WHERE ({LIVE_PERIOD_INVOICE})"
        )
        return
    for event in ("INSERT", "UPDATE"):
        op.execute(f"DROP TRIGGER IF EXISTS customer_invoices_no_overlap_{event.lower()}")
        op.execute(
            f"""
            CREATE TRIGGER customer_invoices_no_overlap_{event.lower()}
            BEFORE {event} ON customer_invoices
            FOR EACH ROW
            WHEN NEW.status <> 'cancelled' AND NEW.invoice_type IN ('recurring', 'pro_rata')
                 AND NEW.service_id IS NOT NULL AND NEW.period_start IS NOT NULL
            BEGIN
                SELECT RAISE(ABORT, 'ex_customer_invoices_live_service_days')
                WHERE EXISTS (
                    SELECT 1 FROM customer_invoices AS other
                    WHERE other.id IS NOT NEW.id
                      AND other.service_id = NEW.service_id
                      AND other.status <> 'cancelled'
                      AND other.invoice_type IN ('recurring', 'pro_rata')
                      -- an open end (NULL) runs for ever, as daterange() does on PostgreSQL
                      AND other.period_start < COALESCE(NEW.{end_column}, '9999-12-31')
                      AND NEW.period_start < COALESCE(other.{end_column}, '9999-12-31')
                );
            END
            """
        )
