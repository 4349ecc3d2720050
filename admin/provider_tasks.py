"""Console view of the provider-task outbox: what waits, what failed, and a "Retry" action
(with a required reason) for a failed or waiting task."""

from flask import abort, flash, redirect
from flask_admin import expose
from flask_admin.helpers import get_redirect_target
from flask_admin.model.template import EndpointLinkRowAction
from flask_wtf import FlaskForm

from admin.formatters import format_sast
from admin.forms import reason_field, show_domain_error
from admin.operations import ProviderTaskView
from admin.views import require_permission, staff_can
from app.auth import actor_for_request
from app.errors import DomainError
from app.extensions import db
from app.models import ProviderTask
from app.provider_tasks import (
    MAX_ATTEMPTS,
    RETRYABLE_STATUSES,
    newer_task,
    pending_task_counts,
    retry_provider_task,
)

# Retrying re-sends a subscriber enable/disable: the support staff's service work.
RETRY_PERMISSION = "customers:edit"


class RetryTaskForm(FlaskForm):
    reason = reason_field("Why the task is tried again; recorded in the audit log.")


class RetryRowAction(EndpointLinkRowAction):
    """The row's "Retry" icon, only on tasks that are failed or still waiting."""

    def __init__(self):
        super().__init__("fa fa-repeat", ".retry_task", title="Retry", id_arg="task_id")

    def render(self, context, row_id, row):
        if row.status not in RETRYABLE_STATUSES:
            return ""
        return super().render(context, row_id, row)


class ProviderTaskConsoleView(ProviderTaskView):
    """Calls to outside providers: how many wait or failed, and "Retry" on those tasks."""

    list_template = "admin/provider_tasks/list.html"
    column_details_list = (
        *ProviderTaskView.column_list,
        "payload",
        "next_attempt_at",
        "dedupe_key",
        "updated_at",
    )

    def get_list_row_actions(self):
        actions = list(super().get_list_row_actions())
        if staff_can(RETRY_PERMISSION):
            actions.append(RetryRowAction())
        return actions

    def render(self, template, **kwargs):
        if template == self.list_template:
            kwargs["task_counts"] = pending_task_counts()
            kwargs["status_filter_url"] = self._status_filter_url
        return super().render(template, **kwargs)

    def _status_filter_url(self, status: str) -> str:
        """The list filtered to one status (named filter URLs: `flt0_status_equals`)."""
        return self.get_url(".index_view", flt0_status_equals=status)

    @expose("/<int:task_id>/retry", methods=("GET", "POST"))
    def retry_task(self, task_id):
        """Ask for a reason, then put the task back in the queue; it runs after commit."""
        require_permission(RETRY_PERMISSION)
        task = db.session.get(ProviderTask, task_id)
        if task is None:
            abort(404)
        form = RetryTaskForm()
        if form.validate_on_submit():
            try:
                retry_provider_task(task, actor=actor_for_request(), reason=form.reason.data)
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                # Without Redis the task has already been attempted; with it, it is queued.
                task = db.session.get(ProviderTask, task_id)
                outcome = {
                    "done": ("done", "success"),
                    "failed": (f"failed again: {task.last_error}", "error"),
                }.get(task.status, ("queued for the next attempt", "info"))
                flash(f"Task #{task.id} ({task.action}) retried: {outcome[0]}", outcome[1])
                return redirect(get_redirect_target() or self.get_url(".index_view"))
        return self.render(
            "admin/provider_tasks/retry.html",
            task=task,
            form=form,
            replaced_by=newer_task(task),
            retryable=task.status in RETRYABLE_STATUSES,
            max_attempts=MAX_ATTEMPTS,
            back_url=get_redirect_target() or self.get_url(".index_view"),
            format_sast=format_sast,
        )
