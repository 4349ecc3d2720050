"""A customer's account at a glance: balance, open invoices, totals and services.

The read model behind the admin billing view (and the customer's billing page): a fixed
number of queries whatever the length of the account's history, with every list capped.
Totals come from the ledger, so invoiced − paid − credited + adjusted is the balance
(DESIGN §4 ledger, §5.1 balance sign, §5.3 calendar, §5.5 overdue).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from app.billing.calendar import Period, period_containing
from app.billing.money import ZERO, format_rand
from app.extensions import db
from app.models import (
    Customer,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    LedgerEntry,
    PaymentTransaction,
)
from app.settings import int_setting

OPEN_INVOICE_LIMIT = 50
RECENT_PAYMENT_LIMIT = 10
SERVICE_LIMIT = 100
# Statuses whose services are billed by period (and so have a current cycle).
BILLED_STATUSES = ("active", "suspended")


def balance_label(balance: Decimal) -> str:
    """ "Amount due R799.00" or "Credit R120.00": a balance is never shown as a bare signed
    number (positive = the customer owes)."""
    if balance < 0:
        return f"Credit {format_rand(-balance)}"
    return f"Amount due {format_rand(balance)}"


def service_cycle(service: CustomerService, today: date) -> Period | None:
    """The billing period containing today for an active or suspended service.

    Its end is the next billing date a person expects; the `next_billing_date` column runs
    ahead (it is the first day not yet invoiced, and invoices go out days in advance).
    """
    if service.status not in BILLED_STATUSES:
        return None
    return period_containing(today, service.billing_date)


@dataclass(frozen=True)
class AccountTotals:
    """Money on the account since it was opened, and what is still due."""

    invoiced: Decimal  # every invoice issued
    paid: Decimal  # money received, net of returned debit orders and refunds
    credited: Decimal  # credit notes
    adjusted: Decimal  # manual adjustments (positive: more owed)
    outstanding: Decimal  # still due on open invoices
    open_invoice_count: int
    overdue: Decimal  # still due on invoices past due date + grace
    overdue_invoice_count: int


@dataclass(frozen=True)
class OpenInvoice:
    invoice: CustomerInvoice
    overdue: bool
    days_past_due: int


@dataclass(frozen=True)
class ServiceLine:
    service: CustomerService
    current_period: Period | None

    @property
    def next_billing_date(self) -> date | None:
        return self.current_period.end if self.current_period else None


@dataclass(frozen=True)
class RecentPayment:
    payment: PaymentTransaction
    invoice_number: str | None


@dataclass(frozen=True)
class AccountSummary:
    customer: Customer
    as_of: date
    balance: Decimal
    credit_limit: Decimal
    primary_payment_method: str | None  # the masked display name
    totals: AccountTotals
    open_invoices: list[OpenInvoice]
    recent_payments: list[RecentPayment]
    services: list[ServiceLine]
    monthly_recurring: Decimal

    @property
    def balance_label(self) -> str:
        return balance_label(self.balance)


def _money(value) -> Decimal:
    """A SQL sum as money: NULL (no rows) is zero; a bare 0 literal comes back as int."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(value).quantize(Decimal("0.01"))


def overdue_cutoff(today: date) -> date:
    """Invoices due before this day are overdue when money is due (grace is a setting)."""
    return today - timedelta(days=int_setting("overdue_grace_days", today))


def account_summary(customer: Customer, today: date) -> AccountSummary:
    """The customer's balance, ledger totals, open invoices (oldest due first), recent
    payments (newest first) and services with their current billing cycle."""
    billing = customer.billing
    cutoff = overdue_cutoff(today)

    by_type = dict(
        db.session.execute(
            select(LedgerEntry.entry_type, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.customer_id == customer.id)
            .group_by(LedgerEntry.entry_type)
        ).all()
    )
    ledger = {entry_type: _money(total) for entry_type, total in by_type.items()}

    is_open = (
        CustomerInvoice.customer_id == customer.id,
        CustomerInvoice.status != "cancelled",
        CustomerInvoice.amount_due > 0,
    )
    is_late = CustomerInvoice.due_date < cutoff
    open_count, outstanding, overdue_count, overdue = db.session.execute(
        select(
            func.count(),
            func.sum(CustomerInvoice.amount_due),
            func.count().filter(is_late),
            func.sum(CustomerInvoice.amount_due).filter(is_late),
        ).where(*is_open)
    ).one()

    open_invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(*is_open)
        .order_by(CustomerInvoice.due_date, CustomerInvoice.id)
        .limit(OPEN_INVOICE_LIMIT)
    ).all()
    payments = db.session.execute(
        select(PaymentTransaction, CustomerInvoice.invoice_number)
        .outerjoin(CustomerInvoice, CustomerInvoice.id == PaymentTransaction.invoice_id)
        .where(PaymentTransaction.customer_id == customer.id)
        .order_by(PaymentTransaction.payment_date.desc(), PaymentTransaction.id.desc())
        .limit(RECENT_PAYMENT_LIMIT)
    ).all()
    services = db.session.scalars(
        select(CustomerService)
        .where(CustomerService.customer_id == customer.id)
        .order_by(CustomerService.id)
        .limit(SERVICE_LIMIT)
    ).all()
    monthly_recurring = db.session.scalar(
        select(func.sum(CustomerService.monthly_price)).where(
            CustomerService.customer_id == customer.id, CustomerService.status == "active"
        )
    )
    primary = None
    if billing is not None and billing.primary_payment_method_id is not None:
        primary = db.session.scalar(
            select(CustomerPaymentMethod.display_name).where(
                CustomerPaymentMethod.id == billing.primary_payment_method_id
            )
        )

    return AccountSummary(
        customer=customer,
        as_of=today,
        balance=billing.account_balance if billing else ZERO,
        credit_limit=billing.credit_limit if billing else ZERO,
        primary_payment_method=primary,
        totals=AccountTotals(
            invoiced=ledger.get("invoice", ZERO),
            paid=-(
                ledger.get("payment", ZERO)
                + ledger.get("reversal", ZERO)
                + ledger.get("refund", ZERO)
            ),
            credited=-ledger.get("credit_note", ZERO),
            adjusted=ledger.get("adjustment", ZERO),
            outstanding=_money(outstanding),
            open_invoice_count=open_count,
            overdue=_money(overdue),
            overdue_invoice_count=overdue_count,
        ),
        open_invoices=[
            OpenInvoice(
                invoice=invoice,
                overdue=invoice.due_date < cutoff,
                days_past_due=max(0, (today - invoice.due_date).days),
            )
            for invoice in open_invoices
        ],
        recent_payments=[RecentPayment(payment, number) for payment, number in payments],
        services=[ServiceLine(service, service_cycle(service, today)) for service in services],
        monthly_recurring=_money(monthly_recurring),
    )
