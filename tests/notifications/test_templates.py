"""Operator group 4.5 "SMS": every template renders (within two GSM-7 parts, with long
realistic values), and messages are delivered through Clickatell (its sandbox, over HTTP)."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Customer
from app.notifications import (
    MessageTooLong,
    queue_notification,
    render_message,
    render_sms,
)
from app.notifications.text import is_gsm7, sms_size
from tests.notifications.conftest import outbox

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The operator's ten SMS templates (seed-spec-digest §4.3) and ours (DESIGN §5.10).
OPERATOR_TEMPLATES = {
    "order_confirmation",
    "service_activated",
    "invoice_generated",
    "payment_received",
    "payment_failed",
    "service_suspended_non_payment",
    "service_suspended",
    "payment_reminder",
    "payment_overdue",
    "data_usage_warning",
}
OUR_TEMPLATES = {
    "service_reactivated",
    "service_cancelled",
    "mandate_signing_link",
    "one_time_code",
    "debit_order_returned",
    "debit_announcement",
}
ALL_TEMPLATES = sorted(OPERATOR_TEMPLATES | OUR_TEMPLATES)
# Messages sent by e-mail only (no SMS version).
EMAIL_ONLY_TEMPLATES = {"password_reset"}

# Long but real: the longest names, packages, amounts and links we expect to print.
LONG_CONTEXT = {
    "customer": Customer(
        first_name="Nomvuyiseko-Anastasia",
        last_name="van der Westhuizen-Mokoena",
        account_number="CT-2026-123456",
        email="nomvuyiseko.vanderwesthuizen@example.co.za",
    ),
    "first_name": "Nomvuyiseko-Anastasia",
    "order_number": "CT-ORD-2026-0012345",
    "package_name": "Fibre 1000/500 Mbps Uncapped Premium",
    "installation_address": "Unit 1204, The Towers, 123 Jan Smuts Avenue, Rosebank",
    "activation_date": date(2026, 12, 31),
    "invoice_total": Decimal("12345.67"),
    "cancellation_date": date(2026, 12, 31),
    "credit_total": Decimal("12345.67"),
    "suspension_label": "policy violation",
    "amount_due": Decimal("123456.78"),
    "invoice_number": "INV-2026-123456",
    "invoice_id": 1234567,
    "amount": Decimal("12345.67"),
    "due_date": date(2026, 12, 31),
    "debit_date": date(2026, 12, 31),
    "pay_url": "https://portal.circletel.co.za/invoices/1234567",
    "percent": Decimal("96.4"),
    "threshold": 95,
    "mandate_url": "https://mandates.netcash.co.za/Mandate/Sign/2b1f9c4e8d7a4f0b9e6c5d3a2b1f0e9d",
    "account_number": "CT-2026-123456",
    "code": "02",
    "reason": "Payment stopped by account holder",
}
OTP_CONTEXT = {**LONG_CONTEXT, "code": "483920", "minutes": 10}
RESET_CONTEXT = {
    **LONG_CONTEXT,
    "reset_url": "https://portal.circletel.co.za/reset-password/eyJjIjoxMjM0NTY3fQ.Zx1.abc",
    "minutes": 60,
}


def context_for(template: str) -> dict:
    if template == "password_reset":
        return RESET_CONTEXT
    return OTP_CONTEXT if template == "one_time_code" else LONG_CONTEXT


def test_the_template_folders_hold_exactly_the_sixteen_messages():
    sms = {path.stem for path in (TEMPLATES / "sms").glob("*.txt")}
    email = {path.stem for path in (TEMPLATES / "email").glob("*.txt")}
    assert sms == set(ALL_TEMPLATES)
    # Every message has an e-mail version, except the one-time code (SMS only, always);
    # the password reset link goes by e-mail only.
    assert email == (set(ALL_TEMPLATES) - {"one_time_code"}) | EMAIL_ONLY_TEMPLATES


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_every_sms_template_is_written_in_plain_gsm7(template):
    source = (TEMPLATES / "sms" / f"{template}.txt").read_text()
    assert source.isascii(), "templates use ASCII only (no curly quotes, dashes or symbols)"


@pytest.mark.parametrize("template", ALL_TEMPLATES)
def test_every_sms_fits_two_gsm7_parts_with_long_realistic_values(app, template):
    text = render_sms(template, context_for(template))
    size = sms_size(text)
    assert is_gsm7(text)
    assert size.segments <= 2, f"{template}: {size.units} characters"
    assert text.startswith("CircleTel: ")
    assert "None" not in text and "{{" not in text


@pytest.mark.parametrize(
    "template", sorted((set(ALL_TEMPLATES) - {"one_time_code"}) | EMAIL_ONLY_TEMPLATES)
)
def test_every_email_has_a_subject_and_a_body(app, template):
    subject, body = render_message("email", template, context_for(template))
    assert subject and "\n" not in subject
    assert body.startswith("Hi Nomvuyiseko-Anastasia") and body.rstrip().endswith("CircleTel")
    assert "None" not in body and "{{" not in body


def test_the_sms_says_what_the_customer_needs_to_know(app):
    assert render_sms("invoice_generated", LONG_CONTEXT) == (
        "CircleTel: Hi Nomvuyiseko-Anastasia, invoice INV-2026-123456 for R12 345.67 is ready, "
        "due on 2026-12-31. View and pay: https://portal.circletel.co.za/invoices/1234567"
    )
    assert "96% of your Fibre 1000/500 Mbps Uncapped Premium data" in render_sms(
        "data_usage_warning", LONG_CONTEXT
    )
    assert "close to your limit" not in render_sms(
        "data_usage_warning", {**LONG_CONTEXT, "percent": 80, "threshold": 80}
    )
    assert "your one-time code is 483920" in render_sms("one_time_code", OTP_CONTEXT)
    received = render_sms("payment_received", {**LONG_CONTEXT, "invoice_number": None})
    assert "payment of R12 345.67. Thank you!" in received


def test_an_sms_longer_than_two_parts_is_refused_when_queued(app, make_customer):
    with pytest.raises(MessageTooLong, match="would need 3 GSM-7 parts"):
        render_sms("service_activated", {**LONG_CONTEXT, "package_name": "Fibre " * 50})
    customer = make_customer()
    rows = queue_notification(
        customer, "service_activated", {"package_name": "Fibre " * 50, "installation_address": ""}
    )
    db.session.commit()
    sms, email = sorted(rows, key=lambda row: row.channel, reverse=True)
    assert sms.status == "skipped"
    assert "would need 3 GSM-7 parts" in sms.last_error and "at most 2" in sms.last_error
    assert email.status == "queued"  # an e-mail has no such limit


def test_messages_are_delivered_through_clickatell(gateways, customer):
    queue_notification(
        customer,
        "payment_reminder",
        {"amount": Decimal("799.00"), "due_date": date(2026, 12, 1), "invoice_number": "INV-1"},
    )
    db.session.commit()  # the sender runs once the commit is done

    (sms,) = outbox(channel="sms")
    (sent,) = gateways.clickatell.messages
    assert sent["to"] == "27825550101"  # Clickatell wants digits only
    assert sent["content"] == sms.body
    assert "invoice INV-1 of R799.00 is due on 2026-12-01" in sms.body
    assert (sms.status, sms.provider_message_id, sms.attempts) == ("sent", sent["apiMessageId"], 1)
    assert sms.sent_at is not None

    assert gateways.clickatell.deliver_pending() == 1  # DEVICE_ACK posted to our webhook
    (sms,) = outbox(channel="sms")
    assert sms.status == "delivered" and sms.delivered_at is not None


def test_optional_values_leave_no_gaps(app):
    failed = render_sms("payment_failed", {**LONG_CONTEXT, "invoice_number": None})
    assert "payment of R12 345.67 did not go through" in failed and "None" not in failed
    returned = render_sms("debit_order_returned", {**LONG_CONTEXT, "pay_url": ""})
    assert returned.endswith("(Payment stopped by account holder).")
    subject, body = render_message("email", "debit_order_returned", {**LONG_CONTEXT, "pay_url": ""})
    assert "pay the invoice here" not in body
