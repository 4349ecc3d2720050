"""The ledger: every money movement on an account, and the cached balance beside it.

Positive amounts increase what the customer owes (invoice, refund, reversal of a returned
payment); negative ones reduce it (payment, credit note). `customer_billing.account_balance`
caches the sum and changes in the same transaction as the entry (DESIGN §4, §5.1).
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, func, select

from app.audit import Actor
from app.extensions import db
from app.models import (
    Allocation,
    CustomerBilling,
    CustomerInvoice,
    LedgerEntry,
)


def lock_billing(customer_id: int) -> CustomerBilling:
    """The customer's billing row, locked for this transaction (lock order: after services)."""
    return db.session.scalars(
        select(CustomerBilling)
        .where(CustomerBilling.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def post_entry(
    *,
    customer_id: int,
    entry_type: str,
    amount: Decimal,
    entry_date: date,
    description: str,
    actor: Actor,
    invoice_id: int | None = None,
    payment_id: int | None = None,
    credit_note_id: int | None = None,
) -> LedgerEntry:
    """Add a ledger entry and move the cached balance by the same amount."""
    entry = LedgerEntry(
        customer_id=customer_id,
        entry_type=entry_type,
        amount=amount,
        entry_date=entry_date,
        description=description[:255],
        actor=actor.label,
        invoice_id=invoice_id,
        payment_id=payment_id,
        credit_note_id=credit_note_id,
    )
    db.session.add(entry)
    billing = lock_billing(customer_id)
    billing.account_balance = billing.account_balance + amount
    return entry


@dataclass(frozen=True)
class BooksProblem:
    kind: str  # "balance" or "allocations"
    subject: str
    expected: Decimal
    actual: Decimal

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: expected {self.expected}, found {self.actual}"


def check_books() -> list[BooksProblem]:
    """Balances equal ledger sums; invoices' paid/credited equal their live allocations."""
    problems = []
    ledger_sums = (
        select(LedgerEntry.customer_id, func.sum(LedgerEntry.amount).label("total"))
        .group_by(LedgerEntry.customer_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            CustomerBilling.customer_id,
            CustomerBilling.account_balance,
            func.coalesce(ledger_sums.c.total, 0),
        ).outerjoin(ledger_sums, ledger_sums.c.customer_id == CustomerBilling.customer_id)
    )
    for customer_id, cached, ledger_total in rows:
        ledger_total = _as_decimal(ledger_total)
        if cached != ledger_total:
            problems.append(
                BooksProblem("balance", f"customer {customer_id}", ledger_total, cached)
            )

    live = and_(Allocation.invoice_id == CustomerInvoice.id, Allocation.reversed_at.is_(None))
    paid = (
        select(func.coalesce(func.sum(Allocation.amount), 0))
        .where(live, Allocation.source == "payment")
        .scalar_subquery()
    )
    credited = (
        select(func.coalesce(func.sum(Allocation.amount), 0))
        .where(live, Allocation.source == "credit_note")
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(
            CustomerInvoice.id,
            CustomerInvoice.invoice_number,
            CustomerInvoice.amount_paid,
            CustomerInvoice.amount_credited,
            paid,
            credited,
        ).where(
            (CustomerInvoice.amount_paid != paid) | (CustomerInvoice.amount_credited != credited)
        )
    )
    for invoice_id, number, amount_paid, amount_credited, live_paid, live_credited in rows:
        subject = f"invoice {number or invoice_id}"
        if amount_paid != _as_decimal(live_paid):
            problems.append(
                BooksProblem("allocations", f"{subject} paid", _as_decimal(live_paid), amount_paid)
            )
        if amount_credited != _as_decimal(live_credited):
            problems.append(
                BooksProblem(
                    "allocations",
                    f"{subject} credited",
                    _as_decimal(live_credited),
                    amount_credited,
                )
            )
    return problems


def _as_decimal(value) -> Decimal:
    """SQL sums come back as Decimal through the Money type; bare zero literals as int."""
    return value if isinstance(value, Decimal) else Decimal(value).quantize(Decimal("0.01"))
