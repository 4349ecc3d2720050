"""Recording and reversing payments (DESIGN §5.5).

A payment is a ledger entry (−amount) and is allocated to the named invoice first, then to
open invoices oldest due date first; what is left is account credit. The idempotency key of
the form or API call is the payment's unique `transaction_id`, so a double submit records
one payment.
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.audit import Actor, record_audit, require_reason, snapshot
from app.billing.allocation import (
    allocate_payment,
    apply_account_credit,
    open_invoices,
    refresh_status,
)
from app.billing.ledger import lock_billing, post_entry
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Allocation, Customer, CustomerInvoice, PaymentTransaction
from app.models.payments import PAYMENT_CHANNELS
from app.notifications import queue_notification


def find_payment(transaction_id: str) -> PaymentTransaction | None:
    return db.session.scalar(
        select(PaymentTransaction).where(PaymentTransaction.transaction_id == transaction_id)
    )


def record_payment(
    *,
    customer: Customer,
    amount: Decimal,
    method: str,
    idempotency_key: str,
    actor: Actor,
    reason: str,
    payment_date: date | None = None,
    invoice: CustomerInvoice | None = None,
    provider_reference: str | None = None,
    notes: str | None = None,
) -> tuple[PaymentTransaction, bool]:
    """Record money received; returns (payment, created). A repeated key returns the first.

    The same key with a different customer or amount is refused: it is not a double submit
    but a clash.
    """
    reason = require_reason(reason)
    key = (idempotency_key or "").strip()
    if not key:
        raise InvalidInput("An idempotency key is required.", field="idempotency_key")
    if not isinstance(amount, Decimal) or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("The amount must be a positive rand amount in cents.", field="amount")
    if method not in PAYMENT_CHANNELS:
        raise InvalidInput(f"Method must be one of {', '.join(PAYMENT_CHANNELS)}.", field="method")
    if payment_date is not None and payment_date > clock.today():
        raise InvalidInput("The payment date cannot be in the future.", field="payment_date")
    if invoice is not None and invoice.customer_id != customer.id:
        raise InvalidInput("That invoice belongs to another customer.", field="invoice_id")

    lock_billing(customer.id)  # serialises payments of one customer (and double submits)
    existing = find_payment(key)
    if existing is not None:
        return _same_payment_or_clash(existing, customer, amount), False

    payment = PaymentTransaction(
        transaction_id=key,
        customer_id=customer.id,
        invoice_id=invoice.id if invoice is not None else None,
        method=method,
        amount=amount,
        status="completed",
        payment_date=payment_date or clock.today(),
        provider_reference=provider_reference,
        processed_at=clock.now(),
        recorded_by_id=actor.staff_user_id,
        actor=actor.label,
        notes=notes,
    )
    try:
        with db.session.begin_nested():
            db.session.add(payment)
            db.session.flush()
    except IntegrityError:
        # The same key committed by a concurrent request after our check.
        existing = find_payment(key)
        if existing is None:
            raise
        return _same_payment_or_clash(existing, customer, amount), False

    post_entry(
        customer_id=customer.id,
        entry_type="payment",
        amount=-amount,
        entry_date=payment.payment_date,
        description=f"Payment {method} {provider_reference or key}",
        actor=actor,
        payment_id=payment.id,
    )
    allocate_payment(payment, open_invoices(customer.id, first=invoice.id if invoice else None))
    record_audit(
        actor=actor,
        entity=payment,
        action="record_payment",
        reason=reason,
        before=None,
        after=snapshot(payment),
        customer_id=customer.id,
    )
    queue_notification(
        customer,
        "payment_received",
        {"amount": amount, "invoice_number": invoice.invoice_number if invoice else None},
        dedupe_key=f"payment-received-{payment.id}",
    )
    return payment, True


def _same_payment_or_clash(existing: PaymentTransaction, customer: Customer, amount: Decimal):
    if existing.customer_id != customer.id or existing.amount != amount:
        raise Conflict(
            "This idempotency key was already used for a different payment.",
            field="idempotency_key",
        )
    return existing


def reverse_payment(
    payment: PaymentTransaction,
    *,
    actor: Actor,
    reason: str,
    failure_code: str | None = None,
) -> PaymentTransaction:
    """Undo a payment (e.g. a returned debit order): its allocations are reversed, the
    invoices it paid re-open, and a reversal entry puts the amount back on the balance."""
    reason = require_reason(reason)
    lock_billing(payment.customer_id)
    db.session.refresh(payment, with_for_update=True)
    if payment.status != "completed":
        raise Conflict(f"Only a completed payment can be reversed (this one is {payment.status}).")
    before = snapshot(payment)
    now = clock.now()
    allocations = db.session.scalars(
        select(Allocation).where(
            Allocation.payment_id == payment.id, Allocation.reversed_at.is_(None)
        )
    ).all()
    for allocation in allocations:
        allocation.reversed_at = now
        allocation.reversal_reason = reason
        invoice = db.session.get(CustomerInvoice, allocation.invoice_id, with_for_update=True)
        invoice.amount_paid -= allocation.amount
        refresh_status(invoice)
    payment.status = "reversed"
    payment.reversed_at = now
    payment.failure_code = failure_code
    payment.failure_reason = reason
    db.session.flush()
    post_entry(
        customer_id=payment.customer_id,
        entry_type="reversal",
        amount=payment.amount,
        entry_date=clock.today(),
        description=f"Reversal of payment {payment.transaction_id}"
        + (f" (code {failure_code})" if failure_code else ""),
        actor=actor,
        payment_id=payment.id,
    )
    apply_account_credit(payment.customer_id)
    record_audit(
        actor=actor,
        entity=payment,
        action="reverse_payment",
        reason=reason,
        before=before,
        after=snapshot(payment),
        customer_id=payment.customer_id,
    )
    return payment
