"""The outbox sender: sends due rows once, retries with backoff, gives up after N attempts,
leaves rows alone while their provider is not configured (DESIGN §5.10, §6)."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import CronExecutionLog, Notification
from app.notifications import queue_notification
from app.notifications.sender import retry_delay, send_due_notifications
from jobs.dispatch import JOBS
from jobs.notifications import send_notifications
from jobs.schedule import INTERVAL_JOBS
from tests.notifications.conftest import outbox

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _reactivated(customer):
    return queue_notification(customer, "service_reactivated", {"package_name": "Fibre 100"})


def _runs():
    return list(db.session.scalars(select(CronExecutionLog).order_by(CronExecutionLog.id)))


def test_sent_rows_carry_the_gateway_message_id(gateways, customer):
    with clock.frozen_at(START):
        _reactivated(customer)
        db.session.commit()

    sms, email = outbox(channel="sms") + outbox(channel="email")
    (message,) = gateways.clickatell.messages
    assert (sms.status, sms.provider_message_id, sms.sent_at) == (
        "sent",
        message["apiMessageId"],
        START,
    )
    assert message["clientMessageId"] == f"n-{sms.id}"
    (mail,) = gateways.smtp.messages
    assert email.status == "sent" and email.provider_message_id == mail["Message-ID"]
    assert mail["To"] == "thandi@example.co.za"
    assert mail["Subject"] == "Your Fibre 100 service is active again"
    assert mail["From"] == "CircleTel Billing <billing@circletel.co.za>"


def test_a_gateway_failing_for_a_while_is_retried_with_backoff_then_sent(gateways, customer):
    gateways.clickatell.fail_next(6, status=503)  # two sends: three tries each, all 503
    with clock.frozen_at(START):
        _reactivated(customer)
        db.session.commit()  # first attempt, right after the commit: fails
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.attempts) == ("queued", 1)
    assert sms.next_attempt_at == START + timedelta(minutes=1)
    assert "HTTP 503 after 3 attempt(s)" in sms.last_error

    with clock.frozen_at(START + timedelta(seconds=30)):  # not yet due: untouched
        assert send_due_notifications().sent == 0
    with clock.frozen_at(START + timedelta(minutes=1)):
        result = send_due_notifications()
    assert (result.sent, result.retrying) == (0, 1)
    (sms,) = outbox(channel="sms")
    assert (sms.attempts, sms.next_attempt_at) == (2, START + timedelta(minutes=3))

    with clock.frozen_at(START + timedelta(minutes=3)):
        assert send_due_notifications().sent == 1
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.attempts, sms.last_error) == ("sent", 3, None)
    assert [m["clientMessageId"] for m in gateways.clickatell.messages] == [f"n-{sms.id}"]


def test_backoff_doubles_up_to_an_hour():
    assert [retry_delay(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    ]


def test_a_gateway_that_keeps_failing_fails_the_message_after_n_attempts(
    gateways, customer, monkeypatch, app
):
    monkeypatch.setitem(app.config, "NOTIFICATION_MAX_ATTEMPTS", 3)
    gateways.clickatell.fail_next(100, status=500)
    moment = START
    with clock.frozen_at(moment):
        _reactivated(customer)
        db.session.commit()
    for _ in range(2):
        moment += timedelta(hours=1)
        with clock.frozen_at(moment):
            send_notifications("manual")
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.attempts, sms.next_attempt_at) == ("failed", 3, None)
    assert "HTTP 500 after 3 attempt(s)" in sms.last_error
    assert gateways.clickatell.messages == []
    with clock.frozen_at(moment + timedelta(days=1)):  # a failed row is never picked again
        assert send_due_notifications().sent == 0
    last_run = _runs()[-1]
    assert (last_run.job_name, last_run.status, last_run.records_failed) == (
        "send_notifications",
        "failed",
        1,
    )


def test_a_number_the_gateway_refuses_fails_at_once(gateways, customer):
    row = Notification(
        customer_id=customer.id,
        channel="sms",
        template="service_reactivated",
        recipient="+27 82 NOT A NUMBER",
        body="CircleTel: test",
        status="queued",
        attempts=0,
    )
    db.session.add(row)
    db.session.commit()
    result = send_due_notifications()
    assert (result.sent, result.failed, result.retrying) == (0, 1, 0)
    (sms,) = outbox(channel="sms")
    assert (sms.status, sms.attempts) == ("failed", 1)
    assert "Invalid destination address" in sms.last_error


def test_rows_stay_queued_while_their_provider_is_not_configured(app, customer):
    _reactivated(customer)
    db.session.commit()  # no SMS gateway nor SMTP server configured: nothing happens
    assert send_notifications("manual") == 0
    rows = outbox()
    assert [(row.status, row.attempts, row.next_attempt_at) for row in rows] == [
        ("queued", 0, None),
        ("queued", 0, None),
    ]
    assert _runs() == []  # an idle pass writes no run log


def test_only_the_configured_channel_is_sent(gateways, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "SMTP_HOST", None)
    _reactivated(customer)
    db.session.commit()
    assert [(row.channel, row.status, row.attempts) for row in outbox()] == [
        ("sms", "sent", 1),
        ("email", "queued", 0),
    ]


def test_two_senders_at_once_send_each_message_exactly_once(gateways, make_customer, app):
    customers = [make_customer(phone=f"082 555 {1000 + n}") for n in range(12)]
    for customer in customers:  # written directly: no sender is asked for after commit
        db.session.add(
            Notification(
                customer_id=customer.id,
                channel="sms",
                template="service_reactivated",
                recipient=f"+2782555{1000 + customers.index(customer)}",
                body=f"CircleTel: message for {customer.first_name}",
                status="queued",
                attempts=0,
            )
        )
    db.session.commit()
    start = threading.Barrier(2)
    results = []

    def sender():
        with app.app_context():  # its own session and PostgreSQL connection
            start.wait()
            results.append(send_due_notifications())
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(result.sent for result in results) == 12
    sent_ids = [message["clientMessageId"] for message in gateways.clickatell.messages]
    assert len(sent_ids) == 12 and len(set(sent_ids)) == 12
    rows = outbox()
    assert {(row.status, row.attempts) for row in rows} == {("sent", 1)}
    assert sorted(f"n-{row.id}" for row in rows) == sorted(sent_ids)


def test_bulksms_sends_when_it_is_the_configured_gateway(gateways, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "SMS_PROVIDER", "bulksms")
    queue_notification(
        customer,
        "payment_received",
        {"amount": Decimal("799.00"), "invoice_number": "INV-2026-00007"},
    )
    db.session.commit()
    (sms,) = outbox(channel="sms")
    (message,) = gateways.bulksms.messages
    assert gateways.clickatell.messages == []
    assert (message["to"], message["encoding"], message["userSuppliedId"]) == (
        "+27825550101",
        "TEXT",
        f"n-{sms.id}",
    )
    assert message["body"] == sms.body
    assert "payment of R799.00 for invoice INV-2026-00007" in sms.body
    assert (sms.status, sms.provider_message_id) == ("sent", message["id"])

    assert gateways.bulksms.deliver_pending() == 1
    (sms,) = outbox(channel="sms")
    assert sms.status == "delivered"


def test_the_sender_runs_every_minute_and_after_commits():
    assert JOBS["send_notifications"] is send_notifications
    (job,) = [job for job in INTERVAL_JOBS if job.name == "send_notifications"]
    assert (job.every, job.queue, job.function) == (
        timedelta(minutes=1),
        "notifications",
        send_notifications,
    )


def test_a_run_with_work_is_logged_with_its_counts(gateways, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "CLICKATELL_BASE_URL", None)  # hold the SMS back
    _reactivated(customer)
    db.session.commit()  # the e-mail goes at once
    monkeypatch.setitem(app.config, "CLICKATELL_BASE_URL", gateways.config["CLICKATELL_BASE_URL"])
    assert send_notifications("manual", "pytest") == 1
    runs = [run for run in _runs() if run.trigger_source == "manual"]
    (run,) = runs
    assert (run.job_name, run.status, run.records_processed, run.triggered_by) == (
        "send_notifications",
        "completed",
        1,
        "pytest",
    )


def test_a_message_still_queued_two_days_later_is_skipped_not_sent(gateways, customer):
    old = Notification(
        customer_id=customer.id,
        channel="sms",
        template="payment_reminder",
        recipient="+27825550101",
        body="CircleTel: a reminder nobody sent in time",
        status="queued",
        attempts=0,
        created_at=START - timedelta(hours=49),
    )
    db.session.add(old)
    db.session.commit()
    with clock.frozen_at(START):
        result = send_due_notifications()
    assert (result.sent, result.expired) == (0, 1)
    (sms,) = outbox()
    assert (sms.status, sms.last_error) == (
        "skipped",
        "Not sent within 48 hours of being queued: too late to be useful.",
    )
    assert gateways.clickatell.messages == []


def test_the_invoice_pdf_can_be_left_out_of_the_email(gateways, customer, monkeypatch, app):
    monkeypatch.setitem(app.config, "INVOICE_EMAIL_ATTACH_PDF", False)  # e.g. a simulated year
    queue_notification(
        customer,
        "invoice_generated",
        {
            "invoice_number": "INV-2026-00009",
            "invoice_id": 999999,  # no such invoice: nothing is rendered
            "amount": Decimal("799.00"),
            "due_date": START.date(),
            "pay_url": "http://127.0.0.1:5000/invoices/999999",
        },
    )
    db.session.commit()
    (mail,) = gateways.smtp.messages
    assert mail["Subject"] == "Invoice INV-2026-00009 - R799.00"
    assert list(mail.iter_attachments()) == []
