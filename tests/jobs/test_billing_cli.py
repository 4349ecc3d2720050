"""`flask billing run|overdue|check`: previews write nothing, runs print their counts, and
the exit codes say whether anything failed."""

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from app import clock
from app.accounts import create_customer
from app.audit import Actor
from app.extensions import db
from app.models import CronExecutionLog, CustomerInvoice, CustomerService, InvoiceNumberCounter


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


def _invoice_count() -> int:
    return db.session.scalar(select(func.count(CustomerInvoice.id)))


def test_dry_run_prints_totals_per_billing_day_and_writes_nothing(cli, make_service):
    make_service(billing_date=1, monthly_price="799.00", next_billing_date=date(2026, 12, 1))
    make_service(billing_date=1, monthly_price="599.00", next_billing_date=date(2026, 12, 1))
    make_service(billing_date=5, monthly_price="499.00", next_billing_date=date(2026, 12, 5))
    with clock.frozen_at(date(2026, 11, 28)):
        result = cli.invoke(args=["billing", "run", "--date", "2026-11-28", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Invoice run preview for 2026-11-28 (rolled back, nothing written)" in result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["1", "2", "R1", "398.00"] in lines
    assert ["5", "1", "R499.00"] in lines
    assert ["all", "3", "R1", "897.00"] in lines
    assert _invoice_count() == 0
    assert db.session.get(InvoiceNumberCounter, 1).last_number == 0
    (preview,) = db.session.scalars(select(CronExecutionLog)).all()
    assert (preview.job_name, preview.trigger_source) == ("invoice_run_preview", "cli")
    assert (preview.records_processed, preview.status) == (3, "completed")
    assert preview.execution_details == {"date": "2026-11-28", "dry_run": True}


def test_dry_run_on_sqlite_writes_nothing_either(sqlite_app):
    # pysqlite would commit a released savepoint unless SQLAlchemy emits BEGIN itself.
    customer = create_customer(
        actor=Actor.system("pytest"),
        reason="test",
        first_name="Ayanda",
        last_name="Zulu",
        email="ayanda@example.co.za",
    )
    db.session.add(
        CustomerService(
            customer_id=customer.id,
            service_type="fibre",
            package_name="Fibre 100",
            installation_address="3 Long Street, Cape Town",
            monthly_price=Decimal("799.00"),
            installation_fee=Decimal("0.00"),
            router_fee=Decimal("0.00"),
            billing_date=1,
            next_billing_date=date(2026, 12, 1),
            status="active",
            activation_date=date(2026, 1, 1),
        )
    )
    db.session.commit()
    result = sqlite_app.test_cli_runner().invoke(
        args=["billing", "run", "--date", "2026-11-28", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert ["all", "1", "R799.00"] in [line.split() for line in result.output.splitlines()]
    assert _invoice_count() == 0


def test_a_real_run_prints_its_counts_and_records_them(cli, make_service):
    make_service(next_billing_date=date(2026, 12, 1))
    make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        result = cli.invoke(args=["billing", "run", "--date", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert "Invoice run 2026-11-25: 2 invoices issued, 0 services skipped, 0 failed" in (
        result.output
    )
    run = db.session.scalars(select(CronExecutionLog)).one()
    assert (run.job_name, run.trigger_source, run.status) == ("invoice_run", "cli", "completed")
    assert _invoice_count() == 2


def test_a_run_with_a_failing_service_exits_1(cli, make_service, monkeypatch):
    from app.billing import invoicing

    make_service(next_billing_date=date(2026, 12, 1))

    def failing(*args, **kwargs):
        raise RuntimeError("price list missing")

    monkeypatch.setattr(invoicing, "issue_period_invoice", failing)
    with clock.frozen_at(date(2026, 11, 25)):
        result = cli.invoke(args=["billing", "run", "--date", "2026-11-25"])
    assert result.exit_code == 1
    assert "1 failed" in result.output and "price list missing" in result.output


def test_the_overdue_command_marks_and_reports(cli, make_service):
    make_service(next_billing_date=date(2026, 10, 1))
    with clock.frozen_at(date(2026, 9, 24)):
        assert cli.invoke(args=["billing", "run", "--date", "2026-09-24"]).exit_code == 0
    result = cli.invoke(args=["billing", "overdue", "--date", "2026-10-05"])
    assert result.exit_code == 0, result.output
    assert "1 invoices marked overdue as of 2026-10-05." in result.output


def test_check_says_ok_or_lists_problems_with_exit_1(cli, make_service):
    make_service(next_billing_date=date(2026, 12, 1))
    with clock.frozen_at(date(2026, 11, 25)):
        cli.invoke(args=["billing", "run", "--date", "2026-11-25"])
    result = cli.invoke(args=["billing", "check"])
    assert (result.exit_code, result.output.split(":")[0]) == (0, "OK")
    db.session.execute(text("UPDATE customer_billing SET account_balance = account_balance + 1"))
    db.session.commit()
    result = cli.invoke(args=["billing", "check"])
    assert result.exit_code == 1
    assert "1 problem(s):" in result.output
    assert "balance: customer" in result.output and "expected 799.00, found 800.00" in (
        result.output
    )


def test_bad_dates_are_usage_errors(cli):
    result = cli.invoke(args=["billing", "run", "--date", "25/11/2026"])
    assert result.exit_code == 2
