"""Pay Now (DESIGN §5.9) over the sandbox: a link per invoice, our page posting NetCash's
form, and the notify accepted only when reference, amount and secret match a pending
request, de-duplicated on RequestTrace; anything else changes nothing and is logged."""

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from app import clock
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice
from app.billing.payments import record_payment
from app.extensions import db
from app.models import (
    CustomerInvoice,
    NetcashPostback,
    Notification,
    PaymentRequest,
    PaymentTransaction,
)
from app.paynow import payment_link
from jobs.payments import netcash_statement_run
from tests.debit_orders.conftest import ACTOR

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


@pytest.fixture
def open_link(sandboxes, make_customer, make_service, client):
    """Factory: an invoice of R799.00, its Pay Now link, and the form our page posts to
    NetCash (already opened in the sandbox, as the payer's browser would)."""

    def _make():
        customer = make_customer()
        service = make_service(customer, next_billing_date=None)
        invoice = issue_period_invoice(
            service,
            Period(date(2026, 12, 1), date(2027, 1, 1)),
            invoice_type="recurring",
            invoice_date=TODAY,
            actor=ACTOR,
        )
        db.session.commit()
        link = payment_link(invoice, actor=ACTOR)
        db.session.commit()
        page = client.get(f"/pay/{link.reference}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        action = re.search(r'action="([^"]+)"', html).group(1)
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', html))
        sandboxes.netcash.open_pay_now(fields)
        return invoice, link, action, fields

    return _make


def _expire():
    db.session.expire_all()


def payments() -> list[PaymentTransaction]:
    _expire()
    return list(db.session.scalars(select(PaymentTransaction)))


def postbacks() -> list[NetcashPostback]:
    _expire()
    return list(db.session.scalars(select(NetcashPostback).order_by(NetcashPostback.id)))


def test_the_pay_page_posts_the_netcash_form_of_the_request(open_link, sandboxes, app):
    invoice, link, action, fields = open_link()

    assert link.url.endswith(f"/pay/{link.reference}")
    assert link.reference.startswith(invoice.invoice_number)
    assert action == app.config["NETCASH_PAYNOW_URL"]
    assert fields["m1"] == app.config["NETCASH_PAYNOW_SERVICE_KEY"]
    assert (fields["p2"], fields["p4"]) == (link.reference, "799.00")
    assert (fields["m4"], fields["m5"], fields["m6"]) == (
        link.reference,
        link.secret,
        invoice.invoice_number,
    )


def test_a_used_or_unknown_link_is_not_offered_again(open_link, sandboxes, client):
    _, link, _, _ = open_link()
    sandboxes.netcash.pay_now(link.reference)

    assert client.get(f"/pay/{link.reference}").status_code == 410
    assert client.get("/pay/INV-2026-99999-ABCDEF").status_code == 404


def test_a_paid_notify_replayed_100_times_records_one_payment(open_link, sandboxes):
    invoice, link, _, _ = open_link()

    assert sandboxes.netcash.pay_now(link.reference) == 200
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: sandboxes.netcash.resend_postback(-1), range(99)))

    assert set(statuses) == {200}
    [payment] = payments()
    assert payment.transaction_id.startswith("PN-")
    assert (payment.amount, payment.method, payment.status) == (
        Decimal("799.00"),
        "card",
        "completed",
    )
    invoice = db.session.get(CustomerInvoice, invoice.id)
    assert invoice.status == "paid"
    request = db.session.get(PaymentRequest, link.id)
    assert (request.status, request.payment_transaction_id) == ("paid", payment.id)
    outcomes = [postback.outcome for postback in postbacks()]
    assert outcomes.count("applied") == 1 and len(outcomes) == 100
    assert set(outcomes[1:]) == {"duplicate"}


def test_a_notify_with_a_wrong_amount_changes_nothing_and_is_logged(open_link, sandboxes):
    invoice, link, _, _ = open_link()

    assert sandboxes.netcash.pay_now(link.reference, amount=Decimal("1.00")) == 200

    assert payments() == []
    assert db.session.get(PaymentRequest, link.id).status == "pending"
    assert db.session.get(CustomerInvoice, invoice.id).status == "unpaid"
    [postback] = postbacks()
    assert postback.outcome == "refused" and "'1.00'" in postback.message
    assert postback.payload["Extra2"] == "(hidden)"


def test_a_notify_with_a_wrong_secret_changes_nothing_and_is_logged(
    open_link, sandboxes, live_server, app
):
    _, link, _, fields = open_link()
    forged = {
        "TransactionAccepted": "true",
        "Reason": "Success",
        "RequestTrace": "forged-trace-1",
        "Reference": link.reference,
        "Extra1": link.reference,
        "Extra2": "guessed-secret",
        "Amount": "799.00",
        "Method": "1",
    }
    key = app.config["NETCASH_WEBHOOK_SECRET"]
    with httpx.Client(base_url=live_server) as http:
        answered = http.post(f"/api/webhooks/netcash/paynow?key={key}", data=forged)
        unknown = http.post(
            f"/api/webhooks/netcash/paynow?key={key}", data={**forged, "Reference": "NOPE"}
        )
        no_key = http.post("/api/webhooks/netcash/paynow", data=forged)

    assert (answered.status_code, unknown.status_code, no_key.status_code) == (200, 200, 403)
    assert payments() == []
    assert db.session.get(PaymentRequest, link.id).status == "pending"
    refused = postbacks()
    assert [p.outcome for p in refused] == ["refused", "refused"]
    assert "secret does not match" in refused[0].message
    assert "Unknown reference" in refused[1].message
    assert all("guessed-secret" not in str(p.payload) for p in refused)


def test_money_beyond_what_is_still_due_becomes_account_credit(open_link, sandboxes):
    invoice, link, _, _ = open_link()
    record_payment(
        customer=invoice.customer,
        amount=Decimal("300.00"),
        method="eft",
        idempotency_key="eft-part",
        actor=ACTOR,
        reason="Part paid by EFT",
        invoice=invoice,
    )
    db.session.commit()

    sandboxes.netcash.pay_now(link.reference)

    invoice = db.session.get(CustomerInvoice, invoice.id)
    assert (invoice.status, invoice.amount_paid) == ("paid", Decimal("799.00"))
    db.session.refresh(invoice.customer.billing)
    assert invoice.customer.billing.account_balance == Decimal("-300.00")  # credit


def test_a_declined_payment_changes_nothing_and_tells_the_customer(open_link, sandboxes):
    invoice, link, _, _ = open_link()

    sandboxes.netcash.pay_now(link.reference, accepted=False)

    assert payments() == []
    assert db.session.get(PaymentRequest, link.id).status == "pending"
    [postback] = postbacks()
    assert postback.outcome == "ignored"
    failed = db.session.scalars(
        select(Notification).where(
            Notification.template == "payment_failed", Notification.channel == "sms"
        )
    ).one()
    assert link.url in failed.body


def test_a_payment_whose_notify_was_lost_is_taken_from_the_statement_once(
    open_link, sandboxes, app
):
    invoice, link, _, _ = open_link()
    app.config["NETCASH_WEBHOOK_SECRET"] = "rotated-secret"
    assert sandboxes.netcash.pay_now(link.reference) == 403
    assert payments() == []

    with clock.frozen_at(clock.business_datetime(date(2026, 11, 26), time(9, 0))):
        netcash_statement_run("2026-11-26", "manual")

    [payment] = payments()
    assert payment.transaction_id.startswith("PN-STMT-")
    assert db.session.get(PaymentRequest, link.id).status == "paid"
    # The notify arrives after all: nothing more is recorded.
    app.config["NETCASH_WEBHOOK_SECRET"] = "sandbox-netcash-postback-secret"
    assert sandboxes.netcash.resend_postback(-1) == 200
    assert db.session.scalar(select(func.count(PaymentTransaction.id))) == 1
    assert postbacks()[-1].outcome == "refused"
