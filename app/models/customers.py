"""Customers, their billing profile, and the number counters (DESIGN §4, §5.2)."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from app.database import Money, TimestampMixin, UTCDateTime, in_list
from app.extensions import db

ACCOUNT_STATUSES = ("active", "suspended", "cancelled", "pending")
ACCOUNT_TYPES = ("residential", "business")
BILLING_DAYS = (1, 5, 25, 30)


class Customer(TimestampMixin, db.Model):
    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(in_list("account_status", ACCOUNT_STATUSES), name="account_status"),
        CheckConstraint(in_list("account_type", ACCOUNT_TYPES), name="account_type"),
    )

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164, e.g. +27821234567
    id_number: Mapped[str | None] = mapped_column(String(20))
    company_name: Mapped[str | None] = mapped_column(String(200))
    vat_number: Mapped[str | None] = mapped_column(String(20))

    billing_address_line1: Mapped[str | None] = mapped_column(String(200))
    billing_address_line2: Mapped[str | None] = mapped_column(String(200))
    billing_suburb: Mapped[str | None] = mapped_column(String(100))
    billing_city: Mapped[str | None] = mapped_column(String(100))
    billing_province: Mapped[str | None] = mapped_column(String(100))
    billing_postal_code: Mapped[str | None] = mapped_column(String(10))

    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    legacy_account_number: Mapped[str | None] = mapped_column(String(50), index=True)
    account_status: Mapped[str] = mapped_column(String(20), default="pending")
    account_type: Mapped[str] = mapped_column(String(20), default="residential")

    portal_password_hash: Mapped[str | None] = mapped_column(String(255))
    portal_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)

    billing: Mapped["CustomerBilling"] = relationship(
        back_populates="customer", uselist=False, lazy="joined"
    )
    services: Mapped[list["CustomerService"]] = relationship(  # noqa: F821
        back_populates="customer", order_by="CustomerService.id"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __str__(self) -> str:
        return f"{self.account_number} {self.full_name}"


# E-mail is unique without regard to case.
Index("uq_customers_email_lower", func.lower(Customer.email), unique=True)


class CustomerBilling(TimestampMixin, db.Model):
    """One per customer. `account_balance` caches the ledger sum: positive = owed."""

    __tablename__ = "customer_billing"
    __table_args__ = (
        CheckConstraint(
            in_list("preferred_billing_date", BILLING_DAYS), name="preferred_billing_date"
        ),
        CheckConstraint("credit_limit >= 0", name="credit_limit_non_negative"),
    )

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), unique=True
    )
    account_balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    credit_limit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    primary_payment_method_id: Mapped[int | None] = mapped_column(
        ForeignKey("customer_payment_methods.id", ondelete="SET NULL")
    )
    preferred_billing_date: Mapped[int] = mapped_column(Integer, default=1)
    auto_pay_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    email_invoices_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_notifications_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paper_billing_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    billing_email: Mapped[str | None] = mapped_column(String(255))
    billing_phone: Mapped[str | None] = mapped_column(String(20))

    customer: Mapped[Customer] = relationship(back_populates="billing")


class _CounterMixin(TimestampMixin):
    """One continuous counter row (id 1): never resets; `last_year` is informational."""

    last_number: Mapped[int] = mapped_column(BigInteger, default=0)
    last_year: Mapped[int | None] = mapped_column(Integer)

    @declared_attr.directive
    def __table_args__(cls):
        # A new constraint per table: one shared object would be named after the first
        # table it joined (ck_account_number_counter_...) on all three.
        return (CheckConstraint("last_number >= 0", name="last_number_non_negative"),)


class AccountNumberCounter(_CounterMixin, db.Model):
    __tablename__ = "account_number_counter"


class InvoiceNumberCounter(_CounterMixin, db.Model):
    __tablename__ = "invoice_number_counter"


class CreditNoteNumberCounter(_CounterMixin, db.Model):
    __tablename__ = "credit_note_number_counter"
