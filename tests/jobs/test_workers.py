"""Real RQ worker processes on PostgreSQL share one invoice run; a worker killed mid-run
loses nothing and duplicates nothing, and two runs of one day invoice each period once."""

import time
from datetime import date

from rq.registry import StartedJobRegistry
from sqlalchemy import select

from app import clock
from app.billing.ledger import check_books
from app.extensions import db
from app.job_requests import request_job
from app.models import CronExecutionLog, CustomerInvoice
from jobs import billing as billing_jobs
from tests.conftest import pg_connection
from tests.jobs.conftest import wait_until

RUN_DATE = "2026-11-25"


def _count_invoices() -> int:
    """Committed invoices, seen from outside any test session."""
    with pg_connection() as conn:
        return conn.execute("SELECT count(*) FROM customer_invoices").fetchone()[0]


def _assert_one_numbered_invoice_per_service(services) -> None:
    invoices = db.session.scalars(select(CustomerInvoice).order_by(CustomerInvoice.id)).all()
    assert sorted(invoice.service_id for invoice in invoices) == [s.id for s in services]
    assert {(i.period_start, i.period_end) for i in invoices} == {
        (date(2026, 12, 1), date(2027, 1, 1))
    }
    numbers = sorted(invoice.invoice_number for invoice in invoices)
    assert numbers == [f"INV-2026-{n:05d}" for n in range(1, len(services) + 1)]
    assert check_books() == []


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    rq_app, many_services, workers, monkeypatch
):
    services = many_services(300)
    with rq_app.app_context(), clock.frozen_at(date(2026, 11, 25)):
        monkeypatch.setitem(rq_app.config, "INVOICE_RUN_CHUNK_SIZE", 10)
        run_id = billing_jobs.invoice_run(RUN_DATE)  # plans and queues 30 chunk jobs
    billing = rq_app.extensions["job_dispatcher"].queue("billing")
    assert billing.count == 30

    workers.start("a")
    workers.start("b")
    # Kill worker a (and its work-horse, mid-transaction) once the run is well under way.
    killed_at = wait_until(lambda: (n := _count_invoices()) >= 60 and n, timeout=60)
    workers.kill_hard("a")
    assert killed_at < 300, "the run finished before the worker could be killed"
    assert workers.wait("b") == 0, workers.log("b")

    # Worker a never finished its last job: it is left in the started registry until RQ's
    # clean-up finds it abandoned (once its heartbeat expired) and, having retries left,
    # queues it again. Here the clean-up runs as if that time had passed.
    started = StartedJobRegistry(queue=billing)
    abandoned = started.get_job_ids()
    started.cleanup(timestamp=time.time() + 3600)
    assert billing.count == len(abandoned) <= 1
    workers.start("c")
    assert workers.wait("c") == 0, workers.log("c")

    _assert_one_numbered_invoice_per_service(services)
    run = db.session.get(CronExecutionLog, run_id)
    db.session.refresh(run)
    assert (run.status, run.chunks_done, run.chunks_total) == ("completed", 30, 30)
    assert (run.records_processed, run.records_failed) == (300, 0)


def test_two_runs_of_the_same_day_at_once_invoice_each_period_once(rq_app, many_services, workers):
    services = many_services(60)
    with rq_app.app_context(), clock.frozen_at(date(2026, 11, 25)):
        request_job("invoice_run", RUN_DATE, queue="billing")
        request_job("invoice_run", RUN_DATE, queue="billing")
        db.session.commit()  # two runs queued; each plans all 60 services
    workers.start("a")
    workers.start("b")
    assert workers.wait("a") == 0, workers.log("a")
    assert workers.wait("b") == 0, workers.log("b")

    _assert_one_numbered_invoice_per_service(services)
    runs = db.session.scalars(select(CronExecutionLog).order_by(CronExecutionLog.id)).all()
    assert [(run.job_name, run.status) for run in runs] == [("invoice_run", "completed")] * 2
    assert sum(run.records_processed for run in runs) == 60
    assert all(run.chunks_done == run.chunks_total == 10 for run in runs)
