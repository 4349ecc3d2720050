"""Customers' payment methods (DESIGN §5.6): debit order, card, EFT.

Bank and card details are a Fernet token (`app.billing.payment_data`); pages and the API
only ever see the masked display name ("Debit Order - FNB ***1234", "VISA Card ***4242",
"EFT Payment"). A card is kept as the vault token and its masked number: a full card number
or a security code is refused, never stored.

Primary rules: at most one active primary per customer (a partial unique index backs this
up) and exactly one while the customer has any active method; changing the primary is one
transaction. Methods are never deleted, only deactivated (soft delete), and the primary
cannot be removed while the customer owes money.

A debit-order method starts a NetCash eMandate: it is created `pending_signature` and the
`request_mandate` job (after commit) asks NetCash for the signing page and sends its link
to the customer (`app.debit_orders`). Every change is audited with its actor and reason.
"""

import re
from decimal import Decimal

from sqlalchemy import select

from app import clock
from app.audit import Actor, edit_record, record_audit, require_reason, snapshot
from app.billing.calendar import BILLING_DAYS
from app.billing.ledger import lock_billing
from app.billing.money import ZERO, as_money
from app.billing.payment_data import (
    EFT_DISPLAY_NAME,
    card_display_name,
    debit_order_display_name,
    decrypt_details,
    encrypt_details,
    last_four,
)
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.job_requests import request_job
from app.models import Customer, CustomerPaymentMethod, CustomerService

# Universal branch codes of the South African banks (integrations.md §1.5).
UNIVERSAL_BRANCH_CODES = {
    "ABSA": "632005",
    "African Bank": "430000",
    "Capitec": "470010",
    "Discovery Bank": "679000",
    "FNB": "250655",
    "Investec": "580105",
    "Nedbank": "198765",
    "Standard Bank": "051001",
    "TymeBank": "678910",
}
BANK_ACCOUNT_TYPES = ("current", "savings", "transmission")
# What the bank does with a debit day that is not a business day (NetCash mandate option).
HOLIDAY_OPTIONS = ("next", "preceding")
DEFAULT_HOLIDAY_OPTION = "next"  # never collect before the due date
# Services whose price the mandate amount covers.
BILLED_SERVICE_STATUSES = ("pending", "active", "suspended")

_NON_DIGITS = re.compile(r"[\s-]")
_LONG_DIGIT_RUN = re.compile(r"\d{7,}")


def active_methods(customer_id: int) -> list[CustomerPaymentMethod]:
    """The customer's active methods, primary first, then newest."""
    return list(
        db.session.scalars(
            select(CustomerPaymentMethod)
            .where(
                CustomerPaymentMethod.customer_id == customer_id,
                CustomerPaymentMethod.is_active.is_(True),
            )
            .order_by(CustomerPaymentMethod.is_primary.desc(), CustomerPaymentMethod.id.desc())
        )
    )


def monthly_amount(customer: Customer) -> Decimal:
    """What the customer's services cost a month (the usual debit amount of a mandate)."""
    prices = db.session.scalars(
        select(CustomerService.monthly_price).where(
            CustomerService.customer_id == customer.id,
            CustomerService.status.in_(BILLED_SERVICE_STATUSES),
        )
    )
    return sum(prices, ZERO)


def _digits(value: str | None, *, field: str, label: str, lengths: range) -> str:
    digits = _NON_DIGITS.sub("", value or "")
    if not digits.isdigit() or len(digits) not in lengths:
        raise InvalidInput(
            f"The {label} must be {lengths.start}-{lengths.stop - 1} digits.", field=field
        )
    return digits


def _add(
    customer: Customer,
    method: CustomerPaymentMethod,
    *,
    make_primary: bool,
    actor: Actor,
    reason: str,
) -> CustomerPaymentMethod:
    """Store a new method; it becomes primary when asked or when it is the only one."""
    lock_billing(customer.id)  # serialises the customer's primary changes
    method.customer_id = customer.id
    method.is_active = True
    method.is_primary = False
    db.session.add(method)
    db.session.flush()
    record_audit(
        actor=actor,
        entity=method,
        action="add_payment_method",
        reason=reason,
        before=None,
        after=snapshot(method),
        customer_id=customer.id,
    )
    has_primary = any(other.is_primary for other in active_methods(customer.id))
    if make_primary or not has_primary:
        _make_primary(method, actor=actor, reason=reason)
    return method


def add_debit_order(
    customer: Customer,
    *,
    bank_name: str,
    account_number: str,
    account_type: str,
    holder_name: str,
    actor: Actor,
    reason: str,
    branch_code: str | None = None,
    debit_day: int | None = None,
    holiday_option: str = DEFAULT_HOLIDAY_OPTION,
    mandate_amount: Decimal | None = None,
    make_primary: bool = True,
    auto_pay: bool = True,
) -> CustomerPaymentMethod:
    """Add a bank account to debit and start its NetCash eMandate (after commit).

    The branch code defaults to the bank's universal code; the debit day to the customer's
    billing day; the mandate amount to what their services cost a month. With `auto_pay`
    the customer's invoices are collected by debit order once the mandate is signed.
    """
    reason = require_reason(reason)
    bank_name = (bank_name or "").strip()
    if not bank_name:
        raise InvalidInput("The bank is required.", field="bank_name")
    branch = (branch_code or "").strip() or UNIVERSAL_BRANCH_CODES.get(bank_name, "")
    branch = _digits(branch, field="branch_code", label="branch code", lengths=range(6, 7))
    number = _digits(
        account_number, field="account_number", label="account number", lengths=range(6, 17)
    )
    if account_type not in BANK_ACCOUNT_TYPES:
        raise InvalidInput(
            f"The account type must be one of {', '.join(BANK_ACCOUNT_TYPES)}.",
            field="account_type",
        )
    holder = " ".join((holder_name or "").split())
    if not holder:
        raise InvalidInput("The account holder's name is required.", field="holder_name")
    billing = customer.billing
    debit_day = debit_day or (billing.preferred_billing_date if billing else 1)
    if debit_day not in BILLING_DAYS:
        raise InvalidInput(
            f"The debit day must be one of {', '.join(map(str, BILLING_DAYS))}.",
            field="debit_day",
        )
    if holiday_option not in HOLIDAY_OPTIONS:
        raise InvalidInput(
            "The holiday option must be 'next' or 'preceding' business day.",
            field="holiday_option",
        )
    amount = monthly_amount(customer) if mandate_amount is None else mandate_amount
    if isinstance(amount, float) or as_money(amount) != amount or amount <= 0:
        raise InvalidInput(
            "The mandate amount must be a positive rand amount (the customer has no billed "
            "service to take it from).",
            field="mandate_amount",
        )
    if not customer.phone:
        raise InvalidInput(
            "The customer needs a mobile number: NetCash sends the mandate to sign by SMS.",
            field="phone",
        )
    method = CustomerPaymentMethod(
        method_type="debit_order",
        display_name=debit_order_display_name(bank_name, number),
        last_four=last_four(number),
        bank_name=bank_name,
        encrypted_details=encrypt_details(
            {
                "bank_name": bank_name,
                "branch_code": branch,
                "account_number": number,
                "account_type": account_type,
                "holder_name": holder,
            }
        ),
        mandate_status="pending_signature",
        debit_day=debit_day,
        holiday_option=holiday_option,
        max_debit_amount=amount,
    )
    _add(customer, method, make_primary=make_primary, actor=actor, reason=reason)
    if auto_pay and billing is not None and not billing.auto_pay_enabled:
        edit_record(
            billing,
            {"auto_pay_enabled": True},
            actor=actor,
            reason=reason,
            allowed_fields=("auto_pay_enabled",),
            customer_id=customer.id,
        )
    request_job(
        "request_mandate", method.id, queue="payments", job_id=f"request_mandate-{method.id}"
    )
    return method


def add_card(
    customer: Customer,
    *,
    token: str,
    masked_number: str,
    expiry_month: int,
    expiry_year: int,
    actor: Actor,
    reason: str,
    holder_name: str | None = None,
    make_primary: bool = False,
) -> CustomerPaymentMethod:
    """Add a card as its vault token and masked number ("411111******1111").

    A full card number is refused (PCI DSS: only tokens and masked numbers are kept), and
    so is a security code: it is never stored.
    """
    reason = require_reason(reason)
    token = (token or "").strip()
    if not token:
        raise InvalidInput("The card token is required.", field="token")
    masked = (masked_number or "").replace(" ", "")
    if _LONG_DIGIT_RUN.search(masked):
        raise InvalidInput(
            "Give the masked card number (e.g. 411111******1111), never the full number.",
            field="masked_number",
        )
    if len(re.sub(r"\D", "", masked[-4:])) != 4:
        raise InvalidInput(
            "The masked card number must end in the card's last four digits.",
            field="masked_number",
        )
    year = expiry_year + 2000 if expiry_year < 100 else expiry_year
    if not 1 <= expiry_month <= 12 or (year, expiry_month) < (
        clock.today().year,
        clock.today().month,
    ):
        raise InvalidInput("The card has expired or its expiry date is invalid.", field="expiry")
    method = CustomerPaymentMethod(
        method_type="card",
        display_name=card_display_name(masked),
        last_four=masked[-4:],
        encrypted_details=encrypt_details(
            {
                "token": token,
                "masked_number": masked,
                "expiry_month": expiry_month,
                "expiry_year": year,
                "holder_name": (holder_name or "").strip() or None,
            }
        ),
    )
    return _add(customer, method, make_primary=make_primary, actor=actor, reason=reason)


def add_eft(
    customer: Customer, *, actor: Actor, reason: str, make_primary: bool = False
) -> CustomerPaymentMethod:
    """Record that the customer pays by EFT (nothing to keep but the choice)."""
    reason = require_reason(reason)
    method = CustomerPaymentMethod(method_type="eft", display_name=EFT_DISPLAY_NAME)
    return _add(customer, method, make_primary=make_primary, actor=actor, reason=reason)


def _make_primary(method: CustomerPaymentMethod, *, actor: Actor, reason: str) -> None:
    """Move the primary flag to `method` (caller holds the customer's billing lock)."""
    for other in active_methods(method.customer_id):
        if other.is_primary and other.id != method.id:
            before = snapshot(other)
            other.is_primary = False
            db.session.flush()  # the old primary steps down before the new one (unique index)
            record_audit(
                actor=actor,
                entity=other,
                action="unset_primary",
                reason=reason,
                before=before,
                after=snapshot(other),
                customer_id=method.customer_id,
            )
    if not method.is_primary:
        before = snapshot(method)
        method.is_primary = True
        db.session.flush()
        record_audit(
            actor=actor,
            entity=method,
            action="set_primary",
            reason=reason,
            before=before,
            after=snapshot(method),
            customer_id=method.customer_id,
        )
    billing = lock_billing(method.customer_id)
    billing.primary_payment_method_id = method.id


def set_primary(method: CustomerPaymentMethod, *, actor: Actor, reason: str) -> None:
    """Make an active method the customer's primary one (one transaction)."""
    reason = require_reason(reason)
    lock_billing(method.customer_id)
    db.session.refresh(method)
    if not method.is_active:
        raise Conflict("An inactive payment method cannot become the primary one.")
    _make_primary(method, actor=actor, reason=reason)


def deactivate_payment_method(
    method: CustomerPaymentMethod,
    *,
    actor: Actor,
    reason: str,
    mandate_status: str | None = None,
    allow_while_owing: bool = False,
) -> None:
    """Soft-delete a method; when it was the primary, the newest other active method takes
    over. Removing the primary is refused while the customer owes money, unless the method
    stopped working (`allow_while_owing`, e.g. NetCash cancelled the mandate)."""
    reason = require_reason(reason)
    billing = lock_billing(method.customer_id)
    db.session.refresh(method)
    if not method.is_active:
        return
    if method.is_primary and not allow_while_owing and billing.account_balance > 0:
        raise Conflict(
            "The primary payment method cannot be removed while the customer owes money; "
            "make another method primary first."
        )
    before = snapshot(method)
    was_primary = method.is_primary
    method.is_primary = False
    method.is_active = False
    method.deactivated_at = clock.now()
    if mandate_status is not None:
        method.mandate_status = mandate_status
    db.session.flush()
    record_audit(
        actor=actor,
        entity=method,
        action="deactivate_payment_method",
        reason=reason,
        before=before,
        after=snapshot(method),
        customer_id=method.customer_id,
    )
    if was_primary:
        billing.primary_payment_method_id = None
        remaining = active_methods(method.customer_id)
        if remaining:
            _make_primary(remaining[0], actor=actor, reason=f"{reason} (primary moved)")


# Labels of the stored details, in the order a reveal shows them.
REVEALED_FIELDS = {
    "bank_name": "Bank",
    "holder_name": "Account or card holder",
    "account_number": "Account number",
    "branch_code": "Branch code",
    "account_type": "Account type",
    "token": "Card vault token",
    "masked_number": "Card number (masked)",
    "expiry_month": "Expiry month",
    "expiry_year": "Expiry year",
}


def reveal_payment_details(
    method: CustomerPaymentMethod, *, actor: Actor, reason: str
) -> list[tuple[str, str]]:
    """The decrypted details of a method as (label, value) pairs, for staff allowed to see
    them (`payment_methods:view_full`, checked by the edge). The reveal is audited with its
    reason: which fields were shown, never their values."""
    reason = require_reason(reason)
    if not method.encrypted_details:
        raise InvalidInput("This payment method has no stored details to reveal.")
    details = decrypt_details(method.encrypted_details)
    order = list(REVEALED_FIELDS)
    keys = sorted(details, key=lambda key: (order.index(key) if key in order else len(order), key))
    shown = [
        (REVEALED_FIELDS.get(key, key.replace("_", " ").capitalize()), str(details[key]))
        for key in keys
        if details[key] not in (None, "")
    ]
    record_audit(
        actor=actor,
        entity=method,
        action="reveal_payment_details",
        reason=reason,
        before=None,
        after={"revealed_fields": sorted(details)},
        customer_id=method.customer_id,
    )
    return shown
