"""The debit-order console: batches with their masked file and items, returns, postbacks,
and "Add debit order" (customers:edit, a reason) starting the mandate and showing its link."""

from datetime import date, time

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AuditLog, CustomerPaymentMethod, DebitOrderBatch, DebitOrderItem
from jobs.payments import debit_order_run, netcash_statement_run

FORM = {
    "bank_name": "FNB",
    "branch_code": "",
    "account_number": "62812345678",
    "account_type": "current",
    "holder_name": "Thandi Nkosi",
    "debit_day": "1",
    "holiday_option": "next",
    "mandate_amount": "",
    "make_primary": "y",
    "auto_pay": "y",
}


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(date(2026, 11, 20)):
        yield


@pytest.mark.parametrize("role", ["finance", "viewer"])
def test_adding_a_debit_order_needs_customers_edit(client, auth, make_customer, role):
    customer = make_customer()
    auth.login(role)

    page = client.get(f"/admin/customers/{customer.id}/")
    assert page.status_code == 200 and b"Add debit order" not in page.data
    url = f"/admin/debit_order_methods/customer/{customer.id}/add"
    assert client.get(url).status_code == 403
    assert client.post(url, data={**FORM, "reason": "Customer asked"}).status_code == 403
    assert db.session.scalars(select(CustomerPaymentMethod)).all() == []


def test_adding_a_debit_order_without_a_reason_changes_nothing(client, auth, make_customer):
    customer = make_customer()
    auth.login("support")

    page = client.post(f"/admin/debit_order_methods/customer/{customer.id}/add", data=FORM)

    assert page.status_code == 200
    assert b"A reason is required." in page.data
    assert db.session.scalars(select(CustomerPaymentMethod)).all() == []


def test_bad_bank_details_are_shown_on_the_form(client, auth, make_customer):
    customer = make_customer()
    auth.login("support")

    page = client.post(
        f"/admin/debit_order_methods/customer/{customer.id}/add",
        data={**FORM, "account_number": "12", "mandate_amount": "500", "reason": "Asked"},
    )

    assert page.status_code == 200
    assert b"The account number must be 6-16 digits." in page.data
    assert db.session.scalars(select(CustomerPaymentMethod)).all() == []


def test_support_adds_a_debit_order_and_sees_the_mandate_link(
    client, auth, make_customer, sandboxes
):
    customer = make_customer()
    auth.login("support")
    assert b'id="add-debit-order"' in client.get(f"/admin/customers/{customer.id}/").data

    response = client.post(
        f"/admin/debit_order_methods/customer/{customer.id}/add",
        data={**FORM, "mandate_amount": "699.00", "reason": "Customer asked by phone"},
    )

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    method = db.session.scalars(select(CustomerPaymentMethod)).one()
    assert method.mandate_url and method.mandate_url in page
    assert "pending_signature" in page and "Debit Order - FNB ***5678" in page
    audit = db.session.scalars(
        select(AuditLog).where(AuditLog.action == "add_payment_method")
    ).one()
    assert (audit.reason, audit.actor) == ("Customer asked by phone", auth.user.email)


def test_batch_pages_show_the_masked_file_items_and_returns(
    client, auth, sandboxes, debit_customer, invoice_due
):
    _, service, method = debit_customer(mandate="pending")
    sandboxes.netcash.sign_mandate(method.mandate_url)
    invoice = invoice_due(service, period_start=date(2026, 12, 1), invoice_date=date(2026, 11, 24))
    for day, job, at in [
        (date(2026, 11, 26), debit_order_run, time(6, 0)),
        (date(2026, 12, 1), debit_order_run, time(6, 0)),
    ]:
        with clock.frozen_at(clock.business_datetime(day, at)):
            job(day.isoformat(), "manual")
    item = db.session.scalars(select(DebitOrderItem)).one()
    sandboxes.netcash.set_return(item.line_reference, "02")
    with clock.frozen_at(clock.business_datetime(date(2026, 12, 2), time(9, 0))):
        netcash_statement_run("2026-12-02", "manual")
    batch = db.session.scalars(select(DebitOrderBatch)).one()
    auth.login("finance")

    listing = client.get("/admin/debit_order_batches/").get_data(as_text=True)
    details = client.get(f"/admin/debit_order_batches/details/?id={batch.id}").get_data(
        as_text=True
    )
    returns = client.get("/admin/debit_order_returns/").get_data(as_text=True)
    statement = client.get("/admin/netcash_statement_lines/").get_data(as_text=True)
    postbacks = client.get("/admin/netcash_postbacks/").get_data(as_text=True)
    mandate = client.get(f"/admin/debit_order_methods/{method.id}").get_data(as_text=True)

    assert "ISP-DO-" in listing
    assert "62812345678" not in details and "*******5678" in details
    assert "###BEGIN" in details and "SUCCESSFUL" in details
    assert invoice.invoice_number in details and "returned" in details
    assert "Not provided for" in returns and invoice.invoice_number in returns
    assert "DRU" in statement
    assert "emandate" in postbacks
    assert "Not provided for (insufficient funds)" in mandate and "2027-01-01" in mandate
