"""Website orders and data-quality findings (DESIGN §4, §5.11)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import JSONType, Money, TimestampMixin, UTCDateTime, in_list
from app.extensions import db
from app.models.customers import Customer

# The operator's order statuses (seed-spec-digest §1.3) plus "completed" from legacy data.
ORDER_STATUSES = (
    "pending",
    "kyc_pending",
    "kyc_submitted",
    "kyc_approved",
    "kyc_rejected",
    "payment_method_pending",
    "payment_method_registered",
    "installation_scheduled",
    "installation_in_progress",
    "installation_completed",
    "activation_pending",
    "active",
    "completed",
    "suspended",
    "cancelled",
)
ORDER_SOURCES = ("website", "legacy_import", "spreadsheet_import", "console")
VALIDATION_ERROR_TYPES = (
    "orphaned_order",
    "invalid_customer_id",
    "inconsistent_auth_user_id",
    "legacy_not_migrated",
    "import_row_rejected",
)


class ConsumerOrder(TimestampMixin, db.Model):
    __tablename__ = "consumer_orders"
    __table_args__ = (
        CheckConstraint(in_list("status", ORDER_STATUSES), name="status"),
        CheckConstraint(in_list("source", ORDER_SOURCES), name="source"),
        CheckConstraint("package_price >= 0", name="package_price_non_negative"),
        CheckConstraint("total_paid >= 0", name="total_paid_non_negative"),
    )

    order_number: Mapped[str] = mapped_column(String(50), unique=True)
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    email: Mapped[str] = mapped_column(String(255), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    service_type: Mapped[str | None] = mapped_column(String(20))
    package_name: Mapped[str | None] = mapped_column(String(200))
    package_price: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    installation_address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30), default="pending")
    payment_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(30), default="website")
    legacy_reference: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer | None] = relationship()

    def __str__(self) -> str:
        return self.order_number


class ValidationError(TimestampMixin, db.Model):
    """A data problem found by a check or import, kept until someone resolves it."""

    __tablename__ = "validation_errors"
    __table_args__ = (
        CheckConstraint(in_list("error_type", VALIDATION_ERROR_TYPES), name="error_type"),
        # Re-running a check never records the same open problem twice.
        Index(
            "uq_validation_errors_open",
            "table_name",
            "record_id",
            "error_type",
            unique=True,
            postgresql_where=db.text("NOT resolved"),
            sqlite_where=db.text("NOT resolved"),
        ),
    )

    table_name: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[str] = mapped_column(String(100))
    error_type: Mapped[str] = mapped_column(String(50))
    error_message: Mapped[str] = mapped_column(Text)
    suggested_fix: Mapped[str | None] = mapped_column(Text)
    record_details: Mapped[dict | None] = mapped_column(JSONType)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    resolution_note: Mapped[str | None] = mapped_column(Text)
