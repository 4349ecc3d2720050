"""Invoices, credit notes, allocations and the ledger (DESIGN §4, §5.1–5.5)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import (
    JSONType,
    Money,
    Rate,
    TimestampMixin,
    UTCDateTime,
    in_list,
    rate_range_check,
)
from app.extensions import db
from app.models.customers import Customer
from app.models.services import CustomerService

INVOICE_TYPES = ("recurring", "pro_rata", "installation", "equipment", "adjustment")
INVOICE_STATUSES = ("unpaid", "partial", "paid", "overdue", "cancelled")
# Invoice types that cover service days: no two live ones may cover the same day.
PERIOD_INVOICE_TYPES = ("recurring", "pro_rata")
ALLOCATION_SOURCES = ("payment", "credit_note")
LEDGER_ENTRY_TYPES = ("invoice", "payment", "credit_note", "refund", "adjustment", "reversal")

LIVE_PERIOD_INVOICE = (
    f"status <> 'cancelled' AND {in_list('invoice_type', PERIOD_INVOICE_TYPES)}"
    " AND service_id IS NOT NULL AND period_start IS NOT NULL"
)


class CustomerInvoice(TimestampMixin, db.Model):
    """An issued invoice. Amounts never change after issue; credit notes correct them.

    `period_end` is exclusive (the next billing date). `invoice_number` is null only while
    an invoice run has not yet reached its numbering step (§5.2).
    """

    __tablename__ = "customer_invoices"
    __table_args__ = (
        CheckConstraint(in_list("invoice_type", INVOICE_TYPES), name="invoice_type"),
        CheckConstraint(in_list("status", INVOICE_STATUSES), name="status"),
        CheckConstraint("subtotal >= 0", name="subtotal_non_negative"),
        CheckConstraint("vat_amount >= 0", name="vat_amount_non_negative"),
        CheckConstraint("total_amount >= 0", name="total_amount_non_negative"),
        CheckConstraint("subtotal + vat_amount = total_amount", name="total_is_subtotal_plus_vat"),
        *rate_range_check("vat_rate", 0, 100, name="vat_rate_range"),
        CheckConstraint("amount_paid >= 0", name="amount_paid_non_negative"),
        CheckConstraint("amount_credited >= 0", name="amount_credited_non_negative"),
        CheckConstraint("amount_paid <= total_amount", name="amount_paid_within_total"),
        CheckConstraint(
            "amount_paid + amount_credited <= total_amount", name="settled_within_total"
        ),
        CheckConstraint("due_date >= invoice_date", name="due_after_invoice_date"),
        CheckConstraint(
            "period_end IS NULL OR period_start IS NULL OR period_end > period_start",
            name="period_not_empty",
        ),
        CheckConstraint(
            "covered_until IS NULL OR (covered_until > period_start"
            " AND covered_until <= period_end)",
            name="covered_within_period",
        ),
        # No two live recurring/pro-rata invoices may start the same service day. On
        # PostgreSQL the migration adds an exclusion constraint on overlapping date
        # ranges; on SQLite a trigger does the same.
        Index(
            "uq_customer_invoices_live_service_period",
            "service_id",
            "period_start",
            unique=True,
            postgresql_where=text(LIVE_PERIOD_INVOICE),
            sqlite_where=text(LIVE_PERIOD_INVOICE),
        ),
        Index("ix_customer_invoices_customer_date", "customer_id", "invoice_date"),
        Index("ix_customer_invoices_status_due", "status", "due_date"),
    )

    invoice_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    service_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_services.id", ondelete="RESTRICT"), index=True
    )
    invoice_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)  # exclusive
    # The days the invoice still charges for end here (exclusive): credit notes for the tail
    # of the period (cancellation, change) move it back, so a new invoice may cover them.
    covered_until: Mapped[date | None] = mapped_column(Date)
    subtotal: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(Rate)
    vat_amount: Mapped[Decimal] = mapped_column(Money)
    total_amount: Mapped[Decimal] = mapped_column(Money)
    amount_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    amount_credited: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    amount_due: Mapped[Decimal] = mapped_column(
        Money, Computed("total_amount - amount_paid - amount_credited", persisted=True)
    )
    line_items: Mapped[list] = mapped_column(JSONType, default=list)
    invoice_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="unpaid")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_to: Mapped[dict | None] = mapped_column(JSONType)
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    pdf_generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()
    service: Mapped[CustomerService | None] = relationship()

    def __str__(self) -> str:
        return self.invoice_number or f"invoice #{self.id} (not yet numbered)"


class CreditNote(TimestampMixin, db.Model):
    """A correction of one issued invoice (`CN-YYYY-NNNNN`), VAT split like an invoice."""

    __tablename__ = "credit_notes"
    __table_args__ = (
        CheckConstraint("total_amount > 0", name="total_amount_positive"),
        CheckConstraint("vat_amount >= 0", name="vat_amount_non_negative"),
        CheckConstraint("subtotal + vat_amount = total_amount", name="total_is_subtotal_plus_vat"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_required"),
    )

    credit_note_number: Mapped[str | None] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("customer_invoices.id", ondelete="RESTRICT"), index=True
    )
    credit_note_date: Mapped[date] = mapped_column(Date)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)  # exclusive
    subtotal: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[Decimal] = mapped_column(Rate)
    vat_amount: Mapped[Decimal] = mapped_column(Money)
    total_amount: Mapped[Decimal] = mapped_column(Money)
    line_items: Mapped[list] = mapped_column(JSONType, default=list)
    reason: Mapped[str] = mapped_column(Text)
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(255))
    pdf_path: Mapped[str | None] = mapped_column(String(500))

    invoice: Mapped[CustomerInvoice] = relationship()
    customer: Mapped[Customer] = relationship()

    def __str__(self) -> str:
        return self.credit_note_number or f"credit note #{self.id} (not yet numbered)"


class Allocation(TimestampMixin, db.Model):
    """Which money settled which invoice. Reversal keeps the row and sets `reversed_at`."""

    __tablename__ = "allocations"
    __table_args__ = (
        CheckConstraint(in_list("source", ALLOCATION_SOURCES), name="source"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "(source = 'payment' AND payment_id IS NOT NULL AND credit_note_id IS NULL)"
            " OR (source = 'credit_note' AND credit_note_id IS NOT NULL AND payment_id IS NULL)",
            name="source_matches_reference",
        ),
        Index("ix_allocations_invoice_live", "invoice_id", "reversed_at"),
    )

    source: Mapped[str] = mapped_column(String(20))
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_transactions.id", ondelete="RESTRICT"), index=True
    )
    credit_note_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("customer_invoices.id", ondelete="RESTRICT"))
    amount: Mapped[Decimal] = mapped_column(Money)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversal_reason: Mapped[str | None] = mapped_column(Text)

    invoice: Mapped[CustomerInvoice] = relationship()


class LedgerEntry(TimestampMixin, db.Model):
    """Every money movement on an account; the balance is their sum (positive = owed)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(in_list("entry_type", LEDGER_ENTRY_TYPES), name="entry_type"),
        CheckConstraint(
            "(entry_type IN ('invoice', 'refund', 'reversal') AND amount > 0)"
            " OR (entry_type IN ('payment', 'credit_note') AND amount < 0)"
            " OR (entry_type = 'adjustment' AND amount <> 0)",
            name="amount_sign_matches_type",
        ),
        # Each document reaches the ledger once.
        Index(
            "uq_ledger_entries_invoice",
            "invoice_id",
            unique=True,
            postgresql_where=text("entry_type = 'invoice'"),
            sqlite_where=text("entry_type = 'invoice'"),
        ),
        Index(
            "uq_ledger_entries_payment",
            "payment_id",
            "entry_type",
            unique=True,
            postgresql_where=text("entry_type IN ('payment', 'reversal', 'refund')"),
            sqlite_where=text("entry_type IN ('payment', 'reversal', 'refund')"),
        ),
        Index(
            "uq_ledger_entries_credit_note",
            "credit_note_id",
            unique=True,
            postgresql_where=text("entry_type = 'credit_note'"),
            sqlite_where=text("entry_type = 'credit_note'"),
        ),
        Index("ix_ledger_entries_customer_date", "customer_id", "entry_date"),
    )

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    entry_type: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    entry_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(String(255))
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_invoices.id", ondelete="RESTRICT")
    )
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_transactions.id", ondelete="RESTRICT")
    )
    credit_note_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="RESTRICT")
    )
    actor: Mapped[str] = mapped_column(String(255))
