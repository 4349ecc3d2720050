"""Which money settles which invoice (DESIGN §5.5).

Payments go to the named invoice first, then to open invoices oldest due date first; the
rest stays on the account as credit and is allocated automatically to later invoices.
Credit notes are allocated to their own invoice; where that invoice is already paid, the
payment allocations they displace are released back to account credit first.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select

from app import clock
from app.billing.money import ZERO
from app.extensions import db
from app.models import Allocation, CustomerInvoice, PaymentTransaction
from app.settings import int_setting

# Payments whose money may settle invoices.
ALLOCATABLE_PAYMENT_STATUSES = ("completed",)


def amount_due(invoice: CustomerInvoice) -> Decimal:
    """What is still owed on the invoice (the stored column may be stale in a session)."""
    return invoice.total_amount - invoice.amount_paid - invoice.amount_credited


def is_overdue(invoice: CustomerInvoice, today: date) -> bool:
    """Overdue: money due and today later than due date + grace (a dated setting)."""
    grace = int_setting("overdue_grace_days", today)
    return amount_due(invoice) > 0 and (today - invoice.due_date).days > grace


def refresh_status(invoice: CustomerInvoice, today: date | None = None) -> None:
    """Derive the status from the amounts: cancelled, paid, overdue, partial or unpaid."""
    today = today or clock.today()
    if invoice.status == "cancelled":
        return
    settled = invoice.amount_paid + invoice.amount_credited
    if invoice.total_amount > 0 and invoice.amount_credited == invoice.total_amount:
        invoice.status = "cancelled"
    elif amount_due(invoice) == 0:
        invoice.status = "paid"
        invoice.paid_at = invoice.paid_at or clock.now()
    elif is_overdue(invoice, today):
        invoice.status = "overdue"
    elif settled > 0:
        invoice.status = "partial"
    else:
        invoice.status = "unpaid"
    if invoice.status != "paid":
        invoice.paid_at = None


def open_invoices(customer_id: int, *, first: int | None = None) -> list[CustomerInvoice]:
    """The customer's invoices with money due, `first` first, then oldest due date, locked."""
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .where(
            CustomerInvoice.customer_id == customer_id,
            CustomerInvoice.status != "cancelled",
            CustomerInvoice.total_amount
            > CustomerInvoice.amount_paid + CustomerInvoice.amount_credited,
        )
        .order_by(CustomerInvoice.due_date, CustomerInvoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    if first is not None:
        invoices.sort(key=lambda inv: inv.id != first)
    return invoices


def live_allocated(payment: PaymentTransaction) -> Decimal:
    """How much of the payment currently settles invoices."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(Allocation.amount), 0)).where(
            Allocation.payment_id == payment.id, Allocation.reversed_at.is_(None)
        )
    )
    return Decimal(total).quantize(Decimal("0.01")) if not isinstance(total, Decimal) else total


def unallocated(payment: PaymentTransaction) -> Decimal:
    """The part of a payment that is account credit (not yet settling any invoice)."""
    if payment.status not in ALLOCATABLE_PAYMENT_STATUSES:
        return ZERO
    return payment.amount - live_allocated(payment)


def _allocate(invoice: CustomerInvoice, amount: Decimal, *, payment=None, credit_note=None):
    allocation = Allocation(
        source="payment" if payment is not None else "credit_note",
        payment_id=payment.id if payment is not None else None,
        credit_note_id=credit_note.id if credit_note is not None else None,
        invoice_id=invoice.id,
        amount=amount,
    )
    db.session.add(allocation)
    if payment is not None:
        invoice.amount_paid += amount
    else:
        invoice.amount_credited += amount
    refresh_status(invoice)
    return allocation


def allocate_payment(payment: PaymentTransaction, invoices: list[CustomerInvoice]) -> Decimal:
    """Spread the payment's free money over `invoices` in order; returns what is left."""
    available = unallocated(payment)
    for invoice in invoices:
        if available <= 0:
            break
        share = min(available, amount_due(invoice))
        if share > 0:
            _allocate(invoice, share, payment=payment)
            available -= share
    db.session.flush()
    return available


def apply_account_credit(customer_id: int) -> None:
    """Settle open invoices with the customer's unallocated payments, oldest money first."""
    credit_payments = db.session.scalars(
        select(PaymentTransaction)
        .where(
            PaymentTransaction.customer_id == customer_id,
            PaymentTransaction.status.in_(ALLOCATABLE_PAYMENT_STATUSES),
        )
        .order_by(PaymentTransaction.payment_date, PaymentTransaction.id)
    ).all()
    credit_payments = [p for p in credit_payments if unallocated(p) > 0]
    if not credit_payments:
        return
    invoices = open_invoices(customer_id)
    for payment in credit_payments:
        allocate_payment(payment, [inv for inv in invoices if amount_due(inv) > 0])


def allocate_credit_note(credit_note, invoice: CustomerInvoice) -> None:
    """Put a credit note against its invoice, releasing displaced payment money first."""
    excess = credit_note.total_amount - amount_due(invoice)
    if excess > 0:
        release_payment_allocations(invoice, excess, reason=f"displaced by {credit_note}")
    _allocate(invoice, credit_note.total_amount, credit_note=credit_note)
    db.session.flush()


def release_payment_allocations(invoice: CustomerInvoice, amount: Decimal, *, reason: str):
    """Take `amount` of payment money off an invoice, newest allocation first.

    Allocations are never edited: a released one is marked reversed and, where only part
    is released, a new allocation keeps the rest.
    """
    allocations = db.session.scalars(
        select(Allocation)
        .where(
            Allocation.invoice_id == invoice.id,
            Allocation.source == "payment",
            Allocation.reversed_at.is_(None),
        )
        .order_by(Allocation.id.desc())
    ).all()
    now: datetime = clock.now()
    remaining = amount
    for allocation in allocations:
        if remaining <= 0:
            break
        allocation.reversed_at = now
        allocation.reversal_reason = reason
        invoice.amount_paid -= allocation.amount
        kept = allocation.amount - min(remaining, allocation.amount)
        remaining -= allocation.amount - kept
        if kept > 0:
            db.session.add(
                Allocation(
                    source="payment",
                    payment_id=allocation.payment_id,
                    invoice_id=invoice.id,
                    amount=kept,
                )
            )
            invoice.amount_paid += kept
    refresh_status(invoice)
    db.session.flush()
