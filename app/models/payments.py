"""Payment methods, transactions, Pay Now requests and debit-order batches (DESIGN §4, §5.9)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import JSONType, Money, TimestampMixin, UTCDateTime, in_list
from app.extensions import db
from app.models.customers import BILLING_DAYS, Customer

PAYMENT_METHOD_TYPES = ("debit_order", "card", "eft")
MANDATE_STATUSES = ("pending_signature", "active", "failed", "cancelled")
PAYMENT_CHANNELS = ("debit_order", "card", "eft", "cash", "other")
PAYMENT_STATUSES = ("pending", "completed", "failed", "reversed", "refunded")
PAYMENT_REQUEST_STATUSES = ("pending", "paid", "expired", "cancelled")
BATCH_STATUSES = ("building", "uploaded", "loaded", "authorised", "failed", "completed")
ITEM_STATUSES = (
    "pending",
    "submitted",
    "provisional",
    "confirmed",
    "returned",
    "failed",
    "cancelled",
)
# Items that may still move money: at most one per invoice.
LIVE_ITEM_STATUSES = ("pending", "submitted", "provisional")
STATEMENT_LINE_OUTCOMES = ("confirmed", "returned", "paid", "unmatched", "ignored")
POSTBACK_KINDS = ("emandate", "paynow")
POSTBACK_OUTCOMES = ("applied", "duplicate", "refused", "ignored")


class CustomerPaymentMethod(TimestampMixin, db.Model):
    """A way to pay. Bank/card details are a Fernet token; pages show `display_name` only."""

    __tablename__ = "customer_payment_methods"
    __table_args__ = (
        CheckConstraint(in_list("method_type", PAYMENT_METHOD_TYPES), name="method_type"),
        CheckConstraint(
            "mandate_status IS NULL OR " + in_list("mandate_status", MANDATE_STATUSES),
            name="mandate_status",
        ),
        CheckConstraint(
            "debit_day IS NULL OR " + in_list("debit_day", BILLING_DAYS), name="debit_day"
        ),
        CheckConstraint("is_active OR NOT is_primary", name="primary_is_active"),
        # At most one active primary method per customer.
        Index(
            "uq_customer_payment_methods_one_primary",
            "customer_id",
            unique=True,
            postgresql_where=text("is_primary AND is_active"),
            sqlite_where=text("is_primary AND is_active"),
        ),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    method_type: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(100))  # "Debit Order - FNB ***1234"
    last_four: Mapped[str | None] = mapped_column(String(4))
    bank_name: Mapped[str | None] = mapped_column(String(100))
    encrypted_details: Mapped[str | None] = mapped_column(Text)
    mandate_reference: Mapped[str | None] = mapped_column(String(100), unique=True)
    mandate_status: Mapped[str | None] = mapped_column(String(30))
    mandate_url: Mapped[str | None] = mapped_column(String(500))
    mandate_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    debit_day: Mapped[int | None] = mapped_column(Integer)
    # NetCash public-holiday option: move the action date to the previous or next business day.
    holiday_option: Mapped[str | None] = mapped_column(String(20))
    max_debit_amount: Mapped[Decimal | None] = mapped_column(Money)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    customer: Mapped[Customer] = relationship()

    def __str__(self) -> str:
        return self.display_name


class PaymentTransaction(TimestampMixin, db.Model):
    """Money received (or attempted). `transaction_id` is unique: provider trace, our
    reference, or the idempotency key of the form/API call that recorded it."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        CheckConstraint(in_list("method", PAYMENT_CHANNELS), name="method"),
        CheckConstraint(in_list("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    transaction_id: Mapped[str] = mapped_column(String(100), unique=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_invoices.id", ondelete="RESTRICT"), index=True
    )
    payment_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_payment_methods.id", ondelete="SET NULL")
    )
    method: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="ZAR")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    payment_date: Mapped[date] = mapped_column(Date)  # business date the money arrived
    provider_reference: Mapped[str | None] = mapped_column(String(100), index=True)
    provider_response: Mapped[dict | None] = mapped_column(JSONType)
    failure_code: Mapped[str | None] = mapped_column(String(20))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reversed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()

    def __str__(self) -> str:
        return f"{self.transaction_id} R{self.amount}"


class PaymentRequest(TimestampMixin, db.Model):
    """A Pay Now link; a postback counts only if reference, amount and secret match it."""

    __tablename__ = "payment_requests"
    __table_args__ = (
        CheckConstraint(in_list("status", PAYMENT_REQUEST_STATUSES), name="status"),
        CheckConstraint("amount_requested > 0", name="amount_requested_positive"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_invoices.id", ondelete="RESTRICT"), index=True
    )
    amount_requested: Mapped[Decimal] = mapped_column(Money)
    reference: Mapped[str] = mapped_column(String(50), unique=True)
    secret: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payment_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_transactions.id", ondelete="SET NULL")
    )


class DebitOrderBatch(TimestampMixin, db.Model):
    """One NetCash batch file: its text, upload token, load report and state."""

    __tablename__ = "debit_order_batches"
    __table_args__ = (
        CheckConstraint(in_list("status", BATCH_STATUSES), name="status"),
        CheckConstraint("total_amount >= 0", name="total_amount_non_negative"),
    )

    action_date: Mapped[date] = mapped_column(Date, index=True)
    instruction: Mapped[str] = mapped_column(String(20), default="TwoDay")
    file: Mapped[str | None] = mapped_column(Text)
    upload_token: Mapped[str | None] = mapped_column(String(100))
    load_report: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="building")
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    error_message: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    authorised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DebitOrderItem(TimestampMixin, db.Model):
    """One collection attempt for one invoice inside a batch."""

    __tablename__ = "debit_order_items"
    __table_args__ = (
        CheckConstraint(in_list("status", ITEM_STATUSES), name="status"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("attempt_number >= 1", name="attempt_number_positive"),
        # One live item per invoice: a re-run of the batch job cannot collect twice.
        Index(
            "uq_debit_order_items_live_invoice",
            "invoice_id",
            unique=True,
            postgresql_where=text(in_list("status", LIVE_ITEM_STATUSES)),
            sqlite_where=text(in_list("status", LIVE_ITEM_STATUSES)),
        ),
        Index("uq_debit_order_items_invoice_attempt", "invoice_id", "attempt_number", unique=True),
    )

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("debit_order_batches.id", ondelete="RESTRICT"), index=True
    )
    invoice_id: Mapped[int] = mapped_column(ForeignKey("customer_invoices.id", ondelete="RESTRICT"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    payment_method_id: Mapped[int] = mapped_column(
        ForeignKey("customer_payment_methods.id", ondelete="RESTRICT")
    )
    payment_transaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment_transactions.id", ondelete="SET NULL")
    )
    amount: Mapped[Decimal] = mapped_column(Money)
    action_date: Mapped[date] = mapped_column(Date)
    # The mandated debit date this attempt collects for (the action date may be moved off a
    # weekend or holiday, or later when the run was late); a retry waits for the next one.
    collection_date: Mapped[date | None] = mapped_column(Date)
    # The batch line's reference (field 301, echoed on the statement). All items of one
    # customer in a batch share a line, so a statement line settles or returns them together.
    line_reference: Mapped[str | None] = mapped_column(String(30), index=True)
    attempt_number: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    return_code: Mapped[str | None] = mapped_column(String(10))
    return_reason: Mapped[str | None] = mapped_column(Text)
    next_attempt_date: Mapped[date | None] = mapped_column(Date)

    batch: Mapped[DebitOrderBatch] = relationship()

    @property
    def reference(self) -> str:
        """Our reference of this item, e.g. "DOI-123"."""
        return f"DOI-{self.id}"


class NetcashStatementLine(TimestampMixin, db.Model):
    """A NetCash statement line we acted on (or could not match): each NetCash transaction
    id is taken once, so reading a statement again applies nothing twice."""

    __tablename__ = "netcash_statement_lines"
    __table_args__ = (
        CheckConstraint(in_list("outcome", STATEMENT_LINE_OUTCOMES), name="outcome"),
        CheckConstraint("sign IN ('+', '-')", name="sign"),
    )

    transaction_id: Mapped[str] = mapped_column(String(100), unique=True)
    statement_date: Mapped[date] = mapped_column(Date, index=True)  # the day asked for
    transaction_date: Mapped[date] = mapped_column(Date)
    code: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Money)
    sign: Mapped[str] = mapped_column(String(1))
    extra1: Mapped[str | None] = mapped_column(String(100), index=True)
    account_reference: Mapped[str | None] = mapped_column(String(30))
    unpaid_code: Mapped[str | None] = mapped_column(String(5))
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )


class NetcashPostback(TimestampMixin, db.Model):
    """Every eMandate or Pay Now postback received, what we did with it and why: a refused
    one (wrong secret or amount, unknown reference) changes nothing but is listed here."""

    __tablename__ = "netcash_postbacks"
    __table_args__ = (
        CheckConstraint(in_list("kind", POSTBACK_KINDS), name="kind"),
        CheckConstraint(in_list("outcome", POSTBACK_OUTCOMES), name="outcome"),
        Index("ix_netcash_postbacks_kind_created", "kind", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    request_trace: Mapped[str | None] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    # The posted fields, with our secret and the account number left out.
    payload: Mapped[dict | None] = mapped_column(JSONType)
