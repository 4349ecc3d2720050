"""The debit-order run and the NetCash statement over the sandbox (operator group 4.4 and
group 4.3's debit processing, adapted; DESIGN §5.9).

Timeline of most tests: customers billed on the 1st, the December invoice issued on
24 November 2026 and due on Tuesday 1 December. The 06:00 run of Thursday 26 November is
the first whose first valid TwoDay action date (three business days ahead) reaches
1 December, so it submits the batch; the run of 1 December applies the collections; the
09:00 statement job of 2 December reads the statement of 1 December.
"""

from datetime import date, time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    CronExecutionLog,
    CustomerInvoice,
    CustomerPaymentMethod,
    DebitOrderBatch,
    DebitOrderItem,
    Notification,
    PaymentRequest,
    PaymentTransaction,
)
from jobs.payments import debit_order_run, netcash_statement_run

INVOICE_DATE = date(2026, 11, 24)
PERIOD = date(2026, 12, 1)
SUBMIT_DAY = date(2026, 11, 26)
ACTION_DAY = date(2026, 12, 1)
STATEMENT_DAY = date(2026, 12, 2)


def run(job, day: date, at: time = time(6, 0)) -> CronExecutionLog:
    """Run a daily job for `day` with the clock at its SAST time; its run-log row."""
    with clock.frozen_at(clock.business_datetime(day, at)):
        job(day.isoformat(), "manual")
    db.session.expire_all()
    return db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job.__name__)
        .order_by(CronExecutionLog.id.desc())
        .limit(1)
    ).one()


def statement(day: date) -> CronExecutionLog:
    return run(netcash_statement_run, day, time(9, 0))


@pytest.fixture
def signed_customer(sandboxes, debit_customer, invoice_due):
    """Factory: a customer whose mandate was signed in the sandbox, with the December
    invoice (R799.00 unless `price`) due on 1 December."""

    def _make(*, price="799.00", invoices=1, **fields):
        with clock.frozen_at(date(2026, 11, 20)):
            customer, service, method = debit_customer(mandate="pending", price=price, **fields)
            assert sandboxes.netcash.sign_mandate(method.mandate_url) == 200
        db.session.expire_all()
        made = [invoice_due(service, period_start=PERIOD, invoice_date=INVOICE_DATE)]
        for extra in range(1, invoices):
            # a second invoice due the same day (e.g. installation), same customer
            made.append(
                invoice_due(
                    service,
                    period_start=date(2027, extra, 1),
                    invoice_date=INVOICE_DATE,
                )
            )
        return customer, method, made

    return _make


def items_of(invoice) -> list[DebitOrderItem]:
    return list(
        db.session.scalars(
            select(DebitOrderItem)
            .where(DebitOrderItem.invoice_id == invoice.id)
            .order_by(DebitOrderItem.attempt_number)
        )
    )


def fresh(invoice) -> CustomerInvoice:
    return db.session.get(CustomerInvoice, invoice.id)


def test_one_twoday_batch_collects_the_invoices_of_several_customers(sandboxes, signed_customer):
    first, _, [a] = signed_customer()
    second, _, [b, c] = signed_customer(price="499.00", invoices=2)
    assert run(debit_order_run, date(2026, 11, 25)).records_processed == 0  # too early

    log = run(debit_order_run, SUBMIT_DAY)

    assert log.status == "completed" and log.records_processed == 3
    with clock.frozen_at(SUBMIT_DAY):  # as NetCash reports it on the day (not yet processed)
        [upload] = sandboxes.netcash.uploaded_batches
    assert upload["result"] == "SUCCESSFUL"
    assert upload["action_date"] == ACTION_DAY
    assert upload["status"] == 2  # authorised
    by_account = {line["account_reference"]: line for line in upload["lines"]}
    assert by_account[first.account_number]["amount_cents"] == 79900
    # one line per customer: both of the second customer's invoices, in cents
    assert by_account[second.account_number]["amount_cents"] == 2 * 49900
    assert "\tTwoDay\t" in upload["file"] and "20261201" in upload["file"]
    batch = db.session.scalars(select(DebitOrderBatch)).one()
    assert (batch.status, batch.item_count, batch.total_amount) == (
        "authorised",
        3,
        Decimal("1797.00"),
    )
    assert "62812345678" not in batch.file and "*******5678" in batch.file
    for invoice in (a, b, c):
        [item] = items_of(invoice)
        assert (item.status, item.action_date, item.attempt_number) == ("submitted", ACTION_DAY, 1)
        payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
        assert (payment.transaction_id, payment.status) == (f"DO-{item.id}", "pending")
        assert fresh(invoice).status == "unpaid"


def test_a_second_run_the_same_day_submits_nothing_new(sandboxes, signed_customer):
    _, _, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    again = run(debit_order_run, SUBMIT_DAY)
    next_day = run(debit_order_run, date(2026, 11, 27))

    assert len(sandboxes.netcash.uploaded_batches) == 1
    assert again.records_processed == 0 and next_day.records_processed == 0
    assert len(items_of(invoice)) == 1


def test_collections_are_applied_on_the_action_date_and_confirmed_by_the_statement(
    sandboxes, signed_customer
):
    customer, _, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    run(debit_order_run, date(2026, 11, 30))
    assert fresh(invoice).status == "unpaid"  # nothing before the action date

    run(debit_order_run, ACTION_DAY)

    invoice = fresh(invoice)
    [item] = items_of(invoice)
    payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
    assert (invoice.status, invoice.amount_paid) == ("paid", Decimal("799.00"))
    assert (item.status, payment.status, payment.payment_date) == (
        "provisional",
        "completed",
        ACTION_DAY,
    )
    db.session.refresh(customer.billing)
    assert customer.billing.account_balance == Decimal("0.00")

    log = statement(STATEMENT_DAY)

    assert (log.status, log.records_processed) == ("completed", 1)
    db.session.refresh(item)
    assert item.status == "confirmed"
    assert db.session.scalars(select(DebitOrderBatch.status)).one() == "completed"
    received = db.session.scalars(
        select(Notification).where(
            Notification.customer_id == customer.id, Notification.template == "payment_received"
        )
    ).all()
    assert {n.channel for n in received} == {"sms", "email"}
    assert all("R799.00" in n.body for n in received)


def test_the_statement_read_twice_applies_nothing_twice(sandboxes, signed_customer):
    customer, _, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    run(debit_order_run, ACTION_DAY)
    statement(STATEMENT_DAY)

    again = statement(STATEMENT_DAY)
    run(debit_order_run, ACTION_DAY)  # the action-date run repeated, too

    assert again.records_processed == 0 and again.records_skipped >= 1
    assert db.session.scalar(select(func.count(PaymentTransaction.id))) == 1
    assert fresh(invoice).amount_paid == Decimal("799.00")
    db.session.refresh(customer.billing)
    assert customer.billing.account_balance == Decimal("0.00")


def test_a_statement_missed_on_its_day_is_read_the_next_day(sandboxes, signed_customer):
    _, _, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    run(debit_order_run, ACTION_DAY)

    statement(date(2026, 12, 3))  # the job of 2 December never ran

    [item] = items_of(invoice)
    assert item.status == "confirmed"


def test_insufficient_funds_reverse_the_payment_and_retry_at_the_next_debit_date(
    sandboxes, signed_customer
):
    customer, method, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    [item] = items_of(invoice)
    sandboxes.netcash.set_return(item.line_reference, code="02")
    run(debit_order_run, ACTION_DAY)
    assert fresh(invoice).status == "paid"  # provisional

    log = statement(STATEMENT_DAY)

    assert log.status == "completed"
    invoice = fresh(invoice)
    [item] = items_of(invoice)
    payment = db.session.get(PaymentTransaction, item.payment_transaction_id)
    assert (invoice.status, invoice.amount_paid) == ("unpaid", Decimal("0.00"))
    assert (payment.status, payment.failure_code) == ("reversed", "02")
    assert (item.status, item.return_code) == ("returned", "02")
    assert item.next_attempt_date == date(2027, 1, 1)  # the next mandated debit date
    db.session.refresh(customer.billing)
    assert customer.billing.account_balance == Decimal("799.00")
    assert db.session.get(CustomerPaymentMethod, method.id).mandate_status == "active"
    link = db.session.scalars(select(PaymentRequest)).one()
    assert (link.invoice_id, link.amount_requested) == (invoice.id, Decimal("799.00"))
    sms = db.session.scalars(
        select(Notification).where(
            Notification.template == "debit_order_returned", Notification.channel == "sms"
        )
    ).one()
    assert link.url in sms.body

    # Not before the next debit date: 1 January 2027 (a holiday) → next business day
    # 4 January; its batch goes on the run of 29 December (three business days ahead).
    run(debit_order_run, date(2026, 12, 28))
    assert len(items_of(invoice)) == 1
    run(debit_order_run, date(2026, 12, 29))
    retry = items_of(invoice)[-1]
    assert (retry.attempt_number, retry.status, retry.action_date) == (
        2,
        "submitted",
        date(2027, 1, 4),
    )


def test_three_consecutive_returns_end_the_retries(sandboxes, signed_customer):
    _, method, [invoice] = signed_customer()
    # (submission day, action date, statement day) of each attempt
    attempts = [
        (SUBMIT_DAY, ACTION_DAY, STATEMENT_DAY),
        (date(2026, 12, 29), date(2027, 1, 4), date(2027, 1, 5)),
        (date(2027, 1, 27), date(2027, 2, 1), date(2027, 2, 2)),
    ]
    for submit, action, read in attempts:
        run(debit_order_run, submit)
        item = items_of(invoice)[-1]
        assert (item.status, item.action_date) == ("submitted", action)
        sandboxes.netcash.set_return(item.line_reference, code="02")
        run(debit_order_run, action)
        statement(read)

    items = items_of(invoice)
    assert [i.attempt_number for i in items] == [1, 2, 3]
    assert [i.status for i in items] == ["returned"] * 3
    assert items[-1].next_attempt_date is None
    run(debit_order_run, date(2027, 2, 24))
    assert len(items_of(invoice)) == 3  # no fourth attempt
    assert db.session.get(CustomerPaymentMethod, method.id).mandate_status == "active"


def test_a_return_with_code_12_deactivates_the_mandate_and_tells_the_customer(
    sandboxes, signed_customer
):
    customer, method, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    sandboxes.netcash.set_return(customer.account_number, code="12")
    run(debit_order_run, ACTION_DAY)

    statement(STATEMENT_DAY)

    method = db.session.get(CustomerPaymentMethod, method.id)
    assert (method.mandate_status, method.is_active, method.is_primary) == (
        "failed",
        False,
        False,
    )
    [item] = items_of(invoice)
    assert (item.status, item.return_code, item.next_attempt_date) == ("returned", "12", None)
    assert fresh(invoice).status == "unpaid"
    message = db.session.scalars(
        select(Notification).where(
            Notification.template == "debit_order_returned", Notification.channel == "sms"
        )
    ).one()
    assert "Account closed" in message.body and "/pay/" in message.body
    run(debit_order_run, date(2026, 12, 29))
    assert len(items_of(invoice)) == 1  # no mandate left to debit


def test_netcash_failing_gives_a_failed_run_and_the_next_run_catches_up(
    sandboxes, signed_customer, app
):
    _, _, [invoice] = signed_customer()
    # The run's first call (RequestActionDate) answers HTTP 500 at every attempt.
    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"])

    failed = run(debit_order_run, SUBMIT_DAY)

    assert failed.status == "failed" and failed.records_failed == 1
    assert "ProviderUnavailable" in str(failed.error_details)
    assert sandboxes.netcash.uploaded_batches == []

    caught_up = run(debit_order_run, date(2026, 11, 27))

    assert caught_up.status == "completed"
    [upload] = sandboxes.netcash.uploaded_batches
    assert upload["action_date"] == date(2026, 12, 2)  # a day later than planned
    assert [i.status for i in items_of(invoice)] == ["submitted"]


def test_an_outage_after_the_batch_is_built_resumes_it_without_uploading_twice(
    sandboxes, signed_customer, app
):
    _, _, [invoice] = signed_customer()
    app.config["PROVIDER_TIMEOUT_SECONDS"] = 0.3
    try:
        # RequestActionDate and GetDebitLimits answer; then RetrieveBatchStatus (before
        # the upload) times out three times: the batch is built but not sent.
        sandboxes.netcash.delay_next(0, count=2)
        sandboxes.netcash.delay_next(1.0, count=3)
        stalled = run(debit_order_run, SUBMIT_DAY)
    finally:
        app.config["PROVIDER_TIMEOUT_SECONDS"] = 2.0
    assert stalled.status == "failed"
    assert db.session.scalars(select(DebitOrderBatch.status)).one() == "building"
    assert sandboxes.netcash.uploaded_batches == []

    resumed = run(debit_order_run, SUBMIT_DAY)

    assert resumed.status == "completed"
    with clock.frozen_at(SUBMIT_DAY):
        [upload] = sandboxes.netcash.uploaded_batches
    assert upload["status"] == 2
    assert [i.status for i in items_of(invoice)] == ["submitted"]


def test_an_outage_after_collecting_gives_a_partial_run(sandboxes, signed_customer, app):
    _, _, [invoice] = signed_customer()
    run(debit_order_run, SUBMIT_DAY)
    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"])

    log = run(debit_order_run, ACTION_DAY)

    assert (log.status, log.records_processed, log.records_failed) == ("partial", 1, 1)
    assert fresh(invoice).status == "paid"


def test_authorisation_refused_leaves_the_batch_loaded_with_a_message(sandboxes, signed_customer):
    _, _, [invoice] = signed_customer()
    sandboxes.netcash.set_authorise_result("322")

    log = run(debit_order_run, SUBMIT_DAY)

    batch = db.session.scalars(select(DebitOrderBatch)).one()
    assert batch.status == "loaded"
    assert "authorise it in the NetCash portal" in batch.error_message
    assert any("loaded" in str(f) for f in log.error_details["failures"])
    # Someone authorises it in the portal: the next run sees it.
    sandboxes.netcash.set_authorise_result("000")
    run(debit_order_run, date(2026, 11, 27))
    db.session.refresh(batch)
    assert batch.status == "authorised"


def test_a_batch_over_the_limits_is_split_or_stopped_with_a_message(sandboxes, signed_customer):
    big, _, [too_big] = signed_customer(price="6000.00")
    _, _, [first] = signed_customer(price="700.00")
    _, _, [second] = signed_customer(price="700.00")
    sandboxes.netcash.set_limits(daily=Decimal("1000.00"))  # NetCash's line limit: R5 000

    log = run(debit_order_run, SUBMIT_DAY)

    warnings = " ".join(str(f) for f in log.error_details["failures"])
    assert too_big.invoice_number in warnings and "limit per line" in warnings
    assert "daily limit" in warnings
    [upload] = sandboxes.netcash.uploaded_batches
    assert [line["amount_cents"] for line in upload["lines"]] == [70000]
    assert items_of(too_big) == []
    assert len(items_of(first)) + len(items_of(second)) == 1
    # The one left over goes on the next action date.
    run(debit_order_run, date(2026, 11, 27))
    assert len(items_of(first)) + len(items_of(second)) == 2
    assert sandboxes.netcash.uploaded_batches[-1]["action_date"] == date(2026, 12, 2)
