"""Console views of operations and logs (read-only), and of the two things the console edits
besides customers and services: operator settings and staff users."""

from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from admin.formatters import render_changes
from admin.views import ConsoleModelView, choice_filter, customer_link
from app.audit import changed_fields
from app.auth import (
    EDITABLE_STAFF_FIELDS,
    MIN_PASSWORD_LENGTH,
    create_staff_user,
    update_staff_user,
)
from app.models import (
    CronExecutionLog,
    DunningAction,
    ProviderTask,
    ServiceActionLog,
    StaffUser,
    ValidationError,
)
from app.models.ops import DUNNING_RULES, JOB_STATUSES, TRIGGER_SOURCES
from app.models.orders import VALIDATION_ERROR_TYPES
from app.models.outbox import PROVIDER_TASK_STATUSES
from app.models.services import SERVICE_ACTION_TYPES
from app.models.staff import STAFF_ROLES

# A one-time code travels in the message body; staff must not be able to read it back.


def audit_changes(view, context, model, name):
    return render_changes(changed_fields(model.before, model.after))


def service_action_changes(view, context, model, name):
    changes = changed_fields(model.previous_data, model.new_data)
    if model.previous_status != model.new_status and "status" not in changes:
        changes["status"] = (model.previous_status, model.new_status)
    return render_changes(changes)


class AuditLogView(ConsoleModelView):
    """Every console change: who, when, why, before and after (append-only)."""

    view_permission = "audit:view"
    column_list = (
        "created_at",
        "actor",
        "action",
        "entity_type",
        "entity_id",
        "customer_id",
        "reason",
    )
    column_details_list = (*column_list, "changes", "before", "after", "ip_address")
    column_export_list = (*column_list, "before", "after")
    column_labels = {"customer_id": "Customer", "created_at": "When"}
    column_searchable_list = ("actor", "reason", "entity_type", "entity_id")
    column_filters = ("entity_type", "action", "actor", "created_at", "customer_id")
    column_formatters = {"customer_id": customer_link, "changes": audit_changes}


class ServiceActionLogView(ConsoleModelView):
    """Every service action (activate, suspend, ...), with its reason and status change."""

    view_permission = "audit:view"
    column_list = (
        "created_at",
        "actor",
        "action_type",
        "service",
        "customer_id",
        "previous_status",
        "new_status",
        "reason",
    )
    column_details_list = (*column_list, "notes", "changes", "previous_data", "new_data")
    column_export_list = (*column_list, "notes")
    column_labels = {"customer_id": "Customer", "created_at": "When"}
    column_searchable_list = ("actor", "reason")
    column_filters = (
        choice_filter(ServiceActionLog.action_type, SERVICE_ACTION_TYPES),
        "actor",
        "created_at",
        "service_id",
    )
    column_formatters = {"customer_id": customer_link, "changes": service_action_changes}


class JobRunView(ConsoleModelView):
    """One row per job run, with its counts and errors."""

    column_list = (
        "job_name",
        "business_date",
        "execution_start",
        "duration_seconds",
        "status",
        "records_processed",
        "records_failed",
        "records_skipped",
        "trigger_source",
        "triggered_by",
    )
    column_searchable_list = ("job_name", "error_message", "triggered_by")
    column_filters = (
        "job_name",
        choice_filter(CronExecutionLog.status, JOB_STATUSES),
        choice_filter(CronExecutionLog.trigger_source, TRIGGER_SOURCES),
        "business_date",
    )
    column_default_sort = ("execution_start", True)


class ProviderTaskView(ConsoleModelView):
    """Calls to outside providers waiting, done or failed."""

    column_list = (
        "created_at",
        "provider",
        "action",
        "service_id",
        "customer_id",
        "status",
        "attempts",
        "last_error",
        "completed_at",
    )
    column_labels = {"customer_id": "Customer", "service_id": "Service"}
    column_filters = (
        "provider",
        "action",
        choice_filter(ProviderTask.status, PROVIDER_TASK_STATUSES),
    )
    column_formatters = {"customer_id": customer_link}


class DunningActionView(ConsoleModelView):
    """Dunning rules applied to invoices (each once per invoice and attempt)."""

    column_list = ("acted_on", "invoice_id", "customer_id", "rule", "attempt", "outcome")
    column_labels = {"customer_id": "Customer", "invoice_id": "Invoice"}
    column_filters = (choice_filter(DunningAction.rule, DUNNING_RULES), "acted_on")
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("acted_on", True)


class ValidationErrorView(ConsoleModelView):
    """Data problems found by checks and imports, until someone resolves them."""

    column_list = (
        "created_at",
        "table_name",
        "record_id",
        "error_type",
        "error_message",
        "suggested_fix",
        "resolved",
    )
    column_searchable_list = ("record_id", "error_message")
    column_filters = (
        choice_filter(ValidationError.error_type, VALIDATION_ERROR_TYPES),
        "table_name",
        "resolved",
    )


class SettingView(ConsoleModelView):
    """Operator settings in force from a date (VAT rate, terms, dunning rules, branding)."""

    change_permission = "settings:edit"
    create_fields = ("key", "value", "effective_from", "description")
    edit_fields = ("value", "effective_from", "description")
    column_list = ("key", "value", "effective_from", "description", "updated_at")
    column_searchable_list = ("key", "description")
    column_filters = ("key", "effective_from")
    column_default_sort = [("key", False), ("effective_from", True)]


class StaffUserView(ConsoleModelView):
    """Staff accounts and roles; administrators only."""

    view_permission = "staff:manage"
    change_permission = "staff:manage"
    create_fields = ("email", "name", "role", "password")
    edit_fields = EDITABLE_STAFF_FIELDS
    column_list = ("email", "name", "role", "is_active", "last_login_at", "created_at")
    column_details_list = (*column_list, "updated_at")
    column_searchable_list = ("email", "name")
    column_filters = (choice_filter(StaffUser.role, STAFF_ROLES), "is_active")
    form_choices = {"role": [(role, role.title()) for role in STAFF_ROLES]}
    form_extra_fields = {
        **ConsoleModelView.form_extra_fields,
        "password": PasswordField(
            "Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)]
        ),
    }

    def create_record(self, changes, *, actor, reason):
        return create_staff_user(actor=actor, reason=reason, **changes)

    def update_record(self, record, changes, *, actor, reason):
        return update_staff_user(record, actor=actor, reason=reason, **changes)
