"""Console views of customers and what hangs off them: the customer page, services, usage,
billing profiles, suspensions and website orders."""

import re
from datetime import timedelta

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEmpty
from markupsafe import Markup
from sqlalchemy import func, select

from admin.formatters import balance_wording, format_rand, format_sast, render_changes
from admin.forms import GenerateInvoicesForm, show_domain_error
from admin.views import (
    ConsoleModelView,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app import clock
from app.accounts import EDITABLE_CUSTOMER_FIELDS, create_customer, normalise_phone, update_customer
from app.audit import customer_timeline
from app.auth import actor_for_request
from app.billing.invoicing import generate_invoices_now
from app.billing.reports import describe_generation
from app.errors import DomainError, InvalidInput
from app.extensions import db
from app.models import (
    ConsumerOrder,
    CreditNote,
    Customer,
    CustomerInvoice,
    CustomerPaymentMethod,
    CustomerService,
    PaymentTransaction,
    ServiceSuspension,
    UsageHistory,
)
from app.models.customers import ACCOUNT_STATUSES, ACCOUNT_TYPES
from app.models.orders import ORDER_SOURCES, ORDER_STATUSES
from app.models.services import SERVICE_STATUSES, SERVICE_TYPES, SUSPENSION_TYPES
from app.models.usage import USAGE_SOURCES

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
# How many rows of each kind the customer page shows (newest first).
CUSTOMER_PAGE_ROWS = 50
USAGE_WINDOW_DAYS = 30
PHONE_LIKE = re.compile(r"\+?[\d\s()-]{7,}")


def customer_page_link(view, context, model, name):
    """The account number, linking to the customer page."""
    return Markup('<a href="{}">{}</a>').format(
        url_for("customers.customer_page", customer_id=model.id), model.account_number
    )


def balance_formatter(view, context, model, name):
    return balance_wording(model.billing.account_balance) if model.billing else ""


def phone_as_stored(search: str) -> str:
    """A phone number typed as "082 555 0101" searches as stored: "+27825550101"."""
    if not PHONE_LIKE.fullmatch(search.strip()):
        return search
    try:
        return normalise_phone(search) or search
    except InvalidInput:
        return search


class CustomerView(ConsoleModelView):
    """Customers: find one by name, e-mail, phone or account number; one page each."""

    change_permission = "customers:edit"
    create_fields = EDITABLE_CUSTOMER_FIELDS
    edit_fields = EDITABLE_CUSTOMER_FIELDS

    column_list = (
        "account_number",
        "first_name",
        "last_name",
        "email",
        "phone",
        "account_status",
        "account_type",
        "billing.account_balance",
        "created_at",
    )
    column_export_list = (*column_list, "legacy_account_number", "company_name", "vat_number")
    column_labels = {"billing.account_balance": "Balance"}
    column_searchable_list = (
        "account_number",
        "legacy_account_number",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company_name",
    )
    column_filters = (
        choice_filter(Customer.account_status, ACCOUNT_STATUSES),
        choice_filter(Customer.account_type, ACCOUNT_TYPES),
        "created_at",
    )
    column_formatters = {
        "account_number": customer_page_link,
        "billing.account_balance": balance_formatter,
    }
    form_choices = {"account_type": [(value, value.title()) for value in ACCOUNT_TYPES]}

    def create_record(self, changes, *, actor, reason):
        return create_customer(actor=actor, reason=reason, **changes)

    def update_record(self, record, changes, *, actor, reason):
        return update_customer(record, actor=actor, reason=reason, **changes)

    def get_save_return_url(self, model, is_created=False):
        return url_for(".customer_page", customer_id=model.id)

    def _apply_search(self, query, count_query, joins, count_joins, search):
        return super()._apply_search(
            query, count_query, joins, count_joins, phone_as_stored(search)
        )

    @expose("/details/")
    def details_view(self):
        """The customer's details are the customer page."""
        customer_id = request.args.get("id", type=int)
        if customer_id is None:
            abort(404)
        return redirect(url_for(".customer_page", customer_id=customer_id))

    @expose("/<int:customer_id>/")
    def customer_page(self, customer_id):
        """Everything about one customer: profile, balance, services, money and audit."""
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        newest_invoices = (
            select(CustomerInvoice)
            .where(CustomerInvoice.customer_id == customer_id)
            .order_by(CustomerInvoice.invoice_date.desc(), CustomerInvoice.id.desc())
            .limit(CUSTOMER_PAGE_ROWS)
        )
        newest_payments = (
            select(PaymentTransaction)
            .where(PaymentTransaction.customer_id == customer_id)
            .order_by(PaymentTransaction.payment_date.desc(), PaymentTransaction.id.desc())
            .limit(CUSTOMER_PAGE_ROWS)
        )
        newest_credit_notes = (
            select(CreditNote)
            .where(CreditNote.customer_id == customer_id)
            .order_by(CreditNote.credit_note_date.desc(), CreditNote.id.desc())
            .limit(CUSTOMER_PAGE_ROWS)
        )
        usage_since = clock.today() - timedelta(days=USAGE_WINDOW_DAYS)
        recent_usage = (
            select(UsageHistory.service_id, func.sum(UsageHistory.total_mb))
            .where(UsageHistory.customer_id == customer_id, UsageHistory.date >= usage_since)
            .group_by(UsageHistory.service_id)
        )
        return self.render(
            "admin/customer_page.html",
            customer=customer,
            balance=balance_wording(customer.billing.account_balance if customer.billing else None),
            services=db.session.scalars(
                select(CustomerService)
                .where(CustomerService.customer_id == customer_id)
                .order_by(CustomerService.id)
            ).all(),
            usage_by_service=dict(db.session.execute(recent_usage).all()),
            usage_window_days=USAGE_WINDOW_DAYS,
            invoices=db.session.scalars(newest_invoices).all(),
            credit_notes=db.session.scalars(newest_credit_notes).all(),
            payments=db.session.scalars(newest_payments).all(),
            payment_methods=db.session.scalars(
                select(CustomerPaymentMethod)
                .where(CustomerPaymentMethod.customer_id == customer_id)
                .order_by(
                    CustomerPaymentMethod.is_active.desc(),
                    CustomerPaymentMethod.is_primary.desc(),
                    CustomerPaymentMethod.id,
                )
            ).all(),
            timeline=customer_timeline(customer_id),
            format_rand=format_rand,
            format_sast=format_sast,
            render_changes=render_changes,
            can_edit_services=staff_can(ServiceView.change_permission),
        )


class ServiceView(ConsoleModelView):
    """Services: descriptive details are edited here; lifecycle actions change the rest."""

    change_permission = "customers:edit"
    edit_fields = SERVICE_DESCRIPTIVE_FIELDS

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

    def is_action_allowed(self, name):
        if name == "generate_invoices":
            return has_request_context() and staff_can("billing:manage")
        return super().is_action_allowed(name)

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
            services=db.session.execute(
                select(CustomerService, Customer.account_number)
                .join(Customer, Customer.id == CustomerService.customer_id)
                .where(CustomerService.id.in_(service_ids))
                .order_by(Customer.account_number, CustomerService.id)
            ).all(),
            outcomes=outcomes,
            format_rand=format_rand,
        )


class CustomerBillingView(ConsoleModelView):
    """Billing profiles: balance, credit limit, auto-pay and delivery preferences."""

    column_list = (
        "customer",
        "account_balance",
        "credit_limit",
        "preferred_billing_date",
        "auto_pay_enabled",
        "email_invoices_enabled",
        "sms_notifications_enabled",
        "billing_email",
        "billing_phone",
    )
    column_searchable_list = ("customer.account_number", "customer.email", "billing_email")
    column_filters = ("auto_pay_enabled", "preferred_billing_date")
    column_formatters = {"customer": customer_link}
    column_default_sort = ("id", False)


class UsageView(ConsoleModelView):
    """Daily data usage per service (megabytes)."""

    column_list = (
        "date",
        "customer_id",
        "service_id",
        "download_mb",
        "upload_mb",
        "total_mb",
        "source",
        "synced_at",
    )
    column_labels = {"customer_id": "Customer", "service_id": "Service"}
    column_filters = (
        "date",
        "service_id",
        "customer_id",
        choice_filter(UsageHistory.source, USAGE_SOURCES),
    )
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("date", True)


class SuspensionView(ConsoleModelView):
    """Suspensions of services, open and closed."""

    column_list = (
        "service",
        "customer_id",
        "suspension_type",
        "reason",
        "skip_billing",
        "suspended_at",
        "reactivated_at",
    )
    column_labels = {"customer_id": "Customer"}
    column_filters = (
        choice_filter(ServiceSuspension.suspension_type, SUSPENSION_TYPES),
        FilterEmpty(ServiceSuspension.reactivated_at, "Still open (reactivated at empty)"),
        "suspended_at",
    )
    column_searchable_list = ("reason",)
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("suspended_at", True)


class OrderView(ConsoleModelView):
    """Website orders and their link to a customer (empty: not yet matched)."""

    column_list = (
        "order_number",
        "customer",
        "email",
        "first_name",
        "last_name",
        "phone",
        "package_name",
        "package_price",
        "status",
        "payment_date",
        "source",
    )
    column_searchable_list = ("order_number", "email", "first_name", "last_name", "phone")
    column_filters = (
        choice_filter(ConsumerOrder.status, ORDER_STATUSES),
        choice_filter(ConsumerOrder.source, ORDER_SOURCES),
        FilterEmpty(ConsumerOrder.customer_id, "No customer linked"),
        "payment_date",
    )
    column_formatters = {"customer": customer_link}
