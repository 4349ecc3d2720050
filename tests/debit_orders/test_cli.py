"""`flask debit-orders run|statement --date D`: the jobs by hand, exit code 1 unless the run
completed."""

from datetime import date, time

import pytest

from app import clock
from app.extensions import db


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


@pytest.fixture
def mandated_invoice(sandboxes, debit_customer, invoice_due):
    with clock.frozen_at(date(2026, 11, 20)):
        _, service, method = debit_customer(mandate="pending")
        sandboxes.netcash.sign_mandate(method.mandate_url)
    return invoice_due(service, period_start=date(2026, 12, 1), invoice_date=date(2026, 11, 24))


def test_the_run_command_submits_the_batch_and_exits_0(cli, mandated_invoice, sandboxes):
    with clock.frozen_at(clock.business_datetime(date(2026, 11, 26), time(6, 0))):
        result = cli.invoke(args=["debit-orders", "run", "--date", "2026-11-26"])

    assert result.exit_code == 0, result.output
    assert "debit_order_run 2026-11-26: completed; 1 processed" in result.output
    assert len(sandboxes.netcash.uploaded_batches) == 1


def test_the_commands_exit_1_when_netcash_fails(cli, mandated_invoice, sandboxes, app):
    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"])
    with clock.frozen_at(clock.business_datetime(date(2026, 11, 26), time(6, 0))):
        result = cli.invoke(args=["debit-orders", "run", "--date", "2026-11-26"])
    assert result.exit_code == 1
    assert "failed" in result.output

    sandboxes.netcash.fail_next(app.config["PROVIDER_RETRIES"])
    with clock.frozen_at(clock.business_datetime(date(2026, 12, 2), time(9, 0))):
        result = cli.invoke(args=["debit-orders", "statement", "--date", "2026-12-02"])
    assert result.exit_code == 1
    db.session.rollback()


def test_a_future_date_is_refused(cli, app):
    with clock.frozen_at(date(2026, 11, 26)):
        result = cli.invoke(args=["debit-orders", "run", "--date", "2026-12-26"])
    assert result.exit_code == 1
    assert "cannot be for a future date" in result.output
