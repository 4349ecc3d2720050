"""Valid rows for the database tests, which then break one rule at a time.

Each builder adds its row to `db.session` and flushes (nothing is committed), so it works
on whichever app context is current: PostgreSQL (`app`) or SQLite (`sqlite_app`).
"""

import os
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from app.accounts import create_customer
from app.audit import Actor
from app.extensions import db
from app.models import (
    CreditNote,
    Customer,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    PaymentTransaction,
)

ACTOR = Actor.system("pytest")
VAT_RATE = Decimal("15.00")


def cents(value) -> Decimal:
    """`value` rounded half-up to the cent, the way the domain rounds money."""
    return Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def customer(**fields) -> Customer:
    """A customer created the way the app creates them (with an account number)."""
    suffix = os.urandom(3).hex()
    fields.setdefault("first_name", "Thandi")
    fields.setdefault("last_name", "Nkosi")
    fields.setdefault("email", f"db-{suffix}@example.co.za")
    return create_customer(actor=ACTOR, reason="database test", **fields)


def service(owner: Customer, **overrides) -> CustomerService:
    values = {
        "customer_id": owner.id,
        "service_type": "fibre",
        "package_name": "Fibre 100/50",
        "installation_address": "12 Jacaranda Street, Pretoria",
        "monthly_price": Decimal("799.00"),
        "billing_date": 1,
        "status": "active",
    }
    row = CustomerService(**(values | overrides))
    db.session.add(row)
    db.session.flush()
    return row


def invoice(owner: Customer, on_service: CustomerService | None = None, **overrides):
    """An unpaid invoice; VAT is split from the VAT-inclusive total as in DESIGN §5.1.

    A service invoice covers its whole period, as when it is issued (`covered_until` =
    `period_end`) until a credit note for its tail moves that back.
    """
    total = overrides.pop("total_amount", Decimal("799.00"))
    vat = cents(total * VAT_RATE / (100 + VAT_RATE))
    period_end = overrides.get("period_end", date(2026, 12, 1) if on_service else None)
    values = {
        "customer_id": owner.id,
        "service_id": on_service.id if on_service else None,
        "invoice_date": date(2026, 11, 1),
        "due_date": date(2026, 11, 8),
        "period_start": date(2026, 11, 1) if on_service else None,
        "period_end": period_end,
        "covered_until": period_end,
        "subtotal": total - vat,
        "vat_rate": VAT_RATE,
        "vat_amount": vat,
        "total_amount": total,
        "invoice_type": "recurring" if on_service else "adjustment",
    }
    row = CustomerInvoice(**(values | overrides))
    db.session.add(row)
    db.session.flush()
    return row


def credit_note(on_invoice: CustomerInvoice, **overrides) -> CreditNote:
    total = overrides.pop("total_amount", Decimal("100.00"))
    vat = cents(total * VAT_RATE / (100 + VAT_RATE))
    values = {
        "customer_id": on_invoice.customer_id,
        "invoice_id": on_invoice.id,
        "credit_note_date": date(2026, 11, 10),
        "subtotal": total - vat,
        "vat_rate": VAT_RATE,
        "vat_amount": vat,
        "total_amount": total,
        "reason": "Outage credit",
        "actor": ACTOR.label,
    }
    row = CreditNote(**(values | overrides))
    db.session.add(row)
    db.session.flush()
    return row


def payment(owner: Customer, **overrides) -> PaymentTransaction:
    values = {
        "transaction_id": f"EFT-{os.urandom(4).hex()}",
        "customer_id": owner.id,
        "method": "eft",
        "amount": Decimal("799.00"),
        "status": "completed",
        "payment_date": date(2026, 11, 3),
        "actor": ACTOR.label,
    }
    row = PaymentTransaction(**(values | overrides))
    db.session.add(row)
    db.session.flush()
    return row


def payment_method(owner: Customer, **overrides) -> CustomerPaymentMethod:
    values = {
        "customer_id": owner.id,
        "method_type": "debit_order",
        "display_name": "Debit Order - FNB ***1234",
        "last_four": "1234",
        "bank_name": "FNB",
        "encrypted_details": "gAAAAABfake-fernet-token",
        "is_primary": True,
        "is_active": True,
    }
    row = CustomerPaymentMethod(**(values | overrides))
    db.session.add(row)
    db.session.flush()
    return row


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@contextmanager
def refused(postgresql: str | tuple[str, ...], sqlite: str | None = "same"):
    """Expect the database to refuse the flush inside, naming the rule it broke.

    The block runs in a savepoint, so the rows set up before it stay usable. `postgresql`
    is the text PostgreSQL reports (the constraint's name, or a tuple of acceptable names
    when a row breaks several rules at once); SQLite names CHECK constraints and triggers
    but reports unique and foreign-key violations by column, so its text may differ
    ("same" means the PostgreSQL text).
    """
    expected = postgresql if sqlite == "same" or _dialect() == "postgresql" else sqlite
    with pytest.raises(IntegrityError) as caught, db.session.begin_nested():
        yield
        db.session.flush()
    message = str(caught.value.orig)
    alternatives = expected if isinstance(expected, tuple) else (expected,)
    assert any(text in message for text in alternatives), message


def _dialect() -> str:
    return db.session.get_bind().dialect.name
