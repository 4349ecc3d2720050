"""Console pages of debit orders (DESIGN §5.9, §7): batches with their file (account numbers
masked), load report and items; the returns; NetCash's postbacks and statement lines; and
"Add debit order" for a customer, which starts the NetCash eMandate and shows its link.

Lists are read-only: batches change only through the jobs. Adding a debit order needs
`customers:edit` (it changes how the customer pays, like the other profile edits) and a
reason, written to the audit log with the new method.
"""

from decimal import Decimal

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, DecimalField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from admin.formatters import format_rand, format_sast
from admin.forms import reason_field, show_domain_error
from admin.payments import DebitOrderBatchView, DebitOrderItemView
from admin.views import (
    ConsoleModelView,
    ConsolePage,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app.auth import actor_for_request
from app.billing.calendar import BILLING_DAYS
from app.debit_orders import batch_name, masked_batch_file, unpaid_reason
from app.errors import DomainError
from app.extensions import db
from app.models import (
    Customer,
    CustomerInvoice,
    CustomerPaymentMethod,
    DebitOrderItem,
    NetcashPostback,
    NetcashStatementLine,
)
from app.models.payments import POSTBACK_KINDS, POSTBACK_OUTCOMES, STATEMENT_LINE_OUTCOMES
from app.payment_methods import (
    BANK_ACCOUNT_TYPES,
    DEFAULT_HOLIDAY_OPTION,
    UNIVERSAL_BRANCH_CODES,
    add_debit_order,
    monthly_amount,
)

ADD_PERMISSION = "customers:edit"
HOLIDAY_OPTION_LABELS = {
    "next": "Next business day (never before the due date)",
    "preceding": "Preceding business day",
}


def invoice_link(view, context, model, name):
    """The row's invoice by number, linking to the invoice."""
    invoice = db.session.get(CustomerInvoice, model.invoice_id)
    label = invoice.invoice_number if invoice is not None else f"#{model.invoice_id}"
    return Markup('<a href="{}">{}</a>').format(
        url_for("invoices.details_view", id=model.invoice_id), label or "(unnumbered)"
    )


def batch_link(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        url_for("debit_order_batches.details_view", id=model.batch_id), f"#{model.batch_id}"
    )


class DebitOrderBatchConsoleView(DebitOrderBatchView):
    """Batches: what was sent to NetCash for which action date, and how it went."""

    details_template = "admin/debit_orders/batch_details.html"
    column_list = ("id", *DebitOrderBatchView.column_list)
    column_formatters = {
        "id": lambda view, context, model, name: batch_name(model),
    }
    column_labels = {"id": "Batch"}

    def render(self, template, **kwargs):
        # The details page shows the file, the load report and every item of the batch.
        if template == self.details_template and kwargs.get("model") is not None:
            batch = kwargs["model"]
            kwargs["batch_name"] = batch_name(batch)
            kwargs["file_preview"] = masked_batch_file(batch.file)
            kwargs["items"] = db.session.execute(
                select(DebitOrderItem, CustomerInvoice, Customer)
                .join(CustomerInvoice, CustomerInvoice.id == DebitOrderItem.invoice_id)
                .join(Customer, Customer.id == DebitOrderItem.customer_id)
                .where(DebitOrderItem.batch_id == batch.id)
                .order_by(DebitOrderItem.line_reference, DebitOrderItem.id)
            ).all()
            kwargs["format_rand"] = format_rand
            kwargs["format_sast"] = format_sast
        return super().render(template, **kwargs)


class DebitOrderItemConsoleView(DebitOrderItemView):
    """Every collection attempt: invoice, customer, amount, attempt, status, return."""

    column_list = (
        "batch_id",
        "customer_id",
        "invoice_id",
        "amount",
        "action_date",
        "attempt_number",
        "status",
        "return_code",
        "return_reason",
        "next_attempt_date",
    )
    column_labels = {
        **DebitOrderItemView.column_labels,
        "attempt_number": "Attempt",
        "return_code": "Code",
        "return_reason": "Return reason",
        "next_attempt_date": "Next attempt",
    }
    column_formatters = {
        "customer_id": customer_link,
        "invoice_id": invoice_link,
        "batch_id": batch_link,
    }


class DebitOrderReturnView(DebitOrderItemConsoleView):
    """Returned collections (unpaids) with their code: retried (02, 22) or mandate ended."""

    column_default_sort = ("updated_at", True)

    def get_query(self):
        return super().get_query().filter(DebitOrderItem.status == "returned")

    def get_count_query(self):
        return super().get_count_query().filter(DebitOrderItem.status == "returned")


class NetcashPostbackView(ConsoleModelView):
    """Every eMandate and Pay Now postback and what was done with it; refused ones (wrong
    secret or amount, unknown reference) changed nothing else."""

    column_list = ("created_at", "kind", "outcome", "reference", "customer_id", "message")
    column_details_list = (*column_list, "request_trace", "payload")
    column_labels = {"customer_id": "Customer", "created_at": "Received"}
    column_searchable_list = ("reference", "request_trace", "message")
    column_filters = (
        choice_filter(NetcashPostback.kind, POSTBACK_KINDS),
        choice_filter(NetcashPostback.outcome, POSTBACK_OUTCOMES),
    )
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("created_at", True)


class NetcashStatementLineView(ConsoleModelView):
    """NetCash statement lines acted on: collections confirmed or returned, Pay Now taken."""

    column_list = (
        "statement_date",
        "code",
        "transaction_id",
        "description",
        "amount",
        "sign",
        "extra1",
        "unpaid_code",
        "outcome",
        "customer_id",
        "message",
    )
    column_labels = {"extra1": "Reference", "customer_id": "Customer"}
    column_searchable_list = ("transaction_id", "extra1", "description")
    column_filters = (
        choice_filter(NetcashStatementLine.outcome, STATEMENT_LINE_OUTCOMES),
        "code",
        "statement_date",
    )
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("statement_date", True)


class AddDebitOrderForm(FlaskForm):
    bank_name = SelectField(
        "Bank",
        choices=[(bank, bank) for bank in sorted(UNIVERSAL_BRANCH_CODES)] + [("Other", "Other")],
    )
    branch_code = StringField(
        "Branch code",
        validators=[Optional(), Length(max=10)],
        description="Leave empty for the bank's universal branch code.",
    )
    account_number = StringField(
        "Account number",
        validators=[DataRequired(), Length(max=30)],
        render_kw={"autocomplete": "off"},
    )
    account_type = SelectField(
        "Account type",
        choices=[(kind, kind.capitalize()) for kind in BANK_ACCOUNT_TYPES],
        default="current",
    )
    holder_name = StringField("Account holder", validators=[DataRequired(), Length(max=100)])
    debit_day = SelectField(
        "Debit day", coerce=int, choices=[(day, str(day)) for day in BILLING_DAYS]
    )
    holiday_option = SelectField(
        "When the debit day is not a business day",
        choices=list(HOLIDAY_OPTION_LABELS.items()),
        default=DEFAULT_HOLIDAY_OPTION,
    )
    mandate_amount = DecimalField(
        "Mandate amount (R)",
        places=2,
        validators=[Optional(), NumberRange(min=Decimal("0.01"))],
        description="The usual monthly debit; empty: what the customer's services cost a month.",
    )
    make_primary = BooleanField("Make it the primary payment method", default=True)
    auto_pay = BooleanField(
        "Collect the customer's invoices by debit order (auto-pay)", default=True
    )
    reason = reason_field()


class DebitOrderMethodPage(ConsolePage):
    """Adding a debit order for a customer, and the state of its mandate."""

    def is_visible(self):
        return False  # reached from the customer page

    @expose("/")
    def index(self):
        return redirect(url_for("payment_methods.index_view"))

    def _customer(self, customer_id: int) -> Customer:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            abort(404)
        return customer

    @expose("/customer/<int:customer_id>/add", methods=("GET", "POST"))
    def add_view(self, customer_id):
        """Add a bank account to debit; NetCash's mandate link goes to the customer."""
        require_permission(ADD_PERMISSION)
        customer = self._customer(customer_id)
        form = AddDebitOrderForm()
        if request.method == "GET":
            form.holder_name.data = customer.company_name or customer.full_name
            if customer.billing:
                form.debit_day.data = customer.billing.preferred_billing_date
        if form.validate_on_submit():
            try:
                method = add_debit_order(
                    customer,
                    bank_name=form.bank_name.data,
                    branch_code=form.branch_code.data,
                    account_number=form.account_number.data,
                    account_type=form.account_type.data,
                    holder_name=form.holder_name.data,
                    debit_day=form.debit_day.data,
                    holiday_option=form.holiday_option.data,
                    mandate_amount=form.mandate_amount.data,
                    make_primary=form.make_primary.data,
                    auto_pay=form.auto_pay.data,
                    actor=actor_for_request(),
                    reason=form.reason.data,
                )
                method_id = method.id
                db.session.commit()  # NetCash is asked for the mandate once this commits
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
            else:
                flash(
                    f"Debit order added for {customer}; the mandate goes to the customer.",
                    "success",
                )
                return redirect(self.get_url(".mandate_view", method_id=method_id))
        return self.render(
            "admin/debit_orders/add_debit_order.html",
            customer=customer,
            form=form,
            monthly=format_rand(monthly_amount(customer)),
        )

    @expose("/<int:method_id>")
    def mandate_view(self, method_id):
        """A debit-order method: its mandate's status and the link the customer signs at."""
        method = db.session.get(CustomerPaymentMethod, method_id)
        if method is None or method.method_type != "debit_order":
            abort(404)
        items = db.session.scalars(
            select(DebitOrderItem)
            .where(DebitOrderItem.payment_method_id == method.id)
            .order_by(DebitOrderItem.id.desc())
            .limit(50)
        ).all()
        return self.render(
            "admin/debit_orders/mandate.html",
            method=method,
            customer=method.customer,
            items=items,
            format_rand=format_rand,
            format_sast=format_sast,
            unpaid_reason=unpaid_reason,
            can_add=staff_can(ADD_PERMISSION),
        )
