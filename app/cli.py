"""`flask` commands: thin wrappers that parse options and call domain functions or jobs.

Exit codes: 0 done; 1 done with failures, problems found, or refused (e.g. another
scheduler holds the lock); 2 bad usage (click).
"""

import logging
import signal
import sys
import time
from contextlib import ExitStack, nullcontext
from datetime import date

import click
from dateutil.relativedelta import relativedelta
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app import clock
from app.audit import Actor
from app.auth import create_staff_user
from app.billing.invoicing import run_invoices
from app.billing.ledger import check_books
from app.billing.money import format_rand
from app.demo import (
    DEFAULT_CUSTOMER_COUNT,
    DEFAULT_SEED,
    DemoLogin,
    DemoSummary,
    customer_count,
    demo_data_present,
    present_demo_logins,
    seed_demo_data,
)
from app.errors import DomainError
from app.extensions import db
from app.models.staff import STAFF_ROLES
from jobs import billing as billing_jobs
from jobs.runlog import recorded_run

staff_cli = AppGroup("staff", help="Manage staff accounts of the admin console.")
billing_cli = AppGroup("billing", help="Invoice runs, overdue marking, books check, simulation.")
ISO_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _fail(error: DomainError) -> None:
    field = f" ({error.field})" if error.field else ""
    raise click.ClickException(f"{error.message}{field}")


@staff_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(STAFF_ROLES))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_staff_command(email, name, role, password):
    """Create a staff user who can log in at /admin/login."""
    try:
        user = create_staff_user(
            email=email,
            name=name,
            role=role,
            password=password,
            actor=Actor.system("cli"),
            reason="Created with flask staff create",
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@click.command("seed-demo")
@click.option(
    "--customers",
    default=DEFAULT_CUSTOMER_COUNT,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many customers to create.",
)
@click.option(
    "--seed", default=DEFAULT_SEED, show_default=True, help="Random seed: same seed, same data."
)
@click.option(
    "--today",
    type=ISO_DATE,
    help="Business date to seed as (pins the clock); default: the clock's today.",
)
@click.option(
    "--history-months",
    default=0,
    show_default=True,
    type=click.IntRange(min=0, max=36),
    help="Bill the services from this many months back and simulate the daily jobs and "
    "customers' payments up to today, so the console shows a history.",
)
@with_appcontext
def seed_demo_command(customers, seed, today, history_months):
    """Fill an empty database with demo customers, services, orders and staff logins.

    Does nothing (exit 0) when demo data is already present, so it can run every time.
    """
    if demo_data_present():
        click.echo(f"Demo data already present: {customer_count()} customers")
        _echo_logins(present_demo_logins())
        return
    pinned = clock.frozen_at(today.date()) if today else nullcontext()
    started = time.monotonic()
    with pinned:
        seeding_day = clock.today()
        billing_from = (
            seeding_day - relativedelta(months=history_months) if history_months else None
        )
        click.echo(f"Seeding {customers} demo customers as of {seeding_day} (seed {seed})...")
        try:
            with click.progressbar(length=customers, label="Customers") as bar:
                summary = seed_demo_data(
                    actor=Actor.system("seed-demo"),
                    reason="Demo data",
                    today=seeding_day,
                    seed=seed,
                    customers=customers,
                    brand_name=current_app.config["BRAND_NAME"],
                    progress=bar.update,
                    billing_from=billing_from,
                )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            _fail(error)
        except BaseException:
            db.session.rollback()
            raise
        _echo_summary(summary, seconds=time.monotonic() - started)
        if billing_from is not None:
            click.echo(f"Simulating the billing history from {billing_from} to {seeding_day}...")
            if not _simulate(billing_from, seeding_day, seed=seed, pdfs=False):
                sys.exit(1)
    _echo_logins(present_demo_logins())


def _counts(counter) -> str:
    return ", ".join(f"{key}: {count}" for key, count in sorted(counter.items()))


def _echo_summary(summary: DemoSummary, *, seconds: float) -> None:
    click.echo(f"Demo data created in {seconds:.1f} s:")
    click.echo(f"  customers: {summary.customers} ({_counts(summary.customers_by_type)})")
    click.echo(f"    account status: {_counts(summary.customers_by_status)}")
    click.echo(f"    without services: {summary.customers_without_services}")
    click.echo(f"  services: {summary.services}")
    click.echo(f"    by status: {_counts(summary.services_by_status)}")
    click.echo(f"    by type: {_counts(summary.services_by_type)}")
    click.echo(f"    by billing date: {_counts(summary.services_by_billing_date)}")
    click.echo(
        f"  orders: {summary.linked_orders + summary.unlinked_orders}"
        f" ({summary.unlinked_orders} not linked to a customer)"
    )
    click.echo(f"  settings added: {', '.join(summary.settings_added) or 'none'}")


def _echo_logins(logins: list[DemoLogin]) -> None:
    if not logins:
        click.echo("No demo staff logins exist in this database.")
        return
    click.echo("Demo logins (console at /admin/login):")
    for login in logins:
        click.echo(f"  {login.role:<8} {login.email:<32} password: {login.password}")


# --- billing -------------------------------------------------------------------------------


@billing_cli.command("run")
@click.option("--date", "run_date", required=True, type=ISO_DATE, help="Business date of the run.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Preview: run the same code, roll it back, and print totals per billing day.",
)
def billing_run_command(run_date, dry_run):
    """Invoice every service due by the date + 7 days, in this process, chunk by chunk.

    The run is recorded in the job run log (trigger "cli"); a preview is recorded as
    "invoice_run_preview" with dry_run=true and takes no invoice number. Exit 1 when any
    service failed.
    """
    business_date = run_date.date()
    if dry_run:
        with recorded_run(
            "invoice_run_preview",
            business_date=business_date,
            trigger_source="cli",
            parameters={"date": business_date.isoformat(), "dry_run": True},
        ) as counts:
            with click.progressbar(length=0, label="Chunks", show_pos=True) as bar:
                preview = run_invoices(
                    business_date,
                    actor=billing_jobs.INVOICE_RUN_ACTOR,
                    chunk_size=current_app.config["INVOICE_RUN_CHUNK_SIZE"],
                    dry_run=True,
                    on_chunk=_progress(bar),
                )
            counts.processed, counts.skipped = len(preview.issued), preview.skipped
            counts.failed, counts.failures = preview.failed, preview.failures
        _echo_preview(preview)
        failed = preview.failed
    else:
        with click.progressbar(length=0, label="Chunks", show_pos=True) as bar:
            run = billing_jobs.invoice_run_here(
                business_date.isoformat(), trigger_source="cli", on_chunk=_progress(bar)
            )
        click.echo(
            f"Invoice run {business_date}: {run.records_processed} invoices issued, "
            f"{run.records_skipped} services skipped, {run.records_failed} failed "
            f"({run.chunks_done}/{run.chunks_total} chunks; run log #{run.id}, {run.status})."
        )
        for failure in (run.error_details or {}).get("failures", []):
            click.echo(f"  failed: {failure}", err=True)
        failed = run.records_failed
    if failed:
        sys.exit(1)


def _progress(bar):
    def on_chunk(done: int, total: int) -> None:
        bar.length = total
        bar.update(1)

    return on_chunk


def _echo_preview(preview) -> None:
    click.echo(f"Invoice run preview for {preview.run_date} (rolled back, nothing written):")
    click.echo(f"  {'billing day':>11}  {'invoices':>8}  {'total':>14}")
    for billing_day, line in preview.totals_by_billing_day().items():
        click.echo(f"  {billing_day:>11}  {line['invoices']:>8}  {format_rand(line['total']):>14}")
    click.echo(f"  {'all':>11}  {len(preview.issued):>8}  {format_rand(preview.total_amount):>14}")
    click.echo(f"  services skipped: {preview.skipped}, failed: {preview.failed}")
    for failure in preview.failures:
        click.echo(f"  would fail: {failure}", err=True)


@billing_cli.command("overdue")
@click.option("--date", "run_date", required=True, type=ISO_DATE, help="Business date.")
def billing_overdue_command(run_date):
    """Mark invoices overdue as of the date (money due, past due date + grace)."""
    marked = billing_jobs.overdue_run(run_date.date().isoformat(), trigger_source="cli")
    click.echo(f"{marked} invoices marked overdue as of {run_date.date()}.")


@billing_cli.command("check")
def billing_check_command():
    """Check the books: balances equal ledger sums, invoices equal their allocations.

    Prints OK (exit 0) or every problem (exit 1).
    """
    problems = check_books()
    if not problems:
        click.echo("OK: every balance matches its ledger and every invoice its allocations.")
        return
    click.echo(f"{len(problems)} problem(s):", err=True)
    for problem in problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


@billing_cli.command("simulate")
@click.option("--from", "first", required=True, type=ISO_DATE, help="First day (inclusive).")
@click.option("--to", "last", required=True, type=ISO_DATE, help="Last day (inclusive).")
@click.option("--seed", default=DEFAULT_SEED, show_default=True, help="Customers' behaviour.")
@click.option("--pdfs", is_flag=True, help="Render invoice PDFs too (slow).")
def billing_simulate_command(first, last, seed, pdfs):
    """Run the daily jobs day by day from --from to --to with the business clock set, and
    let simulated customers pay. Exit 1 when any job or payment failed."""
    if last < first:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if not _simulate(first.date(), last.date(), seed=seed, pdfs=pdfs):
        sys.exit(1)


SIMULATED_RETURN_RATE = 0.03


def _simulate(first: date, last: date, *, seed: int, pdfs: bool) -> bool:
    from app.integrations.sandbox import SandboxesInUse, sandboxes_unless_configured
    from jobs.simulate import simulate_days

    started = time.monotonic()
    days = (last - first).days + 1
    app = current_app._get_current_object()
    try:
        with (
            sandboxes_unless_configured(app, attach=False) as running,
            click.progressbar(length=days, label="Days", show_pos=True) as bar,
        ):
            if running is not None:
                # Some simulated debit orders come back unpaid, as in life (mostly code 02).
                running.netcash.set_default_return_rate(SIMULATED_RETURN_RATE, seed)
            summary = simulate_days(
                first, last, seed=seed, render_pdfs=pdfs, on_day=lambda _day: bar.update(1)
            )
    except SandboxesInUse as error:
        raise click.ClickException(
            f"Stop the running server first: {error}. A simulation moves the business "
            "clock, which the running server and its sandboxes do not share."
        ) from None
    click.echo(
        f"Simulated {summary.days} days in {time.monotonic() - started:.1f} s: "
        f"{summary.invoices} invoices, {summary.payments} payments "
        f"({format_rand(summary.paid_total)})."
    )
    for failure in summary.failures[:50]:
        click.echo(f"  failed: {failure}", err=True)
    return not summary.failures


# --- keys ----------------------------------------------------------------------------------

keys_cli = AppGroup("keys", help="Encryption keys of stored bank and card details.")


@keys_cli.command("rotate")
@with_appcontext
def keys_rotate_command():
    """Re-encrypt every stored payment detail under the newest PAYMENT_DATA_KEYS key.

    Put the new key first in PAYMENT_DATA_KEYS (keeping the old ones after it), run this,
    then drop the old keys. Exit 1 when a stored detail fits none of the keys."""
    from app.billing.payment_data import rotate_payment_data

    try:
        rotated = rotate_payment_data()
        db.session.commit()
    except RuntimeError as error:
        db.session.rollback()
        click.echo(f"Nothing re-encrypted: {error}", err=True)
        sys.exit(1)
    click.echo(
        f"Re-encrypted {rotated} payment method(s) under the newest key; "
        "older keys can now be removed from PAYMENT_DATA_KEYS."
    )


# --- serving with the provider sandboxes -----------------------------------------------------


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host, port):
    """Serve the console and portal with the provider sandboxes on loopback (`make run`).

    Without provider URLs in the environment the NetCash, Interstellio, SMS and SMTP
    sandboxes start on SANDBOX_BASE_PORT and the following ports, keeping their state
    under instance/sandbox, and the app is pointed at them. Jobs run in-process after
    each commit unless REDIS_URL is set."""
    from werkzeug.serving import run_simple

    from app.integrations.sandbox import sandboxes_unless_configured

    app = current_app._get_current_object()
    if app.config.get("ENV_NAME") == "production":
        raise click.ClickException("Use gunicorn in production: gunicorn wsgi:app")
    app.config["PUBLIC_BASE_URL"] = f"http://{host}:{port}"
    with ExitStack() as stack:
        try:
            running = stack.enter_context(sandboxes_unless_configured(app))
        except OSError as error:
            raise click.ClickException(
                f"Could not start the provider sandboxes ({error}); is another `make run` "
                "running? Set SANDBOX_BASE_PORT to use other ports."
            ) from None
        if running is not None:
            for name, server in running.servers.items():
                click.echo(f"Sandbox {name}: {server.base_url}")
            click.echo(f"Sandbox SMTP sink: 127.0.0.1:{running.smtp_port}")
            click.echo(f"E-mails the app sends are kept in {app.config['SANDBOX_STATE_DIR']}/mail")
        run_simple(host, port, app, threaded=True, use_reloader=False)


# --- usage -----------------------------------------------------------------------------------

usage_cli = AppGroup("usage", help="Usage sync from Interstellio.")


@usage_cli.command("sync")
@click.option("--service", "service_id", type=int, help="Sync this service only (its id).")
def usage_sync_command(service_id):
    """Sync daily usage from Interstellio for every active service with a connection id
    (or one service), check the cap thresholds, and log the run (trigger "cli").

    In development without provider URLs the sandboxes are started for the command (as
    for `billing simulate`). Exit 1 when the service does not exist or any service failed.
    """
    from sqlalchemy import select

    from app.integrations.interstellio import is_configured
    from app.integrations.sandbox import sandboxes_unless_configured
    from app.models import CronExecutionLog, CustomerService
    from jobs import usage as usage_jobs

    if service_id is not None and db.session.get(CustomerService, service_id) is None:
        raise click.ClickException(f"No service with id {service_id}.")
    with ExitStack() as stack:
        try:
            stack.enter_context(sandboxes_unless_configured(current_app._get_current_object()))
        except OSError as error:
            raise click.ClickException(
                f"Could not start the provider sandboxes ({error}); is `make run` running? "
                "Set SANDBOX_BASE_PORT to use other ports."
            ) from None
        if not is_configured():
            raise click.ClickException("Interstellio is not configured (INTERSTELLIO_*).")
        if service_id is not None:
            job_name = usage_jobs.USAGE_SYNC_SERVICE_JOB
            counts = usage_jobs.usage_sync_service(service_id, "cli")
        else:
            job_name = usage_jobs.USAGE_SYNC_JOB
            with click.progressbar(length=0, label="Services", show_pos=True) as bar:
                counts = usage_jobs.usage_sync("cli", on_service=_progress(bar))
    run = db.session.scalar(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job_name, CronExecutionLog.trigger_source == "cli")
        .order_by(CronExecutionLog.id.desc())
        .limit(1)
    )
    click.echo(
        f"Usage sync: {counts['processed']} services synced, {counts['skipped']} skipped, "
        f"{counts['failed']} failed" + (f" (run log #{run.id}, {run.status})." if run else ".")
    )
    for failure in ((run.error_details or {}).get("failures", []) if run else [])[:50]:
        click.echo(f"  failed: {failure}", err=True)
    if counts["failed"]:
        sys.exit(1)


# --- debit orders ----------------------------------------------------------------------------

debit_orders_cli = AppGroup("debit-orders", help="NetCash debit orders: the run and the statement.")


def _debit_order_job(job, run_date) -> None:
    """Run a payments job for a date (trigger "cli"), print its run, exit 1 unless it
    completed."""
    from sqlalchemy import select

    from app.debit_orders import refuse_future_date
    from app.integrations.sandbox import sandboxes_unless_configured
    from app.models import CronExecutionLog

    day = run_date.date()
    try:
        refuse_future_date(day)
        # In development NetCash is the sandbox (that of a running `flask serve`, if any).
        with sandboxes_unless_configured(current_app._get_current_object()):
            job(day.isoformat(), "cli")
    except DomainError as error:
        db.session.rollback()
        _fail(error)
    run = db.session.scalar(
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == job.__name__, CronExecutionLog.trigger_source == "cli")
        .order_by(CronExecutionLog.id.desc())
        .limit(1)
    )
    click.echo(
        f"{job.__name__} {day}: {run.status}; {run.records_processed} processed, "
        f"{run.records_skipped} skipped, {run.records_failed} failed (run log #{run.id})."
    )
    for failure in (run.error_details or {}).get("failures", []):
        click.echo(f"  {failure}", err=True)
    if run.status != "completed":
        sys.exit(1)


@debit_orders_cli.command("run")
@click.option("--date", "run_date", required=True, type=ISO_DATE, help="Business date.")
def debit_orders_run_command(run_date):
    """The 06:00 run for a date: apply the day's collections, then build, upload and
    authorise the next TwoDay batch. Exit 1 when the run failed or was partial."""
    from jobs import payments as payment_jobs

    _debit_order_job(payment_jobs.debit_order_run, run_date)


@debit_orders_cli.command("statement")
@click.option("--date", "run_date", required=True, type=ISO_DATE, help="Business date.")
def debit_orders_statement_command(run_date):
    """The 09:00 statement job for a date: read the previous day's NetCash statement,
    confirm collections and reverse returns. Exit 1 when the run failed or was partial."""
    from jobs import payments as payment_jobs

    _debit_order_job(payment_jobs.netcash_statement_run, run_date)


# --- workers and the scheduler -------------------------------------------------------------


def _require_redis() -> None:
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException(
            "REDIS_URL is not set: without Redis, jobs run in-process after each commit."
        )


@click.command("worker")
@click.option(
    "--queues",
    "-q",
    default=None,
    help="Comma-separated queues, highest priority first (default: all).",
)
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option("--name", help="Worker name (default: RQ's random name).")
@with_appcontext
def worker_command(queues, burst, name):
    """Run an RQ worker: as many as wanted, on any machines (needs REDIS_URL)."""
    from jobs.dispatch import dispatcher
    from jobs.worker import QUEUE_ORDER, AppWorker

    _require_redis()
    jobs = dispatcher()
    names = [q.strip() for q in queues.split(",")] if queues else list(QUEUE_ORDER)
    try:
        rq_queues = [jobs.queue(q) for q in names]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--queues") from None
    worker = AppWorker(
        rq_queues,
        connection=jobs.redis,
        app=current_app._get_current_object(),
        name=name,
    )
    click.echo(f"Worker {worker.name} on {', '.join(q.name for q in rq_queues)}")
    worker.work(burst=burst, logging_level="INFO")


@click.command("scheduler")
@click.option(
    "--wait/--no-wait",
    default=True,
    help="Stand by while another scheduler holds the lock (default), or exit 1.",
)
@click.option("--once", is_flag=True, help="Queue today's due jobs once, then exit.")
@with_appcontext
def scheduler_command(wait, once):
    """Queue the daily jobs at their SAST times; exactly one scheduler runs (Redis lock)."""
    from jobs.dispatch import dispatcher
    from jobs.schedule import SCHEDULE
    from jobs.scheduler import Scheduler

    _require_redis()
    scheduler = Scheduler(dispatcher())
    if once:
        if not scheduler.lock.acquire():
            click.echo("Another scheduler holds the lock; nothing queued.", err=True)
            sys.exit(1)
        try:
            queued = scheduler.tick()
        finally:
            scheduler.lock.release()
        click.echo(f"Queued: {', '.join(queued) or 'nothing (not due, or already queued)'}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    click.echo("Daily jobs:")
    for job in SCHEDULE:
        click.echo(f"  {job.at:%H:%M} SAST  {job.name} (queue {job.queue})")
    # SIGTERM (docker stop, systemd) ends the loop the same way as Ctrl+C: lock released.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if not scheduler.run(wait=wait):
            click.echo("Another scheduler holds the lock; exiting (--no-wait).", err=True)
            sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Scheduler stopped.")


def register_cli(app: Flask) -> None:
    """Attach the command groups to the app."""
    app.cli.add_command(staff_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(billing_cli)
    app.cli.add_command(usage_cli)
    app.cli.add_command(debit_orders_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(keys_cli)
