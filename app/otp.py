"""One-time codes sent by SMS before a sensitive change (DESIGN §5.6).

A code is 6 digits, lives 10 minutes, allows 3 attempts, and a new one can be asked for
at most every 60 seconds. Only an HMAC-SHA256 of it (keyed with SECRET_KEY) is stored;
the SMS carrying it is sent whatever the customer's preferences, and its text is masked
once it has gone. Only the newest code of a purpose counts.

A wrong attempt is counted in a transaction of its own, committed at once: the action
the code protects is refused and rolled back, but the attempt must still count (call
`verify_code` before the action writes anything). A right code is consumed in the
caller's transaction, so if the protected action fails the code can be used again.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app import clock
from app.errors import Conflict, InvalidInput
from app.extensions import db
from app.models import Customer, OtpCode
from app.models.outbox import OTP_PURPOSES
from app.notifications import queue_notification
from app.notifications.text import sms_number

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
MAX_ATTEMPTS = 3
RESEND_INTERVAL = timedelta(seconds=60)


def _hash(customer_id: int, purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"{customer_id}:{purpose}:{code}".encode(), hashlib.sha256)
    return f"hmac-sha256${digest.hexdigest()}"


def _check_purpose(purpose: str) -> None:
    if purpose not in OTP_PURPOSES:
        raise InvalidInput(f"Unknown one-time code purpose {purpose!r}.", field="purpose")


def _latest(customer: Customer, purpose: str, *, lock: bool = False) -> OtpCode | None:
    query = (
        select(OtpCode)
        .where(OtpCode.customer_id == customer.id, OtpCode.purpose == purpose)
        .order_by(OtpCode.created_at.desc(), OtpCode.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return db.session.scalars(query).first()


def issue_code(customer: Customer, purpose: str) -> OtpCode:
    """Send the customer a new code for `purpose` by SMS (flushed; the caller commits).

    Refused when the last code for the purpose went less than 60 seconds ago, or when the
    account has no mobile number.
    """
    _check_purpose(purpose)
    # One issue at a time per customer, so two quick requests cannot both pass the 60 s rule.
    db.session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    now = clock.now()
    previous = _latest(customer, purpose)
    if previous is not None and now - previous.created_at < RESEND_INTERVAL:
        wait = RESEND_INTERVAL - (now - previous.created_at)
        seconds = max(int(wait.total_seconds()) + (wait.microseconds > 0), 1)
        raise Conflict(
            f"A code was sent less than a minute ago; you can ask for a new one in {seconds} s.",
            field="code",
        )
    billing = customer.billing
    phone = (billing.billing_phone if billing else None) or customer.phone
    if not phone:
        raise InvalidInput(
            "There is no mobile number on the account to send a code to.", field="phone"
        )
    recipient = sms_number(phone)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    otp = OtpCode(
        customer_id=customer.id,
        purpose=purpose,
        code_hash=_hash(customer.id, purpose, code),
        recipient=recipient,
        expires_at=now + CODE_LIFETIME,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    db.session.add(otp)
    db.session.flush()
    queue_notification(
        customer,
        "one_time_code",
        {"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)},
        dedupe_key=f"otp-{otp.id}",
    )
    return otp


def verify_code(customer: Customer, purpose: str, code: str) -> bool:
    """True for the right code, once; otherwise InvalidInput saying why (no code, used,
    expired, too many attempts, wrong code and the attempts left)."""
    _check_purpose(purpose)
    otp = _latest(customer, purpose)
    if otp is None:
        raise InvalidInput("No code was sent for this; ask for a new code.", field="code")
    _refuse_unusable(otp)
    entered = "".join((code or "").split())
    if not hmac.compare_digest(otp.code_hash, _hash(customer.id, purpose, entered)):
        attempts = _count_wrong_attempt(otp)
        left = MAX_ATTEMPTS - attempts
        if left <= 0:
            raise InvalidInput(
                "Wrong code. That was the last attempt; ask for a new code.", field="code"
            )
        raise InvalidInput(
            f"Wrong code; {left} attempt{'s' if left != 1 else ''} left.", field="code"
        )
    otp = _latest(customer, purpose, lock=True)  # a concurrent use of the same code waits
    _refuse_unusable(otp)
    otp.consumed_at = clock.now()
    db.session.flush()
    return True


def _refuse_unusable(otp: OtpCode) -> None:
    if otp.consumed_at is not None:
        raise InvalidInput("This code was already used; ask for a new code.", field="code")
    if otp.attempts >= MAX_ATTEMPTS:
        raise InvalidInput("Too many wrong attempts; ask for a new code.", field="code")
    if clock.now() >= otp.expires_at:
        raise InvalidInput("The code has expired; ask for a new code.", field="code")


def _count_wrong_attempt(otp: OtpCode) -> int:
    """Add one attempt in a transaction of its own (committed now); returns the count."""
    with db.engine.begin() as connection:
        attempts = connection.execute(
            update(OtpCode.__table__)
            .where(OtpCode.__table__.c.id == otp.id)
            .values(attempts=OtpCode.__table__.c.attempts + 1, updated_at=clock.now())
            .returning(OtpCode.__table__.c.attempts)
        ).scalar_one()
    set_committed_value(otp, "attempts", attempts)  # what the database holds, not a change
    return attempts
