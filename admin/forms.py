"""The console's action forms: each change of money or a run carries a required reason.

The forms only parse input; the billing domain decides what is allowed and its errors are
shown on the field they name (`show_domain_error`).
"""

from datetime import date
from decimal import Decimal

from flask import flash
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import HiddenInput

from admin.formatters import format_rand
from app import clock
from app.billing.calendar import BILLING_DAYS
from app.errors import DomainError
from app.lifecycle import BACKDATE_LIMIT_DAYS
from app.models.payments import PAYMENT_CHANNELS
from app.models.services import SUSPENSION_TYPES

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


# --- Service lifecycle actions ----------------------------------------------------------------

SUSPENSION_TYPE_CHOICES = [(kind, kind.replace("_", " ").capitalize()) for kind in SUSPENSION_TYPES]


def notes_field() -> TextAreaField:
    return TextAreaField(
        "Notes",
        validators=[Optional(), Length(max=2000)],
        description="Optional; kept with the action in the service's timeline.",
    )


def action_date_field(label: str) -> DateField:
    return DateField(
        label,
        validators=[InputRequired()],
        default=clock.today,
        description=f"Today, or backdated by up to {BACKDATE_LIMIT_DAYS} days.",
    )


def suspension_type_field() -> SelectField:
    return SelectField("Suspension type", choices=SUSPENSION_TYPE_CHOICES, default="other")


def skip_billing_field() -> BooleanField:
    return BooleanField(
        "Skip billing while suspended",
        default=True,
        description="Periods already invoiced ahead are credited; the current one is not.",
    )


def _day_or_none(value) -> int | None:
    return None if value in (None, "", "None") else int(value)


class ServiceActionForm(FlaskForm):
    """A lifecycle action's form. The newest action logged on the service when the form was
    first shown travels with it, so a repeated or stale confirmation is refused."""

    # Shown instead of an empty value on the review page.
    blank_text = "(none)"

    last_action_seen = IntegerField(widget=HiddenInput(), validators=[Optional()])

    def options(self) -> dict:
        """The domain operation's keyword arguments besides actor and reason."""
        return {"notes": self.notes.data}


class ActivateServiceForm(ServiceActionForm):
    activation_date = action_date_field("Activation date")
    reason = reason_field()
    notes = notes_field()

    def options(self) -> dict:
        return {**super().options(), "activation_date": self.activation_date.data}


class SuspendServiceForm(ServiceActionForm):
    suspension_type = suspension_type_field()
    skip_billing = skip_billing_field()
    reason = reason_field()
    notes = notes_field()

    def options(self) -> dict:
        return {
            **super().options(),
            "suspension_type": self.suspension_type.data,
            "skip_billing": self.skip_billing.data,
        }


class ReactivateServiceForm(ServiceActionForm):
    reason = reason_field()
    notes = notes_field()


class CancelServiceForm(ServiceActionForm):
    cancellation_date = action_date_field("Cancellation date")
    reason = reason_field()
    notes = notes_field()

    def options(self) -> dict:
        return {**super().options(), "cancellation_date": self.cancellation_date.data}


class ChangeServiceForm(ServiceActionForm):
    blank_text = "(no change)"

    effective_date = action_date_field("Effective date")
    monthly_price = DecimalField(
        "New monthly price, incl. VAT (R)",
        places=2,
        validators=[Optional()],
        description="Leave empty to keep the price.",
    )
    package_name = StringField(
        "New package name",
        validators=[Optional(), Length(max=200)],
        description="Leave empty to keep the package name.",
    )
    billing_date = SelectField(
        "New billing day",
        choices=[("", "No change")] + [(str(day), str(day)) for day in BILLING_DAYS],
        coerce=_day_or_none,
        default="",
    )
    reason = reason_field()
    notes = notes_field()

    def options(self) -> dict:
        return {
            **super().options(),
            "effective_date": self.effective_date.data,
            "monthly_price": self.monthly_price.data,
            "package_name": (self.package_name.data or "").strip() or None,
            "billing_date": self.billing_date.data,
        }


class BulkSuspendForm(FlaskForm):
    suspension_type = suspension_type_field()
    skip_billing = skip_billing_field()
    reason = reason_field("Recorded with each service's suspension and in its timeline.")

    def options(self) -> dict:
        return {
            "suspension_type": self.suspension_type.data,
            "skip_billing": self.skip_billing.data,
        }


class BulkReactivateForm(FlaskForm):
    reason = reason_field("Recorded with each service's reactivation and in its timeline.")

    def options(self) -> dict:
        return {}


def visible_fields(form: FlaskForm) -> list:
    return [field for field in form if getattr(field.widget, "input_type", None) != "hidden"]


def entered_values(form: ServiceActionForm) -> list[tuple[str, str]]:
    """The visible fields as (label, value as a person reads it), for the review page."""
    return [(field.label.text, _shown_value(form, field)) for field in visible_fields(form)]


def _shown_value(form: ServiceActionForm, field) -> str:
    value = field.data
    if isinstance(field, BooleanField):
        return "yes" if value else "no"
    if isinstance(field, SelectField):
        labels = {field.coerce(choice): label for choice, label in field.choices}
        return form.blank_text if value is None else labels.get(value, str(value))
    if value is None or value == "":
        return form.blank_text
    if isinstance(value, Decimal):
        return format_rand(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# --- Timelines and previews (GET forms: they change nothing, so no CSRF token) ---------------


class TimelineFilterForm(FlaskForm):
    class Meta:
        csrf = False

    FILTER_ARGS = ("action", "actor", "since", "until")

    action = SelectField("Action", choices=[("", "All actions")], default="")
    actor = StringField("Who", validators=[Optional(), Length(max=255)])
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])


class DunningPreviewForm(FlaskForm):
    class Meta:
        csrf = False

    date = DateField("Run date", validators=[InputRequired()])
