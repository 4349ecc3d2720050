"""Console views of customers and what hangs off them: the customer page and the customer's
audit timeline, usage, billing profiles, suspensions and website orders (services have
their own module)."""

import re
from datetime import timedelta

from flask import abort, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.filters import FilterEmpty
from markupsafe import Markup
from sqlalchemy import func, select

from admin.formatters import balance_wording, format_rand, format_sast, render_changes
from admin.services import LIFECYCLE_ACTIONS, ServiceView, offered_actions
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
from app.accounts import EDITABLE_CUSTOMER_FIELDS, create_customer, normalise_phone, update_customer
from app.audit import customer_timeline, customer_timeline_page, timeline_actions
from app.errors import InvalidInput
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
from app.models.services import SUSPENSION_TYPES
from app.models.usage import USAGE_SOURCES

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
        customer = self._customer(customer_id)
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
            timeline=customer_timeline(customer_id, limit=CUSTOMER_PAGE_ROWS),
            format_rand=format_rand,
            format_sast=format_sast,
            render_changes=render_changes,
            can_edit_services=staff_can(ServiceView.change_permission),
            can_see_audit=staff_can("audit:view"),
            offered_actions=offered_actions,
            lifecycle_actions=LIFECYCLE_ACTIONS,
        )

    def _customer(self, customer_id: int) -> Customer:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        return customer

    @expose("/<int:customer_id>/timeline")
    def customer_timeline_view(self, customer_id):
        """Everything audited on the customer's account and services, filterable and paged."""
        require_permission("audit:view")
        customer = self._customer(customer_id)
        form, timeline_filter = read_timeline_filter(timeline_actions(customer_id=customer.id))
        page_number = requested_page()
        page = customer_timeline_page(
            customer.id,
            timeline_filter,
            limit=TIMELINE_PAGE_SIZE,
            offset=page_number * TIMELINE_PAGE_SIZE,
        )
        return self.render(
            "admin/audit_timeline.html",
            title=f"Timeline of {customer.full_name}",
            subtitle=customer.account_number,
            links=[("Customer page", self.get_url(".customer_page", customer_id=customer.id))],
            form=form,
            page=page,
            show_subject=True,
            format_sast=format_sast,
            render_changes=render_changes,
            **timeline_links(page, page_number, ".customer_timeline_csv"),
        )

    @expose("/<int:customer_id>/timeline.csv")
    def customer_timeline_csv(self, customer_id):
        """The customer's timeline as CSV, filtered like the page (formula cells escaped)."""
        require_permission("audit:view")
        customer = self._customer(customer_id)
        _, timeline_filter = read_timeline_filter(timeline_actions(customer_id=customer.id))
        page = customer_timeline_page(
            customer.id, timeline_filter, limit=TIMELINE_EXPORT_MAX_ROWS, offset=0
        )
        return timeline_csv(f"{customer.account_number}-timeline.csv", page.entries)


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
