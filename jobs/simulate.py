"""`flask billing simulate`: the daily schedule, day by day, with the business clock set.

For each day every job of `jobs.schedule.SCHEDULE` runs, and every periodic job of
`INTERVAL_JOBS` once (usage sync in bulk, the outbox senders), in this process (even when
Redis is configured), in the order of their SAST times with the clock pinned at each; at
PAYMENTS_AT the simulated customers pay (`app.billing.simulation`). The providers are
whatever the app is pointed at (`flask billing simulate` starts the sandboxes). Invoice
PDFs are rendered only when asked for; otherwise they are rendered when first downloaded.
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
from jobs.schedule import INTERVAL_JOBS, SCHEDULE

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
    with jobs_in_process(), _simulation_settings(current_app._get_current_object(), render_pdfs):
        for day in _days(first, last):
            for at, request in _day_plan(day, first, last):
                with clock.frozen_at(clock.business_datetime(day, at)):
                    if request is None:
                        paid = apply_simulated_payments(day, seed=seed, actor=SIMULATION_ACTOR)
                        db.session.commit()
                        summary.payments += paid.count
                        summary.paid_total += paid.total
                        summary.failures.extend(f"{day} payment {f}" for f in paid.failures)
                        continue
                    for failure in runner.submit([request]):
                        summary.failures.append(f"{day} {failure.request.name}: {failure.error}")
            summary.days += 1
            if on_day:
                on_day(day)
    summary.invoices = _invoice_count() - invoices_before
    return summary


def _day_plan(day: date, first: date, last: date) -> list[tuple[time, JobRequest | None]]:
    """A day's work in SAST time order: the daily jobs, the periodic jobs due in the
    simulation that day, and the customers' payments (None)."""
    plan = [
        (job.at, JobRequest(job.name, (day.isoformat(), "simulate"), job.queue)) for job in SCHEDULE
    ]
    plan += [
        (job.simulate_at, JobRequest(job.name, ("simulate",), job.queue))
        for job in INTERVAL_JOBS
        if day == last or (day - first).days % job.simulate_every_days == 0
    ]
    plan.append((PAYMENTS_AT, None))
    return sorted(plan, key=lambda step: step[0])


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _invoice_count() -> int:
    return db.session.scalar(select(func.count(CustomerInvoice.id)))


@contextmanager
def _simulation_settings(app: Flask, render_pdfs: bool):
    """Settings for the simulation only: PDFs off unless asked for (they are slow and
    rendered when first downloaded; invoice e-mails then go without them), and messages
    sent by the day's sender run rather than after every commit."""
    settings = {
        "RENDER_PDFS_INLINE": render_pdfs,
        "INVOICE_EMAIL_ATTACH_PDF": render_pdfs,
        "SEND_NOTIFICATIONS_AFTER_COMMIT": False,
    }
    previous = {key: app.config.get(key, True) for key in settings}
    app.config.update(settings)
    try:
        yield
    finally:
        app.config.update(previous)
