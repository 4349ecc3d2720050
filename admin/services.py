"""Console view of services: descriptive edits, the lifecycle action pages (review the money
effect, then confirm), bulk suspend/reactivate, and each service's audit timeline.

Lifecycle actions are offered only where the service's state allows them and the user holds
the action's permission; the pages check the permission again, and the domain the state.
"""

from dataclasses import dataclass, field

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.helpers import get_redirect_target
from flask_admin.model.template import EndpointLinkRowAction
from sqlalchemy import select

from admin.formatters import format_rand, format_sast, render_changes
from admin.forms import (
    ActivateServiceForm,
    BulkReactivateForm,
    BulkSuspendForm,
    CancelServiceForm,
    ChangeServiceForm,
    GenerateInvoicesForm,
    ReactivateServiceForm,
    SuspendServiceForm,
    entered_values,
    show_domain_error,
    visible_fields,
)
from admin.timelines import (
    TIMELINE_EXPORT_MAX_ROWS,
    TIMELINE_PAGE_SIZE,
    read_timeline_filter,
    requested_page,
    timeline_csv,
    timeline_links,
)
from admin.views import (
    ConsoleModelView,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app import clock
from app.audit import latest_service_action_id, service_timeline_page, timeline_actions
from app.auth import actor_for_request
from app.billing.invoicing import generate_invoices_now
from app.billing.reports import describe_generation
from app.errors import Conflict, DomainError
from app.extensions import db
from app.lifecycle import (
    ALLOWED_FROM,
    OPERATIONS,
    perform_reviewed_action,
    preview_service_action,
)
from app.models import Customer, CustomerService
from app.models.services import SERVICE_STATUSES, SERVICE_TYPES

# Descriptive service fields a console edit may change. Price, fees, status and billing
# dates are absent on purpose: only the lifecycle actions change them (DESIGN §7).
SERVICE_DESCRIPTIVE_FIELDS = (
    "package_name",
    "speed_download",
    "speed_upload",
    "data_cap",
    "installation_address",
    "installation_suburb",
    "installation_city",
    "installation_province",
    "installation_postal_code",
    "latitude",
    "longitude",
    "connection_id",
    "provider_name",
    "provider_order_id",
    "router_model",
    "router_serial",
    "notes",
)
# A bulk action runs one transaction per service inside one request: keep it bounded.
BULK_ACTION_LIMIT = 200


@dataclass(frozen=True)
class LifecycleAction:
    """How the console offers one lifecycle action."""

    title: str
    permission: str
    icon: str
    done: str  # "Service suspended"
    form: type


LIFECYCLE_ACTIONS = {
    "activate": LifecycleAction(
        "Activate", "services:activate", "fa fa-play", "activated", ActivateServiceForm
    ),
    "suspend": LifecycleAction(
        "Suspend", "services:suspend", "fa fa-pause", "suspended", SuspendServiceForm
    ),
    "reactivate": LifecycleAction(
        "Reactivate", "services:activate", "fa fa-repeat", "reactivated", ReactivateServiceForm
    ),
    "cancel": LifecycleAction(
        "Cancel", "services:cancel", "fa fa-ban", "cancelled", CancelServiceForm
    ),
    "change": LifecycleAction(
        "Change package or price",
        "services:change",
        "fa fa-exchange",
        "changed",
        ChangeServiceForm,
    ),
}
BULK_FORMS = {"suspend": BulkSuspendForm, "reactivate": BulkReactivateForm}


def offered_actions(service: CustomerService) -> list[str]:
    """The lifecycle actions the service's state allows and the logged-in user may take."""
    return [
        name
        for name, spec in LIFECYCLE_ACTIONS.items()
        if service.status in ALLOWED_FROM[name] and staff_can(spec.permission)
    ]


class StateRowAction(EndpointLinkRowAction):
    """A row icon for a lifecycle action, shown only on rows whose state allows it."""

    def __init__(self, name: str):
        spec = LIFECYCLE_ACTIONS[name]
        super().__init__(
            spec.icon,
            ".service_action",
            title=spec.title,
            id_arg="service_id",
            url_args={"action_name": name},
        )
        self.allowed_from = ALLOWED_FROM[name]

    def render(self, context, row_id, row):
        if row.status not in self.allowed_from:
            return ""
        return super().render(context, row_id, row)


@dataclass
class BulkOutcome:
    """What a bulk action did to one selected service."""

    service_id: int
    account_number: str
    package_name: str
    refused: str | None = None
    effects: list[str] = field(default_factory=list)


class ServiceView(ConsoleModelView):
    """Services: descriptive details are edited here; lifecycle actions change the rest."""

    change_permission = "customers:edit"
    edit_fields = SERVICE_DESCRIPTIVE_FIELDS
    details_template = "admin/services/service_details.html"

    column_list = (
        "customer",
        "package_name",
        "service_type",
        "status",
        "monthly_price",
        "billing_date",
        "next_billing_date",
        "connection_id",
        "activation_date",
    )
    column_searchable_list = (
        "package_name",
        "connection_id",
        "provider_order_id",
        "installation_address",
        "customer.account_number",
        "customer.email",
        "customer.last_name",
    )
    column_filters = (
        choice_filter(CustomerService.status, SERVICE_STATUSES),
        choice_filter(CustomerService.service_type, SERVICE_TYPES),
        "billing_date",
        "provider_name",
        "next_billing_date",
    )
    column_formatters = {"customer": customer_link}

    def get_list_row_actions(self):
        actions = [
            *super().get_list_row_actions(),
            *(
                StateRowAction(name)
                for name, spec in LIFECYCLE_ACTIONS.items()
                if staff_can(spec.permission)
            ),
        ]
        if staff_can("audit:view"):
            actions.append(
                EndpointLinkRowAction(
                    "fa fa-history", ".service_timeline", title="Timeline", id_arg="service_id"
                )
            )
        actions.append(
            EndpointLinkRowAction(
                "fa fa-bar-chart", "usage_watch.service_usage", title="Usage", id_arg="service_id"
            )
        )
        return actions

    def is_action_allowed(self, name):
        if not has_request_context():
            return False
        if name == "generate_invoices":
            return staff_can("billing:manage")
        if name in BULK_FORMS:
            return staff_can(LIFECYCLE_ACTIONS[name].permission)
        return super().is_action_allowed(name)

    def render(self, template, **kwargs):
        # The details page offers the actions the service's state and the user allow.
        if template == self.details_template and kwargs.get("model") is not None:
            kwargs["offered_actions"] = offered_actions(kwargs["model"])
            kwargs["lifecycle_actions"] = LIFECYCLE_ACTIONS
            kwargs["can_see_audit"] = staff_can("audit:view")
        return super().render(template, **kwargs)

    def _service(self, service_id: int) -> CustomerService:
        service = db.session.get(CustomerService, service_id)
        if service is None:
            abort(404)
        return service

    # --- one action on one service: form, review, confirm -------------------------------

    @expose(
        f"/<int:service_id>/<any({', '.join(LIFECYCLE_ACTIONS)}):action_name>",
        methods=("GET", "POST"),
    )
    def service_action(self, service_id, action_name):
        """An action's form: "Review" shows its money effect (rolled back), "Confirm" does it."""
        spec = LIFECYCLE_ACTIONS[action_name]
        require_permission(spec.permission)
        service = self._service(service_id)
        form = spec.form()
        step = request.form.get("step") if request.method == "POST" else None
        effects = None
        if request.method == "GET":
            form.last_action_seen.data = latest_service_action_id(service.id)
        elif step in ("review", "confirm") and form.validate_on_submit():
            arguments = {
                "last_action_seen": form.last_action_seen.data,
                "actor": actor_for_request(),
                "reason": form.reason.data,
                **form.options(),
            }
            try:
                if step == "review":
                    effects = preview_service_action(service, action_name, **arguments)
                else:
                    result = perform_reviewed_action(service, action_name, **arguments)
                    db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
                if isinstance(error, Conflict):
                    # Whatever the person reviewed is stale: the next review starts afresh.
                    form.last_action_seen.data = latest_service_action_id(service.id)
                    form.last_action_seen.raw_data = []
            else:
                if step == "confirm":
                    flash(
                        f"Service {spec.done}: {service.package_name} "
                        f"({service.customer.account_number}). "
                        + "; ".join(result.document_effects()),
                        "success",
                    )
                    return redirect(self._return_url(service))
        return self.render(
            "admin/services/service_action.html",
            service=service,
            spec=spec,
            form=form,
            effects=effects,
            entered=entered_values(form) if effects is not None else None,
            carried=[
                (field.name, value)
                for field in visible_fields(form)
                for value in (field.raw_data or [])
            ],
            back_url=self._return_url(service),
            format_rand=format_rand,
        )

    @staticmethod
    def _return_url(service: CustomerService) -> str:
        return get_redirect_target() or url_for(
            "customers.customer_page", customer_id=service.customer_id
        )

    # --- bulk actions on the selected services --------------------------------------------

    @action(
        "suspend",
        "Suspend",
        "Suspend the selected services? You will be asked for a reason.",
    )
    def action_suspend(self, ids):
        """Ask for the reason on its own page, carrying the selected ids."""
        return redirect(url_for(".bulk_action", action_name="suspend", ids=ids))

    @action(
        "reactivate",
        "Reactivate",
        "Reactivate the selected services? You will be asked for a reason.",
    )
    def action_reactivate(self, ids):
        """Ask for the reason on its own page, carrying the selected ids."""
        return redirect(url_for(".bulk_action", action_name="reactivate", ids=ids))

    @expose("/bulk/<action_name>", methods=("GET", "POST"))
    def bulk_action(self, action_name):
        """Suspend or reactivate the selected services with one reason; report each outcome."""
        if action_name not in BULK_FORMS:
            abort(404)
        spec = LIFECYCLE_ACTIONS[action_name]
        require_permission(spec.permission)
        service_ids = request.args.getlist("ids", type=int)
        if not service_ids:
            flash("Select the services first.", "error")
            return redirect(self.get_url(".index_view"))
        if len(service_ids) > BULK_ACTION_LIMIT:
            flash(f"Select at most {BULK_ACTION_LIMIT} services at a time.", "error")
            return redirect(self.get_url(".index_view"))
        form = BULK_FORMS[action_name]()
        outcomes = None
        if form.validate_on_submit():
            outcomes = self._perform_each(action_name, service_ids, form)
            done = sum(1 for outcome in outcomes if outcome.refused is None)
            flash(
                f"{done} of {len(outcomes)} selected service(s) {spec.done}; "
                f"{len(outcomes) - done} refused.",
                "success" if done == len(outcomes) else "warning",
            )
        return self.render(
            "admin/services/bulk_action.html",
            spec=spec,
            form=form,
            services=self._selected(service_ids),
            outcomes=outcomes,
            format_rand=format_rand,
        )

    @staticmethod
    def _selected(service_ids: list[int]) -> list[tuple[CustomerService, str]]:
        return db.session.execute(
            select(CustomerService, Customer.account_number)
            .join(Customer, Customer.id == CustomerService.customer_id)
            .where(CustomerService.id.in_(service_ids))
            .order_by(Customer.account_number, CustomerService.id)
        ).all()

    def _perform_each(self, action_name: str, service_ids: list[int], form) -> list[BulkOutcome]:
        """One commit per service, so a refused or failing service leaves the others done
        and no transaction holds many customers' rows at once."""
        actor = actor_for_request()
        outcomes = [
            BulkOutcome(service.id, account_number, service.package_name)
            for service, account_number in self._selected(service_ids)
        ]
        for outcome in outcomes:
            try:
                result = OPERATIONS[action_name](
                    db.session.get(CustomerService, outcome.service_id),
                    actor=actor,
                    reason=form.reason.data,
                    **form.options(),
                )
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                outcome.refused = error.message
            else:
                outcome.effects = result.document_effects()
        return outcomes

    # --- the service's audit timeline -------------------------------------------------------

    @expose("/<int:service_id>/timeline")
    def service_timeline(self, service_id):
        """Who did what to the service, when (SAST) and why, with each field's change."""
        require_permission("audit:view")
        service = self._service(service_id)
        form, timeline_filter = read_timeline_filter(timeline_actions(service_id=service.id))
        page_number = requested_page()
        page = service_timeline_page(
            service.id,
            timeline_filter,
            limit=TIMELINE_PAGE_SIZE,
            offset=page_number * TIMELINE_PAGE_SIZE,
        )
        return self.render(
            "admin/audit_timeline.html",
            title=f"Timeline of {service.package_name}",
            subtitle=f"{service.customer} · service #{service.id} · {service.status}",
            links=[
                ("Service details", self.get_url(".details_view", id=service.id)),
                (
                    "Customer page",
                    url_for("customers.customer_page", customer_id=service.customer_id),
                ),
            ],
            form=form,
            page=page,
            show_subject=False,
            format_sast=format_sast,
            render_changes=render_changes,
            **timeline_links(page, page_number, ".service_timeline_csv"),
        )

    @expose("/<int:service_id>/timeline.csv")
    def service_timeline_csv(self, service_id):
        """The service's timeline as CSV, filtered like the page (formula cells escaped)."""
        require_permission("audit:view")
        service = self._service(service_id)
        _, timeline_filter = read_timeline_filter(timeline_actions(service_id=service.id))
        page = service_timeline_page(
            service.id, timeline_filter, limit=TIMELINE_EXPORT_MAX_ROWS, offset=0
        )
        return timeline_csv(f"service-{service.id}-timeline.csv", page.entries)

    # --- invoicing selected services now -----------------------------------------------------

    @action(
        "generate_invoices",
        "Generate invoices now",
        "Invoice the selected services' due periods now? You will be asked for a reason.",
    )
    def action_generate_invoices(self, ids):
        """Ask for the reason on its own page, carrying the selected ids."""
        return redirect(url_for(".generate_invoices", ids=ids))

    @expose("/generate-invoices/", methods=("GET", "POST"))
    def generate_invoices(self):
        """Invoice the selected services' due periods now, with a reason; show each outcome."""
        require_permission("billing:manage")
        service_ids = request.args.getlist("ids", type=int)
        if not service_ids:
            flash("Select the services to invoice first.", "error")
            return redirect(self.get_url(".index_view"))
        form = GenerateInvoicesForm()
        outcomes = None
        if form.validate_on_submit():
            try:
                result = generate_invoices_now(
                    service_ids,
                    run_date=clock.today(),
                    actor=actor_for_request(),
                    reason=form.reason.data,
                )
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                outcomes = describe_generation(service_ids, result)
                flash(
                    f"{len(result.issued)} invoice(s) issued for {len(service_ids)} "
                    "selected service(s).",
                    "success",
                )
        return self.render(
            "admin/billing/generate_invoices.html",
            form=form,
            services=self._selected(service_ids),
            outcomes=outcomes,
            format_rand=format_rand,
        )
