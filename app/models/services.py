"""Internet services, their suspensions and their action log (DESIGN §4, §5.7)."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.database import JSONType, Money, TimestampMixin, UTCDateTime, in_list
from app.extensions import db
from app.models.customers import BILLING_DAYS, Customer

SERVICE_TYPES = ("fibre", "lte", "5g", "wireless")
SERVICE_STATUSES = ("pending", "active", "suspended", "cancelled")
SUSPENSION_TYPES = (
    "non_payment",
    "customer_request",
    "technical",
    "fraud",
    "policy_violation",
    "other",
)
SERVICE_ACTION_TYPES = (
    "create",
    "edit",
    "activate",
    "suspend",
    "reactivate",
    "cancel",
    "change",
    "upgrade",
    "downgrade",
    "import",
)


class CustomerService(TimestampMixin, db.Model):
    __tablename__ = "customer_services"
    __table_args__ = (
        CheckConstraint(in_list("service_type", SERVICE_TYPES), name="service_type"),
        CheckConstraint(in_list("status", SERVICE_STATUSES), name="status"),
        CheckConstraint(in_list("billing_date", BILLING_DAYS), name="billing_date"),
        CheckConstraint("monthly_price >= 0", name="monthly_price_non_negative"),
        CheckConstraint("installation_fee >= 0", name="installation_fee_non_negative"),
        CheckConstraint("router_fee >= 0", name="router_fee_non_negative"),
        Index("ix_customer_services_status_next_billing", "status", "next_billing_date"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    service_type: Mapped[str] = mapped_column(String(20))
    package_name: Mapped[str] = mapped_column(String(200))
    speed_download: Mapped[str | None] = mapped_column(String(50))  # e.g. "100Mbps"
    speed_upload: Mapped[str | None] = mapped_column(String(50))
    data_cap: Mapped[str | None] = mapped_column(String(50))  # "500GB", "Unlimited"

    installation_address: Mapped[str] = mapped_column(Text)
    installation_suburb: Mapped[str | None] = mapped_column(String(100))
    installation_city: Mapped[str | None] = mapped_column(String(100))
    installation_province: Mapped[str | None] = mapped_column(String(100))
    installation_postal_code: Mapped[str | None] = mapped_column(String(10))
    latitude: Mapped[Decimal | None] = mapped_column(db.Numeric(10, 7, asdecimal=True))
    longitude: Mapped[Decimal | None] = mapped_column(db.Numeric(10, 7, asdecimal=True))
    connection_id: Mapped[str | None] = mapped_column(String(100), unique=True)

    monthly_price: Mapped[Decimal] = mapped_column(Money)
    installation_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    router_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))

    billing_date: Mapped[int] = mapped_column(Integer, default=1)
    next_billing_date: Mapped[date | None] = mapped_column(Date)
    last_billing_date: Mapped[date | None] = mapped_column(Date)

    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    activation_date: Mapped[date | None] = mapped_column(Date)
    suspension_date: Mapped[date | None] = mapped_column(Date)
    cancellation_date: Mapped[date | None] = mapped_column(Date)
    cancellation_reason: Mapped[str | None] = mapped_column(Text)

    provider_name: Mapped[str | None] = mapped_column(String(100))
    provider_order_id: Mapped[str | None] = mapped_column(String(100))
    router_model: Mapped[str | None] = mapped_column(String(100))
    router_serial: Mapped[str | None] = mapped_column(String(100))
    router_included: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship(back_populates="services")

    def __str__(self) -> str:
        return f"{self.package_name} ({self.service_type}, {self.status})"


class ServiceSuspension(TimestampMixin, db.Model):
    __tablename__ = "service_suspensions"
    __table_args__ = (
        CheckConstraint(in_list("suspension_type", SUSPENSION_TYPES), name="suspension_type"),
        # At most one open suspension per service.
        Index(
            "uq_service_suspensions_open",
            "service_id",
            unique=True,
            postgresql_where=db.text("reactivated_at IS NULL"),
            sqlite_where=db.text("reactivated_at IS NULL"),
        ),
    )

    service_id: Mapped[int] = mapped_column(
        ForeignKey("customer_services.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    suspension_type: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    skip_billing: Mapped[bool] = mapped_column(Boolean, default=True)
    suspended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    suspended_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    reactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reactivated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )

    service: Mapped[CustomerService] = relationship()


class ServiceActionLog(TimestampMixin, db.Model):
    """Append-only audit of every service action; the actor is staff or "system"."""

    __tablename__ = "service_action_log"
    __table_args__ = (
        CheckConstraint(in_list("action_type", SERVICE_ACTION_TYPES), name="action_type"),
        CheckConstraint("length(trim(reason)) > 0", name="reason_required"),
        Index("ix_service_action_log_service_created", "service_id", "created_at"),
    )

    service_id: Mapped[int] = mapped_column(
        ForeignKey("customer_services.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    staff_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(255))  # staff e-mail, or "system"
    action_type: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    previous_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str | None] = mapped_column(String(20))
    previous_data: Mapped[dict | None] = mapped_column(JSONType)
    new_data: Mapped[dict | None] = mapped_column(JSONType)

    service: Mapped[CustomerService] = relationship()
