"""The invoice run: in advance, catching up, never twice, gapless numbers, skips counted."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.billing import invoicing
from app.billing.calendar import Period
from app.billing.invoicing import issue_installation_invoice, issue_period_invoice, run_invoices
from app.billing.ledger import check_books
from app.extensions import db
from app.models import (
    CustomerInvoice,
    InvoiceNumberCounter,
    LedgerEntry,
    ServiceSuspension,
)


def _invoices(service=None):
    query = select(CustomerInvoice).order_by(CustomerInvoice.period_start, CustomerInvoice.id)
    if service is not None:
        query = query.where(CustomerInvoice.service_id == service.id)
    return db.session.scalars(query).all()


def test_run_invoices_the_next_period_seven_days_ahead(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 24)):
        result = run_invoices(date(2026, 11, 24), actor=billing_actor)
    (invoice,) = _invoices(service)
    assert len(result.issued) == 1
    assert (invoice.period_start, invoice.period_end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert invoice.invoice_date == date(2026, 11, 24)
    assert invoice.due_date == date(2026, 12, 1)  # invoice date + 7: the billing date itself
    assert invoice.total_amount == Decimal("799.00")
    assert (invoice.vat_amount, invoice.subtotal) == (Decimal("104.22"), Decimal("694.78"))
    assert invoice.invoice_number == "INV-2026-00001"
    assert invoice.line_items[0]["description"] == "Fibre 100 – 1 Dec – 31 Dec 2026"
    db.session.refresh(service)
    assert (service.last_billing_date, service.next_billing_date) == (
        date(2026, 12, 1),
        date(2027, 1, 1),
    )


def test_a_service_not_yet_within_seven_days_is_not_invoiced(make_service, billing_actor):
    make_service(billing_date=1, next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 23)):
        result = run_invoices(date(2026, 11, 23), actor=billing_actor)
    assert result.issued == [] and _invoices() == []


def test_missed_periods_are_caught_up_in_order(make_service, billing_actor):
    service = make_service(billing_date=30, next_billing_date=date(2027, 1, 30))
    with clock.frozen_at(date(2027, 3, 25)):
        run_invoices(date(2027, 3, 25), actor=billing_actor)
    periods = [(inv.period_start, inv.period_end) for inv in _invoices(service)]
    assert periods == [
        (date(2027, 1, 30), date(2027, 2, 28)),
        (date(2027, 2, 28), date(2027, 3, 30)),
        (date(2027, 3, 30), date(2027, 4, 30)),
    ]
    assert [inv.invoice_number for inv in _invoices(service)] == [
        "INV-2027-00001",
        "INV-2027-00002",
        "INV-2027-00003",
    ]


def test_running_twice_for_the_same_day_issues_nothing_more(make_service, billing_actor):
    make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
        second = run_invoices(date(2026, 11, 25), actor=billing_actor)
    assert second.issued == []
    assert len(_invoices()) == 1


def test_suspended_services_with_skip_billing_are_skipped_and_counted(make_service, billing_actor):
    skipped = make_service(status="suspended", next_billing_date=date(2026, 12, 1))
    billed = make_service(status="suspended", next_billing_date=date(2026, 12, 1))
    for service, skip in ((skipped, True), (billed, False)):
        db.session.add(
            ServiceSuspension(
                service_id=service.id,
                customer_id=service.customer_id,
                suspension_type="technical",
                reason="fault",
                skip_billing=skip,
                suspended_at=clock.now(),
            )
        )
    db.session.commit()
    with clock.frozen_at(date(2026, 11, 25)):
        result = run_invoices(date(2026, 11, 25), actor=billing_actor)
    assert result.skipped == 1
    assert [inv.service_id for inv in _invoices()] == [billed.id]
    db.session.refresh(skipped)
    assert skipped.next_billing_date == date(2026, 12, 1)  # waits


def test_pending_and_cancelled_services_are_not_invoiced(make_service, billing_actor):
    make_service(status="pending", next_billing_date=date(2026, 12, 1))
    make_service(status="cancelled", next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        result = run_invoices(date(2026, 11, 25), actor=billing_actor)
    assert result.issued == [] and result.skipped == 0


def test_a_failing_service_rolls_back_alone_and_numbers_stay_gapless(
    make_service, billing_actor, monkeypatch
):
    first = make_service(next_billing_date=date(2026, 12, 1))
    broken = make_service(next_billing_date=date(2026, 12, 1))
    last = make_service(next_billing_date=date(2026, 12, 1))
    real_issue = invoicing.issue_period_invoice

    def failing_for_one_service(service, *args, **kwargs):
        invoice = real_issue(service, *args, **kwargs)
        if service.id == broken.id:
            raise RuntimeError("provider data missing")
        return invoice

    monkeypatch.setattr(invoicing, "issue_period_invoice", failing_for_one_service)
    with clock.frozen_at(date(2026, 11, 25)):
        result = run_invoices(date(2026, 11, 25), actor=billing_actor)
    assert result.failed == 1
    assert result.failures[0]["service_id"] == broken.id
    invoices = _invoices()
    assert [inv.service_id for inv in invoices] == [first.id, last.id]
    assert sorted(inv.invoice_number for inv in invoices) == ["INV-2026-00001", "INV-2026-00002"]
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2
    db.session.refresh(broken)
    assert broken.next_billing_date == date(2026, 12, 1)
    assert check_books() == []


def test_preview_reports_the_run_but_writes_nothing_and_takes_no_number(
    make_service, billing_actor
):
    make_service(billing_date=1, next_billing_date=date(2026, 12, 1))
    make_service(billing_date=5, monthly_price="499.00", next_billing_date=date(2026, 12, 5))
    with clock.frozen_at(date(2026, 11, 28)):
        preview = run_invoices(date(2026, 11, 28), actor=billing_actor, dry_run=True)
    assert preview.totals_by_billing_day() == {
        1: {"invoices": 1, "total": Decimal("799.00")},
        5: {"invoices": 1, "total": Decimal("499.00")},
    }
    assert _invoices() == []
    assert db.session.get(InvoiceNumberCounter, 1).last_number == 0
    with clock.frozen_at(date(2026, 11, 28)):
        real = run_invoices(date(2026, 11, 28), actor=billing_actor)
    assert real.totals_by_billing_day() == preview.totals_by_billing_day()
    assert [inv.invoice_number for inv in _invoices()] == ["INV-2026-00001", "INV-2026-00002"]


def test_chunks_keep_a_customers_services_together(make_customer, make_service):
    customer = make_customer()
    for _ in range(3):
        make_service(customer, next_billing_date=date(2026, 12, 1))
    other = make_service(next_billing_date=date(2026, 12, 1))
    chunks = invoicing.plan_invoice_run(date(2026, 11, 25), chunk_size=2)
    assert len(chunks) == 2
    assert len(chunks[0]) == 3 and chunks[1] == [other.id]


def test_pro_rata_line_shows_its_computation(make_service, billing_actor):
    service = make_service(billing_date=1, next_billing_date=None, status="active")
    with clock.frozen_at(date(2026, 11, 15)):
        invoice = issue_period_invoice(
            service,
            Period(date(2026, 11, 15), date(2026, 12, 1)),
            invoice_type="pro_rata",
            invoice_date=date(2026, 11, 15),
            actor=billing_actor,
        )
        db.session.commit()
    (line,) = invoice.line_items
    assert line["description"] == "Fibre 100 – pro-rata 15 Nov – 30 Nov 2026, 16/30 days"
    assert line["quantity"] == "16/30"
    assert invoice.total_amount == Decimal("426.13")


def test_invoice_keeps_a_snapshot_of_who_it_was_issued_to(
    make_customer, make_service, billing_actor
):
    customer = make_customer(
        account_type="business",
        company_name="Mokoena Logistics (Pty) Ltd",
        vat_number="4123456789",
        billing_address_line1="5 Rivonia Road",
        billing_city="Sandton",
    )
    make_service(customer, next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
    (invoice,) = _invoices()
    issued_to = invoice.issued_to
    assert issued_to["customer"]["name"] == "Mokoena Logistics (Pty) Ltd"
    assert issued_to["customer"]["vat_number"] == "4123456789"
    assert issued_to["customer"]["account_number"] == customer.account_number
    assert "5 Rivonia Road" in issued_to["customer"]["address_lines"]
    assert issued_to["supplier"]["vat_number"]
    customer.company_name = "Renamed"
    db.session.commit()
    db.session.refresh(invoice)
    assert invoice.issued_to["customer"]["name"] == "Mokoena Logistics (Pty) Ltd"


def test_installation_and_router_fees_are_one_separate_invoice(make_service, billing_actor):
    service = make_service(installation_fee="999.00", router_fee="1499.00", router_model="TP-Link")
    with clock.frozen_at(date(2026, 11, 25)):
        invoice = issue_installation_invoice(
            service, invoice_date=date(2026, 11, 25), actor=billing_actor
        )
        db.session.commit()
    assert invoice.invoice_type == "installation"
    assert invoice.total_amount == Decimal("2498.00")
    assert [line["type"] for line in invoice.line_items] == ["installation", "equipment"]
    assert invoice.period_start is None


def test_no_installation_invoice_without_fees(make_service, billing_actor):
    service = make_service()
    assert (
        issue_installation_invoice(service, invoice_date=date(2026, 11, 25), actor=billing_actor)
        is None
    )


def test_the_database_refuses_a_second_invoice_for_a_covered_day(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
        with pytest.raises(IntegrityError):
            issue_period_invoice(
                service,
                Period(date(2026, 12, 15), date(2027, 1, 1)),
                invoice_type="pro_rata",
                invoice_date=date(2026, 11, 25),
                actor=billing_actor,
            )
    db.session.rollback()


def test_vat_rate_comes_from_the_dated_setting_in_force(make_service, billing_actor):
    from app.models import Setting

    db.session.add(Setting(key="vat_rate", value="16.00", effective_from=date(2027, 4, 1)))
    db.session.commit()
    service = make_service(next_billing_date=date(2027, 4, 1))
    with clock.frozen_at(date(2027, 3, 28)):
        run_invoices(date(2027, 3, 28), actor=billing_actor)
    with clock.frozen_at(date(2027, 4, 28)):
        run_invoices(date(2027, 4, 28), actor=billing_actor)
    march, april = _invoices(service)
    assert (march.vat_rate, april.vat_rate) == (Decimal("15.00"), Decimal("16.00"))
    assert april.vat_amount == Decimal("110.21")  # 799 * 16 / 116


def test_every_invoice_is_a_ledger_entry_and_moves_the_balance(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        run_invoices(date(2026, 11, 25), actor=billing_actor)
    entry = db.session.scalars(select(LedgerEntry)).one()
    assert (entry.entry_type, entry.amount) == ("invoice", Decimal("799.00"))
    db.session.refresh(service.customer.billing)
    assert service.customer.billing.account_balance == Decimal("799.00")
    assert check_books() == []


def test_generate_now_bills_only_the_selected_services_and_audits_them(make_service, billing_actor):
    from app.billing.invoicing import generate_invoices_now
    from app.models import AuditLog

    chosen = make_service(next_billing_date=date(2026, 12, 1))
    other = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        result = generate_invoices_now(
            [chosen.id], run_date=date(2026, 11, 25), actor=billing_actor, reason="Customer asked"
        )
        db.session.commit()
        again = generate_invoices_now(
            [chosen.id], run_date=date(2026, 11, 25), actor=billing_actor, reason="Twice"
        )
        db.session.commit()
    assert [item.service_id for item in result.issued] == [chosen.id]
    assert again.issued == []
    assert [inv.service_id for inv in _invoices()] == [chosen.id]
    audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "generate_invoices")).one()
    assert audit.reason == "Customer asked" and audit.entity_id == str(chosen.id)
    assert audit.after["invoices"][0]["period_start"] == "2026-12-01"
    db.session.refresh(other)
    assert other.next_billing_date == date(2026, 12, 1)


def test_a_batch_of_over_a_hundred_services_is_invoiced_in_one_run(make_customer, billing_actor):
    from app.models import CustomerService

    customers = [make_customer() for _ in range(40)]
    for index in range(120):
        customer = customers[index // 3]
        db.session.add(
            CustomerService(
                customer_id=customer.id,
                service_type="lte",
                package_name="LTE 60GB",
                installation_address="1 Main Rd",
                monthly_price=Decimal("349.00"),
                billing_date=(1, 5, 25, 30)[index % 4],
                status="active",
                next_billing_date={
                    1: date(2026, 12, 1),
                    5: date(2026, 12, 5),
                    25: date(2026, 11, 25),
                    30: date(2026, 11, 30),
                }[(1, 5, 25, 30)[index % 4]],
            )
        )
    db.session.commit()
    with clock.frozen_at(date(2026, 11, 28)):
        result = run_invoices(date(2026, 11, 28), actor=billing_actor, chunk_size=25)
    assert len(result.issued) == 120 and result.failed == 0
    numbers = sorted(inv.invoice_number for inv in _invoices())
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, 121)]
    assert check_books() == []
