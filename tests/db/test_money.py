"""Money is exact on both databases (DESIGN §5.1): Decimal in, Decimal out, SQL sums to the
cent; floats, unrounded amounts and amounts beyond NUMERIC(12,2) are refused."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import StatementError

from app.extensions import db
from app.models import CustomerInvoice, LedgerEntry
from tests.db import rows

ROWS = 10_000


def ledger_amounts() -> list[Decimal]:
    """10 000 amounts with cents that binary floats cannot hold, of both signs."""
    base = [
        Decimal("0.10"),
        Decimal("0.20"),
        rows.cents(Decimal("2.675")),  # 2.68 half-up (a float would say 2.67)
        Decimal("799.99"),
        Decimal("-0.99"),
        Decimal("1234567.89"),
        Decimal("0.01"),
        Decimal("-1234.57"),
    ]
    return [base[i % len(base)] + Decimal(i % 97) / 100 for i in range(ROWS)]


def test_ten_thousand_amounts_sum_exactly_in_sql(any_db):
    owner = rows.customer()
    amounts = ledger_amounts()
    db.session.execute(
        insert(LedgerEntry),
        [
            {
                "customer_id": owner.id,
                "entry_type": "adjustment",
                "amount": amount,
                "entry_date": date(2026, 11, 1),
                "description": "exactness test",
                "actor": "pytest",
            }
            for amount in amounts
        ],
    )
    db.session.commit()

    total = db.session.scalar(select(func.sum(LedgerEntry.amount)))

    assert type(total) is Decimal
    assert total == sum(amounts)
    assert total == Decimal("1542673933.54")
    # The same sum in binary floating point misses, so the test would catch float storage.
    assert Decimal(str(sum(float(a) for a in amounts))) != total


def test_invoice_amounts_sum_per_column_exactly(any_db):
    owner = rows.customer()
    totals = [Decimal("0.10"), Decimal("0.20"), rows.cents(Decimal("2.675"))] * 100
    for total in totals:
        rows.invoice(owner, total_amount=total)
    db.session.commit()

    sums = db.session.execute(
        select(
            func.sum(CustomerInvoice.total_amount),
            func.sum(CustomerInvoice.vat_amount),
            func.sum(CustomerInvoice.subtotal),
            func.sum(CustomerInvoice.amount_due),
        )
    ).one()

    assert sums == (Decimal("298.00"), Decimal("39.00"), Decimal("259.00"), Decimal("298.00"))
    assert all(type(value) is Decimal for value in sums)


def test_a_float_amount_is_refused(any_db):
    owner = rows.customer()

    with pytest.raises(StatementError, match="money must be a Decimal, not float"):
        rows.invoice(owner, total_amount=Decimal("10.00"), amount_paid=0.1)
    db.session.rollback()


def test_an_unrounded_amount_is_refused(any_db):
    owner = rows.customer()
    db.session.commit()

    with pytest.raises(StatementError, match="rounded to the cent"):
        rows.payment(owner, amount=Decimal("2.675"))
    db.session.rollback()


@pytest.mark.parametrize("amount", [Decimal("9999999999.99"), Decimal("-9999999999.99")])
def test_the_largest_amounts_round_trip_exactly(any_db, amount):
    owner = rows.customer()
    entry = LedgerEntry(
        customer_id=owner.id,
        entry_type="adjustment",
        amount=amount,
        entry_date=date(2026, 11, 1),
        description="largest amount",
        actor="pytest",
    )
    db.session.add(entry)
    db.session.commit()
    db.session.expire_all()

    stored = db.session.scalar(select(LedgerEntry.amount).where(LedgerEntry.id == entry.id))

    assert stored == amount
    assert str(stored) == str(amount)


def test_an_amount_beyond_numeric_12_2_is_refused_on_both_databases(any_db):
    owner = rows.customer()
    db.session.commit()

    with pytest.raises(StatementError, match=r"does not fit NUMERIC\(12,2\)"):
        rows.payment(owner, amount=Decimal("10000000000.00"))
    db.session.rollback()


def test_the_vat_rate_round_trips_and_stays_within_0_to_100_percent(any_db):
    owner = rows.customer()
    invoice = rows.invoice(owner, vat_rate=Decimal("15.00"))
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(CustomerInvoice, invoice.id).vat_rate == Decimal("15.00")

    with rows.refused("ck_customer_invoices_vat_rate_range"):
        rows.invoice(owner, vat_rate=Decimal("100.01"))
    with rows.refused("ck_customer_invoices_vat_rate_range"):
        rows.invoice(owner, vat_rate=Decimal("-0.01"))


def test_sqlite_stores_money_as_integer_cents(fresh_sqlite):
    owner = rows.customer()
    rows.invoice(owner, total_amount=rows.cents(Decimal("2.675")), vat_rate=Decimal("15.00"))
    db.session.commit()

    stored = db.session.execute(
        text(
            "SELECT total_amount, typeof(total_amount), amount_due, typeof(amount_due),"
            " vat_rate, typeof(vat_rate) FROM customer_invoices"
        )
    ).one()

    assert tuple(stored) == (268, "integer", 268, "integer", 1500, "integer")
