"""Customers and their accounts: creation with an account number, edits, contact rules."""

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from app.audit import Actor, record_audit, require_reason, snapshot
from app.billing.numbering import next_account_number
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Customer, CustomerBilling
from app.models.customers import ACCOUNT_TYPES

# Fields a console edit may change. Account number, status and money are not among them:
# only the domain actions change those (DESIGN §7).
EDITABLE_CUSTOMER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "id_number",
    "company_name",
    "vat_number",
    "account_type",
    "billing_address_line1",
    "billing_address_line2",
    "billing_suburb",
    "billing_city",
    "billing_province",
    "billing_postal_code",
    "notes",
)


def normalise_email(email: str | None) -> str:
    """A syntactically valid e-mail address, trimmed (uniqueness ignores case)."""
    email = (email or "").strip()
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidInput(f"Invalid e-mail address: {error}", field="email") from None


def normalise_phone(phone: str | None) -> str | None:
    """A South African (or international) number in E.164 form, e.g. +27821234567."""
    if phone is None or not phone.strip():
        return None
    try:
        parsed = phonenumbers.parse(phone, "ZA")
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"Invalid phone number: {phone!r}", field="phone") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"Invalid phone number: {phone!r}", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def find_customer_by_email(email: str) -> Customer | None:
    """The customer with this e-mail address, compared trimmed and case-insensitively."""
    return db.session.scalar(
        select(Customer).where(func.lower(Customer.email) == email.strip().lower())
    )


def _clean_customer_fields(fields: dict, *, current: Customer | None = None) -> dict:
    unknown = set(fields) - set(EDITABLE_CUSTOMER_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown customer fields: {', '.join(sorted(unknown))}")
    cleaned = {
        key: (value.strip() if isinstance(value, str) else value) or None
        for key, value in fields.items()
    }
    for name in ("first_name", "last_name"):
        if name in cleaned and not cleaned[name]:
            raise InvalidInput("This field is required.", field=name)
    if "email" in cleaned:
        cleaned["email"] = normalise_email(cleaned["email"])
        other = find_customer_by_email(cleaned["email"])
        if other is not None and other is not current:
            raise Conflict(
                f"Another customer ({other.account_number}) already uses this e-mail.",
                field="email",
            )
    if "phone" in cleaned:
        cleaned["phone"] = normalise_phone(cleaned["phone"])
    account_type = cleaned.get("account_type") or (current.account_type if current else None)
    if "account_type" in cleaned:
        cleaned["account_type"] = cleaned["account_type"] or "residential"
        if cleaned["account_type"] not in ACCOUNT_TYPES:
            raise InvalidInput(
                "Account type must be residential or business.", field="account_type"
            )
    if account_type != "business" and cleaned.get("vat_number"):
        raise InvalidInput("Only business customers have a VAT number.", field="vat_number")
    return cleaned


def create_customer(*, actor: Actor, reason: str, **fields) -> Customer:
    """Create a customer with its billing profile and a new `CT-YYYY-NNNNN` number.

    The account number is taken last, just before the flush, so the counter row is held
    for as short a time as possible.
    """
    reason = require_reason(reason)
    for required in ("first_name", "last_name", "email"):
        fields.setdefault(required, None)
    cleaned = _clean_customer_fields(fields)
    customer = Customer(account_status="pending", **cleaned)
    customer.account_type = customer.account_type or "residential"
    customer.billing = CustomerBilling(billing_email=customer.email, billing_phone=customer.phone)
    customer.account_number = next_account_number()
    db.session.add(customer)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=customer,
        action="create",
        reason=reason,
        before=None,
        after=snapshot(customer),
        customer_id=customer.id,
    )
    return customer


def update_customer(customer: Customer, *, actor: Actor, reason: str, **fields) -> Customer:
    """Change a customer's contact and profile fields, with an audit row."""
    reason = require_reason(reason)
    before = snapshot(customer)
    cleaned = _clean_customer_fields(fields, current=customer)
    for key, value in cleaned.items():
        setattr(customer, key, value)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=customer,
        action="update",
        reason=reason,
        before=before,
        after=snapshot(customer),
        customer_id=customer.id,
    )
    return customer


def derive_account_status(service_statuses) -> str:
    """Active if any service is active; else suspended, else pending; else cancelled.

    A customer without services is pending (DESIGN §4).
    """
    statuses = set(service_statuses)
    for status in ("active", "suspended", "pending"):
        if status in statuses:
            return status
    return "cancelled" if statuses else "pending"
