"""Payments, allocations, credit notes, cancellation, overdue, and the books check."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from app import clock
from app.billing.calendar import Period
from app.billing.credit_notes import cancel_invoice, issue_credit_note
from app.billing.invoicing import issue_period_invoice
from app.billing.ledger import check_books
from app.billing.overdue import mark_overdue_invoices
from app.billing.payments import record_payment, reverse_payment
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Allocation, CreditNote, LedgerEntry, PaymentTransaction

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture
def invoice_for(make_service, billing_actor):
    """Factory: a committed recurring invoice for a whole period of a new service."""

    def _make(
        customer=None,
        *,
        start=date(2026, 12, 1),
        end=date(2027, 1, 1),
        price="799.00",
        invoice_date=TODAY,
    ):
        service = make_service(customer, monthly_price=price, next_billing_date=None)
        invoice = issue_period_invoice(
            service,
            Period(start, end),
            invoice_type="recurring",
            invoice_date=invoice_date,
            actor=billing_actor,
        )
        db.session.commit()
        return invoice

    return _make


def _pay(customer, amount, key, actor, invoice=None):
    payment, created = record_payment(
        customer=customer,
        amount=Decimal(amount),
        method="eft",
        idempotency_key=key,
        actor=actor,
        reason="EFT received",
        invoice=invoice,
    )
    db.session.commit()
    return payment, created


def _balance(customer):
    db.session.refresh(customer.billing)
    return customer.billing.account_balance


def test_payment_goes_to_the_named_invoice_first_then_oldest_due(
    make_customer, invoice_for, billing_actor
):
    customer = make_customer()
    older = invoice_for(
        customer, start=date(2026, 10, 1), end=date(2026, 11, 1), invoice_date=date(2026, 9, 24)
    )
    newer = invoice_for(
        customer, start=date(2026, 11, 1), end=date(2026, 12, 1), invoice_date=date(2026, 10, 25)
    )
    named = invoice_for(customer, start=date(2026, 12, 1), end=date(2027, 1, 1))
    _pay(customer, "1000.00", "pay-1", billing_actor, invoice=named)
    for invoice in (older, newer, named):
        db.session.refresh(invoice)
    assert (named.amount_paid, named.status) == (Decimal("799.00"), "paid")
    # The older invoice is past due + grace on 25 Nov, so part-paid it is overdue; the
    # untouched one waits for the daily overdue run.
    assert (older.amount_paid, older.status) == (Decimal("201.00"), "overdue")
    assert (newer.amount_paid, newer.status) == (Decimal("0.00"), "unpaid")
    assert _balance(customer) == Decimal("1397.00")
    assert check_books() == []


def test_leftover_money_is_credit_that_the_next_invoice_consumes(
    make_customer, invoice_for, billing_actor
):
    customer = make_customer()
    first = invoice_for(customer)
    _pay(customer, "1000.00", "pay-1", billing_actor)
    assert _balance(customer) == Decimal("-201.00")
    later = invoice_for(customer, start=date(2027, 1, 1), end=date(2027, 2, 1))
    db.session.refresh(first)
    assert first.status == "paid"
    assert (later.amount_paid, later.status) == (Decimal("201.00"), "partial")
    assert later.amount_due == Decimal("598.00")
    assert _balance(customer) == Decimal("598.00")
    assert check_books() == []


def test_a_double_submit_records_one_payment(make_customer, invoice_for, billing_actor):
    customer = make_customer()
    invoice_for(customer)
    first, created = _pay(customer, "799.00", "form-key-1", billing_actor)
    again, created_again = _pay(customer, "799.00", "form-key-1", billing_actor)
    assert created and not created_again and again.id == first.id
    assert db.session.scalar(select(func.count()).select_from(PaymentTransaction)) == 1
    assert _balance(customer) == Decimal("0.00")


def test_reusing_a_key_for_a_different_payment_is_refused(make_customer, billing_actor):
    customer = make_customer()
    _pay(customer, "100.00", "key-x", billing_actor)
    with pytest.raises(Conflict):
        _pay(customer, "200.00", "key-x", billing_actor)


@pytest.mark.parametrize("amount", ["0.00", "-5.00", "1.005"])
def test_bad_amounts_are_refused_with_the_field_named(make_customer, billing_actor, amount):
    with pytest.raises(InvalidInput) as error:
        _pay(make_customer(), amount, "k", billing_actor)
    assert error.value.field == "amount"


def test_a_payment_for_another_customers_invoice_is_refused(
    make_customer, invoice_for, billing_actor
):
    foreign_invoice = invoice_for(make_customer())
    with pytest.raises(InvalidInput) as error:
        _pay(make_customer(), "10.00", "k", billing_actor, invoice=foreign_invoice)
    assert error.value.field == "invoice_id"


def test_reversing_a_payment_reopens_what_it_paid(make_customer, invoice_for, billing_actor):
    customer = make_customer()
    invoice = invoice_for(customer)
    payment, _ = _pay(customer, "799.00", "debit-1", billing_actor)
    reverse_payment(payment, actor=billing_actor, reason="Debit order returned", failure_code="02")
    db.session.commit()
    db.session.refresh(invoice)
    assert (invoice.amount_paid, invoice.status) == (Decimal("0.00"), "unpaid")
    assert payment.status == "reversed" and payment.failure_code == "02"
    allocation = db.session.scalars(select(Allocation)).one()
    assert allocation.reversed_at is not None
    assert _balance(customer) == Decimal("799.00")
    entry_types = db.session.scalars(select(LedgerEntry.entry_type).order_by(LedgerEntry.id)).all()
    assert entry_types == ["invoice", "payment", "reversal"]
    with pytest.raises(Conflict):
        reverse_payment(payment, actor=billing_actor, reason="again")
    assert check_books() == []


def test_a_credit_note_takes_its_vat_share_and_the_last_one_takes_the_rest(
    invoice_for, billing_actor
):
    invoice = invoice_for(price="100.00")  # VAT 13.04
    notes = []
    for amount in ("33.33", "33.33", "33.34"):
        notes.append(
            issue_credit_note(invoice, Decimal(amount), actor=billing_actor, reason="goodwill")
        )
        db.session.commit()
    assert [n.vat_amount for n in notes] == [Decimal("4.35"), Decimal("4.35"), Decimal("4.34")]
    assert sum(n.vat_amount for n in notes) == invoice.vat_amount
    assert [n.credit_note_number for n in notes] == [
        "CN-2026-00001",
        "CN-2026-00002",
        "CN-2026-00003",
    ]
    db.session.refresh(invoice)
    assert invoice.status == "cancelled" and invoice.amount_due == Decimal("0.00")
    assert check_books() == []


def test_crediting_more_than_is_left_is_refused(invoice_for, billing_actor):
    invoice = invoice_for(price="100.00")
    with pytest.raises(InvalidInput, match="100.00"):
        issue_credit_note(invoice, Decimal("100.01"), actor=billing_actor, reason="too much")


def test_a_credit_note_needs_a_reason(invoice_for, billing_actor):
    with pytest.raises(InvalidInput) as error:
        issue_credit_note(invoice_for(), Decimal("1.00"), actor=billing_actor, reason="  ")
    assert error.value.field == "reason"


def test_crediting_a_paid_invoice_releases_the_payment_to_account_credit(
    make_customer, invoice_for, billing_actor
):
    customer = make_customer()
    invoice = invoice_for(customer)
    _pay(customer, "799.00", "p1", billing_actor)
    note = cancel_invoice(invoice, actor=billing_actor, reason="Billed in error")
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.status == "cancelled"
    assert (invoice.amount_paid, invoice.amount_credited) == (Decimal("0.00"), Decimal("799.00"))
    assert note.total_amount == Decimal("799.00") and note.vat_amount == invoice.vat_amount
    assert _balance(customer) == Decimal("-799.00")  # the customer's money stays as credit
    later = invoice_for(customer, start=date(2027, 1, 1), end=date(2027, 2, 1))
    assert later.status == "paid"
    assert check_books() == []


def test_released_money_settles_other_open_invoices(make_customer, invoice_for, billing_actor):
    customer = make_customer()
    first = invoice_for(customer)
    second = invoice_for(customer, start=date(2027, 1, 1), end=date(2027, 2, 1))
    _pay(customer, "799.00", "p1", billing_actor, invoice=first)
    cancel_invoice(first, actor=billing_actor, reason="duplicate")
    db.session.commit()
    db.session.refresh(second)
    assert second.status == "paid"
    assert _balance(customer) == Decimal("0.00")


def test_cancelling_twice_is_refused(invoice_for, billing_actor):
    invoice = invoice_for()
    cancel_invoice(invoice, actor=billing_actor, reason="error")
    db.session.commit()
    with pytest.raises(Conflict):
        cancel_invoice(invoice, actor=billing_actor, reason="error")


def test_invoices_become_overdue_after_the_grace_days_and_clear_when_paid(
    make_customer, invoice_for, billing_actor
):
    customer = make_customer()
    invoice = invoice_for(customer, invoice_date=date(2026, 11, 1))  # due 8 Nov
    assert mark_overdue_invoices(date(2026, 11, 11)) == []  # 8 Nov + 3 days grace
    assert mark_overdue_invoices(date(2026, 11, 12)) == [invoice]
    db.session.commit()
    _pay(customer, "400.00", "p1", billing_actor)
    db.session.refresh(invoice)
    assert invoice.status == "overdue"  # still money due
    _pay(customer, "399.00", "p2", billing_actor)
    db.session.refresh(invoice)
    assert invoice.status == "paid" and invoice.paid_at is not None


def test_books_check_lists_a_balance_that_disagrees_with_the_ledger(
    make_customer, invoice_for, billing_actor
):
    customer = make_customer()
    invoice_for(customer)
    assert check_books() == []
    db.session.execute(
        text(
            "UPDATE customer_billing SET account_balance = account_balance + 1 "
            "WHERE customer_id = :id"
        ),
        {"id": customer.id},
    )
    db.session.execute(
        text("UPDATE customer_invoices SET amount_paid = 5"),
    )
    problems = check_books()
    kinds = sorted(problem.kind for problem in problems)
    assert kinds == ["allocations", "balance"]
    assert any("800.00" in str(p) for p in problems)


def test_credit_note_rows_are_numbered_only_when_committed(invoice_for, billing_actor):
    invoice = invoice_for()
    issue_credit_note(invoice, Decimal("10.00"), actor=billing_actor, reason="oops")
    db.session.rollback()
    note = issue_credit_note(invoice, Decimal("10.00"), actor=billing_actor, reason="right")
    db.session.commit()
    assert note.credit_note_number == "CN-2026-00001"
    assert db.session.scalar(select(func.count()).select_from(CreditNote)) == 1


def test_a_payment_dated_in_the_future_is_refused(make_customer, billing_actor):
    with pytest.raises(InvalidInput) as error:
        record_payment(
            customer=make_customer(),
            amount=Decimal("10.00"),
            method="eft",
            idempotency_key="future",
            actor=billing_actor,
            reason="EFT",
            payment_date=date(2026, 11, 26),
        )
    assert error.value.field == "payment_date"
