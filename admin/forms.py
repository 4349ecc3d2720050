"""The console's action forms: each change of money or a run carries a required reason.

The forms only parse input; the billing domain decides what is allowed and its errors are
shown on the field they name (`show_domain_error`).
"""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from app.errors import DomainError
from app.models.payments import PAYMENT_CHANNELS

REASON_REQUIRED = "A reason is required."
PAYMENT_METHOD_LABELS = {
    "eft": "EFT",
    "cash": "Cash",
    "card": "Card",
    "debit_order": "Debit order",
    "other": "Other",
}


def reason_field(description: str = "Recorded in the audit log with the change.") -> TextAreaField:
    return TextAreaField(
        "Reason",
        validators=[DataRequired(message=REASON_REQUIRED)],
        description=description,
    )


def show_domain_error(form: FlaskForm, error: DomainError) -> None:
    """Put a refused action's message on the field it names, or flash it for the form."""
    field = form._fields.get(error.field) if error.field else None
    if field is not None and getattr(field.widget, "input_type", None) != "hidden":
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


class InvoiceRunDateForm(FlaskForm):
    """The date to preview (a GET form: it changes nothing, so it carries no CSRF token)."""

    class Meta:
        csrf = False

    date = DateField("Run date", validators=[InputRequired()])


class StartInvoiceRunForm(FlaskForm):
    # The previewed date travels with the form, hidden.
    date = DateField(widget=HiddenInput(), validators=[InputRequired()])
    reason = reason_field("Why the run is started by hand; recorded in the audit log.")


class GenerateInvoicesForm(FlaskForm):
    reason = reason_field()


class RecordPaymentForm(FlaskForm):
    amount = DecimalField("Amount (R)", places=2, validators=[InputRequired()])
    method = SelectField(
        "Method",
        choices=[
            (method, PAYMENT_METHOD_LABELS.get(method, method)) for method in PAYMENT_CHANNELS
        ],
        default="eft",
    )
    payment_date = DateField("Payment date", validators=[InputRequired()])
    reference = StringField(
        "Reference",
        validators=[Optional(), Length(max=100)],
        description="Bank statement reference or receipt number.",
    )
    reason = reason_field()
    # Generated when the form is first shown: a double submit carries the same key and
    # records one payment (DESIGN §5.5).
    idempotency_key = HiddenField(validators=[DataRequired()])


class CreditNoteForm(FlaskForm):
    amount = DecimalField("Amount to credit, incl. VAT (R)", places=2, validators=[InputRequired()])
    reason = reason_field("Printed on the credit note and recorded in the audit log.")


class CancelInvoiceForm(FlaskForm):
    reason = reason_field("Printed on the credit note and recorded in the audit log.")
    confirm = BooleanField(
        "I confirm: cancel this invoice with a credit note for everything not yet credited.",
        validators=[DataRequired(message="Tick the box to confirm the cancellation.")],
    )
