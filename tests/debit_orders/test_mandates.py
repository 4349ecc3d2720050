"""NetCash eMandates over the sandbox (operator group 4.3, adapted): a debit-order method
creates the mandate with its bank details and sends the signing link; the postback (secret
in the URL, not a signature) or the hourly poll sets the status; replays change nothing."""

from datetime import date
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CronExecutionLog, CustomerPaymentMethod, NetcashPostback, Notification
from app.payment_methods import add_debit_order
from jobs.payments import mandate_status_poll
from tests.debit_orders.conftest import ACTOR

TODAY = date(2026, 11, 25)


@pytest.fixture(autouse=True)
def pinned_clock():
    with clock.frozen_at(TODAY):
        yield


def _add(customer, **fields):
    method = add_debit_order(
        customer,
        bank_name="Capitec",
        account_number="1234567890",
        account_type="savings",
        holder_name="Thandi Nkosi",
        debit_day=25,
        holiday_option="preceding",
        mandate_amount=Decimal("799.00"),
        actor=ACTOR,
        reason="Customer signed up for debit order",
        **fields,
    )
    db.session.commit()  # the mandate is asked for once this commits
    return db.session.get(CustomerPaymentMethod, method.id)


def _fresh(method) -> CustomerPaymentMethod:
    db.session.expire_all()
    return db.session.get(CustomerPaymentMethod, method.id)


def test_a_debit_order_creates_the_emandate_with_its_bank_details_and_sends_the_link(
    sandboxes, make_customer
):
    customer = make_customer(phone="082 555 0101")
    method = _add(customer)

    assert method.mandate_status == "pending_signature"
    assert method.mandate_url and method.mandate_url.startswith(
        sandboxes.servers["netcash"].base_url
    )
    [mandate] = sandboxes.netcash.mandates
    assert mandate["account_reference"] == customer.account_number
    assert mandate["bank_account_number"] == "1234567890"
    assert mandate["branch_code"] == "470010"
    assert mandate["bank_account_type"] == "Savings"
    assert mandate["public_holiday_option"] == "PrecedingOrdinaryBusinessDay"
    assert mandate["mobile_number"] == "0825550101"
    assert Decimal(mandate["amount"]) == Decimal("799.00")
    sms = db.session.scalars(
        select(Notification).where(
            Notification.template == "mandate_signing_link", Notification.channel == "sms"
        )
    ).one()
    assert method.mandate_url in sms.body


def test_signing_in_the_sandbox_activates_the_mandate_through_the_postback(
    sandboxes, make_customer
):
    method = _add(make_customer())

    assert sandboxes.netcash.sign_mandate(method.mandate_url) == 200

    method = _fresh(method)
    assert method.mandate_status == "active"
    assert method.mandate_reference.startswith("NCM")
    assert method.mandate_signed_at is not None
    assert method.is_active and method.is_primary
    [postback] = db.session.scalars(select(NetcashPostback)).all()
    assert (postback.kind, postback.outcome) == ("emandate", "applied")


def test_a_declined_mandate_fails_and_its_method_is_deactivated(sandboxes, make_customer):
    method = _add(make_customer())

    assert sandboxes.netcash.sign_mandate(method.mandate_url, accept=False) == 200

    method = _fresh(method)
    assert method.mandate_status == "failed"
    assert not method.is_active and not method.is_primary


def test_a_postback_without_our_secret_is_refused_and_changes_nothing(
    sandboxes, make_customer, live_server
):
    customer = make_customer()
    method = _add(customer)
    forged = {
        "MandateSuccessful": "1",
        "IsDeclined": "0",
        "AccountRef": customer.account_number,
        "Field1": str(method.id),
        "MandateReferenceNumber": "FORGED",
    }
    with httpx.Client(base_url=live_server) as http:
        wrong = http.post("/api/webhooks/netcash/emandate?key=guess", data=forged)
        missing = http.post("/api/webhooks/netcash/emandate", data=forged)

    assert (wrong.status_code, missing.status_code) == (403, 403)
    assert _fresh(method).mandate_status == "pending_signature"


def test_a_mandate_postback_replayed_changes_nothing_more(sandboxes, make_customer):
    method = _add(make_customer())
    sandboxes.netcash.sign_mandate(method.mandate_url)
    signed_at = _fresh(method).mandate_signed_at

    for _ in range(5):
        assert sandboxes.netcash.resend_postback() == 200

    assert _fresh(method).mandate_signed_at == signed_at
    outcomes = db.session.scalars(select(NetcashPostback.outcome).order_by(NetcashPostback.id))
    assert list(outcomes) == ["applied"] + ["duplicate"] * 5


def test_a_postback_that_matches_nothing_is_answered_200_and_logged(sandboxes, live_server, app):
    key = app.config["NETCASH_WEBHOOK_SECRET"]
    with httpx.Client(base_url=live_server) as http:
        response = http.post(
            f"/api/webhooks/netcash/emandate?key={key}",
            data={"MandateSuccessful": "1", "AccountRef": "CT-1999-99999", "Field1": "999"},
        )
    assert response.status_code == 200
    postback = db.session.scalars(select(NetcashPostback)).one()
    assert postback.outcome == "ignored"
    assert "CT-1999-99999" in postback.message


def test_the_hourly_poll_settles_mandates_whose_postback_was_lost(sandboxes, make_customer, app):
    signed = _add(make_customer())
    declined = _add(make_customer())
    waiting = _add(make_customer())
    # Our side changed its secret: NetCash's postbacks are refused (lost).
    app.config["NETCASH_WEBHOOK_SECRET"] = "rotated-secret"
    assert sandboxes.netcash.sign_mandate(signed.mandate_url) == 403
    assert sandboxes.netcash.sign_mandate(declined.mandate_url, accept=False) == 403
    assert _fresh(signed).mandate_status == "pending_signature"

    mandate_status_poll("manual")

    assert _fresh(signed).mandate_status == "active"
    assert _fresh(declined).mandate_status == "failed"
    assert _fresh(waiting).mandate_status == "pending_signature"
    run = db.session.scalars(
        select(CronExecutionLog).where(CronExecutionLog.job_name == "mandate_status_poll")
    ).one()
    assert (run.status, run.records_processed, run.records_skipped) == ("completed", 2, 1)


def test_a_mandate_netcash_could_not_create_is_asked_for_again_by_the_poll(
    sandboxes, make_customer
):
    sandboxes.netcash.fail_next(3)  # every attempt of the first AddMandate fails
    method = _add(make_customer())
    assert method.mandate_url is None and method.mandate_status == "pending_signature"

    mandate_status_poll("manual")

    method = _fresh(method)
    assert method.mandate_url is not None
    assert len(sandboxes.netcash.mandates) == 1
