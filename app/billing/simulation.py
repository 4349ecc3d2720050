"""Simulated customers paying their invoices, for `flask billing simulate` and demo history.

Deterministic: each customer's paying habit comes from a generator seeded by the
simulation seed and the customer id, and each invoice's payments from one seeded by the
customer, the invoice's due date and the seed, so the same seed pays the same invoices on
the same days, on SQLite and PostgreSQL alike. Most customers pay on time around the due
date (debit order, EFT, card), some late, some in two parts, a few never.

Customers whose habit is the debit order and who have an active mandate (with auto-pay)
do not pay by hand while NetCash is configured: the debit-order run collects them, and the
NetCash sandbox returns some of those collections.

`plan_payments` only decides (no database); `apply_simulated_payments` records the
payments planned for one day through `record_payment`, with an idempotency key made of
the invoice number and the attempt, so simulating the same days again pays nothing twice.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from random import Random

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.audit import Actor
from app.billing.allocation import amount_due
from app.billing.money import ZERO
from app.billing.payments import find_payment, record_payment
from app.extensions import db
from app.models import CustomerInvoice

# (habit, weight): how the customers of a simulation pay.
HABITS = (
    ("debit_order", 45),
    ("eft_on_time", 20),
    ("card", 12),
    ("late", 12),
    ("partial", 7),
    ("never", 4),
)
# The latest a planned payment falls after the due date; the earliest is the invoice date.
LATEST_PAYMENT_DAYS = 30
SIMULATION_REASON = "Simulated customer payment"


@dataclass(frozen=True)
class PlannedPayment:
    """One payment a simulated customer makes: a share of the invoice total, or the rest."""

    day: date
    method: str
    attempt: int
    share: Decimal | None = None  # None: whatever is still due

    def amount(self, invoice_total: Decimal, still_due: Decimal) -> Decimal:
        if self.share is None:
            return still_due
        wanted = (invoice_total * self.share).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return min(wanted, still_due)


def paying_habit(customer_id: int, seed: int) -> str:
    """The customer's habit for the whole simulation."""
    rng = Random(f"habit:{seed}:{customer_id}")
    habits, weights = zip(*HABITS, strict=True)
    return rng.choices(habits, weights=weights)[0]


def plan_payments(
    *, customer_id: int, invoice_date: date, due_date: date, seed: int
) -> list[PlannedPayment]:
    """The payments the customer makes for an invoice issued and due on these dates."""
    habit = paying_habit(customer_id, seed)
    rng = Random(f"invoice:{seed}:{customer_id}:{due_date.isoformat()}")

    def after_due(low: int, high: int) -> date:
        return max(invoice_date, due_date + timedelta(days=rng.randint(low, high)))

    def before_due(days: int) -> date:
        return max(invoice_date, due_date - timedelta(days=rng.randint(0, days)))

    if habit == "never":
        return []
    if habit == "debit_order":
        # Collected on the due date; now and then returned and paid by EFT a week later.
        if rng.random() < 0.05:
            return [PlannedPayment(after_due(5, 10), "eft", 1)]
        return [PlannedPayment(due_date, "debit_order", 1)]
    if habit == "eft_on_time":
        day = after_due(1, 6) if rng.random() < 0.08 else before_due(5)
        return [PlannedPayment(day, "eft", 1)]
    if habit == "card":
        day = invoice_date + timedelta(days=rng.randint(0, 3))
        return [PlannedPayment(min(day, due_date), "card", 1)]
    if habit == "late":
        return [PlannedPayment(after_due(5, 25), "eft", 1)]
    # partial: part around the due date, the rest two to four weeks later
    share = Decimal(rng.randint(30, 70)) / 100
    return [
        PlannedPayment(after_due(-2, 2), "eft", 1, share=share),
        PlannedPayment(after_due(14, LATEST_PAYMENT_DAYS), "eft", 2),
    ]


@dataclass
class SimulatedPayments:
    """What one simulated day's payments came to."""

    count: int = 0
    total: Decimal = ZERO
    failures: list[str] = field(default_factory=list)


def customers_collected_by_debit_order() -> set[int]:
    """Customers the debit-order run collects (auto-pay on, an active mandate) when NetCash
    is configured; they no longer pay by hand. Without NetCash they still do."""
    if not current_app.config.get("NETCASH_WS_URL"):
        return set()
    from app.debit_orders import collecting_mandates  # the debit orders build on billing

    return set(collecting_mandates())


def payment_key(invoice: CustomerInvoice, attempt: int) -> str:
    """The idempotency key of a simulated payment: one per invoice and attempt."""
    return f"sim-{invoice.invoice_number}-{attempt}"


def apply_simulated_payments(day: date, *, seed: int, actor: Actor) -> SimulatedPayments:
    """Record the payments customers make on `day` (flushed; the caller commits).

    Only invoices that can have a payment planned that day are read: numbered, with
    money due, issued by `day` and due no more than LATEST_PAYMENT_DAYS before it. Each
    payment is made in a savepoint, so one failure does not undo the others.
    """
    invoices = db.session.scalars(
        select(CustomerInvoice)
        .options(joinedload(CustomerInvoice.customer))
        .where(
            CustomerInvoice.status.in_(("unpaid", "partial", "overdue")),
            CustomerInvoice.invoice_number.is_not(None),
            CustomerInvoice.invoice_date <= day,
            CustomerInvoice.due_date >= day - timedelta(days=LATEST_PAYMENT_DAYS),
        )
        .order_by(CustomerInvoice.due_date, CustomerInvoice.id)
    ).all()
    result = SimulatedPayments()
    collected = customers_collected_by_debit_order()
    for invoice in invoices:
        if invoice.customer_id in collected and (
            paying_habit(invoice.customer_id, seed) == "debit_order"
        ):
            continue  # the debit-order run collects them (returns included)
        planned = plan_payments(
            customer_id=invoice.customer_id,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            seed=seed,
        )
        for payment in planned:
            if payment.day != day:
                continue
            key = payment_key(invoice, payment.attempt)
            amount = payment.amount(invoice.total_amount, amount_due(invoice))
            if amount <= 0 or find_payment(key) is not None:
                continue
            try:
                with db.session.begin_nested():
                    record_payment(
                        customer=invoice.customer,
                        amount=amount,
                        method=payment.method,
                        idempotency_key=key,
                        actor=actor,
                        reason=SIMULATION_REASON,
                        payment_date=day,
                        invoice=invoice,
                    )
            except Exception as error:  # one bad payment never stops the day
                result.failures.append(f"{key}: {type(error).__name__}: {error}")
                continue
            result.count += 1
            result.total += amount
    return result
