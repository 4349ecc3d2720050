"""Customers → Usage watch: services whose usage feed has gone quiet for 48 hours, services
near their cap, and one page per service with its current cycle and "Sync usage now"."""

from decimal import Decimal

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_wtf import FlaskForm
from sqlalchemy import or_, select

from admin.formatters import format_sast
from admin.forms import reason_field, show_domain_error
from admin.views import ConsolePage, require_permission, staff_can
from app import clock
from app.auth import actor_for_request
from app.billing.invoicing import describe_span
from app.errors import DomainError
from app.extensions import db
from app.models import CronExecutionLog, CustomerService
from app.usage import (
    SYNCABLE_ON_DEMAND,
    USAGE_SYNC_SERVICE_JOB,
    request_usage_sync,
    services_near_cap,
    stale_usage_feeds,
    usage_summary,
)

# Syncing by hand is support work on a service, like editing its details.
SYNC_PERMISSION = "customers:edit"
RECENT_RUNS = 5


def format_mb(megabytes: Decimal | None) -> str:
    """`1 234.56 MB`, or `12.06 GB` from 1 GB (1 GB = 1024 MB, as Interstellio counts)."""
    if megabytes is None:
        return ""
    if megabytes >= 1024:
        return f"{megabytes / 1024:,.2f} GB".replace(",", " ")
    return f"{megabytes:,.2f} MB".replace(",", " ")


class SyncUsageForm(FlaskForm):
    reason = reason_field("Why usage is synced by hand; recorded in the audit log.")


class UsageWatchView(ConsolePage):
    """The usage feed and caps: stale feeds, services near their cap, a page per service."""

    @expose("/")
    def index(self):
        """The 48-hour watch list, capped services at 80 % or more, and the last sync runs."""
        query = (request.args.get("q") or "").strip()
        if query:
            found = self._find(query)
            if found is not None:
                return redirect(self.get_url(".service_usage", service_id=found.id))
            flash(f"No service with id or connection id {query!r}.", "error")
        today = clock.today()
        return self.render(
            "admin/usage/index.html",
            today=today,
            stale=stale_usage_feeds(today),
            near_cap=services_near_cap(today),
            runs=db.session.scalars(
                select(CronExecutionLog)
                .where(CronExecutionLog.job_name == "usage_sync")
                .order_by(CronExecutionLog.id.desc())
                .limit(RECENT_RUNS)
            ).all(),
            query=query,
            format_mb=format_mb,
            format_sast=format_sast,
            describe_span=describe_span,
        )

    @expose("/service/<int:service_id>")
    def service_usage(self, service_id):
        """The service's current calendar cycle: each day, the total, the cap and alerts."""
        return self._render_service(self._service(service_id), SyncUsageForm())

    @expose("/service/<int:service_id>/sync", methods=("POST",))
    def sync_service(self, service_id):
        """Sync the service's usage now, with a reason; the result shows on its page."""
        require_permission(SYNC_PERMISSION)
        service = self._service(service_id)
        form = SyncUsageForm()
        if not form.validate_on_submit():
            return self._render_service(service, form)
        try:
            entry = request_usage_sync(service, actor=actor_for_request(), reason=form.reason.data)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return self._render_service(service, form)
        # Without Redis the sync has already run (after the commit); with it, it is queued.
        run = last_sync_run(service.id, since=entry.created_at)
        if run is None:
            flash("Usage sync queued; reload this page to see its result.", "info")
        elif run.status == "completed":
            flash(f"Usage synced (run #{run.id}).", "success")
        else:
            flash(f"Usage sync {run.status} (run #{run.id}): {run_error(run)}", "error")
        return redirect(self.get_url(".service_usage", service_id=service.id))

    def _render_service(self, service: CustomerService, form: SyncUsageForm):
        summary = usage_summary(service, clock.today())
        return self.render(
            "admin/usage/service.html",
            service=service,
            summary=summary,
            form=form,
            may_sync=staff_can(SYNC_PERMISSION),
            syncable=bool(service.connection_id) and service.status in SYNCABLE_ON_DEMAND,
            last_run=last_sync_run(service.id),
            run_error=run_error,
            customer_url=url_for("customers.customer_page", customer_id=service.customer_id),
            format_mb=format_mb,
            format_sast=format_sast,
            describe_span=describe_span,
        )

    @staticmethod
    def _service(service_id: int) -> CustomerService:
        service = db.session.get(CustomerService, service_id)
        if service is None:
            abort(404)
        return service

    @staticmethod
    def _find(query: str) -> CustomerService | None:
        conditions = [CustomerService.connection_id == query]
        if query.isdigit():
            conditions.append(CustomerService.id == int(query))
        return db.session.scalars(
            select(CustomerService).where(or_(*conditions)).order_by(CustomerService.id).limit(1)
        ).first()


def last_sync_run(service_id: int, since=None) -> CronExecutionLog | None:
    """The newest on-demand sync run of a service (optionally started at or after `since`)."""
    statement = (
        select(CronExecutionLog)
        .where(CronExecutionLog.job_name == USAGE_SYNC_SERVICE_JOB)
        .order_by(CronExecutionLog.id.desc())
        .limit(50)
    )
    if since is not None:
        statement = statement.where(CronExecutionLog.execution_start >= since)
    for run in db.session.scalars(statement):
        if (run.execution_details or {}).get("service_id") == service_id:
            return run
    return None


def run_error(run: CronExecutionLog) -> str:
    failures = (run.error_details or {}).get("failures") or []
    return run.error_message or "; ".join(str(f.get("error", f)) for f in failures)
