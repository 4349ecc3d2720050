"""Customer portal accounts: registration, login, password reset (DESIGN §7, §8).

A customer's session id is typed (`customer:<id>:<fingerprint>`), the fingerprint being a
digest of the current portal password hash: a new password (reset) ends every older session
and every older reset link, without a separate session-version column.
"""

import hashlib
from datetime import timedelta

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from app import clock
from app.auth import MIN_PASSWORD_LENGTH, hash_password, password_matches
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Customer

RESET_TOKEN_LIFETIME = timedelta(hours=1)
_RESET_SALT = "customer-password-reset"


def password_fingerprint(customer: Customer) -> str:
    """A short digest of the portal password hash (changes with every new password)."""
    return hashlib.sha256((customer.portal_password_hash or "").encode()).hexdigest()[:16]


def find_customer_by_email(email: str | None) -> Customer | None:
    return db.session.scalar(
        select(Customer).where(func.lower(Customer.email) == (email or "").strip().lower())
    )


def _validate_new_password(password: str | None, password_confirm: str | None) -> str:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password must have at least {MIN_PASSWORD_LENGTH} characters.",
            field="password",
        )
    if password != password_confirm:
        raise InvalidInput("The passwords do not match.", field="password_confirm")
    return password


def register_customer_login(
    email: str, account_number: str, password: str, password_confirm: str
) -> Customer:
    """Give an existing customer a portal password; e-mail and account number must match."""
    if not (email or "").strip():
        raise InvalidInput("An e-mail address is required.", field="email")
    if not (account_number or "").strip():
        raise InvalidInput("An account number is required.", field="account_number")
    customer = find_customer_by_email(email)
    if customer is None or customer.account_number.lower() != account_number.strip().lower():
        raise InvalidInput(
            "No customer has this e-mail address and account number.", field="account_number"
        )
    if customer.portal_password_hash:
        raise Conflict(
            "This account is already registered; log in or reset your password.", field="email"
        )
    customer.portal_password_hash = hash_password(
        _validate_new_password(password, password_confirm)
    )
    customer.portal_registered_at = clock.now()
    db.session.flush()
    return customer


def authenticate_customer(email: str, password: str) -> Customer | None:
    """The registered customer with these credentials, or None (same cost either way)."""
    customer = find_customer_by_email(email)
    if not password_matches(customer.portal_password_hash if customer else None, password):
        return None
    return customer


class _ClockSigner(TimestampSigner):
    """Token timestamps and ages from app.clock (the signer, not the serializer, checks age)."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


class _ClockSerializer(URLSafeTimedSerializer):
    default_signer = _ClockSigner


def _serializer() -> URLSafeTimedSerializer:
    return _ClockSerializer(current_app.config["SECRET_KEY"], salt=_RESET_SALT)


def make_reset_token(customer: Customer) -> str:
    return _serializer().dumps({"c": customer.id, "f": password_fingerprint(customer)})


def customer_for_reset_token(token: str) -> Customer | None:
    """The customer a valid, unexpired, unused reset token belongs to, or None."""
    try:
        data = _serializer().loads(token, max_age=int(RESET_TOKEN_LIFETIME.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        return None
    customer = db.session.get(Customer, data["c"])
    if customer is None or not customer.portal_password_hash:
        return None
    if data.get("f") != password_fingerprint(customer):
        return None  # the password changed since: the token was used or superseded
    return customer


def request_password_reset(email: str) -> None:
    """E-mail a reset link to a registered customer; unknown addresses get nothing
    (the caller shows the same message either way)."""
    from app.notifications import queue_notification

    customer = find_customer_by_email(email)
    if customer is None or not customer.portal_password_hash:
        return
    token = make_reset_token(customer)
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    queue_notification(
        customer,
        "password_reset",
        {"reset_url": f"{base}/reset-password/{token}", "minutes": 60},
    )


def reset_password(token: str, password: str, password_confirm: str) -> Customer:
    """Set a new portal password from a reset link; older sessions and links stop working."""
    customer = customer_for_reset_token(token)
    if customer is None:
        raise InvalidInput("This reset link is invalid or has expired.", field="token")
    customer.portal_password_hash = hash_password(
        _validate_new_password(password, password_confirm)
    )
    db.session.flush()
    return customer


# --- Flask-Login principal ----------------------------------------------------------------


class CustomerPrincipal:
    """Flask-Login's view of a customer with a portal login (never a staff user)."""

    is_staff = False
    is_customer = True
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, customer: Customer):
        self.customer = customer

    def get_id(self) -> str:
        return f"customer:{self.customer.id}:{password_fingerprint(self.customer)}"

    def can(self, permission: str) -> bool:
        return False  # customers hold no console permissions


def load_customer_principal(rest: str) -> CustomerPrincipal | None:
    """The customer of `<id>:<fingerprint>`, if the password has not changed since."""
    raw_id, _, fingerprint = rest.partition(":")
    if not raw_id.isdigit():
        return None
    customer = db.session.get(Customer, int(raw_id))
    if (
        customer is None
        or not customer.portal_password_hash
        or password_fingerprint(customer) != fingerprint
    ):
        return None
    return CustomerPrincipal(customer)
