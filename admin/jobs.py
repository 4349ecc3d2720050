"""Operations → Run a job: every scheduled job, when it runs, its last run, and a form to
start it by hand with a reason (DESIGN §6: each job can be started from the console).

The page only parses and authorises; `request_manual_job` audits the request and the job
runs after the commit (on a worker, or in-process without Redis) and records its run.
"""

from datetime import date

from flask import abort, flash, redirect
from flask_admin import expose
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DateField, HiddenField
from wtforms.validators import DataRequired, Optional

from admin.formatters import format_sast
from admin.forms import reason_field, show_domain_error
from admin.views import ConsolePage, require_permission, staff_can
from app import clock
from app.auth import actor_for_request
from app.errors import DomainError
from app.extensions import db
from app.job_requests import request_manual_job
from app.models import CronExecutionLog
from jobs.schedule import INTERVAL_JOBS, SCHEDULE, DailyJob, IntervalJob

# Jobs that move money or documents need billing:manage; the rest (usage, outbox senders,
# provider calls) support staff may start too.
MONEY_QUEUES = ("billing", "payments")


def permission_for(job: DailyJob | IntervalJob) -> str:
    return "billing:manage" if job.queue in MONEY_QUEUES else "customers:edit"


def describe(job: DailyJob | IntervalJob) -> str:
    if isinstance(job, DailyJob):
        return f"daily at {job.at:%H:%M} SAST"
    minutes = int(job.every.total_seconds() // 60)
    return "every minute" if minutes == 1 else f"every {minutes} minutes"


def summary_line(job) -> str:
    doc = (job.function.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


class RunJobForm(FlaskForm):
    job = HiddenField(validators=[DataRequired()])
    date = DateField("Business date", validators=[Optional()])
    reason = reason_field("Recorded in the audit log; the run appears under Job runs.")


class JobsPage(ConsolePage):
    """The schedule, the last run of each job, and starting a job by hand."""

    @expose("/")
    def index(self):
        """Every job with its schedule and last run; a form per job for whoever may start it."""
        return self._render({})

    @expose("/run", methods=("POST",))
    def run(self):
        """Start one job now (daily jobs for a business date), with a reason."""
        form = RunJobForm()
        job = _job_named(form.job.data)
        if job is None:
            abort(404)
        require_permission(permission_for(job))
        if not form.validate_on_submit():
            return self._render({job.name: form})
        if isinstance(job, DailyJob):
            day: date = form.date.data or clock.today()
            args = (day.isoformat(), "manual")
        else:
            args = ("manual",)
        try:
            request_manual_job(
                job.name, args, queue=job.queue, actor=actor_for_request(), reason=form.reason.data
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return self._render({job.name: form})
        flash(f"{job.name} started; its run is listed under Job runs.", "success")
        return redirect(self.get_url(".index"))

    def _render(self, forms: dict):
        jobs = [*SCHEDULE, *INTERVAL_JOBS]
        last_runs = _last_runs([job.name for job in jobs])
        rows = []
        for job in jobs:
            form = forms.get(job.name) or RunJobForm(
                formdata=None, data={"job": job.name, "date": clock.today()}
            )
            rows.append(
                {
                    "job": job,
                    "daily": isinstance(job, DailyJob),
                    "when": describe(job),
                    "summary": summary_line(job),
                    "last_run": last_runs.get(job.name),
                    "may_run": staff_can(permission_for(job)),
                    "form": form,
                }
            )
        return self.render("admin/jobs.html", rows=rows, format_sast=format_sast)


def _job_named(name: str | None):
    return next((job for job in [*SCHEDULE, *INTERVAL_JOBS] if job.name == name), None)


def _last_runs(names: list[str]) -> dict[str, CronExecutionLog]:
    """The newest run of each job, in one query."""
    newest = (
        select(CronExecutionLog.job_name, func.max(CronExecutionLog.id).label("id"))
        .where(CronExecutionLog.job_name.in_(names))
        .group_by(CronExecutionLog.job_name)
        .subquery()
    )
    runs = db.session.scalars(
        select(CronExecutionLog).join(newest, CronExecutionLog.id == newest.c.id)
    ).all()
    return {run.job_name: run for run in runs}
