"""The admin JSON API (/api/admin): service lifecycle actions, a service's audit trail, a
customer's billing view and "generate invoices now" (DESIGN §5.7, §7).

Staff session auth: anonymous → 401, a principal without the permission → 403. Each view
parses its input, checks the permission, calls one domain function and serialises; an
action commits once on success, and any error rolls the whole request back.
"""

from collections.abc import Callable
from functools import wraps

from flask import Blueprint, current_app, jsonify
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.api import serializers
from app.api.errors import ApiError
from app.api.inputs import MAX_ID, Fields, fields_error, json_object, page_args, pagination
from app.audit import service_action_history
from app.auth import actor_for_request, has_permission
from app.billing.invoicing import generate_invoices_now, run_invoices
from app.billing.summary import account_summary
from app.extensions import db
from app.lifecycle import (
    activate_service,
    cancel_service,
    change_service,
    reactivate_service,
    suspend_service,
)
from app.models import Customer, CustomerInvoice, CustomerService

admin_api = Blueprint("admin_api", __name__, url_prefix="/admin")

REASON_REQUIRED = "A reason is required."


def staff_permission_required(permission: str):
    """Let through only a logged-in staff user whose role grants `permission`."""

    def decorate(view):
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                raise ApiError(401, "Log in as staff to use the admin API.")
            if not has_permission(current_user, permission):
                raise ApiError(403, f"This needs the {permission} permission.")
            return view(*args, **kwargs)

        return guarded

    return decorate


def _customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id) if customer_id <= MAX_ID else None
    if customer is None:
        raise ApiError(404, "No such customer.")
    return customer


def _service_of(customer: Customer, service_id: int) -> CustomerService:
    """The customer's service; another customer's service is as unknown as a missing one."""
    service = db.session.get(CustomerService, service_id) if service_id <= MAX_ID else None
    if service is None or service.customer_id != customer.id:
        message = "This customer has no such service."
        raise ApiError(404, message, {"service_id": message})
    return service


def _service_action(customer_id: int, operation: Callable, read_options: Callable) -> tuple:
    """Run one lifecycle operation on the customer's service and commit it.

    `read_options(fields)` reads the action's own fields into the operation's keyword
    arguments. A second submission of the same action meets the state check (409).
    """
    customer = _customer(customer_id)
    fields = Fields(json_object())
    service_id = fields.integer("service_id", required=True)
    reason = fields.text("reason", required=True, missing=REASON_REQUIRED)
    notes = fields.text("notes")
    options = read_options(fields)
    fields.done()
    service = _service_of(customer, service_id)
    result = operation(service, actor=actor_for_request(), reason=reason, notes=notes, **options)
    db.session.commit()  # numbers the new invoices and credit notes
    return jsonify(serializers.action_result(result, clock.today()))


@admin_api.post("/customers/<int:customer_id>/services/activate")
@staff_permission_required("services:activate")
def activate(customer_id: int):
    """Activate a pending service: pro-rata invoice from the activation date (default today)."""
    return _service_action(
        customer_id,
        activate_service,
        lambda fields: {"activation_date": fields.iso_date("activation_date")},
    )


@admin_api.post("/customers/<int:customer_id>/services/suspend")
@staff_permission_required("services:suspend")
def suspend(customer_id: int):
    """Suspend an active service; with skip_billing (default) credit periods invoiced ahead."""
    return _service_action(
        customer_id,
        suspend_service,
        lambda fields: {
            "suspension_type": fields.text("suspension_type", required=True),
            "skip_billing": fields.boolean("skip_billing", default=True),
        },
    )


@admin_api.post("/customers/<int:customer_id>/services/reactivate")
@staff_permission_required("services:activate")
def reactivate(customer_id: int):
    """Reactivate a suspended service: pro-rata invoice when skipped periods left days unbilled."""
    return _service_action(customer_id, reactivate_service, lambda fields: {})


@admin_api.post("/customers/<int:customer_id>/services/cancel")
@staff_permission_required("services:cancel")
def cancel(customer_id: int):
    """Cancel a service: credit invoiced days from the cancellation date, bill unbilled ones."""
    return _service_action(
        customer_id,
        cancel_service,
        lambda fields: {"cancellation_date": fields.iso_date("cancellation_date")},
    )


@admin_api.post("/customers/<int:customer_id>/services/change")
@staff_permission_required("services:change")
def change(customer_id: int):
    """Change package, price or billing day from the effective date (credit old, charge new)."""
    return _service_action(
        customer_id,
        change_service,
        lambda fields: {
            "effective_date": fields.iso_date("effective_date"),
            "monthly_price": fields.money("monthly_price"),
            "package_name": fields.text("package_name", max_length=200),
            "billing_date": fields.integer("billing_date", minimum=1, maximum=31),
        },
    )


@admin_api.get("/customers/<int:customer_id>/services/<int:service_id>/audit")
@staff_permission_required("audit:view")
def service_audit(customer_id: int, service_id: int):
    """The service's action log, newest first: who, when, what, why and the fields changed."""
    service = _service_of(_customer(customer_id), service_id)
    limit, offset = page_args()
    page = service_action_history(service.id, limit=limit, offset=offset)
    return jsonify(
        {
            "service": {"id": service.id, "status": service.status},
            "entries": [serializers.service_action(log, user) for log, user in page.entries],
            "pagination": pagination(page.total, limit, offset),
        }
    )


@admin_api.get("/customers/<int:customer_id>/billing")
@staff_permission_required("customers:view")
def customer_billing(customer_id: int):
    """The customer's balance, totals, open invoices, recent payments and services."""
    summary = account_summary(_customer(customer_id), clock.today())
    return jsonify(serializers.account_summary(summary))


@admin_api.post("/billing/generate-invoices-now")
@staff_permission_required("billing:manage")
def generate_invoices():
    """Invoice the periods due by the horizon now: the given services, or every due one."""
    fields = Fields(json_object())
    service_ids = fields.id_list("service_ids")
    run_date = fields.iso_date("date")
    reason = fields.text("reason", required=True, missing=REASON_REQUIRED)
    dry_run = fields.boolean("dry_run", default=False)
    fields.done()
    if service_ids is not None:
        known = set(
            db.session.scalars(
                select(CustomerService.id).where(CustomerService.id.in_(service_ids))
            )
        )
        unknown = [service_id for service_id in service_ids if service_id not in known]
        if unknown:
            raise fields_error(
                {"service_ids": f"No such services: {', '.join(map(str, unknown))}."}
            )
    run_date = run_date or clock.today()
    actor = actor_for_request()
    if service_ids is None:  # the whole run, chunk by chunk (each chunk commits)
        result = run_invoices(
            run_date,
            actor=actor,
            chunk_size=current_app.config["INVOICE_RUN_CHUNK_SIZE"],
            dry_run=dry_run,
            reason=reason,
        )
    else:
        result = generate_invoices_now(service_ids, run_date=run_date, actor=actor, reason=reason)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()  # numbers the invoices
    numbers = {}
    if not dry_run and result.issued:
        numbers = dict(
            db.session.execute(
                select(CustomerInvoice.id, CustomerInvoice.invoice_number).where(
                    CustomerInvoice.id.in_([item.invoice_id for item in result.issued])
                )
            ).all()
        )
    return jsonify(
        serializers.invoice_run(
            result,
            numbers,
            scope="all_due" if service_ids is None else "selected",
            dry_run=dry_run,
        )
    )
