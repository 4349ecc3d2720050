"""Account, invoice and credit-note numbers (DESIGN §5.2): `PREFIX-YYYY-NNNNN` with the SAST
year, one continuous counter each, gapless through rollbacks, distinct and consecutive under
real concurrent transactions on PostgreSQL."""

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from app import clock
from app.accounts import update_customer
from app.billing.numbering import number_credit_notes, number_invoices, queue_for_numbering
from app.errors import InvalidInput
from app.extensions import db
from app.models import (
    AccountNumberCounter,
    CreditNote,
    Customer,
    CustomerInvoice,
    InvoiceNumberCounter,
)
from tests.db import rows
from tests.db.concurrency import create_customers_concurrently, overlapped, run_concurrently

LAST_MINUTES_OF_2026_SAST = rows.utc(2026, 12, 31, 21, 30)  # 23:30 SAST, still 2026
FIRST_MINUTES_OF_2027_SAST = rows.utc(2026, 12, 31, 23, 30)  # 01:30 SAST on 1 Jan 2027


def account_numbers() -> list[str]:
    return list(db.session.scalars(select(Customer.account_number).order_by(Customer.id)))


def consecutive(prefix: str, year: int, first: int, count: int) -> list[str]:
    return [f"{prefix}-{year}-{n:05d}" for n in range(first, first + count)]


def test_account_number_has_the_ct_year_serial_format(app):
    with clock.frozen_at(date(2026, 11, 25)):
        customer = rows.customer()

    assert re.fullmatch(r"CT-\d{4}-\d{5}", customer.account_number)
    assert customer.account_number == "CT-2026-00001"


def test_account_number_year_is_the_sast_year_not_the_utc_year(app):
    with clock.frozen_at(FIRST_MINUTES_OF_2027_SAST):
        customer = rows.customer()

    assert customer.account_number == "CT-2027-00001"


def test_account_counter_continues_across_the_new_year(app):
    with clock.frozen_at(date(2026, 6, 1)):
        rows.customer()
    with clock.frozen_at(LAST_MINUTES_OF_2026_SAST):
        rows.customer()
    with clock.frozen_at(FIRST_MINUTES_OF_2027_SAST):
        rows.customer()
    db.session.commit()

    assert account_numbers() == ["CT-2026-00001", "CT-2026-00002", "CT-2027-00003"]
    counter = db.session.get(AccountNumberCounter, 1)
    assert (counter.last_number, counter.last_year) == (3, 2027)


def test_account_number_widens_beyond_99999_instead_of_wrapping(app):
    db.session.execute(update(AccountNumberCounter).values(last_number=99_998))
    with clock.frozen_at(date(2026, 11, 25)):
        rows.customer()
        rows.customer()
    db.session.commit()

    assert account_numbers() == ["CT-2026-99999", "CT-2026-100000"]


def test_a_rolled_back_customer_creation_leaves_no_gap(app):
    with clock.frozen_at(date(2026, 11, 25)):
        rows.customer()
        db.session.commit()
        abandoned = rows.customer()
        assert abandoned.account_number == "CT-2026-00002"
        db.session.rollback()
        rows.customer()
        db.session.commit()

    assert account_numbers() == ["CT-2026-00001", "CT-2026-00002"]


def test_account_number_is_assigned_once_and_never_changes(app):
    with clock.frozen_at(date(2026, 11, 25)):
        customer = rows.customer()
        db.session.commit()
    with clock.frozen_at(date(2027, 3, 1)):
        update_customer(customer, actor=rows.ACTOR, reason="moved", billing_city="Durban")
        with pytest.raises(InvalidInput, match="account_number"):
            update_customer(
                customer, actor=rows.ACTOR, reason="renumber", account_number="CT-2027-00009"
            )
        db.session.commit()

    db.session.expire_all()
    assert account_numbers() == ["CT-2026-00001"]
    assert db.session.get(AccountNumberCounter, 1).last_number == 1


def unnumbered_invoices(count: int) -> list[CustomerInvoice]:
    owner = rows.customer()
    return [rows.invoice(owner, total_amount=Decimal("100.00") + n) for n in range(count)]


def test_invoice_numbers_are_consecutive_in_id_order(app):
    with clock.frozen_at(date(2026, 11, 25)):
        invoices = unnumbered_invoices(3)
        number_invoices(reversed(invoices))
        db.session.commit()
        later = unnumbered_invoices(2)
        number_invoices(later + invoices)  # already numbered invoices keep their numbers
        db.session.commit()

    numbers = [i.invoice_number for i in sorted(invoices + later, key=lambda i: i.id)]
    assert numbers == consecutive("INV", 2026, 1, 5)


def test_invoice_numbers_continue_across_the_new_year(app):
    with clock.frozen_at(LAST_MINUTES_OF_2026_SAST):
        december = unnumbered_invoices(2)
        number_invoices(december)
    with clock.frozen_at(FIRST_MINUTES_OF_2027_SAST):
        january = unnumbered_invoices(1)
        number_invoices(january)
    db.session.commit()

    assert [i.invoice_number for i in december + january] == [
        "INV-2026-00001",
        "INV-2026-00002",
        "INV-2027-00003",
    ]


def test_a_rolled_back_invoice_run_leaves_no_gap(app):
    with clock.frozen_at(date(2026, 11, 25)):
        first = unnumbered_invoices(2)
        number_invoices(first)
        db.session.commit()
        abandoned = unnumbered_invoices(3)
        number_invoices(abandoned)
        db.session.rollback()
        retried = unnumbered_invoices(1)
        number_invoices(retried)
        db.session.commit()

    assert [i.invoice_number for i in first + retried] == consecutive("INV", 2026, 1, 3)


def test_credit_note_numbers_are_gapless_and_consecutive(app):
    with clock.frozen_at(date(2026, 11, 25)):
        (invoice,) = unnumbered_invoices(1)
        notes = [rows.credit_note(invoice, total_amount=Decimal("10.00")) for _ in range(2)]
        number_credit_notes(notes)
        db.session.commit()
        abandoned = rows.credit_note(invoice, total_amount=Decimal("10.00"))
        number_credit_notes([abandoned])
        db.session.rollback()
        notes.append(rows.credit_note(invoice, total_amount=Decimal("10.00")))
        number_credit_notes(notes)
        db.session.commit()

    stored = db.session.scalars(select(CreditNote.credit_note_number).order_by(CreditNote.id))
    assert list(stored) == consecutive("CN", 2026, 1, 3)


# Numbering at commit: documents queued by invoicing and credit notes (§5.2, last step).


def test_queued_documents_are_numbered_when_the_transaction_commits(app):
    with clock.frozen_at(date(2026, 11, 25)):
        owner = rows.customer()
        invoices = [rows.invoice(owner) for _ in range(2)]
        note = rows.credit_note(invoices[0], total_amount=Decimal("10.00"))
        for document in (invoices[1], note, invoices[0]):
            queue_for_numbering(document)
        assert invoices[0].invoice_number is None  # not before the commit
        db.session.commit()

    assert [i.invoice_number for i in invoices] == consecutive("INV", 2026, 1, 2)
    assert note.credit_note_number == "CN-2026-00001"


def test_a_failed_savepoint_leaves_the_other_queued_invoices_numbered_without_a_gap(app):
    """An invoice run builds each service's invoice in a savepoint; one failing service
    must neither take a number nor cost the others theirs."""
    with clock.frozen_at(date(2026, 11, 25)):
        owner = rows.customer()
        before = rows.invoice(owner)
        queue_for_numbering(before)
        with pytest.raises(RuntimeError), db.session.begin_nested():
            queue_for_numbering(rows.invoice(owner))
            raise RuntimeError("this service failed")
        after = rows.invoice(owner)
        queue_for_numbering(after)
        db.session.commit()

    stored = db.session.scalars(select(CustomerInvoice.invoice_number).order_by(CustomerInvoice.id))
    assert list(stored) == consecutive("INV", 2026, 1, 2)


def test_a_rolled_back_transaction_numbers_nothing_it_queued(app):
    with clock.frozen_at(date(2026, 11, 25)):
        owner = rows.customer()
        db.session.commit()
        queue_for_numbering(rows.invoice(owner))
        db.session.rollback()
        retried = rows.invoice(owner)
        queue_for_numbering(retried)
        db.session.commit()

    assert retried.invoice_number == "INV-2026-00001"
    assert db.session.get(InvoiceNumberCounter, 1).last_number == 1


# Concurrency: real transactions on separate connections, started together.


def test_fifty_concurrent_customer_creations_get_distinct_consecutive_numbers(concurrent_app):
    given = create_customers_concurrently(concurrent_app, 50)

    stored = account_numbers()
    assert len(set(given)) == 50
    assert sorted(given) == sorted(stored) == consecutive("CT", 2026, 1, 50)
    assert db.session.get(AccountNumberCounter, 1).last_number == 50


def test_concurrent_invoice_numbering_gives_distinct_consecutive_numbers(concurrent_app):
    with concurrent_app.app_context():
        owner_id = rows.customer().id
        db.session.commit()

    def issue(_):
        owner = db.session.get(Customer, owner_id)
        invoices = [rows.invoice(owner, total_amount=Decimal("50.00")) for _ in range(5)]
        number_invoices(invoices)
        return [invoice.invoice_number for invoice in invoices]

    outcomes = run_concurrently(concurrent_app, issue, 8)

    assert overlapped(outcomes)
    batches = [numbers for numbers, _, _ in outcomes]
    every_number = sorted(n for batch in batches for n in batch)
    assert every_number == consecutive("INV", 2026, 1, 40)
    for batch in batches:  # each transaction's invoices got one consecutive block
        serials = [int(n.rsplit("-", 1)[1]) for n in batch]
        assert serials == list(range(serials[0], serials[0] + 5))
    stored = db.session.scalars(select(CustomerInvoice.invoice_number))
    assert sorted(stored) == every_number
