"""Console views of payments, payment methods (masked), Pay Now requests and debit orders:
read-only; payments are recorded and reversed by the payments domain. Staff with
`payment_methods:view_full` may reveal a method's details, with a reason (audited)."""

from flask import abort, make_response
from flask_admin import expose
from flask_admin.model.template import EndpointLinkRowAction
from flask_wtf import FlaskForm

from admin.forms import reason_field, show_domain_error
from admin.views import (
    ConsoleModelView,
    choice_filter,
    customer_link,
    require_permission,
    staff_can,
)
from app.auth import actor_for_request
from app.errors import DomainError
from app.extensions import db
from app.models import (
    CustomerPaymentMethod,
    DebitOrderBatch,
    DebitOrderItem,
    PaymentRequest,
    PaymentTransaction,
)
from app.models.payments import (
    BATCH_STATUSES,
    ITEM_STATUSES,
    MANDATE_STATUSES,
    PAYMENT_CHANNELS,
    PAYMENT_METHOD_TYPES,
    PAYMENT_REQUEST_STATUSES,
    PAYMENT_STATUSES,
)
from app.payment_methods import reveal_payment_details


class PaymentView(ConsoleModelView):
    """Payments received or attempted, with provider references and failures."""

    column_list = (
        "transaction_id",
        "customer",
        "payment_date",
        "method",
        "amount",
        "status",
        "provider_reference",
        "failure_code",
        "actor",
    )
    column_searchable_list = (
        "transaction_id",
        "provider_reference",
        "customer.account_number",
        "customer.email",
    )
    column_filters = (
        choice_filter(PaymentTransaction.status, PAYMENT_STATUSES),
        choice_filter(PaymentTransaction.method, PAYMENT_CHANNELS),
        "payment_date",
    )
    column_formatters = {"customer": customer_link}
    column_default_sort = ("payment_date", True)


REVEAL_PERMISSION = "payment_methods:view_full"


class RevealDetailsForm(FlaskForm):
    reason = reason_field("Why you need the full details; recorded in the audit log.")


class PaymentMethodView(ConsoleModelView):
    """Payment methods, masked: the display name and last four digits, never the details."""

    # Listed explicitly (not scaffolded) so that a new column is never shown by accident;
    # `encrypted_details` is also refused globally by the base view.
    column_list = (
        "customer",
        "method_type",
        "display_name",
        "last_four",
        "bank_name",
        "mandate_status",
        "debit_day",
        "is_primary",
        "is_active",
    )
    column_details_list = (
        *column_list,
        "mandate_reference",
        "mandate_signed_at",
        "holiday_option",
        "max_debit_amount",
        "deactivated_at",
        "created_at",
        "updated_at",
    )
    column_export_list = column_details_list
    column_searchable_list = ("display_name", "mandate_reference", "customer.account_number")
    column_filters = (
        choice_filter(CustomerPaymentMethod.method_type, PAYMENT_METHOD_TYPES),
        choice_filter(CustomerPaymentMethod.mandate_status, MANDATE_STATUSES),
        "is_active",
        "is_primary",
    )
    column_formatters = {"customer": customer_link}

    def get_list_row_actions(self):
        actions = list(super().get_list_row_actions())
        if staff_can(REVEAL_PERMISSION):
            actions.append(
                EndpointLinkRowAction(
                    "fa fa-eye", ".reveal", title="Reveal details", id_arg="method_id"
                )
            )
        return actions

    @expose("/<int:method_id>/reveal", methods=("GET", "POST"))
    def reveal(self, method_id):
        """Show a method's full details once, after a reason; the reveal is audited."""
        require_permission(REVEAL_PERMISSION)
        method = db.session.get(CustomerPaymentMethod, method_id)
        if method is None:
            abort(404)
        form = RevealDetailsForm()
        details = None
        if form.validate_on_submit():
            try:
                details = reveal_payment_details(
                    method, actor=actor_for_request(), reason=form.reason.data
                )
                db.session.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
        response = make_response(
            self.render("admin/payments/reveal.html", method=method, form=form, details=details)
        )
        # Revealed details must not stay in a browser or proxy cache.
        response.headers["Cache-Control"] = "no-store"
        return response


class PaymentRequestView(ConsoleModelView):
    """Pay Now links sent to customers (their shared secret is never shown)."""

    column_list = (
        "reference",
        "customer_id",
        "invoice_id",
        "amount_requested",
        "status",
        "paid_at",
        "created_at",
    )
    column_labels = {"customer_id": "Customer", "invoice_id": "Invoice"}
    column_searchable_list = ("reference",)
    column_filters = (choice_filter(PaymentRequest.status, PAYMENT_REQUEST_STATUSES), "paid_at")
    column_formatters = {"customer_id": customer_link}


class DebitOrderBatchView(ConsoleModelView):
    """NetCash debit-order batches and their state."""

    # The batch file itself lists customers' bank account numbers: not shown or exported.
    column_list = (
        "action_date",
        "instruction",
        "status",
        "item_count",
        "total_amount",
        "submitted_at",
        "authorised_at",
        "error_message",
    )
    column_details_list = (*column_list, "upload_token", "load_report", "created_at")
    column_export_list = column_list
    column_filters = (choice_filter(DebitOrderBatch.status, BATCH_STATUSES), "action_date")
    column_default_sort = ("action_date", True)


class DebitOrderItemView(ConsoleModelView):
    """One collection attempt per invoice inside a batch."""

    column_list = (
        "batch_id",
        "customer_id",
        "invoice_id",
        "amount",
        "action_date",
        "attempt_number",
        "status",
        "return_code",
        "next_attempt_date",
    )
    column_labels = {"batch_id": "Batch", "customer_id": "Customer", "invoice_id": "Invoice"}
    column_filters = (
        "batch_id",
        choice_filter(DebitOrderItem.status, ITEM_STATUSES),
        "action_date",
        "return_code",
    )
    column_formatters = {"customer_id": customer_link}
    column_default_sort = ("action_date", True)
