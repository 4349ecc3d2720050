"""E-mail over SMTP (the sandbox sink, over a real SMTP connection): the invoice e-mail
carries the tax invoice PDF, and a busy or refusing server is handled like an SMS gateway."""

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from pypdf import PdfReader

from app import clock
from app.billing.calendar import Period
from app.billing.invoicing import issue_period_invoice
from app.extensions import db
from app.integrations.email import Attachment, send_email
from app.integrations.http import ProviderNotConfigured, ProviderUnavailable
from app.notifications import queue_notification
from app.notifications.sender import send_due_notifications
from tests.notifications.conftest import outbox

START = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def document_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(tmp_path / "documents"))


def test_the_invoice_email_arrives_with_the_invoice_pdf_attached(
    gateways, make_service, billing_actor
):
    service = make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(START):
        invoice = issue_period_invoice(
            service,
            Period(date(2026, 12, 1), date(2027, 1, 1)),
            invoice_type="recurring",
            invoice_date=START.date(),
            actor=billing_actor,
        )
        db.session.commit()  # numbered, announced, then sent

    (mail,) = gateways.smtp.messages
    assert mail["Subject"] == "Invoice INV-2026-00001 - R799.00"
    assert mail["To"] == service.customer.email
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Your invoice INV-2026-00001 for R799.00 is attached. It is due on 2026-12-01." in text
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "INV-2026-00001.pdf"
    pdf = PdfReader(io.BytesIO(attachment.get_content()))
    pages = "".join(page.extract_text() for page in pdf.pages)
    assert "INV-2026-00001" in pages and "Tax Invoice" in pages

    (email,) = outbox(template="invoice_generated", channel="email")
    assert email.status == "sent" and email.provider_message_id == mail["Message-ID"]
    db.session.refresh(invoice)
    assert invoice.pdf_path  # the attached PDF is the stored document


def test_a_busy_mail_server_is_tried_again_later(gateways, customer):
    gateways.smtp.fail_next(1)
    with clock.frozen_at(START):
        queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})
        db.session.commit()
    (email,) = outbox(channel="email")
    assert (email.status, email.attempts) == ("queued", 1)
    assert email.last_error.startswith("smtp: 451")
    with clock.frozen_at(START + timedelta(minutes=1)):
        assert send_due_notifications().sent == 1
    (mail,) = gateways.smtp.messages
    assert mail["Subject"] == "Your Fibre 100 service is active again"


def test_send_email_speaks_smtp_with_attachments(gateways, app):
    message_id = send_email(
        to="someone@example.co.za",
        subject="Hello",
        body="Body text",
        attachments=(Attachment("note.txt", b"attached", "text/plain"),),
    )
    (mail,) = gateways.smtp.messages
    assert mail["Message-ID"] == message_id and message_id.endswith("@circletel.co.za>")
    assert gateways.smtp.envelopes == [
        {"mail_from": "billing@circletel.co.za", "rcpt_tos": ["someone@example.co.za"]}
    ]
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content() == "attached"


def test_send_email_needs_a_server(app):
    with pytest.raises(ProviderNotConfigured):
        send_email(to="someone@example.co.za", subject="Hello", body="Body")


def test_an_unreachable_server_is_unavailable(app, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", 9)  # discard: nothing listens
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", False)
    with pytest.raises(ProviderUnavailable):
        send_email(to="someone@example.co.za", subject="Hello", body="Body")
