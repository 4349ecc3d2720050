"""The billing jobs: the invoice run fanned out in chunks into one run-log row, chunks that
count once however often they run, overdue marking, and invoice PDFs after commit."""

from datetime import date

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.job_requests import request_job
from app.models import CronExecutionLog, CustomerInvoice
from jobs import billing as billing_jobs
from jobs.dispatch import dispatcher

RUN_DATE = "2026-11-25"


def _invoice_count() -> int:
    return db.session.scalar(select(func.count(CustomerInvoice.id)))


def _runs(job_name="invoice_run") -> list[CronExecutionLog]:
    return db.session.scalars(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job_name)
        .order_by(CronExecutionLog.id)
    ).all()


@pytest.fixture
def small_chunks(app, monkeypatch):
    monkeypatch.setitem(app.config, "INVOICE_RUN_CHUNK_SIZE", 2)


def test_the_invoice_run_fans_out_in_chunks_and_adds_up_in_one_run_row(many_services, small_chunks):
    many_services(7)
    with clock.frozen_at(date(2026, 11, 25)):
        request_job("invoice_run", RUN_DATE, queue="billing")
        db.session.commit()  # the in-process runner plans, then runs the four chunks
    (run,) = _runs()
    assert (run.chunks_total, run.chunks_done, run.status) == (4, 4, "completed")
    assert (run.records_processed, run.records_skipped, run.records_failed) == (7, 0, 0)
    assert run.business_date == date(2026, 11, 25)
    assert run.execution_details["services"] == 7
    assert sorted(run.execution_details["chunks"]) == ["1", "2", "3", "4"]
    assert _invoice_count() == 7


def test_a_chunk_run_again_invoices_nothing_and_counts_once(many_services, small_chunks):
    services = many_services(3)
    with clock.frozen_at(date(2026, 11, 25)):
        run_id = billing_jobs.invoice_run(RUN_DATE)
        first_chunk = [services[0].id, services[1].id]
        again = billing_jobs.invoice_run_chunk(run_id, RUN_DATE, 1, first_chunk)
    assert again == {"invoices": 0, "skipped": 0, "failed": 0}
    run = db.session.get(CronExecutionLog, run_id)
    db.session.refresh(run)
    assert (run.records_processed, run.chunks_done, run.status) == (3, 2, "completed")
    assert _invoice_count() == 3


def test_a_crashed_chunk_is_recorded_and_its_retry_completes_the_run(
    many_services, small_chunks, monkeypatch
):
    many_services(4)
    real_invoice_services = billing_jobs.invoice_services
    calls = {"n": 0}

    def crash_on_second_chunk(service_ids, run_date, *, actor):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("deadlock detected")
        return real_invoice_services(service_ids, run_date, actor=actor)

    monkeypatch.setattr(billing_jobs, "invoice_services", crash_on_second_chunk)
    with clock.frozen_at(date(2026, 11, 25)):
        request_job("invoice_run", RUN_DATE, queue="billing")
        db.session.commit()
    (run,) = _runs()
    assert (run.status, run.records_processed, run.records_failed) == ("partial", 2, 2)
    assert run.execution_details["chunks"]["2"]["status"] == "crashed"
    assert run.error_details["failures"] == [
        {"chunk": 2, "error": "RuntimeError: deadlock detected"}
    ]
    # The runner recorded the crash in the run row only, not in a row of its own.
    assert len(db.session.scalars(select(CronExecutionLog)).all()) == 1
    (failure,) = [f for f in dispatcher().runner.failures if f.request.name.endswith("chunk")]
    with clock.frozen_at(date(2026, 11, 25)):
        billing_jobs.invoice_run_chunk(*failure.request.args)  # the queue's retry
    db.session.refresh(run)
    assert (run.status, run.records_processed, run.records_failed) == ("completed", 4, 0)
    assert (run.chunks_done, run.error_details) == (2, None)
    assert _invoice_count() == 4


def test_a_run_with_nothing_due_is_complete_at_once(app):
    billing_jobs.invoice_run(RUN_DATE)
    (run,) = _runs()
    assert (run.status, run.chunks_total, run.records_processed) == ("completed", 0, 0)


def test_the_cli_style_run_does_the_chunks_here_with_progress(many_services, small_chunks):
    many_services(5)
    progress = []
    with clock.frozen_at(date(2026, 11, 25)):
        run = billing_jobs.invoice_run_here(
            RUN_DATE, trigger_source="cli", on_chunk=lambda done, total: progress.append(done)
        )
    assert progress == [1, 2, 3]
    assert (run.trigger_source, run.status, run.records_processed) == ("cli", "completed", 5)


def test_the_overdue_job_marks_and_records(many_services):
    many_services(2, next_billing_date=date(2026, 10, 1))
    with clock.frozen_at(date(2026, 9, 24)):
        billing_jobs.invoice_run_here("2026-09-24", trigger_source="cli")  # due 1 Oct
    assert billing_jobs.overdue_run("2026-10-04") == 0  # grace: 3 days after the due date
    assert billing_jobs.overdue_run("2026-10-05") == 2
    runs = _runs("overdue_run")
    assert [(r.business_date, r.records_processed, r.status) for r in runs] == [
        (date(2026, 10, 4), 0, "completed"),
        (date(2026, 10, 5), 2, "completed"),
    ]
    statuses = db.session.scalars(select(CustomerInvoice.status)).all()
    assert statuses == ["overdue", "overdue"]


def test_issuing_an_invoice_renders_its_pdf_after_commit(many_services, monkeypatch, tmp_path, app):
    monkeypatch.setitem(app.config, "RENDER_PDFS_INLINE", True)
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(tmp_path))
    many_services(1)
    with clock.frozen_at(date(2026, 11, 25)):
        billing_jobs.invoice_run_here(RUN_DATE, trigger_source="cli")
    invoice = db.session.scalars(select(CustomerInvoice)).one()
    db.session.refresh(invoice)
    assert invoice.pdf_path == "2026/INV-2026-00001.pdf"
    assert (tmp_path / invoice.pdf_path).read_bytes().startswith(b"%PDF")


def test_the_pdf_job_skips_unnumbered_missing_and_already_rendered_invoices(
    many_services, monkeypatch, tmp_path, app
):
    monkeypatch.setitem(app.config, "INVOICE_STORAGE_DIR", str(tmp_path))
    many_services(1)
    with clock.frozen_at(date(2026, 11, 25)):
        billing_jobs.invoice_run_here(RUN_DATE, trigger_source="cli")
    invoice = db.session.scalars(select(CustomerInvoice)).one()
    assert billing_jobs.render_invoice_pdf(invoice.id + 1000) is None
    path = billing_jobs.render_invoice_pdf(invoice.id)
    assert path == "2026/INV-2026-00001.pdf"

    def must_not_render(invoice):
        raise AssertionError("rendered twice")

    monkeypatch.setattr("app.billing.pdf.store_invoice_pdf", must_not_render)
    assert billing_jobs.render_invoice_pdf(invoice.id) == path
    invoice.invoice_number = None  # as if its transaction had not yet numbered it
    invoice.pdf_path = None
    db.session.flush()
    assert billing_jobs.render_invoice_pdf(invoice.id) is None
