"""Billing jobs: the invoice run (fanned out in chunks), overdue marking and invoice PDFs.

Thin wrappers (DESIGN §2, §6): they parse their arguments (a business date as an ISO
string, ids), call the domain functions, commit, and record the run. Every one is
idempotent with the database as the guard: a chunk run twice invoices nothing twice,
because `invoice_services` re-checks `next_billing_date` under row locks and unique
indexes refuse a second invoice for a period.
"""

import logging
from collections.abc import Callable
from datetime import date

from flask import current_app

from app.audit import Actor
from app.billing.invoicing import InvoiceRunResult, invoice_services, plan_invoice_run
from app.billing.overdue import mark_overdue_invoices
from app.dunning import run_dunning
from app.extensions import db
from app.job_requests import request_job
from app.models import CronExecutionLog, CustomerInvoice
from jobs.runlog import RunCounts, record_chunk, recorded_run, start_chunked_run

log = logging.getLogger(__name__)

INVOICE_RUN_ACTOR = Actor.system("invoice-run")


def invoice_run(
    business_date: str, trigger_source: str = "scheduled", triggered_by: str | None = None
) -> int:
    """Plan the invoice run for a date and fan it out: one `invoice_run_chunk` job each.

    The run's log row and the chunk requests commit together; workers then share the
    chunks. Returns the run's log id.
    """
    run, chunks = _open_invoice_run(business_date, trigger_source, triggered_by)
    for number, service_ids in enumerate(chunks, start=1):
        request_job(
            "invoice_run_chunk",
            run.id,
            business_date,
            number,
            service_ids,
            queue="billing",
            job_id=f"invoice_run-{run.id}-chunk-{number}",
        )
    db.session.commit()
    log.info("invoice run %s for %s: %d chunk(s) queued", run.id, business_date, len(chunks))
    return run.id


def invoice_run_chunk(
    run_id: int, business_date: str, chunk_number: int, service_ids: list[int]
) -> dict:
    """Invoice one chunk's services and add its counts to the run, in one transaction.

    A chunk that crashes is rolled back whole, recorded as crashed, and re-raised so the
    queue retries it.
    """
    run_date = date.fromisoformat(business_date)
    try:
        result = invoice_services(service_ids, run_date, actor=INVOICE_RUN_ACTOR)
        record_chunk(run_id, chunk_number, _chunk_counts(result))
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        failure = {"chunk": chunk_number, "error": f"{type(error).__name__}: {error}"[:500]}
        crashed = RunCounts(failed=len(service_ids), failures=[failure])
        record_chunk(run_id, chunk_number, crashed, crashed=True)
        db.session.commit()
        error.run_log_id = run_id
        raise
    return {"invoices": len(result.issued), "skipped": result.skipped, "failed": result.failed}


def invoice_run_here(
    business_date: str,
    *,
    trigger_source: str,
    triggered_by: str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> CronExecutionLog:
    """The same run, its chunks done one after the other in this process (`flask billing
    run`), with `on_chunk(done, total)` for progress. Returns the closed run row."""
    run, chunks = _open_invoice_run(business_date, trigger_source, triggered_by)
    db.session.commit()
    run_id = run.id
    for number, service_ids in enumerate(chunks, start=1):
        invoice_run_chunk(run_id, business_date, number, service_ids)
        if on_chunk:
            on_chunk(number, len(chunks))
    return db.session.get(CronExecutionLog, run_id)


def overdue_run(
    business_date: str, trigger_source: str = "scheduled", triggered_by: str | None = None
) -> int:
    """Mark invoices overdue as of the date (money due and past due date + grace), then
    apply the dunning rules (DESIGN §6: "overdue and dunning", 02:30)."""
    today = date.fromisoformat(business_date)
    with recorded_run(
        "overdue_run",
        business_date=today,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={"date": business_date},
    ) as counts:
        counts.processed = len(mark_overdue_invoices(today))
        db.session.commit()
    # Dunning acts on what was just marked overdue: one job, so no worker runs it first.
    dunning_run(business_date, trigger_source, triggered_by)
    return counts.processed


def dunning_run(
    business_date: str, trigger_source: str = "scheduled", triggered_by: str | None = None
) -> int:
    """Apply the dunning rules for the date (after the overdue run): reminders, notices,
    suspensions and reactivations, each at most once per invoice and attempt."""
    today = date.fromisoformat(business_date)
    with recorded_run(
        "dunning_run",
        business_date=today,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={"date": business_date},
    ) as counts:
        result = run_dunning(today)
        db.session.commit()
        counts.processed = result.actions
        counts.skipped = len(result.held_back_customers)
        counts.failures.extend({"warning": warning} for warning in result.warnings)
    return counts.processed


def render_invoice_pdf(invoice_id: int) -> str | None:
    """Render and store an invoice's PDF; returns its storage path.

    Skips quietly an invoice that is gone, not yet numbered, or already has its file.
    """
    # Imported here: rendering pulls in xhtml2pdf, which other jobs do not need.
    from app.billing.pdf import storage, store_invoice_pdf

    invoice = db.session.get(CustomerInvoice, invoice_id)
    if invoice is None or not invoice.invoice_number:
        return None
    if invoice.pdf_path and storage().exists(invoice.pdf_path):
        return invoice.pdf_path
    path = store_invoice_pdf(invoice)
    db.session.commit()
    return path


def _open_invoice_run(business_date: str, trigger_source: str, triggered_by: str | None):
    run_date = date.fromisoformat(business_date)
    chunk_size = current_app.config["INVOICE_RUN_CHUNK_SIZE"]
    chunks = plan_invoice_run(run_date, chunk_size)
    run = start_chunked_run(
        "invoice_run",
        chunks_total=len(chunks),
        business_date=run_date,
        trigger_source=trigger_source,
        triggered_by=triggered_by,
        parameters={
            "date": business_date,
            "chunk_size": chunk_size,
            "services": sum(len(chunk) for chunk in chunks),
        },
    )
    return run, chunks


def _chunk_counts(result: InvoiceRunResult) -> RunCounts:
    """Invoices issued are the records processed; services skipped or failed are counted."""
    return RunCounts(
        processed=len(result.issued),
        skipped=result.skipped,
        failed=result.failed,
        failures=result.failures,
    )
