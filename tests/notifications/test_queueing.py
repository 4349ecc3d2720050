"""What is queued, for whom and when: preferences, numbers, once-only keys, and the
invoice and payment messages written with the change that causes them (DESIGN §5.10)."""

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice, run_invoices
from app.billing.payments import record_payment
from app.extensions import db
from app.models import ConsumerOrder, CustomerInvoice
from app.notifications import queue_notification, queue_order_confirmation
from tests.notifications.conftest import outbox

RUN_DATE = date(2026, 11, 24)


def _channels(template=None):
    return [row.channel for row in outbox(template=template)]


def test_sms_off_means_no_sms(customer):
    customer.billing.sms_notifications_enabled = False
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    assert _channels() == ["email"]


def test_email_off_means_no_email(customer):
    customer.billing.email_invoices_enabled = False
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    assert _channels() == ["sms"]


def test_one_time_codes_always_go_by_sms_only(customer):
    customer.billing.sms_notifications_enabled = False
    customer.billing.email_invoices_enabled = False
    queue_notification(customer, "one_time_code", {"code": "123456", "minutes": 10})
    db.session.commit()
    (sms,) = outbox()
    assert (sms.channel, sms.status) == ("sms", "queued")
    assert "code" not in sms.context  # the code lives in the text only


def test_the_billing_phone_and_address_win_and_numbers_are_stored_in_e164(customer):
    customer.billing.billing_phone = "083 555 0199"
    customer.billing.billing_email = "accounts@example.co.za"
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    assert [row.recipient for row in outbox()] == ["+27835550199", "accounts@example.co.za"]


def test_a_number_that_cannot_take_an_sms_is_logged_as_skipped(customer):
    customer.billing.billing_phone = "011 555 1234"  # a landline
    queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
    db.session.commit()
    sms, email = outbox()
    assert (sms.status, sms.last_error) == (
        "skipped",
        "+27115551234 is not a mobile number; an SMS needs a mobile number.",
    )
    assert email.status == "queued"


def test_a_once_only_message_is_queued_once(customer):
    for _ in range(2):
        queue_notification(
            customer,
            "data_usage_warning",
            {"percent": 81, "package_name": "LTE 100GB", "threshold": 80},
            dedupe_key="usage-80-7-2026-11-01",
        )
        db.session.commit()
    assert sorted(row.dedupe_key for row in outbox()) == [
        "usage-80-7-2026-11-01:email",
        "usage-80-7-2026-11-01:sms",
    ]


def test_an_issued_invoice_is_announced_with_its_number_once_committed(make_service, billing_actor):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(RUN_DATE):
        invoice = issue_period_invoice(
            service,
            Period(date(2026, 12, 1), date(2027, 1, 1)),
            invoice_type="recurring",
            invoice_date=RUN_DATE,
            actor=billing_actor,
        )
        assert outbox(template="invoice_generated") == []  # not before the number exists
        db.session.commit()
    sms, email = outbox(template="invoice_generated")
    assert invoice.invoice_number == "INV-2026-00001"
    assert sms.body == (
        "CircleTel: Hi Thandi, invoice INV-2026-00001 for R799.00 is ready, due on 2026-12-01. "
        f"View and pay: http://127.0.0.1:5000/invoices/{invoice.id}"
    )
    assert email.subject == "Invoice INV-2026-00001 - R799.00"
    assert (sms.dedupe_key, email.dedupe_key) == (
        f"invoice-generated-{invoice.id}:sms",
        f"invoice-generated-{invoice.id}:email",
    )
    assert email.context["invoice_id"] == str(invoice.id)


def test_an_invoice_run_announces_each_invoice_but_its_preview_announces_none(
    make_service, billing_actor
):
    for _ in range(2):
        make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(RUN_DATE):
        run_invoices(RUN_DATE, actor=billing_actor, dry_run=True)
        assert db.session.scalars(select(CustomerInvoice)).all() == []
        assert outbox() == []
        run_invoices(RUN_DATE, actor=billing_actor)
    numbers = sorted(row.context["invoice_number"] for row in outbox(template="invoice_generated"))
    assert numbers == ["INV-2026-00001", "INV-2026-00001", "INV-2026-00002", "INV-2026-00002"]


def test_a_recorded_payment_is_acknowledged_once(customer, system_actor):
    for _ in range(2):  # the same idempotency key: one payment, one message
        record_payment(
            customer=customer,
            amount=Decimal("250.00"),
            method="eft",
            idempotency_key="eft-ref-1",
            actor=system_actor,
            reason="EFT received",
        )
        db.session.commit()
    sms, email = outbox(template="payment_received")
    assert sms.body == (
        f"CircleTel: Hi Thandi, we received your payment of R250.00. Thank you! "
        f"Ref {customer.account_number}."
    )
    assert email.subject == "Payment of R250.00 received"
    assert len(outbox()) == 2


def test_an_order_is_confirmed_to_the_contact_details_it_was_placed_with(app):
    order = ConsumerOrder(
        order_number="ORD-2026-0042",
        email="new.customer@example.co.za",
        first_name="Sipho",
        phone="084 555 0303",
        package_name="Fibre 50",
    )
    db.session.add(order)
    db.session.flush()
    queue_order_confirmation(order)
    queue_order_confirmation(order)  # once per order
    db.session.commit()
    sms, email = outbox(template="order_confirmation")
    assert sms.recipient == "+27845550303" and email.recipient == "new.customer@example.co.za"
    assert sms.body.startswith("CircleTel: Hi Sipho, thank you for your order ORD-2026-0042.")
    assert sms.customer_id is None
