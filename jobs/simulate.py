"""`flask billing simulate`: the daily schedule, day by day, with the business clock set.

For each day every job of `jobs.schedule.SCHEDULE` runs in schedule order, in this
process (even when Redis is configured), with the clock pinned at the job's SAST time;
then, at PAYMENTS_AT, the simulated customers pay (`app.billing.simulation`). Invoice PDFs
are rendered only when asked for; otherwise they are rendered when first downloaded.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import Decimal

from flask import Flask, current_app
from sqlalchemy import func, select

from app import clock
from app.audit import Actor
from app.billing.money import ZERO
from app.billing.simulation import apply_simulated_payments
from app.extensions import db
from app.job_requests import JobRequest
from app.models import CustomerInvoice
from jobs.dispatch import dispatcher, jobs_in_process
from jobs.schedule import SCHEDULE

PAYMENTS_AT = time(10, 0)  # SAST, after the night's jobs
SIMULATION_ACTOR = Actor.system("simulation")


@dataclass
class SimulationSummary:
    """What a simulation did over its days."""

    days: int = 0
    invoices: int = 0
    payments: int = 0
    paid_total: Decimal = ZERO
    failures: list[str] = field(default_factory=list)


def simulate_days(
    first: date,
    last: date,
    *,
    seed: int,
    render_pdfs: bool = False,
    on_day: Callable[[date], None] | None = None,
) -> SimulationSummary:
    """Run the schedule and the customers' payments for every day from `first` to `last`."""
    if last < first:
        raise ValueError(f"the simulation ends ({last}) before it starts ({first})")
    summary = SimulationSummary()
    invoices_before = _invoice_count()
    db.session.rollback()  # hold no snapshot while the jobs write (SQLite)
    runner = dispatcher().runner
    with jobs_in_process(), _pdf_rendering(current_app._get_current_object(), render_pdfs):
        for day in _days(first, last):
            for job in SCHEDULE:
                with clock.frozen_at(job.due_at(day)):
                    request = JobRequest(job.name, (day.isoformat(), "simulate"), job.queue)
                    for failure in runner.submit([request]):
                        summary.failures.append(f"{day} {failure.request.name}: {failure.error}")
            with clock.frozen_at(clock.business_datetime(day, PAYMENTS_AT)):
                paid = apply_simulated_payments(day, seed=seed, actor=SIMULATION_ACTOR)
                db.session.commit()
            summary.days += 1
            summary.payments += paid.count
            summary.paid_total += paid.total
            summary.failures.extend(f"{day} payment {failure}" for failure in paid.failures)
            if on_day:
                on_day(day)
    summary.invoices = _invoice_count() - invoices_before
    return summary


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _invoice_count() -> int:
    return db.session.scalar(select(func.count(CustomerInvoice.id)))


@contextmanager
def _pdf_rendering(app: Flask, enabled: bool):
    """PDFs on or off for the simulation only (they are slow; downloads render them)."""
    previous = app.config["RENDER_PDFS_INLINE"]
    app.config["RENDER_PDFS_INLINE"] = enabled
    try:
        yield
    finally:
        app.config["RENDER_PDFS_INLINE"] = previous
